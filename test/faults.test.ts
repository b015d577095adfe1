// Reliability under server and network faults, against a real Trackio server (scenarios 1–4
// and 6 of docs/reliability.md). Faults come from killing or delaying the real server, or from
// test/support/fault-proxy.ts between the client and it. Every scenario ends by reading the
// run back: exactly the logged steps, each stored once.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { freePort, startTrackio, type TrackioServer } from "../scripts/trackio-server.js";
import { Client, type ClientOptions, type TrackioError } from "../src/index.js";
import { bulkLog, type FaultProxy, type ProxyEvent, startFaultProxy } from "./support/fault-proxy.js";
import { runRows } from "./support/read-api.js";
import { assertStoredOnce, Feeder, logBurst, report, tempDir, waitFor } from "./support/scenario.js";

let server: TrackioServer;
let projectSeq = 0;
const newProject = () => `faults-${process.pid}-${projectSeq++}`;
const proxies: FaultProxy[] = [];
const clients: Client[] = [];

before(async () => {
  server = await startTrackio();
});
after(async () => {
  // Clients a failed test left open, then the proxies and the server.
  await Promise.all(clients.map((c) => c.close().catch(() => {})));
  await Promise.all(proxies.map((p) => p.close()));
  await server?.stop();
});

async function proxy(): Promise<FaultProxy> {
  const p = await startFaultProxy(server.url);
  proxies.push(p);
  return p;
}

/**
 * A client with its own spool directory and short timeouts: a request gets no answer for at
 * most ~1 s, and a batch is retried for 1 s before it goes to the spool (the spool is then
 * probed again every second).
 */
function makeClient(baseUrl: string, run: string, extra: ClientOptions = {}) {
  const project = newProject();
  const spoolDir = tempDir("spool");
  const client = new Client({
    baseUrl,
    writeToken: server.writeToken,
    project,
    run,
    spoolDir,
    quiet: true,
    timeoutMs: 1000,
    retryDeadlineMs: 1000,
    maxBatch: 50,
    flushIntervalMs: 50,
    ...extra,
  });
  clients.push(client);
  const errors: TrackioError[] = [];
  client.on("error", (e: TrackioError) => errors.push(e));
  return { client, project, spoolDir, errors };
}

const runIdOf = (client: Client): string => client.runId as string;
const writes = (p: FaultProxy): ProxyEvent[] => p.events.filter((e) => bulkLog(e.method, e.path));
/** What happened to each metrics write: the fault's name, or the server's status. */
const fates = (p: FaultProxy): string[] => writes(p).map((e) => e.fault ?? `${e.upstreamStatus}`);

/** Every record logged was either sent directly or spooled and later replayed; none lost. */
function assertSettled(client: Client, logged: number, expect: { spooled: "none" | "some" }): void {
  const st = client.stats();
  assert.equal(st.logged, logged);
  assert.equal(st.pending, 0, JSON.stringify(st));
  assert.equal(st.failed, 0);
  assert.equal(st.inboxed, 0);
  assert.equal(st.sent + st.spooled, logged, JSON.stringify(st));
  assert.equal(st.replayed, st.spooled, `every spooled record was replayed: ${JSON.stringify(st)}`);
  if (expect.spooled === "none") assert.equal(st.spooled, 0, JSON.stringify(st));
  else assert.ok(st.spooled > 0, JSON.stringify(st));
}

describe("1. the server is down when the client starts and comes up mid-run", () => {
  test("batches go to the spool; the running worker replays them once the server answers", async (t) => {
    const port = await freePort();
    const { client, project, errors } = makeClient(`http://127.0.0.1:${port}/`, "late-server");
    let late: TrackioServer | null = null;
    const feeder = new Feeder(client);
    try {
      await waitFor(
        "batches spooled while nothing listens",
        () => client.stats().spooled > 0,
        30_000,
        () => client.stats(),
      );
      late = await startTrackio({ port });
      await waitFor(
        "the spool replayed and direct sends resumed",
        () => client.stats().replayed > 0 && client.stats().sent > 0,
        30_000,
        () => client.stats(),
      );
      const n = await feeder.stop();
      // Records went to the spool on the way: close() says so, though they arrived since.
      await assert.rejects(client.close(), { code: "ERR_TRACKIO_HTTP" });
      assertSettled(client, n, { spooled: "some" });
      assert.equal(errors.length, 1, "one 'error' event for the outage");
      assert.match(errors[0].message, /ECONNREFUSED/);
      const outcome = await assertStoredOnce(late.url, project, runIdOf(client), n);
      const st = client.stats();
      report(t, "1 server down at start, up mid-run", outcome, `${st.sent} sent, ${st.spooled} spooled → replayed`);
    } finally {
      await feeder.stop();
      await client.close().catch(() => {});
      await late?.stop();
    }
  });
});

describe("2. the server is SIGKILLed mid-run and restarted on the same data directory", () => {
  test("what it stored survives; what it missed is spooled and replayed; nothing twice", async (t) => {
    let srv = await startTrackio();
    const { client, project, errors } = makeClient(srv.url, "killed-server");
    const feeder = new Feeder(client);
    try {
      await waitFor(
        "rows stored before the kill",
        async () => (await runRows(srv.url, project, runIdOf(client))).rows >= 300,
      );
      await srv.kill("SIGKILL");
      const sentAtKill = client.stats().sent;
      await waitFor(
        "batches spooled while the server is dead",
        () => client.stats().spooled > 0,
        30_000,
        () => client.stats(),
      );
      srv = await startTrackio({ port: srv.port, dataDir: srv.dataDir });
      await waitFor(
        "the spool replayed and direct sends resumed",
        () => client.stats().replayed > 0 && client.stats().sent > sentAtKill,
        30_000,
        () => client.stats(),
      );
      const n = await feeder.stop();
      await assert.rejects(client.close(), { code: "ERR_TRACKIO_HTTP" });
      assertSettled(client, n, { spooled: "some" });
      assert.equal(errors.length, 1, "one 'error' event for the outage");
      const outcome = await assertStoredOnce(srv.url, project, runIdOf(client), n);
      const st = client.stats();
      report(t, "2 server SIGKILLed mid-run, restarted", outcome, `${st.sent} sent, ${st.spooled} spooled → replayed`);
    } finally {
      await feeder.stop();
      await client.close().catch(() => {});
      await srv.stop();
    }
  });
});

describe("3. bursts of 500, 503 and 429; answers slower than the timeout", () => {
  const bursts: { name: string; status: number; retryAfter?: string }[] = [
    { name: "500 ×3", status: 500 },
    { name: "503 ×3", status: 503 },
    { name: "429 ×3 with Retry-After: 1", status: 429, retryAfter: "1" },
  ];
  for (const burst of bursts) {
    test(`${burst.name}: retried within the deadline, nothing spooled, every record once`, async (t) => {
      const p = await proxy();
      const { client, project, errors } = makeClient(p.url, `burst-${burst.status}`, { retryDeadlineMs: 20_000 });
      p.inject({ kind: "status", status: burst.status, retryAfter: burst.retryAfter }, 3);
      const n = logBurst(client, 0, 1000);
      await client.flush();
      await client.close();
      assert.deepEqual(fates(p).slice(0, 4), [
        ...Array(3).fill(`status ${burst.status}${burst.retryAfter ? ` retry-after ${burst.retryAfter}` : ""}`),
        "200",
      ]);
      assert.equal(client.stats().retried, 3);
      assertSettled(client, n, { spooled: "none" });
      assert.equal(errors.length, 0);
      if (burst.retryAfter !== undefined) {
        // Retry-After is honoured: each retry waited about a second (timers may fire a little early).
        const at = writes(p)
          .slice(0, 4)
          .map((e) => e.at);
        for (let i = 1; i < at.length; i++)
          assert.ok(at[i] - at[i - 1] >= 900, `retry ${i} came ${at[i] - at[i - 1]} ms later`);
      }
      report(t, `3 ${burst.name}`, await assertStoredOnce(server.url, project, runIdOf(client), n), "retried, sent");
    });
  }

  test("500 ×6, more than the 3 retries a 500 gets, from a server that is unwell: the batch is spooled, then replayed by the worker", async (t) => {
    const p = await proxy();
    const { client, project, errors } = makeClient(p.url, "burst-500-long");
    p.inject({ kind: "status", status: 500 }, 6);
    // The probe after the fourth 500 (GET /version) fails too: an outage, not a refused record
    // (with the server answering, the batch is split and delivered, see quarantine.test.ts).
    const probe = (method: string, path: string) =>
      method === "GET" && /\/version$/.test(path) && p.events.some((e) => e.fault !== null);
    p.inject({ kind: "status", status: 500 }, 1, probe);
    const n = logBurst(client, 0, 300);
    await waitFor(
      "everything sent or replayed",
      () => client.stats().sent + client.stats().replayed === n,
      30_000,
      () => client.stats(),
    );
    await assert.rejects(client.close(), { code: "ERR_TRACKIO_STATUS", status: 500 });
    assert.equal(p.queued, 0, "all six 500s were served");
    assertSettled(client, n, { spooled: "some" });
    assert.equal(errors.length, 1);
    const st = client.stats();
    report(
      t,
      "3 500 ×6 (beyond the retry budget)",
      await assertStoredOnce(server.url, project, runIdOf(client), n),
      `${st.sent} sent, ${st.spooled} spooled → replayed`,
    );
  });

  test("answers held past timeoutMs (after the server stored the batch, and before it saw it): retried, stored once", async (t) => {
    const p = await proxy();
    const { client, project, errors } = makeClient(p.url, "slow", { retryDeadlineMs: 20_000 });
    // First attempt: the server stores the batch, the answer comes 3 s later (the client has
    // given up after ~1 s). Second attempt: held 3 s before the server sees it, so it arrives
    // after the third attempt was stored.
    p.inject({ kind: "delay", ms: 3000, forward: "after" });
    p.inject({ kind: "delay", ms: 3000, forward: "before" });
    const n = logBurst(client, 0, 500);
    await client.flush();
    await waitFor(
      "the held request reached the server",
      () => writes(p)[1]?.upstreamStatus === 200,
      10_000,
      () => writes(p),
    );
    await client.close();
    const [first, second, third] = writes(p);
    assert.deepEqual(
      [first, second, third].map((e) => [e.fault, e.upstreamStatus, e.status]),
      [
        ["delay after 3000", 200, null],
        ["delay before 3000", 200, null],
        [null, 200, 200],
      ],
    );
    assert.ok(client.stats().retried >= 2);
    assertSettled(client, n, { spooled: "none" });
    assert.equal(errors.length, 0);
    report(
      t,
      "3 answers slower than timeoutMs",
      await assertStoredOnce(server.url, project, runIdOf(client), n),
      "timed out twice, retried, sent (the server got the batch 3 times)",
    );
  });
});

describe("4. the answer is lost after the server stored the batch", () => {
  test("two lost answers: the retries store nothing twice", async (t) => {
    const p = await proxy();
    const { client, project, errors } = makeClient(p.url, "lost-answer", { retryDeadlineMs: 20_000 });
    p.inject({ kind: "drop" }, 2);
    const n = logBurst(client, 0, 1000);
    await client.flush();
    await client.close();
    const dropped = writes(p).filter((e) => e.fault === "drop");
    assert.equal(dropped.length, 2);
    assert.ok(
      dropped.every((e) => e.upstreamStatus === 200),
      "the server had stored each dropped batch",
    );
    assert.equal(client.stats().retried, 2);
    assertSettled(client, n, { spooled: "none" });
    assert.equal(errors.length, 0);
    report(
      t,
      "4 answer lost after the server stored (×2)",
      await assertStoredOnce(server.url, project, runIdOf(client), n),
      "retried, sent",
    );
  });

  test("every answer lost until the retries are spent: spooled though stored, the replay adds nothing", async (t) => {
    const p = await proxy();
    const { client, project, errors } = makeClient(p.url, "lost-answers");
    p.always({ kind: "drop" });
    const n = logBurst(client, 0, 300);
    await waitFor(
      "every batch spooled",
      () => client.stats().spooled === n,
      30_000,
      () => client.stats(),
    );
    assert.ok(
      writes(p).some((e) => e.fault === "drop" && e.upstreamStatus === 200),
      "the server stored batches whose answers were lost",
    );
    p.always(null);
    await waitFor(
      "the spool replayed",
      () => client.stats().replayed === n,
      30_000,
      () => client.stats(),
    );
    await assert.rejects(client.close(), { code: "ERR_TRACKIO_HTTP" });
    assertSettled(client, n, { spooled: "some" });
    assert.equal(errors.length, 1);
    report(
      t,
      "4 every answer lost until the deadline",
      await assertStoredOnce(server.url, project, runIdOf(client), n),
      `${client.stats().spooled} spooled (already stored) → replayed`,
    );
  });
});

describe("6. the worker thread is killed mid-run", () => {
  const terminateWorker = (client: Client): Promise<void> =>
    (client as unknown as Record<symbol, () => Promise<void>>)[Symbol.for("trackio.terminateWorker")]();

  test("killed while the server's answer to a stored batch is on its way: the new worker resends it, stored once", async (t) => {
    const p = await proxy();
    const { client, project } = makeClient(p.url, "worker-killed", { timeoutMs: 10_000, retryDeadlineMs: 20_000 });
    let n = logBurst(client, 0, 300);
    await client.flush();
    p.inject({ kind: "delay", ms: 3000, forward: "after" });
    n = logBurst(client, n, 200);
    await waitFor("the server stored the held batch", () =>
      writes(p).some((e) => e.fault !== null && e.upstreamStatus === 200),
    );
    await terminateWorker(client);
    n = logBurst(client, n, 300);
    await client.close();
    const held = writes(p).find((e) => e.fault !== null) as ProxyEvent;
    const forwarded = writes(p)
      .filter((e) => e.upstreamStatus === 200)
      .reduce((sum, e) => sum + e.entries, 0);
    assert.ok(held.entries > 0);
    assert.ok(forwarded >= n + held.entries, `the held batch was sent again (${forwarded} entries for ${n} records)`);
    const st = client.stats();
    assert.equal(st.logged, n);
    assert.equal(st.pending, 0);
    assert.equal(st.failed, 0);
    assert.equal(st.spooled, 0);
    report(
      t,
      "6 worker killed with a stored batch unacknowledged",
      await assertStoredOnce(server.url, project, runIdOf(client), n),
      `resent by the new worker (${held.entries} records sent twice)`,
    );
  });

  test("killed twice while a loop keeps logging: every record once", async (t) => {
    const { client, project } = makeClient(server.url, "worker-killed-twice", { retryDeadlineMs: 20_000 });
    const feeder = new Feeder(client);
    try {
      for (let kill = 0; kill < 2; kill++) {
        const sent = client.stats().sent;
        await waitFor(
          "records sent since the last kill",
          () => client.stats().sent >= sent + 200,
          30_000,
          () => client.stats(),
        );
        await terminateWorker(client);
      }
      const sent = client.stats().sent;
      await waitFor(
        "records sent after the last kill",
        () => client.stats().sent >= sent + 200,
        30_000,
        () => client.stats(),
      );
      const n = await feeder.stop();
      await client.close();
      const st = client.stats();
      assert.equal(st.logged, n);
      assert.equal(st.pending, 0);
      assert.equal(st.failed, 0);
      report(
        t,
        "6 worker killed twice during a run",
        await assertStoredOnce(server.url, project, runIdOf(client), n),
        "resent by the new workers",
      );
    } finally {
      await feeder.stop();
      await client.close().catch(() => {});
    }
  });
});

describe("6. (cont.) the worker thread is killed while flush() or close() waits on it", () => {
  const terminateWorker = (client: Client): Promise<void> =>
    (client as unknown as Record<symbol, () => Promise<void>>)[Symbol.for("trackio.terminateWorker")]();

  // The worker is held on a request (the server stored the batch; the answer takes 3 s) while
  // more records wait in the ring behind it; then flush() or close() is called and the worker
  // dies. Its replacement resends from the ring: what the call waits for can still happen.
  async function heldWithBacklog(run: string) {
    const p = await proxy();
    const made = makeClient(p.url, run, { timeoutMs: 10_000, retryDeadlineMs: 20_000 });
    p.inject({ kind: "delay", ms: 3000, forward: "after" });
    let n = logBurst(made.client, 0, 300);
    await waitFor("the server stored the held batch", () =>
      writes(p).some((e) => e.fault !== null && e.upstreamStatus === 200),
    );
    n = logBurst(made.client, n, 300);
    return { ...made, n };
  }

  test("flush() resolves once the replacement worker has delivered", async () => {
    const { client, project, n } = await heldWithBacklog("killed-during-flush");
    try {
      const flushed = client.flush();
      await terminateWorker(client);
      await flushed;
      assert.equal((await runRows(server.url, project, runIdOf(client))).rows, n, "stored when flush() resolved");
      await client.close();
      await assertStoredOnce(server.url, project, runIdOf(client), n);
    } finally {
      await client.close().catch(() => {});
    }
  });

  test("close() resolves once the replacement worker has delivered", async () => {
    const { client, project, n } = await heldWithBacklog("killed-during-close");
    const closed = client.close();
    await terminateWorker(client);
    await closed;
    assert.equal(client.stats().pending, 0, JSON.stringify(client.stats()));
    await assertStoredOnce(server.url, project, runIdOf(client), n);
  });
});

describe("close() after an outage", () => {
  test("close() soon after the server came back replays what the outage spooled", async () => {
    const p = await proxy();
    const { client, project } = makeClient(p.url, "back-before-close", { retryDeadlineMs: 2000 });
    await p.refuse();
    const n = logBurst(client, 0, 300);
    await waitFor(
      "every batch spooled",
      () => client.stats().spooled === n,
      30_000,
      () => client.stats(),
    );
    await p.accept();
    // The server answers again, but the worker's next probe is up to retryDeadlineMs away.
    await client.close().catch(() => {});
    assertSettled(client, n, { spooled: "some" });
    await assertStoredOnce(server.url, project, runIdOf(client), n);
  });
});
