// `npm test`: everything CI runs, in order. Installs the pinned Trackio into .venv when it is
// missing, type-checks, lints (Biome, then the import rules of docs/architecture.md), then runs every test/**/*.test.ts with node:test through tsx.
// Node 20's --test takes paths, not globs, and passes with zero files, so the files are
// listed here and an empty list is an error. The last line is "N passed, N failed".

import { spawn, spawnSync } from "node:child_process";
import { readdirSync } from "node:fs";
import { join } from "node:path";

const root = new URL("..", import.meta.url).pathname;
const only = process.argv.slice(2);

function step(name, cmd, args) {
  const t0 = Date.now();
  const r = spawnSync(cmd, args, { cwd: root, stdio: "inherit" });
  if (r.status !== 0) {
    console.error(`npm test: ${name} failed`);
    console.log("0 passed, 1 failed");
    process.exit(r.status ?? 1);
  }
  console.log(`npm test: ${name} ok (${((Date.now() - t0) / 1000).toFixed(1)}s)`);
}

if (only.length === 0) {
  step("python setup", process.execPath, ["scripts/setup-python.mjs"]);
  step("typecheck", process.execPath, ["node_modules/typescript/bin/tsc", "--noEmit"]);
  step("lint", process.execPath, ["node_modules/@biomejs/biome/bin/biome", "check", "."]);
  step("import rules", process.execPath, ["scripts/check-imports.mjs"]);
}

const files =
  only.length > 0
    ? only
    : readdirSync(join(root, "test"), { recursive: true })
        .map(String)
        .filter((f) => f.endsWith(".test.ts"))
        .sort()
        .map((f) => join("test", f));
if (files.length === 0) {
  console.error("npm test: no test files found under test/");
  console.log("0 passed, 1 failed");
  process.exit(1);
}

// One file at a time: each starts its own Trackio server and worker threads, and the
// machines here have two cores.
const child = spawn(
  process.execPath,
  ["--import", "tsx", "--test", "--test-reporter=tap", "--test-concurrency=1", "--test-timeout=300000", ...files],
  { cwd: root, stdio: ["ignore", "pipe", "inherit"] },
);
const counts = {};
let tail = "";
child.stdout.on("data", (chunk) => {
  process.stdout.write(chunk);
  tail = (tail + chunk.toString()).slice(-4096);
});
child.on("close", (code) => {
  for (const m of tail.matchAll(/^# (pass|fail|cancelled|skipped|todo) (\d+)$/gm)) counts[m[1]] = Number(m[2]);
  const failed = (counts.fail ?? 0) + (counts.cancelled ?? 0);
  const passed = counts.pass ?? 0;
  const ok = code === 0 && failed === 0 && passed > 0;
  console.log(
    `${passed} passed, ${ok ? failed : Math.max(failed, 1)} failed${counts.skipped ? `, ${counts.skipped} skipped` : ""}`,
  );
  process.exit(ok ? 0 : code || 1);
});
