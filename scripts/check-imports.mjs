#!/usr/bin/env node
// `npm run lint` (with Biome): the layering rules of docs/architecture.md, checked on every
// relative import in src/ and worker/, type-only imports included:
//   src/shared/  the cross-thread contract: imports nothing outside itself
//   src/values/  what log() accepts and how it is encoded: src/shared/ and itself
//   src/io/      server and disk I/O, used by the worker, the CLI, resume, the read API and
//                the main-thread rescue: src/shared/ and itself
//   worker/      the worker thread alone: src/shared/, src/io/ and itself; nothing outside
//                worker/ imports it (tests and benchmarks aside)
// and: no import cycles, no source file longer than MAX_LINES.
// Prints each violation and exits 1 if there is any.

import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, normalize } from "node:path";

const MAX_LINES = 450;
const root = new URL("..", import.meta.url).pathname;

function sources(dir) {
  return readdirSync(join(root, dir), { recursive: true })
    .map(String)
    .filter((f) => /\.(c|m)?ts$/.test(f) && !f.endsWith(".d.ts"))
    .map((f) => join(dir, f));
}

const files = [...sources("src"), ...sources("worker")];
const known = new Set(files);
const importRe =
  /(?:^|\n)\s*(?:import|export)\b[^;]*?\bfrom\s*["'](\.{1,2}\/[^"']+)["']|import\(\s*["'](\.{1,2}\/[^"']+)["']\s*\)/g;

function resolve(from, spec) {
  const base = normalize(join(dirname(from), spec));
  for (const cand of [
    base,
    base.replace(/\.js$/, ".ts"),
    base.replace(/\.cjs$/, ".cts"),
    base.replace(/\.mjs$/, ".mts"),
  ]) {
    if (known.has(cand)) return cand;
  }
  return null;
}

const layer = (f) =>
  f.startsWith("src/shared/")
    ? "shared"
    : f.startsWith("src/values/")
      ? "values"
      : f.startsWith("src/io/")
        ? "io"
        : f.startsWith("worker/")
          ? "worker"
          : "src";
const allowed = {
  shared: new Set(["shared"]),
  values: new Set(["shared", "values"]),
  io: new Set(["shared", "io"]),
  worker: new Set(["shared", "io", "worker"]),
  src: new Set(["shared", "values", "io", "src"]),
};

const problems = [];
const graph = new Map();
for (const f of files) {
  const text = readFileSync(join(root, f), "utf8");
  const lines = text.split("\n").length;
  if (lines > MAX_LINES) problems.push(`${f}: ${lines} lines (at most ${MAX_LINES}: split it by concern)`);
  const deps = [];
  for (const m of text.matchAll(importRe)) {
    const spec = m[1] ?? m[2];
    const target = resolve(f, spec);
    if (target === null) continue;
    deps.push(target);
    if (!allowed[layer(f)].has(layer(target))) {
      problems.push(`${f} imports ${target}: ${layer(f)} code may import only ${[...allowed[layer(f)]].join(", ")}`);
    }
  }
  graph.set(f, deps);
}

// Cycles: depth-first search, each cycle reported once by its member list.
const state = new Map();
const seen = new Set();
function visit(f, stack) {
  state.set(f, "open");
  stack.push(f);
  for (const d of graph.get(f) ?? []) {
    if (state.get(d) === "open") {
      const cycle = stack.slice(stack.indexOf(d));
      const key = [...cycle].sort().join(" ");
      if (!seen.has(key)) {
        seen.add(key);
        problems.push(`import cycle: ${[...cycle, d].join(" → ")}`);
      }
    } else if (!state.has(d)) visit(d, stack);
  }
  stack.pop();
  state.set(f, "done");
}
for (const f of files) if (!state.has(f)) visit(f, []);

for (const p of problems) console.error(`check-imports: ${p}`);
if (problems.length > 0) process.exit(1);
console.log(
  `check-imports: ${files.length} files, ${[...graph.values()].reduce((n, d) => n + d.length, 0)} imports, no violations`,
);
