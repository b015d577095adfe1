// Artifacts against a REAL server, beside Trackio's Python client: logArtifact() stores the
// manifest Python stores for the same files (paths in Python's order, digests, sizes, so the
// same manifest digest), versions and aliases move as Python's do, useArtifact() resolves
// `name`, `name:vN` and `name:alias`, download() brings back the same bytes, and each side
// reads what the other logged. Bad arguments fail at the call with typed errors.

import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import { after, before, describe, test } from "node:test";
import { promisify } from "node:util";
import { startTrackio, type TrackioServer, venvPython } from "../scripts/trackio-server.js";
import { main } from "../src/cli.js";
import { Client, type ClientOptions } from "../src/index.js";
import { listSpooledArtifacts } from "../src/io/artifact-spool.js";
import { Transport } from "../src/io/transport.js";
import { resolveOptions } from "../src/options.js";
import type { WorkerSettings } from "../src/shared/protocol.js";
import { artifactTask } from "../worker/artifacts.js";
import { type Match, startFaultProxy } from "./support/fault-proxy.js";
import { callApi } from "./support/read-api.js";

const project = "artifacts-vs-python";
let server: TrackioServer;
let client: Client;
let dir: string;

function makeTree(): string {
  const root = mkdtempSync(join(tmpdir(), "trackio-art-"));
  writeFileSync(join(root, "b.txt"), "bee\n");
  writeFileSync(join(root, "A.txt"), "upper a\n");
  mkdirSync(join(root, "sub", "deep"), { recursive: true });
  writeFileSync(join(root, "sub", "weights.bin"), Buffer.from([0, 1, 2, 255, 254]));
  writeFileSync(join(root, "sub", "deep", "z.json"), '{"z":1}');
  writeFileSync(join(root, "zz-empty"), "");
  // Links are skipped, as Python's add_dir skips them.
  symlinkSync(join(root, "b.txt"), join(root, "link.txt"));
  return root;
}

/** The `trackio` command in-process: its exit code and what it printed on stdout. */
async function runCli(args: string[]): Promise<{ code: number; text: string }> {
  const out = new PassThrough();
  let text = "";
  out.on("data", (d) => (text += d));
  const code = await main(args, out, new PassThrough());
  return { code, text };
}

/** The one server directory a client made under `root`. */
function spoolDirOf(root: string): string {
  const dirs = readdirSync(root);
  assert.equal(dirs.length, 1, `one server directory under ${root}: ${dirs}`);
  return join(root, dirs[0]);
}

/** The server part of a client's settings for `url`, as resolveOptions makes it. */
function resolvedServer(url: string) {
  const o = resolveOptions({ baseUrl: url, retryDeadlineMs: 30_000 });
  const { origin, basePath, displayUrl, writeToken, hfToken, timeoutMs, retryDeadlineMs } = o;
  return { origin, basePath, displayUrl, writeToken, hfToken, timeoutMs, retryDeadlineMs };
}

async function python(script: string, ...args: string[]): Promise<unknown> {
  const { stdout } = await promisify(execFile)(venvPython(), ["-c", script, ...args], {
    env: { ...process.env, TRACKIO_DIR: mkdtempSync(join(tmpdir(), "trackio-py-client-")) },
    timeout: 120_000,
  });
  // Trackio prints its own lines too ("* Run finished…"); the answer is the JSON one.
  const line = stdout.split("\n").find((l) => l.startsWith("{"));
  if (line === undefined) throw new Error(`no JSON line in the Python output:\n${stdout}`);
  return JSON.parse(line);
}

before(async () => {
  server = await startTrackio();
  dir = makeTree();
  client = new Client({ baseUrl: server.writeUrl, project, run: "node", quiet: true, systemMetrics: false });
});
after(async () => {
  await client?.close();
  await server?.stop();
});

describe("logArtifact", () => {
  test("stores the manifest Python stores for the same directory; versions and aliases as Python's", async () => {
    const art = await client.logArtifact(dir, { name: "ds-node", type: "dataset", aliases: ["best"] });
    assert.equal(art.version, "v0");
    assert.deepEqual([...art.aliases].sort(), ["best", "latest"]);
    assert.equal(art.qualifiedName, `${project}/ds-node:v0`);
    // The server keeps the manifest sorted by path, whatever order it was sent in.
    assert.deepEqual(
      art.manifest.map((e) => e.path),
      ["A.txt", "b.txt", "sub/deep/z.json", "sub/weights.bin", "zz-empty"],
    );
    assert.equal(art.size, 4 + 8 + 0 + 5 + 7);

    const py = (await python(
      `
import json, sys, trackio
run = trackio.init(project=sys.argv[2], name="py", server_url=sys.argv[1], auto_log_cpu=False, auto_log_gpu=False)
art = run.log_artifact(sys.argv[3], name="ds-py", type="dataset", aliases=["best"])
print(json.dumps({"version": art.version, "aliases": sorted(art.aliases), "manifest": art.manifest,
                  "digest": art.digest, "size": art.size}))
trackio.finish()
`,
      server.writeUrl,
      project,
      dir,
    )) as { version: string; aliases: string[]; manifest: unknown[]; digest: string; size: number };
    assert.deepEqual(py, {
      version: art.version,
      aliases: [...art.aliases].sort(),
      manifest: art.manifest,
      digest: art.digest,
      size: art.size,
    });

    // The same content again is the same version; new content a new one, and `latest` moves.
    const again = await client.logArtifact(dir, { name: "ds-node", type: "dataset" });
    assert.equal(again.version, "v0");
    writeFileSync(join(dir, "b.txt"), "bee, changed\n");
    const next = await client.logArtifact(dir, { name: "ds-node", type: "dataset", aliases: ["candidate"] });
    assert.equal(next.version, "v1");
    assert.deepEqual([...next.aliases].sort(), ["candidate", "latest"]);
    // The server's listing: both versions of ours, `best` left on v0; Python's v0 the same size.
    type Listed = {
      name: string;
      versions: { version: number; aliases: string[]; size_bytes: number; num_files: number }[];
    };
    const listed = await callApi<Listed[]>(server.url, "list_artifacts", { project });
    const ours = listed.find((a) => a.name === "ds-node")?.versions ?? [];
    const theirs = listed.find((a) => a.name === "ds-py")?.versions ?? [];
    assert.deepEqual(
      ours.map((v) => [v.version, [...v.aliases].sort(), v.num_files]),
      [
        [1, ["candidate", "latest"], 5],
        [0, ["best"], 5],
      ],
    );
    assert.deepEqual(
      theirs.map((v) => [v.version, v.size_bytes, v.num_files]),
      [[0, ours[1].size_bytes, ours[1].num_files]],
    );
  });

  test("a single file: its name by default, type 'unspecified'", async () => {
    const file = join(dir, "sub", "weights.bin");
    const art = await client.logArtifact(file);
    assert.equal(art.name, "weights.bin");
    assert.equal(art.type, "unspecified");
    assert.deepEqual(art.manifest, [
      {
        path: "weights.bin",
        digest: createHash("sha256")
          .update(Buffer.from([0, 1, 2, 255, 254]))
          .digest("hex"),
        size: 5,
      },
    ]);
  });

  test("bad arguments fail at the call, typed", () => {
    const invalid = { code: "ERR_TRACKIO_INVALID_ARG" };
    assert.throws(() => client.logArtifact(join(dir, "missing")), { ...invalid, message: /does not exist/ });
    assert.throws(() => client.logArtifact(dir, { name: "has space" }), { ...invalid, message: /must match/ });
    assert.throws(() => client.logArtifact(dir, { name: "ok", aliases: ["v3"] }), { ...invalid, message: /reserved/ });
    assert.throws(() => client.logArtifact(dir, { name: "ok", type: "" }), invalid);
    const empty = mkdtempSync(join(tmpdir(), "trackio-art-empty-"));
    assert.throws(() => client.logArtifact(empty, { name: "ok" }), { ...invalid, message: /no regular file/ });
    assert.throws(() => client.useArtifact("ds-node:"), invalid);
    assert.throws(() => client.useArtifact("bad name"), invalid);
  });

  test("after close(): ERR_TRACKIO_CLOSED at the call", async () => {
    const c = new Client({ baseUrl: server.writeUrl, project, run: "closed", quiet: true, systemMetrics: false });
    c.log({ x: 1 }, 0);
    await c.close();
    assert.throws(() => c.logArtifact(dir, { name: "late" }), { code: "ERR_TRACKIO_CLOSED" });
    assert.throws(() => c.useArtifact("ds-node"), { code: "ERR_TRACKIO_CLOSED" });
  });
});

describe("useArtifact", () => {
  test("name, name:vN and name:alias; download() brings back the bytes; Python reads ours", async () => {
    const latest = await client.useArtifact("ds-node");
    assert.equal(latest.version, "v1");
    const best = await client.useArtifact("ds-node:best");
    assert.equal(best.version, "v0");
    const v0 = await client.useArtifact("ds-node:v0");
    assert.deepEqual(v0.manifest, best.manifest);
    const out = await v0.download(mkdtempSync(join(tmpdir(), "trackio-art-dl-")));
    assert.equal(readFileSync(join(out, "b.txt"), "utf8"), "bee\n", "v0's content, not the file as it is now");
    assert.deepEqual(readFileSync(join(out, "sub", "weights.bin")), Buffer.from([0, 1, 2, 255, 254]));
    assert.equal(readFileSync(join(out, "zz-empty"), "utf8"), "");
    // Again: nothing to fetch, the same directory.
    assert.equal(await v0.download(out), out);

    await assert.rejects(client.useArtifact("no-such-artifact"), { code: "ERR_TRACKIO_NOT_FOUND" });

    const py = (await python(
      `
import json, os, sys, trackio
run = trackio.init(project=sys.argv[2], name="py-reader", server_url=sys.argv[1], auto_log_cpu=False, auto_log_gpu=False)
art = run.use_artifact("ds-node:best")
root = art.download(root=sys.argv[3])
files = sorted(os.path.relpath(os.path.join(d, f), root) for d, _, fs in os.walk(root) for f in fs)
print(json.dumps({"version": art.version, "files": files, "b": open(os.path.join(root, "b.txt")).read()}))
trackio.finish()
`,
      server.writeUrl,
      project,
      mkdtempSync(join(tmpdir(), "trackio-art-pydl-")),
    )) as { version: string; files: string[]; b: string };
    assert.deepEqual(py, {
      version: "v0",
      files: ["A.txt", "b.txt", "sub/deep/z.json", "sub/weights.bin", "zz-empty"],
      b: "bee\n",
    });
  });

  test("lineage: each run's inputs and outputs as the server records Python's", async () => {
    type Links = Record<string, { name: string; version: number }[]>;
    const links = async (run: string, runId?: string) => {
      const got = await callApi<Links>(server.url, "get_run_artifacts", { project, run, run_id: runId ?? null });
      return Object.fromEntries(
        Object.entries(got).map(([direction, list]) => [direction, list.map((l) => `${l.name}:v${l.version}`).sort()]),
      );
    };
    assert.deepEqual(await links("node", client.runId), {
      input: ["ds-node:v0", "ds-node:v1"],
      output: ["ds-node:v0", "ds-node:v1", "weights.bin:v0"],
    });
    assert.deepEqual(await links("py"), { input: [], output: ["ds-py:v0"] });
    assert.deepEqual(await links("py-reader"), { input: ["ds-node:v0"], output: [] });
  });
});

describe("when the server fails", () => {
  /** A client of this project that writes through the proxy at `url`, with the server's write token. */
  const proxiedClient = (url: string, run: string, extra: ClientOptions = {}) =>
    new Client({
      baseUrl: `${url}?${new URL(server.writeUrl).searchParams}`,
      project,
      run,
      quiet: true,
      systemMetrics: false,
      ...extra,
    });
  const api =
    (name: string): Match =>
    (method, path) =>
      method === "POST" && path.endsWith(`/api/${name}`);

  test("an upload or a commit that fails for a moment is retried; the version is stored once", async () => {
    const proxy = await startFaultProxy(server.url);
    const c = proxiedClient(proxy.url, "flaky");
    try {
      proxy.inject({ kind: "status", status: 503 }, 2, api("bulk_upload_artifact_blob"));
      // Stored, then the answer lost: the retry finds the identical manifest, the same version.
      proxy.inject({ kind: "drop" }, 1, api("artifact_log"));
      const file = join(mkdtempSync(join(tmpdir(), "trackio-art-flaky-")), "flaky.bin");
      writeFileSync(file, "only this once");
      const art = await c.logArtifact(file, { type: "model" });
      assert.equal(art.version, "v0");
      const faults = proxy.events.filter((e) => e.fault !== null).map((e) => `${e.path.split("/").pop()} ${e.fault}`);
      assert.deepEqual(faults, [
        "bulk_upload_artifact_blob status 503",
        "bulk_upload_artifact_blob status 503",
        "artifact_log drop",
      ]);
      const listed = await callApi<{ name: string; num_versions: number }[]>(server.url, "list_artifacts", { project });
      assert.equal(listed.find((a) => a.name === "flaky.bin")?.num_versions, 1);
    } finally {
      await c.close();
      await proxy.close();
    }
  });

  test("a server down past the deadline: the version waits in the spool, rejected saying so; logged once the server is back", async () => {
    const proxy = await startFaultProxy(server.url);
    const spoolRoot = mkdtempSync(join(tmpdir(), "trackio-art-spool-"));
    const c = proxiedClient(proxy.url, "outage", { retryDeadlineMs: 1000, spoolDir: spoolRoot });
    try {
      await c.ready();
      await proxy.refuse();
      const file = join(mkdtempSync(join(tmpdir(), "trackio-art-outage-")), "outage.bin");
      writeFileSync(file, "kept while the server is down");
      await assert.rejects(c.logArtifact(file, { type: "model", aliases: ["during-outage"] }), {
        code: "ERR_TRACKIO_HTTP",
        message: /artifact outage\.bin kept in .*artifacts.*`npx trackio sync --spool \S+ --url \S+( --token TOKEN)?`/,
      });
      // The user's file may change now: what is kept is what was hashed.
      writeFileSync(file, "changed after the call");
      await proxy.accept();
      const deadline = performance.now() + 30_000;
      let stored: { name: string; versions: { aliases: string[] }[] } | undefined;
      while (stored === undefined && performance.now() < deadline) {
        await new Promise((r) => setTimeout(r, 250));
        const listed = await callApi<{ name: string; versions: { aliases: string[] }[] }[]>(
          server.url,
          "list_artifacts",
          {
            project,
          },
        );
        stored = listed.find((a) => a.name === "outage.bin");
      }
      assert.ok(stored !== undefined, "replayed by the worker within 30 s of the server's return");
      assert.deepEqual([...stored.versions[0].aliases].sort(), ["during-outage", "latest"]);
      const used = await c.useArtifact("outage.bin");
      const out = await used.download(mkdtempSync(join(tmpdir(), "trackio-art-outage-dl-")));
      assert.equal(readFileSync(join(out, "outage.bin"), "utf8"), "kept while the server is down");
    } finally {
      await c.close().catch(() => {});
      await proxy.close();
    }
    assert.deepEqual(listSpooledArtifacts(spoolDirOf(spoolRoot)), [], "the spool entry is gone");
  });

  test("npx trackio sync logs a spooled version", async () => {
    const proxy = await startFaultProxy(server.url);
    await proxy.refuse();
    const spoolRoot = mkdtempSync(join(tmpdir(), "trackio-art-sync-"));
    const c = proxiedClient(proxy.url, "synced", { retryDeadlineMs: 1000, spoolDir: spoolRoot });
    const file = join(mkdtempSync(join(tmpdir(), "trackio-art-sync-src-")), "synced.txt");
    writeFileSync(file, "sent by trackio sync");
    await assert.rejects(c.logArtifact(file), { message: /kept in/ });
    await c.close().catch(() => {});
    await proxy.close();
    assert.equal(listSpooledArtifacts(spoolDirOf(spoolRoot)).length, 1);
    const status = await runCli(["status", "--spool", spoolRoot]);
    assert.match(status.text, /^trackio status: 0 records, 0 media files, 0 quarantined lines, 1 artifact version in /);
    assert.match(status.text, /\(0 fragments, 1 artifact version\)/);
    const json = JSON.parse((await runCli(["status", "--spool", spoolRoot, "--json"])).text) as {
      artifacts: number;
      dirs: { artifacts: number }[];
    };
    assert.deepEqual([json.artifacts, json.dirs.map((d) => d.artifacts)], [1, [1]]);
    const { code, text } = await runCli(["sync", "--spool", spoolRoot, "--url", server.writeUrl]);
    assert.equal(code, 0, text);
    assert.match(text, /logged 1 artifact version/);
    const record = await callApi<{ version: number; producer_run_name: string } | null>(
      server.url,
      "get_artifact_manifest",
      {
        project,
        name: "synced.txt",
        spec: null,
      },
    );
    assert.equal(record?.version, 0);
    assert.equal(record?.producer_run_name, "synced");
    assert.deepEqual(listSpooledArtifacts(spoolDirOf(spoolRoot)), []);
  });

  test("a server that stays down: logArtifact() rejects, typed, in bounded time; nothing claims success", async () => {
    const proxy = await startFaultProxy(server.url);
    await proxy.refuse();
    const c = new Client({
      baseUrl: proxy.url,
      project,
      run: "down",
      quiet: true,
      systemMetrics: false,
      retryDeadlineMs: 1000,
      spoolDir: false,
    });
    try {
      const started = performance.now();
      await assert.rejects(c.logArtifact(dir, { name: "never" }), { code: "ERR_TRACKIO_HTTP" });
      assert.ok(performance.now() - started < 10_000);
    } finally {
      await c.close().catch(() => {});
      await proxy.close();
    }
  });

  test("no server configured and none answering (local inbox mode): rejected at once, saying artifacts need a server", async () => {
    const proxy = await startFaultProxy(server.url);
    await proxy.refuse();
    // The worker's task as a client in local-inbox mode runs it (no baseUrl given: inboxDir set).
    const settings = {
      ...resolvedServer(proxy.url),
      project,
      run: "inbox",
      runId: "r-inbox",
      inboxDir: join(tmpdir(), "trackio-never-written-inbox"),
    } as unknown as WorkerSettings;
    const transport = new Transport(settings, { onRequest() {}, onRetry() {} });
    try {
      const started = performance.now();
      const result = await artifactTask(
        { op: "use-artifact", project, name: "ds-node", spec: null },
        transport,
        settings,
        () => assert.fail("nothing to spool"),
      );
      assert.equal(result.ok, false);
      const error = (result as { error: { code: string; message: string } }).error;
      assert.equal(error.code, "ERR_TRACKIO_HTTP");
      assert.match(error.message, /artifacts need a running Trackio server/);
      assert.ok(performance.now() - started < 10_000, "no retry deadline waited out");
    } finally {
      await transport.close();
      await proxy.close();
    }
  });

  test("close() waits for an artifact call still running", async () => {
    const c = new Client({ baseUrl: server.writeUrl, project, run: "unawaited", quiet: true, systemMetrics: false });
    const file = join(mkdtempSync(join(tmpdir(), "trackio-art-late-")), "late.txt");
    writeFileSync(file, "logged, never awaited");
    const pending = c.logArtifact(file);
    await c.close();
    const listed = await callApi<{ name: string }[]>(server.url, "list_artifacts", { project });
    assert.ok(
      listed.some((a) => a.name === "late.txt"),
      "stored before close() resolved",
    );
    assert.equal((await pending).version, "v0");
  });
});
