// The published package, as a user gets it: `npm pack`, install the tarball into an empty
// project, and run the quickstart from there with `import` and with `require` (one module
// instance for both), load the `trackio/tfjs` and `trackio/otel` subpaths without their peer
// dependencies installed, bundle an app
// with esbuild and run the bundle, and lint the tarball with publint and arethetypeswrong.

import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { promisify } from "node:util";
import { startTrackio, type TrackioServer } from "../scripts/trackio-server.js";
import { runRows } from "./support/read-api.js";

const root = new URL("..", import.meta.url).pathname;
const bin = (name: string) => join(root, "node_modules", ".bin", name);
// Asynchronous on purpose: a test that blocks its event loop for seconds finds its
// keep-alive connections to the server closed under it.
const run = async (cmd: string, args: string[], opts: { cwd: string; env?: NodeJS.ProcessEnv }) =>
  (await promisify(execFile)(cmd, args, { ...opts, encoding: "utf8", maxBuffer: 64 * 1024 * 1024 })).stdout;
let server: TrackioServer;
let dir: string;
let tarball: string;
let files: string[];
let app: string;

before(async () => {
  server = await startTrackio();
  dir = mkdtempSync(join(tmpdir(), "trackio-pack-"));
  // prepack builds dist/.
  const packed = await run("npm", ["pack", "--json", "--pack-destination", dir], { cwd: root });
  const [result] = JSON.parse(packed.slice(packed.indexOf("["))) as { filename: string; files: { path: string }[] }[];
  tarball = join(dir, result.filename);
  files = result.files.map((f) => f.path);
  app = join(dir, "app");
  mkdirSync(app, { recursive: true });
  // No "type": the project's .mjs files are ES modules, its .cjs files CommonJS.
  writeFileSync(join(app, "package.json"), JSON.stringify({ name: "app", private: true }));
  await run("npm", ["install", "--no-audit", "--no-fund", "--prefer-offline", tarball], { cwd: app });
});
after(async () => {
  await server?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** Run a file of the app project against the server; returns its last line, parsed. */
async function runApp(file: string, args: string[] = []): Promise<Record<string, unknown>> {
  const out = await run(process.execPath, [...args, file], { cwd: app, env: { ...process.env, URL: server.writeUrl } });
  return JSON.parse(out.trim().split("\n").pop() as string) as Record<string, unknown>;
}

async function assertStored(project: string, runId: unknown, n: number): Promise<void> {
  const rows = await runRows(server.url, project, runId as string);
  assert.equal(rows.rows, n);
  assert.equal(rows.distinctLogIds, n);
}

test("the tarball carries dist/ (ESM, the CommonJS entries, types, the worker entry) and the bundling recipe", () => {
  for (const path of [
    "dist/src/index.js",
    "dist/src/index.d.ts",
    "dist/src/cjs/index.cjs",
    "dist/src/cjs/index.d.cts",
    "dist/src/tfjs.js",
    "dist/src/tfjs.d.ts",
    "dist/src/cjs/tfjs.cjs",
    "dist/src/cjs/tfjs.d.cts",
    "dist/src/otel.js",
    "dist/src/otel.d.ts",
    "dist/src/cjs/otel.cjs",
    "dist/src/cjs/otel.d.cts",
    "dist/worker/index.js",
    "examples/bundle/build.mjs",
    "examples/bundle/train.mjs",
  ]) {
    assert.ok(files.includes(path), `${path} is in the tarball`);
  }
  assert.ok(!files.some((p) => p.startsWith("test/") || p.startsWith("src/")), "no sources or tests ship");
});

test("the quickstart from an installed tarball, as an ES module", { timeout: 120_000 }, async () => {
  writeFileSync(
    join(app, "quickstart.mjs"),
    `import { Api, Client, TrackioError } from "trackio";
const client = new Client({ baseUrl: process.env.URL, project: "packed", run: "esm", config: { lr: 0.01 }, quiet: true });
for (let i = 0; i < 1000; i++) client.log({ loss: 1 / (i + 1) }, i);
await client.close();
const run = (await new Api({ baseUrl: process.env.URL }).runs("packed")).find((r) => r.id === client.runId);
const rows = await run.metrics();
console.log(JSON.stringify({ runId: client.runId, sent: client.stats().sent, isError: new TypeError() instanceof TrackioError, read: [rows.length, rows[999].step, rows[999].loss, run.config] }));
`,
  );
  const result = await runApp("quickstart.mjs");
  assert.equal(result.sent, 1000);
  assert.equal(result.isError, false);
  // The read API of the installed package reads the run back.
  assert.deepEqual(result.read, [1000, 999, 1 / 1000, { lr: 0.01 }]);
  await assertStored("packed", result.runId, 1000);
});

test("the quickstart from an installed tarball, as CommonJS", { timeout: 120_000 }, async () => {
  writeFileSync(
    join(app, "quickstart.cjs"),
    `const { Client, TrackioError, InvalidArgError } = require("trackio");
async function main() {
  const client = new Client({ baseUrl: process.env.URL, project: "packed", run: "cjs", quiet: true });
  for (let i = 0; i < 1000; i++) client.log({ loss: 1 / (i + 1) }, i);
  await client.close();
  let bad;
  try { client.withRun(""); } catch (err) { bad = err; }
  console.log(JSON.stringify({ runId: client.runId, sent: client.stats().sent, invalid: bad instanceof InvalidArgError && bad instanceof TrackioError }));
}
main().catch((err) => { console.error(err); process.exit(1); });
`,
  );
  const result = await runApp("quickstart.cjs");
  assert.equal(result.sent, 1000);
  assert.equal(result.invalid, true);
  await assertStored("packed", result.runId, 1000);
});

test("require() on a Node.js that cannot require ES modules says what to do", async () => {
  // What Node 20.18 or 22.11 do by default.
  const err = await run(process.execPath, ["--no-experimental-require-module", "quickstart.cjs"], { cwd: app }).then(
    () => assert.fail("require should have thrown"),
    (e: { stderr: string }) => e.stderr,
  );
  assert.match(
    err,
    /require\("trackio"\) needs a Node\.js that can require\(\) ES modules \(\^20\.19\.0 or >= 22\.12\.0/,
  );
  assert.match(err, /await import\("trackio"\)/);
});

test("import and require load ONE instance of the package", { timeout: 60_000 }, async () => {
  writeFileSync(
    join(app, "both.cjs"),
    `const viaRequire = require("trackio");
import("trackio").then((viaImport) => {
  const tf = require("trackio/tfjs");
  const otel = require("trackio/otel");
  return Promise.all([import("trackio/tfjs"), import("trackio/otel")]).then(([tfImport, otelImport]) => {
    console.log(JSON.stringify({
      client: viaRequire.Client === viaImport.Client,
      api: viaRequire.Api === viaImport.Api,
      error: viaRequire.TrackioError === viaImport.TrackioError,
      trace: viaRequire.Trace === viaImport.Trace,
      keys: Object.keys(viaRequire).sort().join() === Object.keys(viaImport).sort().join(),
      tfjs: tf.trackioCallback === tfImport.trackioCallback,
      tfjsLoaded: Object.keys(require.cache).some((p) => p.includes("@tensorflow")),
      otel: typeof otel.TrackioSpanExporter === "function" && otel.TrackioSpanExporter === otelImport.TrackioSpanExporter,
      otelLoaded: Object.keys(require.cache).some((p) => p.includes("@opentelemetry")),
    }));
  });
});
`,
  );
  assert.deepEqual(await runApp("both.cjs"), {
    client: true,
    api: true,
    error: true,
    trace: true,
    keys: true,
    tfjs: true,
    tfjsLoaded: false,
    otel: true,
    otelLoaded: false,
  });
  // The peer dependencies are optional: trackio/tfjs and trackio/otel load without them installed.
  assert.ok(!existsSync(join(app, "node_modules", "@tensorflow")));
  assert.ok(!existsSync(join(app, "node_modules", "@opentelemetry")));
});

test("an app bundled with esbuild runs, its worker entry given as workerFile", { timeout: 120_000 }, async () => {
  // The README's recipe as a user runs it: esbuild in the project (here the repo's, linked),
  // the build script from the installed package, the example app it ships.
  symlinkSync(join(root, "node_modules", "esbuild"), join(app, "node_modules", "esbuild"));
  copyFileSync(join(app, "node_modules", "trackio", "examples", "bundle", "train.mjs"), join(app, "train.mjs"));
  const out = join(app, "out");
  await run(process.execPath, ["node_modules/trackio/examples/bundle/build.mjs", "train.mjs", "out"], { cwd: app });
  // Move the bundle away from node_modules: nothing may be loaded from there.
  const shipped = join(dir, "shipped");
  mkdirSync(shipped);
  for (const f of ["train.mjs", "trackio-worker.mjs", "worker.js", "package.json"]) {
    copyFileSync(join(out, f), join(shipped, f));
  }
  const stdout = await run(process.execPath, [join(shipped, "train.mjs")], {
    cwd: shipped,
    env: { ...process.env, TRACKIO_SERVER_URL: server.writeUrl, TRACKIO_PROJECT: "packed" },
  });
  const result = JSON.parse(stdout.trim().split("\n").pop() as string) as { runId: string; sent: number };
  assert.equal(result.sent, 500);
  await assertStored("packed", result.runId, 500);
});

test("publint and arethetypeswrong report nothing", { timeout: 120_000 }, async () => {
  const publint = await run(bin("publint"), ["run", tarball], { cwd: root });
  assert.match(publint, /All good!/);
  // .attw.json leaves out ./worker: a thread entry file (path for workerFile), not an API.
  const attw = await run(bin("attw"), [tarball, "--format", "ascii"], { cwd: root });
  assert.match(attw, /No problems found/);
});
