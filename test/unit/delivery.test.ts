// worker/delivery.ts without a Python server: where a batch ends up (sent, spooled, set
// aside, local inbox, failed) against a fake Trackio and a temporary spool, and that the
// record counters account for every record exactly once.

import assert from "node:assert/strict";
import { mkdirSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";
import { describe, type TestContext, test } from "node:test";
import { BatchBuilder } from "../../src/io/batch.js";
import { FragmentWriter, listFragments, listQuarantined, readFragment } from "../../src/io/spool.js";
import { HttpError, StatusError, type WireError } from "../../src/shared/errors.js";
import type { WorkerSettings } from "../../src/shared/protocol.js";
import { COUNTER_REPLAYED } from "../../src/shared/ring.js";
import { Delivery } from "../../worker/delivery.js";
import { Sending } from "../../worker/sending.js";
import { assertFates, metricLines, newCounters, stepsOf } from "../support/batch-lines.js";
import { closedOrigin, down, type Entry, fakeTrackio, refusing, tempDir } from "../support/fake-trackio.js";
import { testSettings, transportFor } from "../support/transport.js";

interface Harness {
  delivery: Delivery;
  counters: BigInt64Array;
  errors: WireError[];
  warnings: string[];
  requests: () => number;
  s: WorkerSettings;
}

/** A Delivery over a real Transport to `origin`; a short retry deadline keeps outages quick. */
function harness(t: TestContext, origin: string, over: Partial<WorkerSettings> = {}): Harness {
  const s = testSettings(origin, { spoolDir: join(tempDir(t, "spool"), "spool"), retryDeadlineMs: 300, ...over });
  const { transport, hooks } = transportFor(t, s);
  const counters = newCounters();
  const errors: WireError[] = [];
  const warnings: string[] = [];
  const delivery = new Delivery(s, transport, counters, {
    error: (e) => errors.push(e),
    warning: (m, code) => warnings.push(`${code}: ${m}`),
  });
  return { delivery, counters, errors, warnings, requests: () => hooks.requests, s };
}

const stepOf = (e: Entry) => e.step as number;

describe("Delivery", () => {
  test("sent: the server acknowledged the batch", async (t) => {
    const server = await fakeTrackio(t);
    const h = harness(t, server.origin);
    await h.delivery.deliver(metricLines(h.s, 0, 5));
    assertFates(h.counters, 5, { sent: 5 });
    assert.deepEqual([...server.stored.values()].map(stepOf), [0, 1, 2, 3, 4]);
    assert.deepEqual(h.errors, []);
    assert.equal(h.delivery.takeUnreported(), null);
    assert.deepEqual(listFragments(h.s.spoolDir as string), []);
  });

  test("an outage: spooled, one 'error' for it, later batches spooled without a request, replayed when the server answers", async (t) => {
    const server = await fakeTrackio(t);
    server.answer = down(503);
    const h = harness(t, server.origin);
    const spool = h.s.spoolDir as string;

    await h.delivery.deliver(metricLines(h.s, 0, 3));
    assertFates(h.counters, 3, { spooled: 3 });
    assert.equal(h.errors.length, 1);
    assert.equal(h.errors[0].code, "ERR_TRACKIO_STATUS");
    assert.match(h.errors[0].message, /3 records kept in .*\.jsonl/);
    const postsInOutage = server.posts().length;
    assert.ok(postsInOutage >= 2, `the 503 was retried (${postsInOutage} POSTs)`);

    // Believed down: the next batch goes to the spool at once, and is not a new outage.
    await h.delivery.deliver(metricLines(h.s, 3, 2));
    assertFates(h.counters, 5, { spooled: 5 });
    assert.equal(server.posts().length, postsInOutage, "no request while the server is believed down");
    assert.equal(h.errors.length, 1, "one 'error' per outage");
    assert.equal(h.delivery.takeUnreported()?.code, "ERR_TRACKIO_STATUS");
    assert.equal(h.delivery.takeUnreported(), null, "reported to one flush() only");
    const fragments = listFragments(spool);
    assert.deepEqual(
      fragments.map(readFragment).map((f) => stepsOf(f ?? [])),
      [
        [0, 1, 2],
        [3, 4],
      ],
    );

    // The server answers again: the spool is replayed, oldest fragment first.
    server.answer = () => "store";
    assert.ok(h.delivery.replayDue(performance.now() + 60_000, false));
    await h.delivery.replayOne();
    await h.delivery.replayOne();
    assert.deepEqual(listFragments(spool), []);
    assert.equal(h.counters[COUNTER_REPLAYED], 5n);
    assert.deepEqual([...server.stored.values()].map(stepOf), [0, 1, 2, 3, 4]);

    // Recovered: a new batch is sent, and a later outage is a new one, with its own 'error'.
    await h.delivery.deliver(metricLines(h.s, 5, 1));
    assertFates(h.counters, 6, { sent: 1, spooled: 5 });
    server.answer = down(502);
    await h.delivery.deliver(metricLines(h.s, 6, 1));
    assertFates(h.counters, 7, { sent: 1, spooled: 6 });
    assert.equal(h.errors.length, 2);
  });

  test("set aside: a record the server refuses alone while it accepts the others", async (t) => {
    const server = await fakeTrackio(t);
    server.answer = refusing((e) => stepOf(e) === 3);
    const h = harness(t, server.origin);
    const lines = metricLines(h.s, 0, 8);
    await h.delivery.deliver(lines);
    assertFates(h.counters, 8, { sent: 7, quarantined: 1 });
    assert.deepEqual(
      [...server.stored.values()].map(stepOf).sort((a, b) => a - b),
      [0, 1, 2, 4, 5, 6, 7],
    );
    const [file, ...more] = listQuarantined(h.s.spoolDir as string);
    assert.deepEqual(more, []);
    assert.deepEqual(readFragment(file), [lines[3]]);
    assert.deepEqual(listFragments(h.s.spoolDir as string), [], "nothing waits for a replay");
    assert.equal(h.errors.length, 1);
    assert.equal(h.errors[0].code, "ERR_TRACKIO_REJECTED");
    assert.match(h.errors[0].message, /step 3/);
    // Where it is kept, and the sync command for this spool and server, not a bare `npx trackio sync`.
    assert.ok(
      h.errors[0].message.endsWith(
        `; set aside in ${file}. They are not sent again: fix or delete the lines, then rename the file to *.jsonl and run \`npx trackio sync --spool ${h.s.spoolDir} --url ${server.origin}/ --project p --run r\``,
      ),
      h.errors[0].message,
    );
  });

  test("a server that refuses everything: nothing is set aside, the batch waits in the spool", async (t) => {
    const server = await fakeTrackio(t);
    server.answer = refusing(() => true);
    const h = harness(t, server.origin);
    await h.delivery.deliver(metricLines(h.s, 0, 4));
    assertFates(h.counters, 4, { spooled: 4 });
    assert.deepEqual(listQuarantined(h.s.spoolDir as string), []);
    assert.deepEqual(
      listFragments(h.s.spoolDir as string).map((f) => stepsOf(readFragment(f) ?? [])),
      [[0, 1, 2, 3]],
    );
    assert.equal(server.stored.size, 0);
  });

  test("with inboxDir set, a first batch refused whole still ends probing: the next batch is retried as usual", async (t) => {
    const server = await fakeTrackio(t);
    server.answer = refusing(() => true);
    const h = harness(t, server.origin, { inboxDir: join(tempDir(t, "inbox"), "inbox"), retryDeadlineMs: 1000 });
    await h.delivery.deliver(metricLines(h.s, 0, 2));
    const before = server.posts().length;
    server.answer = down(503);
    await h.delivery.deliver(metricLines(h.s, 2, 2));
    assert.ok(server.posts().length - before >= 2, `${server.posts().length - before} POST(s) for a 503`);
  });

  test("the local inbox: nothing listens and inboxDir is set", async (t) => {
    const inbox = join(tempDir(t, "inbox"), "inbox");
    const h = harness(t, await closedOrigin(), { inboxDir: inbox });
    await h.delivery.deliver(metricLines(h.s, 0, 3));
    assertFates(h.counters, 3, { inboxed: 3 });
    assert.equal(h.requests(), 1, "one attempt finds that nothing listens");
    assert.equal(h.warnings.length, 1);
    assert.match(h.warnings[0], /no Trackio server answers .* local Trackio inbox/);
    assert.deepEqual(h.errors, []);

    await h.delivery.deliver(metricLines(h.s, 3, 2));
    assertFates(h.counters, 5, { inboxed: 5 });
    assert.equal(h.requests(), 1, "later batches go to the inbox without a request");
    assert.deepEqual(
      listFragments(inbox).map((f) => stepsOf(readFragment(f) ?? [])),
      [
        [0, 1, 2],
        [3, 4],
      ],
    );
    assert.deepEqual(listFragments(h.s.spoolDir as string), []);
    assert.equal(h.delivery.replayDue(performance.now() + 60_000, false), false, "nothing to replay in inbox mode");
  });

  test("spool off: an outage's records are failed, and reported", async (t) => {
    const server = await fakeTrackio(t);
    server.answer = down(503);
    const h = harness(t, server.origin, { spoolDir: null });
    await h.delivery.deliver(metricLines(h.s, 0, 3));
    assertFates(h.counters, 3, { failed: 3 });
    assert.equal(h.errors.length, 1);
    assert.match(h.errors[0].message, /3 records lost: the spool is off/);
    assert.equal(h.delivery.takeUnreported()?.code, "ERR_TRACKIO_STATUS");
  });

  test("spool off: a record refused alone is lost, counted failed, and the rest sent", async (t) => {
    const server = await fakeTrackio(t);
    server.answer = refusing((e) => stepOf(e) === 1);
    const h = harness(t, server.origin, { spoolDir: null });
    await h.delivery.deliver(metricLines(h.s, 0, 4));
    assertFates(h.counters, 4, { sent: 3, failed: 1 });
    assert.equal(h.errors[0].code, "ERR_TRACKIO_REJECTED");
    assert.match(h.errors[0].message, /lost: the spool is off/);
  });

  test("keepNow (an exit deadline): the lines are spooled synchronously", async (t) => {
    const server = await fakeTrackio(t);
    const h = harness(t, server.origin);
    h.delivery.keepNow(metricLines(h.s, 0, 2));
    assertFates(h.counters, 2, { spooled: 2 });
    assert.equal(server.posts().length, 0);
    assert.deepEqual(
      listFragments(h.s.spoolDir as string).map((f) => stepsOf(readFragment(f) ?? [])),
      [[0, 1]],
    );
  });

  // An exit deadline while a batch is sent (worker/flusher.ts #keepEverything).
  async function inFlight(t: TestContext, over: Partial<WorkerSettings> = {}) {
    const server = await fakeTrackio(t);
    const h = harness(t, server.origin, over);
    const answer = server.hold();
    const sending = new Sending();
    return { server, h, answer, sending };
  }

  test("keepInFlight: the part in flight kept alone, the parts not started handed back; a late success removes its copy, counted sent", async (t) => {
    const { server, h, answer, sending } = await inFlight(t);
    const spool = h.s.spoolDir as string;
    const b = new BatchBuilder(h.s);
    for (let i = 0; i < 3; i++) b.add(`{"i":${i}}`, i, 1_700_000_000_000 + i, i);
    b.addAlert('{"title":"t","text":null,"level":"warn"}', 3, 1_700_000_000_003, 3);
    const delivered = h.delivery.deliver(b.takeBatch(), false, sending);
    await server.postsReach(1);
    const rest = h.delivery.keepInFlight(sending);
    assert.equal(rest.length, 1);
    assert.match(rest[0], /"alert_id"/, "the alerts' part, not started");
    assert.deepEqual(h.delivery.keepInFlight(sending), [], "kept once");
    h.delivery.keepNow(rest);
    assertFates(h.counters, 4, { spooled: 4 });
    assert.deepEqual(
      listFragments(spool).map((f) => stepsOf(readFragment(f) ?? [])),
      [[0, 1, 2], [3]],
    );
    answer();
    await delivered;
    assertFates(h.counters, 4, { sent: 3, spooled: 1 });
    assert.deepEqual(
      listFragments(spool).map((f) => stepsOf(readFragment(f) ?? [])),
      [[3]],
    );
    assert.equal(server.posts().length, 1, "the alerts' part is not sent: it was kept");
    assert.deepEqual([...server.stored.values()].map(stepOf), [0, 1, 2]);
  });

  test("keepInFlight: a copy that cannot be removed after a late success stays, counted spooled", async (t) => {
    const { server, h, answer, sending } = await inFlight(t);
    const delivered = h.delivery.deliver(metricLines(h.s, 0, 2), false, sending);
    await server.postsReach(1);
    assert.deepEqual(h.delivery.keepInFlight(sending), []);
    const [copy] = listFragments(h.s.spoolDir as string);
    // chmod stops no unlink by root; a directory in the fragment's place does.
    rmSync(copy);
    mkdirSync(join(copy, "d"), { recursive: true });
    answer();
    await delivered;
    assertFates(h.counters, 2, { spooled: 2 });
    assert.ok(statSync(copy).isDirectory(), "left as it was");
    assert.equal(server.stored.size, 2);
  });

  test("keepInFlight with the spool off: counted failed, then sent when the request succeeds after all", async (t) => {
    const { server, h, answer, sending } = await inFlight(t, { spoolDir: null });
    const delivered = h.delivery.deliver(metricLines(h.s, 0, 2), false, sending);
    await server.postsReach(1);
    h.delivery.keepInFlight(sending);
    assertFates(h.counters, 2, { failed: 2 });
    answer();
    await delivered;
    assertFates(h.counters, 2, { sent: 2 });
    assert.equal(h.delivery.takeUnreported(), null, "nothing to report: nothing was lost");
  });
});

describe("Delivery.replayOne", () => {
  // Fragments left by an earlier process: the Delivery finds them when it starts.
  async function withSpool(t: TestContext, fragments: (s: WorkerSettings) => string[][]) {
    const server = await fakeTrackio(t);
    const spoolDir = join(tempDir(t, "spool"), "spool");
    const s = testSettings(server.origin, { spoolDir });
    const writer = new FragmentWriter(spoolDir);
    const paths = fragments(s).map((lines) => writer.write(lines));
    return { server, paths, h: harness(t, server.origin, { spoolDir }) };
  }

  test("a fragment refused whole before anything was accepted waits for the next one, then its refused line is set aside", async (t) => {
    const { server, paths, h } = await withSpool(t, (s) => [metricLines(s, 0, 1), metricLines(s, 1, 3)]);
    server.answer = refusing((e) => stepOf(e) === 0);
    assert.ok(h.delivery.replayDue(performance.now(), false), "fragments from an earlier process are due at once");

    await h.delivery.replayOne(); // the first: refused whole, nothing to compare with: deferred
    assert.deepEqual(listFragments(h.s.spoolDir as string), paths);
    assert.equal(h.errors.length, 0);
    await h.delivery.replayOne(); // the second: accepted, which proves the server takes records
    assert.equal(h.counters[COUNTER_REPLAYED], 3n);
    await h.delivery.replayOne(); // nothing left but the deferred one: it may be tried again
    await h.delivery.replayOne(); // now its line is refused alone, after an accepted one
    assert.deepEqual(listFragments(h.s.spoolDir as string), []);
    const [aside] = listQuarantined(h.s.spoolDir as string);
    assert.deepEqual(stepsOf(readFragment(aside) ?? []), [0]);
    assert.equal(h.errors.length, 1);
    assert.equal(h.errors[0].code, "ERR_TRACKIO_REJECTED");
    // The fragment may hold other runs' records: the command sends the server's whole directory.
    assert.ok(
      h.errors[0].message.endsWith(
        `; set aside in ${aside}. They are not sent again: fix or delete the lines, then rename the file to *.jsonl and run \`npx trackio sync --spool ${h.s.spoolDir} --url ${server.origin}/\``,
      ),
      h.errors[0].message,
    );
    assert.deepEqual([...server.stored.values()].map(stepOf), [1, 2, 3]);
    // Counted `spooled` when they were kept (by the earlier process): not counted again here.
    assertFates(h.counters, 0, {});
  });

  test("a server that refuses every fragment: nothing is set aside, they wait for a later try", async (t) => {
    const { server, paths, h } = await withSpool(t, (s) => [metricLines(s, 0, 2), metricLines(s, 2, 2)]);
    server.answer = refusing(() => true);
    await h.delivery.replayOne();
    await h.delivery.replayOne();
    assert.deepEqual(listFragments(h.s.spoolDir as string), paths);
    assert.deepEqual(listQuarantined(h.s.spoolDir as string), []);
    assert.equal(h.delivery.replayDue(performance.now(), false), false, "the next try waits a probe interval");
    assert.equal(h.delivery.replayDue(performance.now() + 60_000, false), true);
    assert.equal(server.stored.size, 0);
  });

  test("a failed attempt that is retried: one TRACKIO_RETRYING warning per outage, none for a 500, again after the server took something", async (t) => {
    const server = await fakeTrackio(t);
    const h = harness(t, server.origin);
    const noAnswer = new HttpError("GET x got no answer: ECONNREFUSED");
    h.delivery.attemptFailed(new StatusError("POST x answered HTTP 500: boom", 500, "boom"));
    assert.deepEqual(h.warnings, []);
    h.delivery.attemptFailed(noAnswer);
    h.delivery.attemptFailed(new StatusError("POST x answered HTTP 503: paused", 503, "paused"));
    h.delivery.attemptFailed(noAnswer);
    const warning = `TRACKIO_RETRYING: GET x got no answer: ECONNREFUSED; retrying for up to 0.3 s (retryDeadlineMs), then keeping the records in the spool ${h.s.spoolDir} and sending them when the server answers again`;
    assert.deepEqual(h.warnings, [warning]);
    // The server takes a batch: the outage is over, and the next one is announced again.
    await h.delivery.deliver(metricLines(h.s, 0, 1));
    h.delivery.attemptFailed(noAnswer);
    assert.deepEqual(h.warnings, [warning, warning]);
  });
});
