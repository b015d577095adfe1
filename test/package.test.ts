import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { promisify } from "node:util";
import { startTrackio, type TrackioServer } from "../scripts/trackio-server.js";
import { runRows } from "./support/read-api.js";

const root = new URL("..", import.meta.url).pathname;
// Asynchronous on purpose: a test that blocks its event loop for seconds finds its
// keep-alive connections to the server closed under it.
const run = async (cmd: string, args: string[], opts: { cwd: string; env?: NodeJS.ProcessEnv }) =>
  (await promisify(execFile)(cmd, args, { ...opts, encoding: "utf8", maxBuffer: 64 * 1024 * 1024 })).stdout;
let server: TrackioServer;
let dir: string;

before(async () => {
  server = await startTrackio();
  dir = mkdtempSync(join(tmpdir(), "trackio-pack-"));
});
after(async () => {
  await server?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test("the packed tarball installs into an empty project and delivers from plain Node", {
  timeout: 240_000,
}, async () => {
  // prepack builds dist/; the tarball must carry the worker entry too.
  const packed = await run("npm", ["pack", "--json", "--pack-destination", dir], { cwd: root });
  const [{ filename, files }] = JSON.parse(packed.slice(packed.indexOf("["))) as {
    filename: string;
    files: { path: string }[];
  }[];
  const paths = files.map((f) => f.path);
  assert.ok(paths.includes("dist/src/index.js"));
  assert.ok(paths.includes("dist/src/index.d.ts"));
  assert.ok(paths.includes("dist/worker/index.js"));
  assert.ok(!paths.some((p) => p.startsWith("test/") || p.startsWith("src/")), "only dist/ ships");

  const app = join(dir, "app");
  mkdirSync(app, { recursive: true });
  writeFileSync(join(app, "package.json"), JSON.stringify({ name: "app", private: true, type: "module" }));
  await run("npm", ["install", "--no-audit", "--no-fund", "--prefer-offline", join(dir, filename)], { cwd: app });
  writeFileSync(
    join(app, "main.mjs"),
    `import { Client, TrackioError } from "trackio";
const client = new Client({ baseUrl: process.env.URL, project: "packed", run: "plain-node" });
for (let i = 0; i < 1000; i++) client.log({ loss: 1 / (i + 1) }, i);
await client.close();
console.log(JSON.stringify({ runId: client.runId, sent: client.stats().sent, isError: new TypeError() instanceof TrackioError }));
`,
  );
  const out = await run(process.execPath, ["main.mjs"], { cwd: app, env: { ...process.env, URL: server.writeUrl } });
  const result = JSON.parse(out.trim().split("\n").pop() as string) as {
    runId: string;
    sent: number;
    isError: boolean;
  };
  assert.equal(result.sent, 1000);
  assert.equal(result.isError, false);
  const rows = await runRows(server.url, "packed", result.runId);
  assert.equal(rows.rows, 1000);
  assert.equal(rows.distinctLogIds, 1000);
});
