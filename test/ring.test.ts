// The shared-memory ring (src/shared/ring.ts) with the record codec (src/shared/codec.ts): order, the wrap
// marker, a full ring, positions that wrap past 2^31 and 2^32, and a real producer/consumer
// pair on two threads.

import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  jsonMetricsText,
  jsonSize,
  KeyTableReader,
  KeyTableWriter,
  KIND_JSON,
  KIND_NUMERIC,
  numericMetricsJson,
  numericSize,
  type RecordView,
  readRecord,
  writeJson,
  writeNumeric,
} from "../src/shared/codec.js";
import {
  CTL_DONE_SEQ,
  CTL_KEYS_LEN,
  CTL_PRODUCER_WAITS,
  CTL_R,
  CTL_W,
  CTL_WAKE_AT,
  createRing,
  KEYS_OFFSET,
  type RingLayout,
  RingReader,
  RingViews,
  RingWriter,
  WRAP_MARKER,
} from "../src/shared/ring.js";
import type { ConsumerData, ConsumerResult } from "./support/ring-consumer.js";
import { genRecord, HASH_SEED, hashRecord } from "./support/ring-records.js";
import { startTsWorker } from "./support/ts-worker.js";

/** Small deterministic PRNG (mulberry32), so a failure reproduces. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** JSON text of exactly `byteLength` UTF-8 bytes that names its seq. */
function jsonOfLength(seq: number, byteLength: number): string {
  const base = `{"seq":${seq},"p":""}`;
  assert.ok(byteLength >= base.length, `cannot make ${byteLength} bytes of JSON for seq ${seq}`);
  const text = `{"seq":${seq},"p":"${"x".repeat(byteLength - base.length)}"}`;
  assert.equal(Buffer.byteLength(text), byteLength);
  return text;
}

interface Ring {
  layout: RingLayout;
  views: RingViews;
  writer: RingWriter;
  reader: RingReader;
}

/** A fresh ring; W and R, and DONE_SEQ (the writer's record count), start at the given values. */
function makeRing(capacity: number, start: { pos?: number; seq?: number } = {}, keyCapacity = 4096): Ring {
  const layout = createRing(capacity, keyCapacity);
  const views = new RingViews(layout);
  if (start.pos !== undefined) {
    Atomics.store(views.ctl, CTL_W, start.pos);
    Atomics.store(views.ctl, CTL_R, start.pos);
  }
  if (start.seq !== undefined) Atomics.store(views.ctl, CTL_DONE_SEQ, start.seq);
  return { layout, views, writer: new RingWriter(views), reader: new RingReader(views) };
}

/** Write one JSON record; false (nothing written) when the ring is full. */
function putJson(ring: Ring, seq: number, text: string, step = seq): number {
  const byteLength = Buffer.byteLength(text);
  const size = jsonSize(byteLength);
  const off = ring.writer.reserve(size);
  if (off < 0) return -1;
  assert.equal(writeJson(ring.views, off, step, 1000 + seq, seq, text, byteLength), size);
  ring.writer.commit(size);
  return off;
}

/** Read the next record's seq and metrics text, or null when nothing is published. */
function take(ring: Ring, keyJson: readonly string[] = []): { seq: number; step: number; text: string } | null {
  const off = ring.reader.next();
  if (off < 0) return null;
  const rec: RecordView = readRecord(ring.views, off, { size: 0, kind: 0, step: 0, time: 0, seq: 0 });
  const text =
    rec.kind === KIND_NUMERIC ? numericMetricsJson(ring.views, off, keyJson) : jsonMetricsText(ring.views, off);
  ring.reader.advance(rec.size);
  return { seq: rec.seq, step: rec.step, text };
}

describe("createRing", () => {
  test("accepts powers of two from 4 KiB, refuses everything else", () => {
    const layout = createRing(4096, 64);
    assert.equal(layout.capacity, 4096);
    assert.equal(layout.sab.byteLength, KEYS_OFFSET + 64 + 4096);
    assert.throws(() => createRing(2048, 64), RangeError);
    assert.throws(() => createRing(4096 + 8, 64), RangeError);
    assert.throws(() => createRing(2 ** 31, 64), RangeError);
    assert.throws(() => createRing(4096, 12), RangeError);
  });

  test("views cover the right regions of one buffer", () => {
    const layout = createRing(8192, 256);
    const v = new RingViews(layout);
    assert.equal(v.mask, 8191);
    assert.equal(v.u8.byteOffset, KEYS_OFFSET + 256);
    assert.equal(v.u8.length, 8192);
    assert.equal(v.f64.length, 1024);
    assert.equal(v.keys.byteOffset, KEYS_OFFSET);
    assert.equal(v.keys.length, 256);
    assert.equal(v.counters.length, 32);
    assert.equal(v.u8.buffer, layout.sab);
  });
});

describe("RingWriter / RingReader", () => {
  test("records are published in order, and only on commit", () => {
    const ring = makeRing(4096);
    assert.equal(ring.reader.next(), -1);
    assert.ok(ring.reader.drained());

    // Reserved and written but not committed: invisible to the reader.
    const text = jsonOfLength(0, 40);
    const size = jsonSize(40);
    const off = ring.writer.reserve(size);
    assert.equal(off, 0);
    writeJson(ring.views, off, 0, 0, 0, text, 40);
    assert.equal(ring.reader.next(), -1);
    ring.writer.commit(size);
    assert.equal(ring.writer.seq, 1);
    assert.equal(Atomics.load(ring.views.ctl, CTL_W), size);

    for (let seq = 1; seq < 20; seq++) assert.ok(putJson(ring, seq, jsonOfLength(seq, 30 + seq)) >= 0);
    assert.equal(ring.writer.seq, 20);
    const got: number[] = [];
    for (let r = take(ring); r !== null; r = take(ring)) {
      assert.equal(r.text, jsonOfLength(r.seq, r.seq === 0 ? 40 : 30 + r.seq));
      got.push(r.seq);
    }
    assert.deepEqual(
      got,
      Array.from({ length: 20 }, (_, i) => i),
    );
    assert.ok(ring.reader.drained());
  });

  test("numeric and JSON records interleave, keys resolved through the key table", () => {
    const ring = makeRing(4096);
    const keysW = new KeyTableWriter(ring.views.keys, ring.views.ctl, CTL_KEYS_LEN);
    const keysR = new KeyTableReader(ring.views.keys, ring.views.ctl, CTL_KEYS_LEN);
    const names = ["loss", "acc", "λ", "🎉"];
    const ids = new Uint16Array(names.map((k) => keysW.id(k)));
    const values = new Float64Array([0.5, 1, -2.25, 1e300]);
    const size = numericSize(4);
    const off = ring.writer.reserve(size);
    assert.equal(writeNumeric(ring.views, off, 7, 99, 0, 4, values, ids), size);
    ring.writer.commit(size);
    putJson(ring, 1, '{"note":"hi"}', 8);

    keysR.refresh();
    const keyJson = keysR.names.map((k) => JSON.stringify(k));
    const a = take(ring, keyJson);
    const b = take(ring, keyJson);
    assert.deepEqual(a, { seq: 0, step: 7, text: '{"loss":0.5,"acc":1,"λ":-2.25,"🎉":1e+300}' });
    assert.deepEqual(b, { seq: 1, step: 8, text: '{"note":"hi"}' });
    assert.equal(take(ring), null);
  });

  test("release() moves R and DONE_SEQ; a new reader resumes from R (worker restart)", () => {
    const ring = makeRing(4096);
    for (let seq = 0; seq < 6; seq++) putJson(ring, seq, jsonOfLength(seq, 30));
    take(ring);
    take(ring);
    ring.reader.release(ring.reader.pos, 2);
    assert.equal(Atomics.load(ring.views.ctl, CTL_R), 2 * jsonSize(30));
    assert.equal(Atomics.load(ring.views.ctl, CTL_DONE_SEQ), 2);
    // Read two more without releasing, then "restart": the new reader sees them again.
    assert.equal(take(ring)?.seq, 2);
    assert.equal(take(ring)?.seq, 3);
    const restarted = { ...ring, reader: new RingReader(ring.views) };
    const again: number[] = [];
    for (let r = take(restarted); r !== null; r = take(restarted)) again.push(r.seq);
    assert.deepEqual(again, [2, 3, 4, 5]);
  });

  test("commit() clears WAKE_AT once the record count reaches it; wake() always", () => {
    const ring = makeRing(4096);
    const ctl = ring.views.ctl;
    // The consumer asks to be woken once 2 records are published (WAKE_AT holds target + 1).
    Atomics.store(ctl, CTL_WAKE_AT, 3);
    putJson(ring, 0, jsonOfLength(0, 30));
    assert.equal(Atomics.load(ctl, CTL_WAKE_AT), 3);
    putJson(ring, 1, jsonOfLength(1, 30));
    assert.equal(Atomics.load(ctl, CTL_WAKE_AT), 0);
    Atomics.store(ctl, CTL_WAKE_AT, 100);
    ring.writer.wake();
    assert.equal(Atomics.load(ctl, CTL_WAKE_AT), 0);
  });

  test("waitForSpace() returns after its timeout when R never moves, and leaves no flag behind", () => {
    const ring = makeRing(4096);
    ring.writer.waitForSpace(1);
    assert.equal(Atomics.load(ring.views.ctl, CTL_PRODUCER_WAITS), 0);
  });
});

describe("full ring", () => {
  test("reserve() returns -1 when full, and succeeds again once the reader releases", () => {
    const ring = makeRing(4096);
    const text = (seq: number) => jsonOfLength(seq, 28); // jsonSize(28) === 64
    assert.equal(jsonSize(28), 64);
    let seq = 0;
    for (; seq < 64; seq++) assert.equal(putJson(ring, seq, text(seq)), seq * 64);
    assert.equal(ring.writer.free(), 0);
    assert.equal(ring.writer.reserve(8), -1);
    assert.equal(putJson(ring, seq, text(seq)), -1);

    // Read but not released: still full.
    assert.equal(take(ring)?.seq, 0);
    assert.equal(ring.writer.reserve(64), -1);
    ring.reader.release(ring.reader.pos, 1);
    assert.equal(ring.writer.free(), 64);
    assert.equal(putJson(ring, seq, text(seq)), 0, "the freed first slot is reused");
    seq++;
    assert.equal(ring.writer.reserve(8), -1);

    // Drain everything; the order survives the refill.
    const got: number[] = [];
    for (let r = take(ring); r !== null; r = take(ring)) {
      assert.equal(r.text, text(r.seq));
      got.push(r.seq);
    }
    assert.deepEqual(
      got,
      Array.from({ length: 64 }, (_, i) => i + 1),
    );
    ring.reader.release(ring.reader.pos, 64);
    assert.equal(ring.writer.free(), 4096);
  });

  test("a record that does not fit in the tail needs tail + size free bytes", () => {
    const ring = makeRing(4096);
    // A: [0, 3904), B: [3904, 3968); the tail after B is 128 bytes.
    assert.equal(jsonSize(3868), 3904);
    assert.equal(putJson(ring, 0, jsonOfLength(0, 3868)), 0);
    assert.equal(putJson(ring, 1, jsonOfLength(1, 28)), 3904);
    assert.equal(take(ring)?.seq, 0);
    ring.reader.release(ring.reader.pos, 1); // R = 3904: [0, 3904) is free, plus the 128-byte tail
    assert.equal(ring.writer.free(), 4032);
    // 3912 bytes would fit in the free total (4032) but not in [0, 3904) after skipping the tail.
    assert.equal(ring.writer.reserve(3912), -1);
    assert.notEqual(ring.views.i32[3968 >> 2], WRAP_MARKER, "a refused reserve writes no marker");
    // Exactly [0, 3904) after the skipped tail.
    assert.equal(putJson(ring, 2, jsonOfLength(2, 3868)), 0);
    assert.equal(ring.views.i32[3968 >> 2], WRAP_MARKER);
    assert.equal(Atomics.load(ring.views.ctl, CTL_W), 4096 + 3904);
    assert.equal(ring.writer.free(), 0);
    // The reader gets B, skips the marker, gets C at offset 0.
    const b = take(ring);
    assert.equal(b?.seq, 1);
    assert.equal(ring.reader.next(), 0);
    const c = take(ring);
    assert.equal(c?.seq, 2);
    assert.equal(c?.text, jsonOfLength(2, 3868));
    assert.ok(ring.reader.drained());
  });

  test("a record that fills the tail exactly needs no marker", () => {
    const ring = makeRing(4096);
    assert.equal(putJson(ring, 0, jsonOfLength(0, 3868)), 0); // [0, 3904)
    assert.equal(putJson(ring, 1, jsonOfLength(1, 156)), 3904); // jsonSize(156) === 192: [3904, 4096)
    assert.equal(Atomics.load(ring.views.ctl, CTL_W), 4096);
    assert.equal(take(ring)?.seq, 0);
    assert.equal(take(ring)?.seq, 1);
    ring.reader.release(ring.reader.pos, 2);
    assert.equal(putJson(ring, 2, jsonOfLength(2, 30)), 0);
    assert.equal(take(ring)?.seq, 2);
  });
});

/**
 * Random interleaving of a producer and a consumer on one thread: records of varying size and
 * kind, some filling the tail exactly, bursts until the ring is full, partial reads, delayed
 * releases. Every record is checked on the way out.
 */
function randomWorkload(ring: Ring, total: number, seed: number) {
  const random = rng(seed);
  const { views, writer, reader } = ring;
  const ctl = views.ctl;
  const cap = views.capacity;
  const keysW = new KeyTableWriter(views.keys, ctl, CTL_KEYS_LEN);
  const keysR = new KeyTableReader(views.keys, ctl, CTL_KEYS_LEN);
  const keyJson: string[] = [];
  const pool = ["loss", "acc", "lr", "λόσς", "🎉", "a.b/c", 'q"uote', "x".repeat(40)];
  const pending: { seq: number; step: number; kind: number; text: string }[] = [];
  let head = 0;
  let written = 0;
  let read = 0;
  let unreleased = 0;
  const stats = {
    wrapsWritten: 0,
    wrapsRead: 0,
    exactFits: 0,
    fullHits: 0,
    crossed2p31: false,
    crossed2p32: false,
  };

  function write(): boolean {
    const seq = written;
    const w = Atomics.load(ctl, CTL_W);
    const off0 = w & views.mask;
    const tail = cap - off0;
    const step = seq * 3;
    const r = random();
    let size: number;
    let off: number;
    let kind: number;
    let text: string;
    if (r < 0.2 && tail >= 64 && tail <= 1536) {
      // Exactly the tail.
      kind = KIND_JSON;
      text = jsonOfLength(seq, tail - 36);
      size = jsonSize(tail - 36);
      assert.equal(size, tail);
      off = writer.reserve(size);
      if (off >= 0) writeJson(views, off, step, seq, seq, text, tail - 36);
    } else if (r < 0.6) {
      kind = KIND_NUMERIC;
      const n = Math.floor(random() * 12);
      const names: string[] = [];
      const values = new Float64Array(n);
      const ids = new Uint16Array(n);
      const obj: Record<string, number> = {};
      for (let i = 0; i < n; i++) {
        const name = `${pool[i % pool.length]}${i >= pool.length ? i : ""}`;
        names.push(name);
        values[i] = (seq * 7 + i) / 8;
        ids[i] = keysW.id(name);
        obj[name] = values[i];
      }
      text = JSON.stringify(obj);
      size = numericSize(n);
      off = writer.reserve(size);
      if (off >= 0) writeNumeric(views, off, step, seq, seq, n, values, ids);
    } else {
      kind = KIND_JSON;
      text = JSON.stringify({ seq, s: "é🎉x".repeat(Math.floor(random() * 200)), n: null, b: true });
      const byteLength = Buffer.byteLength(text);
      size = jsonSize(byteLength);
      off = writer.reserve(size);
      if (off >= 0) writeJson(views, off, step, seq, seq, text, byteLength);
    }
    if (off < 0) {
      stats.fullHits++;
      return false;
    }
    if (off === 0 && off0 !== 0) stats.wrapsWritten++;
    if (off + size === cap) stats.exactFits++;
    writer.commit(size);
    const w2 = Atomics.load(ctl, CTL_W);
    if (w >= 0 && w2 < 0) stats.crossed2p31 = true;
    if (w < 0 && w2 >= 0) stats.crossed2p32 = true;
    pending.push({ seq, step, kind, text });
    written++;
    return true;
  }

  function readOne(): boolean {
    const pos = reader.pos;
    if (pos !== Atomics.load(ctl, CTL_W) && views.i32[(pos & views.mask) >> 2] === WRAP_MARKER) stats.wrapsRead++;
    const off = reader.next();
    if (off < 0) return false;
    const rec = readRecord(views, off, { size: 0, kind: 0, step: 0, time: 0, seq: 0 });
    const want = pending[head++];
    if (rec.kind === KIND_NUMERIC && keysR.refresh() > keyJson.length) {
      for (let i = keyJson.length; i < keysR.names.length; i++) keyJson.push(JSON.stringify(keysR.names[i]));
    }
    const text = rec.kind === KIND_NUMERIC ? numericMetricsJson(views, off, keyJson) : jsonMetricsText(views, off);
    assert.deepEqual(
      { seq: rec.seq, step: rec.step, time: rec.time, kind: rec.kind, text },
      { seq: want.seq, step: want.step, time: want.seq, kind: want.kind, text: want.text },
    );
    reader.advance(rec.size);
    unreleased++;
    read++;
    return true;
  }

  while (read < total) {
    let burst = 1 + Math.floor(random() * 40);
    let full = false;
    while (burst-- > 0 && written < total) {
      if (!write()) {
        full = true;
        break;
      }
    }
    let reads = Math.floor(random() * 30);
    while (reads-- > 0 && readOne()) {}
    if (full || random() < 0.6) {
      reader.release(reader.pos, unreleased);
      unreleased = 0;
    }
  }
  reader.release(reader.pos, unreleased);
  assert.equal(written, total);
  assert.equal(read, total);
  assert.ok(reader.drained());
  return stats;
}

describe("wrap-around", () => {
  test("thousands of records of varying size through a 4 KiB ring, all intact and in order", () => {
    const ring = makeRing(4096);
    const stats = randomWorkload(ring, 20_000, 1);
    assert.ok(stats.wrapsWritten > 100, `only ${stats.wrapsWritten} wrap markers written`);
    assert.equal(stats.wrapsRead, stats.wrapsWritten, "the reader skipped every marker the writer wrote");
    assert.ok(stats.exactFits > 100, `only ${stats.exactFits} records ended exactly at the end`);
    assert.ok(stats.fullHits > 100, `the ring was full only ${stats.fullHits} times`);
    assert.equal(ring.writer.seq, 20_000);
    assert.equal(Atomics.load(ring.views.ctl, CTL_DONE_SEQ), 20_000);
    assert.equal(Atomics.load(ring.views.ctl, CTL_R), Atomics.load(ring.views.ctl, CTL_W));
  });

  for (const seed of [2, 3, 4]) {
    test(`random workload, seed ${seed}`, () => {
      const stats = randomWorkload(makeRing(4096), 5000, seed);
      assert.ok(stats.wrapsWritten > 0);
      assert.equal(stats.wrapsRead, stats.wrapsWritten);
    });
  }

  test("a larger ring (64 KiB) behaves the same", () => {
    const stats = randomWorkload(makeRing(65536), 20_000, 5);
    assert.ok(stats.wrapsWritten > 10);
    assert.equal(stats.wrapsRead, stats.wrapsWritten);
  });
});

describe("positions that wrap past 2^31 and 2^32", () => {
  const cases: [string, number, "crossed2p31" | "crossed2p32"][] = [
    ["2^31", 2 ** 31 - 1000, "crossed2p31"],
    ["2^32", (2 ** 32 - 1000) | 0, "crossed2p32"],
    ["2^31, starting mid-ring", 2 ** 31 - 4096 * 3 - 2000, "crossed2p31"],
  ];
  for (const [name, start, flag] of cases) {
    test(`W and R cross ${name}; every record intact and in order`, () => {
      const startSeq = 2 ** 31 - 3000; // the record count and DONE_SEQ cross 2^31 too
      const ring = makeRing(4096, { pos: start, seq: startSeq });
      assert.equal(ring.writer.free(), 4096);
      const stats = randomWorkload(ring, 10_000, 7);
      assert.ok(stats[flag], `W never crossed ${name}`);
      assert.equal(stats.wrapsRead, stats.wrapsWritten);
      assert.ok(stats.fullHits > 0);
      const ctl = ring.views.ctl;
      assert.equal(ring.writer.seq, (startSeq + 10_000) | 0);
      assert.equal(Atomics.load(ctl, CTL_DONE_SEQ), (startSeq + 10_000) | 0);
      assert.equal(Atomics.load(ctl, CTL_R), Atomics.load(ctl, CTL_W));
      assert.equal(ring.writer.free(), 4096);
    });
  }

  test("full-ring accounting holds while W and R straddle 2^31", () => {
    // W = R = 2^31 - 2048: half the records below 2^31, half above.
    const ring = makeRing(4096, { pos: 2 ** 31 - 2048 });
    let seq = 0;
    for (; seq < 64; seq++) assert.ok(putJson(ring, seq, jsonOfLength(seq, 28)) >= 0);
    assert.ok(Atomics.load(ring.views.ctl, CTL_W) < 0, "W wrapped to a negative int32");
    assert.equal(ring.writer.free(), 0);
    assert.equal(putJson(ring, seq, jsonOfLength(seq, 28)), -1);
    for (let i = 0; i < 32; i++) assert.equal(take(ring)?.seq, i);
    ring.reader.release(ring.reader.pos, 32);
    assert.equal(ring.writer.free(), 2048);
    for (let i = 0; i < 32; i++, seq++) assert.ok(putJson(ring, seq, jsonOfLength(seq, 28)) >= 0);
    assert.equal(putJson(ring, seq, jsonOfLength(seq, 28)), -1);
    for (let i = 32; i < 96; i++) assert.equal(take(ring)?.seq, i);
    assert.equal(take(ring), null);
  });
});

describe("two threads", () => {
  test("a worker consumes 200,000 records through a 64 KiB ring: each once, in order", async () => {
    const TOTAL = 200_000;
    const ring = makeRing(65536, {}, 4096);
    const { views, writer } = ring;
    const keys = new KeyTableWriter(views.keys, views.ctl, CTL_KEYS_LEN);
    const data: ConsumerData = { layout: ring.layout, total: TOTAL, releaseEvery: 37 };
    // -1 if the consumer failed to load: the producer below blocks this thread's event loop.
    const status = new Int32Array(new SharedArrayBuffer(4));
    const worker = startTsWorker(new URL("./support/ring-consumer.ts", import.meta.url), { workerData: data }, status);
    const done = new Promise<ConsumerResult>((resolve, reject) => {
      worker.once("message", resolve);
      worker.once("error", reject);
      worker.once("exit", (code) => reject(new Error(`consumer exited with code ${code} before reporting`)));
    });

    let expected = HASH_SEED;
    let fullHits = 0;
    let producerError: unknown = null;
    try {
      const values = new Float64Array(8);
      const ids = new Uint16Array(8);
      for (let seq = 0; seq < TOTAL; seq++) {
        const r = genRecord(seq);
        expected = hashRecord(expected, r.seq, r.step, r.text);
        let size: number;
        let byteLength = 0;
        if (r.json === null) {
          for (let i = 0; i < r.keys.length; i++) {
            values[i] = r.values[i];
            ids[i] = keys.id(r.keys[i]);
          }
          size = numericSize(r.keys.length);
        } else {
          byteLength = Buffer.byteLength(r.json);
          size = jsonSize(byteLength);
        }
        let off = writer.reserve(size);
        if (off < 0) {
          fullHits++;
          let waits = 0;
          while ((off = writer.reserve(size)) < 0) {
            // Guards against a dead consumer, not timing assertions.
            if (Atomics.load(status, 0) < 0) throw new Error("the consumer worker failed to start");
            if (++waits > 3000) throw new Error(`no space for 60 s at seq ${seq}`);
            writer.waitForSpace(20);
          }
        }
        if (r.json === null) writeNumeric(views, off, r.step, r.time, seq, r.keys.length, values, ids);
        else writeJson(views, off, r.step, r.time, seq, r.json, byteLength);
        writer.commit(size);
      }
    } catch (err) {
      producerError = err;
    }

    let result: ConsumerResult;
    try {
      if (producerError !== null) throw producerError;
      result = await done;
    } finally {
      await worker.terminate();
    }
    assert.equal(result.error, null);
    assert.equal(result.count, TOTAL);
    assert.equal(result.checksum, expected);
    assert.ok(result.drained, "the consumer found nothing beyond the last record");
    assert.ok(fullHits > 0, "the producer never found the ring full, so waitForSpace was not exercised");
    const ctl = views.ctl;
    assert.equal(Atomics.load(ctl, CTL_DONE_SEQ), TOTAL);
    assert.equal(Atomics.load(ctl, CTL_R), Atomics.load(ctl, CTL_W));
    assert.equal(writer.free(), 65536);
  });
});
