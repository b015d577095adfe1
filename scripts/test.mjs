// `npm test`: everything CI runs, in order. Installs the pinned Trackio into .venv when it is
// missing, type-checks, lints (Biome, then the import rules of docs/architecture.md), then runs every test/**/*.test.ts with node:test through tsx.
// Node 20's --test takes paths, not globs, and passes with zero files, so the files are
// listed here and an empty list is an error. The last line is "N passed, N failed".
//
// `npm run test:unit` (`node scripts/test.mjs --unit`): the same without Python, for a quick
// loop: no venv set-up, the same type-check and lint, then only the tests that need no
// Trackio server. The rule that picks them:
// - every test/unit/**/*.test.ts, and
// - every other test file whose relative imports, followed through test/ and scripts/, reach
//   none of NEEDS_PYTHON below (the server launchers, the scenario and read-API helpers that
//   talk to a real server, the Python oracle).
// A test/unit file that does reach one is an error, not a skip. The tests run with
// TRACKIO_TEST_NO_PYTHON=1, under which scripts/trackio-server.ts refuses to find Python, so a
// unit test that starts a server by any other path fails loudly too.

import { spawn, spawnSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";

const root = new URL("..", import.meta.url).pathname;
const args = process.argv.slice(2);
const unit = args[0] === "--unit";
const only = unit ? args.slice(1) : args;
const label = unit ? "npm run test:unit" : "npm test";
const started = Date.now();

/** Modules that need Python: whatever reaches one is not a unit test. */
const NEEDS_PYTHON = [
  "scripts/trackio-server.ts",
  "scripts/trackio-legacy-server.ts",
  "scripts/setup-python.mjs",
  "test/support/scenario.ts",
  "test/support/read-api.ts",
  "test/support/oracle.ts",
];

function fail(message, code = 1) {
  console.error(`${label}: ${message}`);
  console.log("0 passed, 1 failed");
  process.exit(code);
}

function step(name, cmd, argv) {
  const t0 = Date.now();
  const r = spawnSync(cmd, argv, { cwd: root, stdio: "inherit" });
  if (r.status !== 0) fail(`${name} failed`, r.status ?? 1);
  console.log(`${label}: ${name} ok (${((Date.now() - t0) / 1000).toFixed(1)}s)`);
}

/** The repo-relative modules of test/ and scripts/ that `file` imports, directly or not, itself included. */
function reachable(file, seen = new Set()) {
  if (seen.has(file)) return seen;
  seen.add(file);
  const text = readFileSync(join(root, file), "utf8");
  for (const m of text.matchAll(/(?:\bfrom\s*|\bimport\s*\(?\s*)["'](\.{1,2}\/[^"']+)["']/g)) {
    let target = relative(root, resolve(root, dirname(file), m[1]));
    if (!existsSync(join(root, target)) && target.endsWith(".js")) target = target.replace(/\.js$/, ".ts");
    if (!/^(test|scripts)\//.test(target) || !existsSync(join(root, target))) continue;
    reachable(target, seen);
  }
  return seen;
}

function pythonReachedFrom(file) {
  const seen = reachable(file);
  return NEEDS_PYTHON.find((m) => seen.has(m)) ?? null;
}

if (unit && only.length > 0) fail("--unit picks its own files; run one file with `node scripts/test.mjs <file>`");
if (only.length === 0) {
  if (!unit) step("python setup", process.execPath, ["scripts/setup-python.mjs"]);
  step("typecheck", process.execPath, ["node_modules/typescript/bin/tsc", "--noEmit"]);
  step("lint", process.execPath, ["node_modules/@biomejs/biome/bin/biome", "check", "."]);
  step("import rules", process.execPath, ["scripts/check-imports.mjs"]);
}

let files =
  only.length > 0
    ? only
    : readdirSync(join(root, "test"), { recursive: true })
        .map(String)
        .filter((f) => f.endsWith(".test.ts"))
        .sort()
        .map((f) => join("test", f));
if (unit) {
  const picked = [];
  for (const f of files) {
    const python = pythonReachedFrom(f);
    if (f.startsWith("test/unit/") && python !== null) {
      fail(`${f} imports ${python} (directly or through a helper), which needs Python: not a unit test`);
    }
    if (python === null) picked.push(f);
  }
  files = picked;
  console.log(`${label}: ${files.length} files: ${files.join(" ")}`);
}
if (files.length === 0) fail("no test files found under test/");

// One file at a time: each starts its own Trackio server and worker threads, and the
// machines here have two cores. System metrics are on by default for users; the tests that
// count rows, requests or spooled lines should not get a sample whenever a run passes 10 s,
// so they are off here, and the tests of system metrics turn them on by option (an option
// wins over the variable).
const env = { TRACKIO_SYSTEM_METRICS: "false", ...process.env };
const child = spawn(
  process.execPath,
  ["--import", "tsx", "--test", "--test-reporter=tap", "--test-concurrency=1", "--test-timeout=300000", ...files],
  {
    cwd: root,
    stdio: ["ignore", "pipe", "inherit"],
    env: unit ? { ...env, TRACKIO_TEST_NO_PYTHON: "1" } : env,
  },
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
  if (unit) console.log(`${label}: ${((Date.now() - started) / 1000).toFixed(1)}s in all`);
  console.log(
    `${passed} passed, ${ok ? failed : Math.max(failed, 1)} failed${counts.skipped ? `, ${counts.skipped} skipped` : ""}${counts.todo ? `, ${counts.todo} todo` : ""}`,
  );
  process.exit(ok ? 0 : code || 1);
});
