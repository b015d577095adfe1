// logArtifact()'s and useArtifact()'s arguments, checked at the call as Python's Artifact,
// add_file, add_dir and use_artifact check them (trackio/artifact.py, cas.py): which files a
// directory contributes and in what order, the default name and type, and the typed errors.
// test/artifacts.test.ts sends the result to a real server beside Python's client.

import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { artifactJob } from "../../src/artifact.js";
import { checkLogicalPath, parseArtifactSpec } from "../../src/shared/artifact.js";

const root = mkdtempSync(join(tmpdir(), "trackio-art-args-"));
after(() => rmSync(root, { recursive: true, force: true }));

const INVALID = { code: "ERR_TRACKIO_INVALID_ARG" };

describe("the files of a directory", () => {
  test("os.walk's order with sorted names: a directory's files, then its subdirectories; links skipped", () => {
    const dir = join(root, "tree");
    mkdirSync(join(dir, "b", "c"), { recursive: true });
    mkdirSync(join(dir, "a"), { recursive: true });
    for (const f of ["z", "B", "a.txt", "b/x", "b/c/y", "a/1", "\u{1F600}", "\uFF61"]) writeFileSync(join(dir, f), f);
    symlinkSync(join(dir, "z"), join(dir, "link-to-file"));
    symlinkSync(join(dir, "b"), join(dir, "link-to-dir"));
    const job = artifactJob(dir, {}, "p");
    assert.deepEqual(
      job.files.map((f) => f.logical),
      // Python sorts by code point: U+FF61 before U+1F600 (UTF-16 order would swap them).
      ["B", "a.txt", "z", "\uFF61", "\u{1F600}", "a/1", "b/x", "b/c/y"],
    );
    assert.equal(job.name, "tree");
    assert.equal(job.type, "unspecified");
    assert.deepEqual(job.aliases, []);
    assert.equal(job.files[0].path, join(dir, "B"));
  });

  test("a file: one entry under its own name; a trailing slash does not change a directory's name", () => {
    const file = join(root, "model.bin");
    writeFileSync(file, "m");
    assert.deepEqual(artifactJob(file, { type: "model", aliases: ["prod"] }, "p"), {
      project: "p",
      name: "model.bin",
      type: "model",
      description: null,
      metadata: null,
      aliases: ["prod"],
      files: [{ path: file, logical: "model.bin" }],
    });
    const dir = join(root, "tree");
    assert.equal(artifactJob(`${dir}/`, {}, "p").name, "tree");
  });
});

describe("typed errors at the call", () => {
  test("path, name, type, aliases, metadata", () => {
    const file = join(root, "model.bin");
    assert.throws(() => artifactJob(join(root, "absent"), {}, "p"), { ...INVALID, message: /does not exist/ });
    assert.throws(() => artifactJob("", {}, "p"), INVALID);
    assert.throws(() => artifactJob(42 as unknown as string, {}, "p"), INVALID);
    // Python's Path(".").name is "", which no name rule accepts.
    assert.throws(() => artifactJob(".", {}, "p"), { ...INVALID, message: /must match/ });
    for (const name of ["a b", "a/b", "", "é"]) assert.throws(() => artifactJob(file, { name }, "p"), INVALID, name);
    assert.throws(() => artifactJob(file, { type: "" }, "p"), INVALID);
    for (const aliases of [["v0"], ["v12"], [""], ["a b"], "best"]) {
      assert.throws(() => artifactJob(file, { aliases: aliases as string[] }, "p"), INVALID, String(aliases));
    }
    assert.doesNotThrow(() => artifactJob(file, { aliases: ["v1.0", "version2", "latest"] }, "p"));
    assert.throws(() => artifactJob(file, { metadata: [] as unknown as Record<string, unknown> }, "p"), INVALID);
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    assert.throws(() => artifactJob(file, { metadata: cyclic }, "p"), { ...INVALID, message: /JSON/ });
    const empty = join(root, "empty");
    mkdirSync(join(empty, "only-dirs"), { recursive: true });
    assert.throws(() => artifactJob(empty, {}, "p"), { ...INVALID, message: /no regular file/ });
  });

  test("manifest paths as cas.validate_logical_path", () => {
    for (const bad of ["", "/abs", "C:x", "a\\b", "a//b", "./a", "a/..", "a\0b"]) {
      assert.throws(() => checkLogicalPath(bad, "t"), INVALID, JSON.stringify(bad));
    }
    assert.equal(checkLogicalPath("a/b.c/d", "t"), "a/b.c/d");
  });

  test("useArtifact specs: name, name:vN, name:alias", () => {
    assert.deepEqual(parseArtifactSpec("ds", "t"), { name: "ds", spec: null });
    assert.deepEqual(parseArtifactSpec("ds:v3", "t"), { name: "ds", spec: "v3" });
    assert.deepEqual(parseArtifactSpec("ds:best", "t"), { name: "ds", spec: "best" });
    assert.throws(() => parseArtifactSpec("ds:", "t"), { ...INVALID, message: /empty version or alias/ });
    assert.throws(() => parseArtifactSpec("bad name:v1", "t"), INVALID);
    assert.throws(() => parseArtifactSpec(undefined, "t"), INVALID);
  });
});
