// Several runs (and projects) from one process: their clients share one worker thread by
// default, each with its own ring, and a client with `sharedWorker: false` gets a thread of
// its own. What each run stored is read back from a real Trackio server.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { after, before, describe, test } from "node:test";
import { freePort, startTrackio, type TrackioServer } from "../scripts/trackio-server.js";
import { Client } from "../src/index.js";
import { assertStoredOnce, sleep, tempDir, waitFor } from "./support/scenario.js";

let server: TrackioServer;
let seq = 0;
const project = () => `shared-${process.pid}-${seq++}`;

before(async () => {
  server = await startTrackio();
  process.env.TRACKIO_SPOOL_DIR = tempDir("shared-spool");
});
after(async () => {
  await server?.stop();
});

const threadIds = (c: Client): number[] =>
  (c as unknown as Record<symbol, () => number[]>)[Symbol.for("trackio.workerThreadIds")]();
const terminateWorker = (c: Client): Promise<void> =>
  (c as unknown as Record<symbol, () => Promise<void>>)[Symbol.for("trackio.terminateWorker")]();

function makeClient(p: string, run: string, extra: Record<string, unknown> = {}): Client {
  return new Client({ baseUrl: server.writeUrl, project: p, run, quiet: true, ...extra });
}

describe("several clients in one process", () => {
  test("three runs in two projects share one thread; each run is stored whole and once", async () => {
    const p1 = project();
    const p2 = project();
    const clients = [makeClient(p1, "a"), makeClient(p1, "b"), makeClient(p2, "c")];
    for (const c of clients) await c.ready();
    const solo = makeClient(p2, "solo", { sharedWorker: false });
    await solo.ready();
    const n = 3000;
    for (let s = 0; s < n; s++) {
      for (const [k, c] of clients.entries()) c.log({ loss: 1 / (s + 1), k }, s);
      solo.log({ loss: s }, s);
    }
    const ids = clients.map((c) => threadIds(c));
    assert.equal(ids[0].length, 1);
    assert.deepEqual(ids[1], ids[0], "b shares a's thread");
    assert.deepEqual(ids[2], ids[0], "c (another project) shares it too");
    assert.notDeepEqual(threadIds(solo), ids[0], "sharedWorker: false gets a thread of its own");
    await Promise.all([...clients, solo].map((c) => c.close()));
    for (const [c, p] of [
      [clients[0], p1],
      [clients[1], p1],
      [clients[2], p2],
      [solo, p2],
    ] as const) {
      assert.equal(c.stats().sent, n);
      await assertStoredOnce(server.url, p, c.runId as string, n);
    }
  });

  test("a second client made while the loop never yields is served at once", async () => {
    const p = project();
    const a = makeClient(p, "first");
    const b = makeClient(p, "second");
    const n = 500;
    // No await between creating the clients and the end of this loop: the second client's
    // ring reaches the thread without the main thread's event loop turning.
    const deadline = performance.now() + 20_000;
    let s = 0;
    while ((a.stats().sent < n || b.stats().sent < n) && performance.now() < deadline) {
      if (s < n) {
        a.log({ x: s }, s);
        b.log({ x: s }, s);
        s++;
      }
    }
    assert.equal(a.stats().sent, n, "the first client delivered while the loop spun");
    assert.equal(b.stats().sent, n, "so did the second");
    assert.deepEqual(threadIds(b), threadIds(a));
    await Promise.all([a.close(), b.close()]);
    await assertStoredOnce(server.url, p, a.runId as string, n);
    await assertStoredOnce(server.url, p, b.runId as string, n);
  });

  test("closing one client leaves the others running; after the last, a new client starts a new thread", async () => {
    const p = project();
    const a = makeClient(p, "closes-early");
    const b = makeClient(p, "keeps-going");
    for (let s = 0; s < 100; s++) {
      a.log({ x: s }, s);
      b.log({ x: s }, s);
    }
    await a.close();
    const shared = threadIds(b);
    for (let s = 100; s < 300; s++) b.log({ x: s }, s);
    await b.flush();
    assert.equal(b.stats().sent, 300);
    await b.close();
    await assertStoredOnce(server.url, p, a.runId as string, 100);
    await assertStoredOnce(server.url, p, b.runId as string, 300);
    const c = makeClient(p, "after");
    await c.ready();
    c.log({ x: 0 }, 0);
    assert.notDeepEqual(threadIds(c), shared, "the old thread stopped with its last client");
    await c.close();
    assert.equal(c.stats().sent, 1);
  });

  test("each client of the shared thread gets its own 'error' events", async () => {
    const p = project();
    const good = makeClient(p, "good");
    const dead = makeClient(p, "dead", {
      baseUrl: `http://127.0.0.1:${await freePort()}/`,
      spoolDir: tempDir("shared-dead-spool"),
      timeoutMs: 300,
      retryDeadlineMs: 300,
    });
    const errors = { good: 0, dead: 0 };
    good.on("error", () => errors.good++);
    dead.on("error", () => errors.dead++);
    good.log({ x: 1 }, 0);
    dead.log({ x: 1 }, 0);
    assert.deepEqual(threadIds(dead), threadIds(good));
    await waitFor("the dead client's 'error' event", () => errors.dead > 0, 20_000);
    await good.close();
    await assert.rejects(dead.close(), { code: "ERR_TRACKIO_HTTP" });
    assert.deepEqual(errors, { good: 0, dead: 1 });
    assert.equal(dead.stats().spooled, 1);
  });

  test("two clients never closed: the process delivers and ends by itself", async () => {
    const p = project();
    const child = spawn(
      process.execPath,
      ["--import", "tsx", new URL("./fixtures/two-clients-child.ts", import.meta.url).pathname],
      {
        env: { ...process.env, TEST_TRACKIO_URL: server.url, TEST_PROJECT: p, TEST_WRITE_TOKEN: server.writeToken },
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    let out = "";
    child.stdout.on("data", (c: Buffer) => (out += c.toString()));
    child.stderr.on("data", (c: Buffer) => (out += c.toString()));
    // A hang detector, not a timing assertion: a process kept alive by the worker never ends.
    const killer = setTimeout(() => child.kill("SIGKILL"), 60_000);
    const [code, signal] = (await once(child, "exit")) as [number | null, NodeJS.Signals | null];
    clearTimeout(killer);
    assert.equal(signal, null, `the process did not end by itself:\n${out}`);
    assert.equal(code, 0, out);
    const [, a, b] = /runs (\S+) (\S+)/.exec(out) ?? [];
    await assertStoredOnce(server.url, p, a, 100);
    await assertStoredOnce(server.url, p, b, 100);
  });

  test("the shared thread killed mid-run: its replacement serves every client, and nothing is lost or doubled", async () => {
    const p = project();
    const clients = [makeClient(p, "k1"), makeClient(p, "k2"), makeClient(p, "k3")];
    for (const c of clients) await c.ready();
    let s = 0;
    const logSome = (count: number) => {
      for (const end = s + count; s < end; s++) for (const c of clients) c.log({ x: s }, s);
    };
    logSome(500);
    await sleep(50);
    const before = threadIds(clients[0]);
    await terminateWorker(clients[1]);
    logSome(500);
    await waitFor(
      "a replacement thread",
      () => threadIds(clients[0]).length === 1 && threadIds(clients[0])[0] !== before[0],
    );
    logSome(500);
    await Promise.all(clients.map((c) => c.close()));
    for (const c of clients) {
      assert.equal(c.stats().pending, 0);
      await assertStoredOnce(server.url, p, c.runId as string, s);
    }
  });
});
