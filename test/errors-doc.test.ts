// docs/errors.md documents every error code: each code in src/shared/errors.ts, and each warning code
// the package emits, has a section of its own; the page documents no code that does not exist.

import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import * as trackio from "../src/index.js";

const root = new URL("..", import.meta.url).pathname;
const page = readFileSync(join(root, "docs", "errors.md"), "utf8");
const errorsSource = readFileSync(join(root, "src", "shared", "errors.ts"), "utf8");

/** Codes with a section: headings like "## `ERR_TRACKIO_AUTH`". */
const documented = new Set([...page.matchAll(/^#{2,3} `([A-Z_]+)`$/gm)].map((m) => m[1]));

function sourceFiles(dir: string): string[] {
  return readdirSync(join(root, dir), { recursive: true })
    .map(String)
    .filter((f) => f.endsWith(".ts") || f.endsWith(".cts"))
    .map((f) => join(root, dir, f));
}

test("every error code in src/shared/errors.ts has a section in docs/errors.md", () => {
  const codes = new Set([...errorsSource.matchAll(/"(ERR_TRACKIO[A-Z_]*)"/g)].map((m) => m[1]));
  assert.ok(codes.size >= 9, `found only ${[...codes].join(", ")}`);
  const missing = [...codes].filter((c) => !documented.has(c));
  assert.deepEqual(missing, [], `add a "## \`CODE\`" section to docs/errors.md for: ${missing.join(", ")}`);
});

test("every warning code emitted in src/ and worker/ has a section too", () => {
  const codes = new Set<string>();
  for (const file of [...sourceFiles("src"), ...sourceFiles("worker")]) {
    for (const m of readFileSync(file, "utf8").matchAll(/code:\s*"((?:ERR_)?TRACKIO[A-Z_]*)"/g)) codes.add(m[1]);
  }
  // The worker's warnings are passed by code (the WarningCode type lists them).
  const protocol = readFileSync(join(root, "src", "shared", "protocol.ts"), "utf8");
  const union = /export type WarningCode =([^;]+);/.exec(protocol)?.[1] ?? "";
  for (const m of union.matchAll(/"(TRACKIO_[A-Z_]+)"/g)) codes.add(m[1]);
  assert.ok(codes.has("TRACKIO_RETRYING"), "the WarningCode union was read");
  const missing = [...codes].filter((c) => !documented.has(c));
  assert.deepEqual(missing, [], `undocumented codes: ${missing.join(", ")}`);
});

test("every exported error class is named on the page, and the page names no code that does not exist", () => {
  const classes = Object.entries(trackio).filter(
    ([, v]) => typeof v === "function" && (v === trackio.TrackioError || v.prototype instanceof trackio.TrackioError),
  );
  assert.ok(classes.length >= 9);
  for (const [name, cls] of classes) {
    assert.match(page, new RegExp(`Class \`${name}\``), `${name} is described`);
    const code = (cls as { code?: string }).code ?? "ERR_TRACKIO";
    assert.ok(documented.has(code), `${name}'s code ${code} has a section`);
  }
  const allSource = [...sourceFiles("src"), ...sourceFiles("worker")].map((f) => readFileSync(f, "utf8")).join("\n");
  for (const code of documented)
    assert.ok(allSource.includes(`"${code}"`), `${code} is documented but not in the source`);
});
