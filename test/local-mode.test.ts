// Scenario 8 of docs/reliability.md: local mode. No baseUrl, no TRACKIO_SERVER_URL and nothing
// answering at http://127.0.0.1:7860: the client writes the records into the local Trackio
// inbox ($TRACKIO_DIR/inbox), and a Trackio server started later on that directory
// (`trackio show`) imports them, with the timestamps they were logged with.
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { startTrackio, type TrackioServer } from "../scripts/trackio-server.js";
import { Client } from "../src/index.js";
import { queryProject, runRows } from "./support/read-api.js";
import {
  assertStoredOnce,
  report,
  sleep,
  somethingListensOn7860,
  spooledLines,
  tempDir,
  waitFor,
} from "./support/scenario.js";

let server: TrackioServer | null = null;
after(async () => {
  await server?.stop();
});

describe("8. local mode: no server at all, then `trackio show` on the same directory", () => {
  test("records go to $TRACKIO_DIR/inbox; the server imports each once at startup, with their timestamps", async (t) => {
    if (await somethingListensOn7860()) {
      t.skip("something listens on 127.0.0.1:7860, so the client would send to it instead of using local mode");
      return;
    }
    const trackioDir = tempDir("local");
    const spoolDir = tempDir("spool");
    const saved = { url: process.env.TRACKIO_SERVER_URL, dir: process.env.TRACKIO_DIR };
    delete process.env.TRACKIO_SERVER_URL;
    process.env.TRACKIO_DIR = trackioDir;
    const project = `local-${process.pid}`;
    let client: Client;
    try {
      client = new Client({ project, run: "offline", spoolDir, quiet: true });
    } finally {
      if (saved.url !== undefined) process.env.TRACKIO_SERVER_URL = saved.url;
      if (saved.dir !== undefined) process.env.TRACKIO_DIR = saved.dir;
      else delete process.env.TRACKIO_DIR;
    }
    // Timestamps an hour ago, one ms apart: the inbox keeps them (the HTTP API would not).
    const t0 = Date.now() - 3_600_000;
    const n = 1500;
    for (let s = 0; s < n; s++) client.log({ loss: 1 / (s + 1), i: s }, s, t0 + s);
    await client.close();
    const st = client.stats();
    assert.equal(st.logged, n);
    assert.equal(st.inboxed, n);
    assert.equal(st.sent, 0);
    assert.equal(st.spooled, 0);
    assert.equal(st.failed, 0);
    assert.equal(st.pending, 0);
    assert.equal(spooledLines(join(trackioDir, "inbox")).lines, n, "the inbox holds one line per record");
    assert.deepEqual(spooledLines(spoolDir), { fragments: 0, lines: 0 }, "nothing in the spool");

    server = await startTrackio({ dataDir: trackioDir });
    const runId = client.runId as string;
    await waitFor(
      "the server imported the inbox",
      async () => (await runRows((server as TrackioServer).url, project, runId)).rows >= n,
      30_000,
    );
    const outcome = await assertStoredOnce(server.url, project, runId, n);
    const [first, last] = await queryProject(
      server.url,
      project,
      `SELECT timestamp FROM metrics WHERE run_id = '${runId}' AND step IN (0, ${n - 1}) ORDER BY step`,
    );
    assert.equal(Date.parse(first.timestamp as string), t0);
    assert.equal(Date.parse(last.timestamp as string), t0 + n - 1);
    await waitFor(
      "imported fragments are removed",
      () => !existsSync(join(trackioDir, "inbox")) || spooledLines(join(trackioDir, "inbox")).lines === 0,
      10_000,
    );
    report(t, "8 local mode, then trackio show", outcome, `${n} inboxed → imported by the server at startup`);
  });
  test("the switch to the local inbox is announced by a warning, even when the worker posts it just before close() returns", async (t) => {
    if (await somethingListensOn7860()) {
      t.skip("something listens on 127.0.0.1:7860, so the client would send to it instead of using local mode");
      return;
    }
    const saved = { url: process.env.TRACKIO_SERVER_URL, dir: process.env.TRACKIO_DIR };
    const announced: string[] = [];
    const onWarning = (w: Error & { code?: string }) => {
      if (w.message.includes("writing records to the local Trackio inbox")) {
        assert.equal(w.code, "TRACKIO_LOCAL_INBOX");
        announced.push(w.message);
      }
    };
    process.on("warning", onWarning);
    try {
      delete process.env.TRACKIO_SERVER_URL;
      process.env.TRACKIO_DIR = tempDir("local");
      const client = new Client({
        project: `local-warn-${process.pid}`,
        run: "warn",
        spoolDir: tempDir("spool"),
        quiet: true,
      });
      await client.ready();
      await sleep(300); // the worker is up and its event port attached
      for (let s = 0; s < 100; s++) client.log({ i: s }, s);
      const closing = client.close();
      // Keep the main thread busy while the worker delivers to the inbox (posting the
      // warning) and answers close, so that both messages wait when the thread is free again.
      const bound = performance.now() + 10_000;
      while (client.stats().pending > 0 && performance.now() < bound) {
        // busy
      }
      const until = performance.now() + 100;
      while (performance.now() < until) {
        // busy: time for the worker to answer close
      }
      await closing;
      await sleep(50);
      assert.equal(client.stats().inboxed, 100);
    } finally {
      process.off("warning", onWarning);
      if (saved.url !== undefined) process.env.TRACKIO_SERVER_URL = saved.url;
      if (saved.dir !== undefined) process.env.TRACKIO_DIR = saved.dir;
      else delete process.env.TRACKIO_DIR;
    }
    assert.equal(announced.length, 1, "one warning names the local inbox");
  });
});
