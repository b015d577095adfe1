// A worker thread that cannot load (a wrong workerFile, a bundle without the worker file, a
// worker file that throws, a CommonJS bundle): the error arrives within seconds, naming the
// path and the workerFile option; the main thread keeps every record in the spool; the
// process exits normally; and `trackio sync` stores every record in a real Trackio server.
// Exit behaviour is what is under test, so every program runs as a child process.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, type TestContext, test } from "node:test";
import { bundle } from "../examples/bundle/build.mjs";
import { startTrackio, type TrackioServer } from "../scripts/trackio-server.js";
import { Client, type ClientStats, type TrackioError } from "../src/index.js";
import { encodePng } from "../src/io/encode.js";
import { callApi, queryProject } from "./support/read-api.js";
import { assertStoredOnce, logBurst, runSync, spooledLines, tempDir, waitFor } from "./support/scenario.js";

let server: TrackioServer;
let mediaDir: string;
let seq = 0;
const project = () => `worker-load-${process.pid}-${seq++}`;

before(async () => {
  server = await startTrackio();
  mediaDir = (await callApi<{ media_dir: string }>(server.url, "get_settings", {})).media_dir;
});
after(async () => {
  await server?.stop();
});

const root = new URL("..", import.meta.url).pathname;
const child = join(root, "test", "fixtures", "worker-load-child.ts");
/** Generous: the failure is seen within a second here, but the machine may be busy. */
const ERROR_WITHIN_MS = 15_000;

interface Seen {
  code: string;
  message: string;
  ms: number;
}
interface ChildClient {
  runId: string;
  errors: Seen[];
  closed: Seen | "resolved" | null;
  stats: ClientStats;
}
interface ChildResult {
  code: number | null;
  clients: ChildClient[];
  stderr: string;
}

/** Run a program; its last stdout line is the JSON the fixtures print at exit. */
function run(args: string[], env: Record<string, string>, cwd = root): Promise<ChildResult> {
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, args, {
      cwd,
      env: { ...process.env, TEST_TRACKIO_URL: server.writeUrl, ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    proc.stdout.on("data", (d) => (stdout += d));
    proc.stderr.on("data", (d) => (stderr += d));
    const timer = setTimeout(() => {
      proc.kill("SIGKILL");
      reject(new Error(`${args.join(" ")} did not exit within 60 s; stderr: ${stderr}`));
    }, 60_000);
    proc.on("close", (code) => {
      clearTimeout(timer);
      const last = stdout.trim().split("\n").pop() ?? "";
      let clients: ChildClient[] = [];
      try {
        clients = JSON.parse(last) as ChildClient[];
      } catch {
        // asserted below with the output
      }
      resolve({ code, clients, stderr: `${stderr}\nstdout: ${stdout}` });
    });
  });
}

function runChild(args: (string | number)[], env: Record<string, string>): Promise<ChildResult> {
  return run(["--import", "tsx", child, ...args.map(String)], env);
}

/** A WorkerError that names the path tried and the option that fixes it, in bounded time. */
function assertWorkerError(seen: Seen | "resolved" | null | undefined, path: string): void {
  assert.ok(typeof seen === "object" && seen !== null, `a WorkerError, got ${JSON.stringify(seen)}`);
  assert.equal(seen.code, "ERR_TRACKIO_WORKER", seen.message);
  assert.ok(seen.message.includes(path), `the message names ${path}: ${seen.message}`);
  assert.match(seen.message, /workerFile option/);
  assert.match(seen.message, /records kept in .*npx trackio sync/);
  assert.ok(seen.ms < ERROR_WITHIN_MS, `the error arrived after ${seen.ms} ms`);
}

/** Every record logged is counted as spooled, none pending, and the counts balance. */
function assertAllSpooled(c: ChildClient, n: number, images = 0): void {
  const s = c.stats;
  assert.equal(s.logged, n);
  assert.equal(s.spooled, n, JSON.stringify(s));
  assert.equal(s.pending, 0);
  assert.equal(s.logged, s.sent + s.spooled + s.inboxed + s.failed + s.quarantined);
  assert.equal(s.media.logged, images);
  assert.equal(s.media.spooled, images, JSON.stringify(s.media));
}

/** `trackio sync` empties the spool into the server, which then holds each run whole and once. */
/**
 * `trackio sync` empties the spool into the server, which then holds each run whole and once.
 * Prints a `worker-load:` line (the source of docs/reliability.md's table).
 */
async function assertSynced(
  t: TestContext,
  spool: string,
  p: string,
  runIds: string[],
  n: number,
  errorMs: number | null,
): Promise<void> {
  const kept = spooledLines(spool).lines;
  const { code, out } = await runSync(["sync", "--spool", spool, "--url", server.writeUrl]);
  assert.equal(code, 0, out);
  assert.equal(spooledLines(spool).lines, 0, out);
  for (const runId of runIds) await assertStoredOnce(server.url, p, runId, n);
  const after = errorMs === null ? "not listened for" : `${errorMs} ms`;
  t.diagnostic(
    `worker-load: ${t.name} | error: ${after} | logged ${n * runIds.length} | spooled ${kept} | stored after sync ${n * runIds.length}`,
  );
}

describe("a workerFile that cannot be loaded", () => {
  test("a missing file: the error within seconds, close() rejects, exit 0, every record and file synced", async (t) => {
    const p = project();
    const spool = tempDir("wl-spool");
    const missing = join(tempDir("wl-missing"), "no-such-worker.js");
    const n = 2000;
    const images = 3;
    const r = await runChild(["close", n, images], {
      TEST_PROJECT: p,
      TRACKIO_SPOOL_DIR: spool,
      TEST_WORKER_FILE: missing,
    });
    assert.equal(r.code, 0, r.stderr);
    const [c] = r.clients;
    assert.equal(c.errors.length, 1, JSON.stringify(c.errors));
    assertWorkerError(c.errors[0], missing);
    assertWorkerError(c.closed, missing);
    assert.match(c.errors[0].message, new RegExp(`${n} records kept in`));
    assertAllSpooled(c, n, images);
    assert.equal(spooledLines(spool).lines, n);
    await assertSynced(t, spool, p, [c.runId], n, c.errors[0].ms);
    // The files behind the images were kept and uploaded too.
    const rows = await queryProject(
      server.url,
      p,
      `SELECT step, metrics FROM metrics WHERE run_id = '${c.runId}' AND step < ${images}`,
    );
    assert.equal(rows.length, images);
    for (const row of rows) {
      const ref = (JSON.parse(String(row.metrics)) as { img: { file_path: string } }).img;
      const res = await fetch(`${server.url}file?path=${encodeURIComponent(`${mediaDir}/${ref.file_path}`)}`);
      assert.equal(res.status, 200);
      const expected = encodePng(new Uint8Array(48).fill(Number(row.step)), 4, 4, 3);
      assert.ok(Buffer.from(await res.arrayBuffer()).equals(expected), `step ${row.step}`);
    }
  });

  test("a file that throws as it loads, shared by three clients: each gets the error and keeps its own records", async (t) => {
    const p = project();
    const spool = tempDir("wl-spool");
    const broken = join(tempDir("wl-broken"), "worker.mjs");
    writeFileSync(broken, 'throw new Error("this worker cannot load");\n');
    const n = 1500;
    const r = await runChild(["close", n, 0, 3], {
      TEST_PROJECT: p,
      TRACKIO_SPOOL_DIR: spool,
      TEST_WORKER_FILE: broken,
    });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.clients.length, 3);
    for (const c of r.clients) {
      assert.equal(c.errors.length, 1, JSON.stringify(c.errors));
      assertWorkerError(c.errors[0], broken);
      assert.match(c.errors[0].message, /this worker cannot load/);
      assertWorkerError(c.closed, broken);
      assertAllSpooled(c, n);
    }
    assert.equal(spooledLines(spool).lines, 3 * n);
    await assertSynced(
      t,
      spool,
      p,
      r.clients.map((c) => c.runId),
      n,
      Math.max(...r.clients.map((c) => c.errors[0].ms)),
    );
  });
});

describe("in one process", () => {
  const terminateWorker = (c: Client): Promise<void> =>
    (c as unknown as Record<symbol, () => Promise<void>>)[Symbol.for("trackio.terminateWorker")]();

  test("a thread that loaded, crashed, and whose replacement cannot load: the rest is kept, nothing lost", async (t) => {
    const p = project();
    const spool = tempDir("wl-spool");
    // A worker entry of its own, so that it can disappear under the running client.
    const entry = join(tempDir("wl-entry"), "worker.mjs");
    writeFileSync(entry, `export { default } from ${JSON.stringify(join(root, "worker", "index.ts"))};\n`);
    const client = new Client({
      baseUrl: server.writeUrl,
      project: p,
      run: "replaced",
      quiet: true,
      spoolDir: spool,
      workerFile: entry,
    });
    const errors: TrackioError[] = [];
    client.on("error", (err: TrackioError) => errors.push(err));
    logBurst(client, 0, 500);
    await client.flush();
    assert.equal(client.stats().sent, 500);
    rmSync(entry);
    const t0 = performance.now();
    await terminateWorker(client);
    await waitFor("the WorkerError", () => errors.length > 0, ERROR_WITHIN_MS);
    const ms = Math.round(performance.now() - t0);
    assert.equal(errors[0].code, "ERR_TRACKIO_WORKER", errors[0].message);
    assert.ok(errors[0].message.includes(entry), errors[0].message);
    // Logged after the failure: kept by flush(), which rejects with the same error.
    logBurst(client, 500, 700);
    await assert.rejects(client.flush(), (err: TrackioError) => err.code === "ERR_TRACKIO_WORKER");
    await assert.rejects(client.close(), /700 records kept in/);
    const st = client.stats();
    assert.equal(st.sent + st.spooled, 1200, JSON.stringify(st));
    assert.equal(st.pending, 0);
    await assertSynced(t, spool, p, [client.runId as string], 1200, ms);
  });

  test("a workerFile that is some other module (no task function): the same error, the records kept", async () => {
    const spool = tempDir("wl-spool");
    const other = join(tempDir("wl-other"), "other.mjs");
    writeFileSync(other, "export const answer = 42;\n");
    const client = new Client({
      baseUrl: server.writeUrl,
      project: project(),
      run: "other-module",
      quiet: true,
      spoolDir: spool,
      workerFile: other,
    });
    logBurst(client, 0, 800);
    await assert.rejects(client.close(), (err: TrackioError) => {
      assert.equal(err.code, "ERR_TRACKIO_WORKER");
      assert.ok(err.message.includes(other), err.message);
      assert.match(err.message, /not trackio's worker entry.*workerFile option.*800 records kept in/);
      return true;
    });
    assert.equal(client.stats().spooled, 800);
    assert.equal(client.stats().pending, 0);
    assert.equal(spooledLines(spool).lines, 800);
  });

  test("spoolDir: false: the records are counted lost and reported, never silently", async () => {
    const client = new Client({
      baseUrl: server.writeUrl,
      project: project(),
      run: "no-spool",
      quiet: true,
      spoolDir: false,
      workerFile: join(tempDir("wl-missing"), "no-such-worker.js"),
    });
    const errors: TrackioError[] = [];
    client.on("error", (err: TrackioError) => errors.push(err));
    logBurst(client, 0, 3000);
    await assert.rejects(client.close(), (err: TrackioError) => {
      assert.equal(err.code, "ERR_TRACKIO_WORKER");
      assert.match(err.message, /3000 records lost \(the spool is off \(spoolDir: false\)\)/);
      return true;
    });
    assert.deepEqual(
      errors.map((e) => e.code),
      ["ERR_TRACKIO_SPOOL", "ERR_TRACKIO_WORKER"],
    );
    const st = client.stats();
    assert.equal(st.failed, 3000);
    assert.equal(st.spooled + st.sent, 0);
    assert.equal(st.pending, 0);
  });
});

describe("no 'error' listener and no close()", () => {
  for (const [kind, makeFile] of [
    ["missing", (dir: string) => join(dir, "no-such-worker.js")],
    [
      "throwing",
      (dir: string) => {
        const file = join(dir, "worker.mjs");
        writeFileSync(file, 'throw new Error("this worker cannot load");\n');
        return file;
      },
    ],
  ] as const) {
    test(`a ${kind} worker file, the script ends: exit 0, the records are in the spool, stderr says why`, async (t) => {
      const p = project();
      const spool = tempDir("wl-spool");
      const file = makeFile(tempDir("wl-file"));
      const n = 3000;
      const r = await runChild(["end", n], {
        TEST_PROJECT: p,
        TRACKIO_SPOOL_DIR: spool,
        TEST_WORKER_FILE: file,
        TEST_LISTEN: "0",
      });
      assert.equal(r.code, 0, r.stderr);
      assert.ok(r.stderr.includes(file), r.stderr);
      assert.match(r.stderr, /trackio's worker thread could not load .*workerFile option.*3000 records kept in/);
      assertAllSpooled(r.clients[0], n);
      assert.equal(spooledLines(spool).lines, n);
      await assertSynced(t, spool, p, [r.clients[0].runId], n, null);
    });
  }

  test("process.exit() before the thread's failure could be seen: the exit hook keeps the records", async (t) => {
    const p = project();
    const spool = tempDir("wl-spool");
    const broken = join(tempDir("wl-broken"), "worker.mjs");
    writeFileSync(broken, 'throw new Error("this worker cannot load");\n');
    const n = 3000;
    const r = await runChild(["exit", n], {
      TEST_PROJECT: p,
      TRACKIO_SPOOL_DIR: spool,
      TEST_WORKER_FILE: broken,
      TEST_LISTEN: "0",
    });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /no thread loaded it within \d+ ms of the process exiting/);
    assertAllSpooled(r.clients[0], n);
    await assertSynced(t, spool, p, [r.clients[0].runId], n, null);
  });
});

describe("bundled with esbuild", () => {
  let app: string;
  // An app like examples/bundle/train.mjs that reports what happened; without top-level await
  // or import.meta, so that it bundles as CommonJS too.
  const APP = `import { Client } from "trackio";
const t0 = performance.now();
const seen = (err) => ({ code: err.code, message: err.message, ms: Math.round(performance.now() - t0) });
const client = new Client({
  baseUrl: process.env.TEST_TRACKIO_URL,
  project: process.env.TEST_PROJECT,
  run: "bundled",
  quiet: true,
  workerFile: process.env.TEST_WORKER_FILE || undefined,
});
const out = { runId: undefined, errors: [], closed: null, stats: null };
client.on("error", (err) => out.errors.push(seen(err)));
for (let step = 0; step < Number(process.env.TEST_COUNT); step++) client.log({ loss: 1 / (step + 1) }, step);
client.close().then(() => "resolved", seen).then((closed) => {
  Object.assign(out, { runId: client.runId, closed, stats: client.stats() });
  console.log(JSON.stringify([out]));
});
`;

  before(async () => {
    // A project where "trackio" is this checkout's sources, as a bundler resolves an installed package.
    app = tempDir("wl-app");
    const pkg = join(app, "node_modules", "trackio");
    mkdirSync(pkg, { recursive: true });
    writeFileSync(
      join(pkg, "package.json"),
      JSON.stringify({
        name: "trackio",
        type: "module",
        exports: { ".": "./src/index.ts", "./worker": "./worker/index.ts" },
      }),
    );
    for (const dir of ["src", "worker"]) symlinkSync(join(root, dir), join(pkg, dir));
    symlinkSync(join(root, "node_modules", "piscina"), join(app, "node_modules", "piscina"));
    writeFileSync(join(app, "package.json"), JSON.stringify({ name: "app", private: true }));
    writeFileSync(join(app, "app.mjs"), APP);
  });

  /** Bundle the app, then copy `files` of the output away from node_modules. */
  async function ship(format: "esm" | "cjs", files: string[]): Promise<string> {
    const out = tempDir(`wl-out-${format}`);
    await bundle(app, out, "./app.mjs", format);
    const shipped = tempDir(`wl-shipped-${format}`);
    for (const f of files) copyFileSync(join(out, f), join(shipped, f));
    return shipped;
  }

  async function runBundle(
    shipped: string,
    main: string,
    workerFile: string,
    n: number,
  ): Promise<{ p: string; spool: string; c: ChildClient }> {
    const p = project();
    const spool = tempDir("wl-spool");
    const r = await run([join(shipped, main)], {
      TEST_PROJECT: p,
      TRACKIO_SPOOL_DIR: spool,
      TEST_WORKER_FILE: workerFile,
      TEST_COUNT: String(n),
    });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.clients.length, 1, r.stderr);
    return { p, spool, c: r.clients[0] };
  }

  test("an ES module bundle shipped without its worker file: the same error, records synced", async (t) => {
    const shipped = await ship("esm", ["app.mjs", "worker.js", "package.json"]);
    const workerFile = join(shipped, "trackio-worker.mjs");
    assert.ok(!existsSync(workerFile));
    const n = 1000;
    const { p, spool, c } = await runBundle(shipped, "app.mjs", workerFile, n);
    assertWorkerError(c.errors[0], workerFile);
    assertWorkerError(c.closed, workerFile);
    assertAllSpooled(c, n);
    await assertSynced(t, spool, p, [c.runId], n, c.errors[0].ms);
  });

  test("an ES module bundle without piscina's worker.js: the thread fails to start, the same outcome", async (t) => {
    const shipped = await ship("esm", ["app.mjs", "trackio-worker.mjs", "package.json"]);
    const workerFile = join(shipped, "trackio-worker.mjs");
    const n = 1000;
    const { p, spool, c } = await runBundle(shipped, "app.mjs", workerFile, n);
    assertWorkerError(c.errors[0], workerFile);
    assert.match(c.errors[0].message, /worker\.js/);
    assertWorkerError(c.closed, workerFile);
    assertAllSpooled(c, n);
    await assertSynced(t, spool, p, [c.runId], n, c.errors[0].ms);
  });

  test("a CommonJS bundle without workerFile: a WorkerError (no TypeError), records synced", async (t) => {
    const shipped = await ship("cjs", ["app.cjs", "trackio-worker.cjs", "worker.js", "package.json"]);
    const n = 1000;
    const { p, spool, c } = await runBundle(shipped, "app.cjs", "", n);
    for (const seen of [c.errors[0], c.closed]) {
      assert.ok(typeof seen === "object" && seen !== null, JSON.stringify(c));
      assert.equal(seen.code, "ERR_TRACKIO_WORKER");
      assert.match(seen.message, /import\.meta\.url is not available, as in a CommonJS bundle.*workerFile option/);
    }
    assertAllSpooled(c, n);
    await assertSynced(t, spool, p, [c.runId], n, c.errors[0].ms);
  });

  test("a CommonJS bundle given its worker entry as workerFile delivers every record", async () => {
    const shipped = await ship("cjs", ["app.cjs", "trackio-worker.cjs", "worker.js", "package.json"]);
    const n = 1000;
    const { p, c } = await runBundle(shipped, "app.cjs", join(shipped, "trackio-worker.cjs"), n);
    assert.deepEqual(c.errors, []);
    assert.equal(c.closed, "resolved");
    assert.equal(c.stats.sent, n);
    await assertStoredOnce(server.url, p, c.runId, n);
  });
});
