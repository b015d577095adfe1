// worker/flusher.ts over a real ring, in this thread, against a fake Trackio: the test is the
// producer (RingWriter + the key table + codec writeNumeric, as src/producer.ts writes numeric
// records) and the Flusher is the consumer. flush(target) resolves only once the records
// below target are released and DONE_SEQ has advanced; close() drains the ring; an exit
// deadline keeps what is in flight on disk.

import assert from "node:assert/strict";
import { describe, type TestContext, test } from "node:test";
import { listFragments, readFragment } from "../../src/io/spool.js";
import { jsonSize, KeyTableWriter, KIND_ALERT, numericSize, writeJson, writeNumeric } from "../../src/shared/codec.js";
import type { WorkerSettings } from "../../src/shared/protocol.js";
import {
  COUNTER_SENT,
  COUNTER_SPOOLED,
  CTL_DONE_SEQ,
  CTL_KEYS_LEN,
  CTL_R,
  CTL_SPOOL_REQ,
  CTL_W,
  createRing,
  RingViews,
  RingWriter,
} from "../../src/shared/ring.js";
import { Flusher } from "../../worker/flusher.js";
import { assertFates, stepsOf } from "../support/batch-lines.js";
import { down, type FakeTrackio, fakeTrackio, tempDir } from "../support/fake-trackio.js";
import { testSettings } from "../support/transport.js";

/** The smallest ring: 4 KiB, about 70 records of two metrics. */
const CAPACITY = 4096;

/** Writes records {loss: step / 4, acc: -step} with step = seq, as the producer's numeric fast path does. */
class Producer {
  readonly views: RingViews;
  readonly writer: RingWriter;
  readonly #keys: KeyTableWriter;
  readonly #values = new Float64Array(2);
  readonly #ids = new Uint16Array(2);

  constructor(views: RingViews) {
    this.views = views;
    this.writer = new RingWriter(views);
    this.#keys = new KeyTableWriter(views.keys, views.ctl, CTL_KEYS_LEN);
  }

  /** Publish one record; false (nothing written) when the ring is full. */
  log(): boolean {
    const size = numericSize(2);
    const off = this.writer.reserve(size);
    if (off < 0) return false;
    const seq = this.writer.seq;
    this.#ids[0] = this.#keys.id("loss");
    this.#ids[1] = this.#keys.id("acc");
    this.#values[0] = seq / 4;
    this.#values[1] = -seq;
    writeNumeric(this.views, off, seq, 1_700_000_000_000 + seq, seq, 2, this.#values, this.#ids);
    this.writer.commit(size);
    return true;
  }
}

interface Rig {
  server: FakeTrackio;
  s: WorkerSettings;
  views: RingViews;
  producer: Producer;
  flusher: Flusher;
  /** flusher.close(); the rig closes it after the test otherwise. */
  close(target: number): ReturnType<Flusher["close"]>;
}

/**
 * A started Flusher over a fresh ring. Batches are sent only when asked (flush, close, a ring
 * more than half full): maxBatch and the flush interval are out of reach.
 */
async function rig(
  t: TestContext,
  server?: FakeTrackio,
  over: Partial<WorkerSettings> = {},
  capacity = CAPACITY,
): Promise<Rig> {
  const fake = server ?? (await fakeTrackio(t));
  const s = testSettings(fake.origin, {
    spoolDir: tempDir(t, "flusher"),
    maxBatch: 10_000,
    flushIntervalMs: 600_000,
    retryDeadlineMs: 300,
    ...over,
  });
  const layout = createRing(capacity, 256);
  const views = new RingViews(layout);
  const flusher = new Flusher(s, layout);
  flusher.start();
  let closed = false;
  const close = (target: number) => {
    closed = true;
    return flusher.close(target);
  };
  t.after(async () => {
    if (!closed) await close(Atomics.load(views.ctl, CTL_DONE_SEQ));
  });
  return { server: fake, s, views, producer: new Producer(views), flusher, close };
}

const done = (views: RingViews) => Atomics.load(views.ctl, CTL_DONE_SEQ);
const released = (views: RingViews) => Atomics.load(views.ctl, CTL_R) === Atomics.load(views.ctl, CTL_W);

function assertStored(server: FakeTrackio, count: number): void {
  const entries = [...server.stored.values()];
  assert.deepEqual(
    entries.map((e) => e.step),
    Array.from({ length: count }, (_, i) => i),
  );
  for (const e of entries) {
    const step = e.step as number;
    assert.deepEqual(e.metrics, { loss: step / 4, acc: -step });
  }
}

/** Resolves once the fake has stored `n` entries, or rejects after `ms`. */
async function storedReach(server: FakeTrackio, n: number, ms = 5000): Promise<void> {
  const until = performance.now() + ms;
  while (server.stored.size < n) {
    if (performance.now() > until) throw new Error(`stored ${server.stored.size} of ${n}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

describe("Flusher", () => {
  test("after a quiet spell the first 128 records go at once; a stream then waits for maxBatch", async (t) => {
    // A 64 KiB ring (over 1,300 records of two metrics), so that "more than half full" is out
    // of reach too; the flush interval is.
    const { server, producer } = await rig(t, undefined, { maxBatch: 300 }, 64 * 1024);
    for (let i = 0; i < 127; i++) assert.ok(producer.log());
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.equal(server.stored.size, 0, "127 records wait");
    const answer = server.hold();
    assert.ok(producer.log());
    await server.postsReach(1);
    // Records that arrive while a request is out make a stream: they wait for maxBatch.
    for (let i = 0; i < 200; i++) assert.ok(producer.log());
    answer();
    await storedReach(server, 128);
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.equal(server.stored.size, 128, "the 200 that came during the first request wait for 300");
    for (let i = 0; i < 100; i++) assert.ok(producer.log());
    await storedReach(server, 428);
    assertStored(server, 428);
  });

  test("after a quiet spell the first request carries 128 records even when more wait", async (t) => {
    const { server, producer, flusher } = await rig(t, undefined, { maxBatch: 300 }, 64 * 1024);
    const sizes: number[] = [];
    server.answer = (entries) => {
      sizes.push(entries.length);
      return "store";
    };
    // Logged before the flusher runs (it shares this thread), as by a loop faster than it reads.
    for (let i = 0; i < 500; i++) assert.ok(producer.log());
    await flusher.flush(producer.writer.seq);
    assert.deepEqual(sizes, [128, 372]);
    assertStored(server, 500);
  });

  test("flush(target) resolves once the records are released and DONE_SEQ has advanced", async (t) => {
    const { server, views, producer, flusher } = await rig(t);
    const answer = server.hold();
    for (let i = 0; i < 10; i++) assert.ok(producer.log());
    let resolved = false;
    const flushed = flusher.flush(producer.writer.seq).then((r) => {
      resolved = true;
      return r;
    });
    await server.postsReach(1);
    // The request is in flight and unanswered: nothing is released yet.
    assert.equal(resolved, false);
    assert.equal(done(views), 0);
    assert.equal(Atomics.load(views.ctl, CTL_R), 0);
    answer();
    const result = await flushed;
    assert.equal(result.ok, true);
    assert.equal(done(views), 10);
    assert.ok(released(views));
    assertStored(server, 10);
    assert.equal(views.counters[COUNTER_SENT], 10n);
    assert.equal(server.posts().length, 1, "one request for the batch");
  });

  test("more records than the ring holds: released space is reused, every record arrives once, in order", async (t) => {
    const { server, views, producer, flusher } = await rig(t);
    const total = 400;
    let wraps = 0;
    for (let i = 0; i < total; ) {
      if (producer.log()) i++;
      else {
        wraps++;
        await flusher.flush(producer.writer.seq);
      }
    }
    assert.ok(wraps >= 5, `the ring filled ${wraps} times`);
    assert.equal((await flusher.flush(producer.writer.seq)).ok, true);
    assert.equal(done(views), total);
    assert.ok(released(views));
    assertStored(server, total);
    assertFates(views.counters, total, { sent: total });
  });

  test("close() drains the ring without a flush first", async (t) => {
    const { server, views, producer, close } = await rig(t);
    for (let i = 0; i < 20; i++) assert.ok(producer.log());
    const result = await close(producer.writer.seq);
    assert.equal(result.ok, true);
    assert.equal(done(views), 20);
    assert.ok(released(views));
    assertStored(server, 20);
  });

  test("close() with the server down: the records are spooled and counted, and close() reports the outage", async (t) => {
    const server = await fakeTrackio(t);
    server.answer = down(503);
    const { s, views, producer, close } = await rig(t, server);
    for (let i = 0; i < 5; i++) assert.ok(producer.log());
    const result = await close(producer.writer.seq);
    assert.equal(result.ok, false);
    assert.equal(result.ok === false && result.error.code, "ERR_TRACKIO_STATUS");
    assert.equal(done(views), 5);
    assert.ok(released(views));
    assertFates(views.counters, 5, { spooled: 5 });
    assert.deepEqual(
      listFragments(s.spoolDir as string).map((f) => stepsOf(readFragment(f) ?? [])),
      [[0, 1, 2, 3, 4]],
    );
  });

  /** Four records in a request the server holds, and the exit deadline while it runs. */
  async function exitWhileInFlight(t: TestContext) {
    const r = await rig(t);
    const answer = r.server.hold();
    for (let i = 0; i < 4; i++) assert.ok(r.producer.log());
    const flushed = r.flusher.flush(r.producer.writer.seq);
    await r.server.postsReach(1);
    // What the main thread's exit handler does (src/producer.ts waitAtExit).
    Atomics.add(r.views.ctl, CTL_SPOOL_REQ, 1);
    Atomics.notify(r.views.ctl, CTL_SPOOL_REQ);
    await flushed;
    return {
      ...r,
      answer,
      spooledSteps: () => listFragments(r.s.spoolDir as string).map((f) => stepsOf(readFragment(f) ?? [])),
    };
  }

  test("an exit deadline keeps the request in flight on disk and releases its records at once", async (t) => {
    const { views, answer, spooledSteps } = await exitWhileInFlight(t);
    assert.equal(done(views), 4, "released while the request is still unanswered");
    assert.equal(views.counters[COUNTER_SPOOLED], 4n);
    assert.deepEqual(spooledSteps(), [[0, 1, 2, 3]]);
    answer();
  });

  test("an exit deadline, then the request in flight succeeds after all: its copy leaves the spool, counted sent and not spooled", async (t) => {
    const { server, views, producer, close, answer, spooledSteps } = await exitWhileInFlight(t);
    // What the main thread reads as it exits: kept, in the spool.
    assertFates(views.counters, 4, { spooled: 4 });
    assert.deepEqual(spooledSteps(), [[0, 1, 2, 3]]);
    answer();
    await until("the late answer is counted", () => views.counters[COUNTER_SENT] > 0n);
    assertFates(views.counters, 4, { sent: 4 });
    assert.deepEqual(spooledSteps(), [], "no needless copy in the spool");
    assertStored(server, 4);
    const result = await close(producer.writer.seq);
    assert.equal(result.ok, true, "nothing to report: the records reached the server");
    assertFates(views.counters, 4, { sent: 4 });
    assert.equal(server.posts().length, 1, "no replay of a copy");
  });

  test("an exit deadline, then the request in flight fails: the kept copy stays, counted spooled once", async (t) => {
    const { server, views, producer, close, answer, spooledSteps } = await exitWhileInFlight(t);
    server.answer = down(503);
    answer();
    // close() waits for the request in flight (retried until retryDeadlineMs, then failed).
    const result = await close(producer.writer.seq);
    assert.equal(result.ok, false);
    const error = result.ok ? null : result.error;
    assert.equal(error?.code, "ERR_TRACKIO_STATUS", "reported with what failed the request");
    assert.match(error?.message ?? "", /\(4 records kept in .*\.jsonl; they are sent when the server answers again/);
    assert.ok(server.posts().length >= 2, "the 503 was retried");
    assertFates(views.counters, 4, { spooled: 4 });
    assert.deepEqual(spooledSteps(), [[0, 1, 2, 3]], "one copy, kept by the exit deadline");
    assert.equal(server.stored.size, 0);
  });
});

/** Poll `cond` every 5 ms; fail after 10 s. */
async function until(what: string, cond: () => boolean): Promise<void> {
  const end = performance.now() + 10_000;
  while (!cond()) {
    if (performance.now() > end) assert.fail(`timed out waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

describe("the next request's body, written while one is in flight", () => {
  /** A rig sending at most 4 records a request, and the steps of each spooled fragment. */
  async function small(t: TestContext) {
    const r = await rig(t, undefined, { maxRecordsPerRequest: 4 });
    const spooledSteps = () =>
      listFragments(r.s.spoolDir as string).map((f) => stepsOf(readFragment(f) ?? []).sort((a, b) => a - b));
    return { ...r, spooledSteps };
  }

  test("an exit deadline keeps the request in flight and the batch read ahead apart; each record is stored once", async (t) => {
    const { server, views, producer, flusher, close, spooledSteps } = await small(t);
    const answer = server.hold();
    for (let i = 0; i < 8; i++) assert.ok(producer.log());
    const flushed = flusher.flush(producer.writer.seq);
    await server.postsReach(1);
    // The read-ahead waits one turn of the event loop after the request goes out.
    await new Promise((resolve) => setTimeout(resolve, 20));
    Atomics.add(views.ctl, CTL_SPOOL_REQ, 1);
    Atomics.notify(views.ctl, CTL_SPOOL_REQ);
    await flushed;
    assert.deepEqual(
      spooledSteps().sort((a, b) => a[0] - b[0]),
      [
        [0, 1, 2, 3],
        [4, 5, 6, 7],
      ],
    );
    assertFates(views.counters, 8, { spooled: 8 });
    // The request in flight succeeds after all: its copy goes (the one read ahead is replayed
    // once the server answers).
    answer();
    await until("the late answer is counted", () => views.counters[COUNTER_SENT] === 4n);
    assert.ok(
      spooledSteps().every((steps) => steps.every((step) => step >= 4)),
      "the in-flight copy was removed",
    );
    const result = await close(producer.writer.seq);
    assert.equal(result.ok, true);
    assert.deepEqual(
      [...server.stored.values()].map((e) => e.step).sort((a, b) => Number(a) - Number(b)),
      [0, 1, 2, 3, 4, 5, 6, 7],
      "each record stored once (the kept batch replayed by close())",
    );
  });

  test("a record the decoder cannot read, met while reading ahead: the request in flight is still released", async (t) => {
    const { server, views, producer, flusher } = await small(t);
    const answer = server.hold();
    for (let i = 0; i < 4; i++) assert.ok(producer.log());
    // An alert record whose JSON is broken: decoding it throws.
    const text = "{not json";
    const size = jsonSize(Buffer.byteLength(text));
    const off = producer.writer.reserve(size);
    assert.ok(off >= 0);
    writeJson(views, off, 0, Date.now(), producer.writer.seq, text, Buffer.byteLength(text), KIND_ALERT);
    producer.writer.commit(size);
    const flushed = flusher.flush(4);
    await server.postsReach(1);
    answer();
    // Before the fix, the read-ahead's throw skipped the release: flush(4) never settled.
    const settled = await Promise.race([
      flushed.then(() => "flushed"),
      new Promise((resolve) => setTimeout(() => resolve("not within 5 s"), 5000)),
    ]);
    assert.equal(settled, "flushed");
    assert.equal(Atomics.load(views.ctl, CTL_DONE_SEQ), 4);
    assert.equal(views.counters[COUNTER_SENT], 4n);
  });
});
