// An exit deadline while a request is in flight, against a real Trackio server behind
// test/support/fault-proxy.ts. The exit path (client.onExit(), what the process's 'exit'
// listener runs) keeps the request's records on disk before the server has answered; the
// request may then succeed after all (the records are sent: its copy leaves the spool and
// stats() counts them sent, not spooled) or fail (the copy stays, counted spooled once).
// Either way `trackio sync` afterwards leaves every record stored exactly once.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { startTrackio, type TrackioServer } from "../scripts/trackio-server.js";
import { Client, type TrackioError } from "../src/index.js";
import { bulkLog, type FaultProxy, startFaultProxy } from "./support/fault-proxy.js";
import { assertStoredOnce, logBurst, runSync, spooledLines, tempDir, waitFor } from "./support/scenario.js";

let server: TrackioServer;
before(async () => {
  server = await startTrackio();
});
after(async () => {
  await server?.stop();
});

const N = 40;
let seq = 0;

/**
 * A client whose first batch (N records) is on its way through `proxy` with `fault`, and the
 * exit path run while it is: it waits for the server, then keeps what is unacknowledged.
 */
async function exitWhileInFlight(proxy: FaultProxy, fault: Parameters<FaultProxy["inject"]>[0]) {
  const project = `exit-in-flight-${process.pid}-${seq++}`;
  const spoolRoot = tempDir("spool");
  proxy.inject(fault, 1, bulkLog);
  const client = new Client({
    baseUrl: proxy.url,
    writeToken: server.writeToken,
    project,
    run: "r",
    spoolDir: spoolRoot,
    quiet: true,
    timeoutMs: 30_000,
    retryDeadlineMs: 1000,
    exitTimeoutMs: 1000,
  });
  const errors: TrackioError[] = [];
  client.on("error", (e: TrackioError) => errors.push(e));
  await client.ready();
  logBurst(client, 0, N);
  const flushed = client.flush().catch(() => {});
  await waitFor("the batch at the proxy", () =>
    proxy.events.some((e) => bulkLog(e.method, e.path) && e.entries === N && e.fault !== null),
  );
  // The proxy answers on this thread: nothing reaches the client while onExit() waits.
  client.onExit();
  const atExit = client.stats();
  await flushed;
  return { client, project, spoolRoot, atExit, errors };
}

describe("an exit deadline while the request is in flight", () => {
  test("the request succeeds after all: counted sent, not spooled; no copy left; sync stores nothing twice", async () => {
    const proxy = await startFaultProxy(server.url);
    try {
      // Forwarded at once (the server stores the batch); its answer held past the deadline.
      const r = await exitWhileInFlight(proxy, { kind: "delay", ms: 1000, forward: "after" });
      assert.deepEqual({ sent: r.atExit.sent, spooled: r.atExit.spooled }, { sent: 0, spooled: N }, "kept at exit");
      assert.equal(spooledLines(r.spoolRoot).lines, N);

      await waitFor("the late answer", () => r.client.stats().sent > 0, 10_000);
      const st = r.client.stats();
      assert.deepEqual(
        { sent: st.sent, spooled: st.spooled, failed: st.failed },
        { sent: N, spooled: 0, failed: 0 },
        "each record counted once, as sent",
      );
      assert.deepEqual(spooledLines(r.spoolRoot), { fragments: 0, lines: 0 }, "no needless copy in the spool");
      await r.client.close();

      const sync = await runSync(["sync", "--spool", r.spoolRoot, "--url", server.writeUrl]);
      assert.equal(sync.code, 0, sync.out);
      await assertStoredOnce(server.url, r.project, r.client.runId as string, N);
    } finally {
      await proxy.close();
    }
  });

  test("the request fails after the deadline: its kept copy stays, counted spooled once; sync stores each record once", async () => {
    const proxy = await startFaultProxy(server.url);
    try {
      // Held before the server sees it, then cut: the client's request fails.
      const r = await exitWhileInFlight(proxy, { kind: "delay", ms: 60_000, forward: "before" });
      assert.deepEqual({ sent: r.atExit.sent, spooled: r.atExit.spooled }, { sent: 0, spooled: N }, "kept at exit");
      await proxy.refuse();
      // close() waits for the request in flight to fail (retried for retryDeadlineMs).
      await r.client.close().catch(() => {});
      const st = r.client.stats();
      assert.deepEqual(
        { sent: st.sent, spooled: st.spooled, failed: st.failed },
        { sent: 0, spooled: N, failed: 0 },
        "each record counted once, as spooled",
      );
      assert.deepEqual(spooledLines(r.spoolRoot), { fragments: 1, lines: N }, "one copy, kept at exit");

      const sync = await runSync(["sync", "--spool", r.spoolRoot, "--url", server.writeUrl]);
      assert.equal(sync.code, 0, sync.out);
      assert.match(sync.out, new RegExp(`sent ${N} records from 1 fragment`));
      assert.deepEqual(spooledLines(r.spoolRoot), { fragments: 0, lines: 0 });
      await assertStoredOnce(server.url, r.project, r.client.runId as string, N);
    } finally {
      await proxy.close();
    }
  });
});
