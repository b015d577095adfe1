// The batch written as bytes (src/io/json-bytes.ts, batch.ts, bodies.ts) against the text
// the worker made before it: every number exactly as numberJson writes it, every line exactly
// as the fragment-line template writes it, every request body exactly as bulkBody joins the
// compact entries (the fields bulk_log reads), and each entry the server-read part of its line.
// Property-based (fast-check, seeded; TRACKIO_FC_SEED picks another seed), plus sweeps of
// the doubles training loops log.

import assert from "node:assert/strict";
import { describe, test } from "node:test";
import fc from "fast-check";
import { BatchBuilder, safeKey } from "../src/io/batch.js";
import { type BytesPart, bulkBody, ENDPOINTS, isoTimestamp, KIND_PREFIX, RESEND_PREFIX } from "../src/io/bodies.js";
import { ByteWriter } from "../src/io/json-bytes.js";
import { numberJson, numericMetricsJson, regionOf, writeNumeric } from "../src/shared/codec.js";
import { doubleArb, keyArb } from "./support/arbitraries.js";
import { prng } from "./support/prng.js";
import { testSettings } from "./support/transport.js";

const SEED = Number(process.env.TRACKIO_FC_SEED ?? 20261130);
const writer = new ByteWriter(64);
const text = new TextDecoder();

function written(x: number): string {
  writer.pos = 0;
  writer.number(x);
  return text.decode(writer.buf.subarray(0, writer.pos));
}

/** Uint32s from a seed, for the sweeps. */
function rng(seed: number): () => number {
  const next = prng(seed);
  return () => (next() * 0x100000000) >>> 0;
}

describe("ByteWriter.number", () => {
  test("writes what numberJson writes, for every kind of double", () => {
    console.log(`seed ${SEED}`);
    fc.assert(
      fc.property(doubleArb, (x) => written(x) === numberJson(x)),
      { seed: SEED, numRuns: 20_000 },
    );
  });

  test("writes what numberJson writes for the values training loops log, and their neighbours", () => {
    const next = rng(SEED);
    const sweep = new Sweep();
    for (let i = 0; i < 100_000; i++) {
      sweep.check(1 / (i + 1));
      sweep.check(i * 1e-6);
      sweep.check((i % 97) * 0.01);
      sweep.check(-i / 7);
      sweep.check(2 ** ((i % 140) - 40));
      sweep.check(Math.fround(i / 3));
      sweep.checkBits(next(), next());
      // A decimal of 1 to 4 digits anywhere from 1e-9 to 1e18.
      sweep.checkAround(Number(`${(next() % 9999) + 1}e${(next() % 28) - 12}`));
    }
    assert.deepEqual(sweep.bad, []);
  });

  // Under 1e-6 a number is written with an exponent, from two scalings (see Fraction.write).
  test("writes what numberJson writes under 1e-6, where the text has an exponent", () => {
    const tiny = fc.double({ min: 1e-28, max: 2e-6, noNaN: true });
    fc.assert(
      fc.property(tiny, fc.boolean(), (x, negative) => {
        const y = negative ? -x : x;
        return written(y) === numberJson(y);
      }),
      { seed: SEED, numRuns: 20_000 },
    );
    const next = rng(SEED + 1);
    const sweep = new Sweep();
    for (let i = 0; i < 50_000; i++) {
      sweep.check(1e-7 / (i + 1));
      sweep.check(3e-4 * 0.999 ** (i + 7000));
      // A decimal of 1 to 4 digits from 1e-30 to 1e-5.
      sweep.checkAround(Number(`${(next() % 9999) + 1}e${-(next() % 26) - 9}`));
    }
    assert.deepEqual(sweep.bad, []);
  });
});

/** Doubles checked against numberJson; the first ten it writes otherwise are kept in `bad`. */
class Sweep {
  readonly bad: string[] = [];
  readonly #f = new Float64Array(1);
  readonly #u = new Uint32Array(this.#f.buffer);

  check(x: number): void {
    const got = written(x);
    if (got !== numberJson(x) && this.bad.length < 10) this.bad.push(`${numberJson(x)} written as ${got}`);
  }

  /** The double whose two 32-bit halves are `lo` and `hi`. */
  checkBits(lo: number, hi: number): void {
    this.#u[0] = lo;
    this.#u[1] = hi;
    this.check(this.#f[0]);
  }

  /** `x` and the doubles just beside it. */
  checkAround(x: number): void {
    this.check(x);
    for (const step of [1, -1]) {
      this.#f[0] = x;
      this.#u[0] = (this.#u[0] + step) >>> 0;
      this.check(this.#f[0]);
    }
  }
}

const T0 = Date.UTC(2026, 10, 30, 19, 0, 0, 1);

type Op =
  | { kind: "numeric"; entries: [string, number][]; step: number; dt: number }
  | { kind: "json"; metrics: string; step: number; dt: number }
  | { kind: "alert"; title: string; step: number }
  | { kind: "config"; config: string }
  | { kind: "resend" }
  | { kind: "take" };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    arbitrary: fc.record({
      kind: fc.constant("numeric" as const),
      entries: fc.array(
        fc.tuple(
          keyArb.filter((k) => k.isWellFormed()),
          doubleArb,
        ),
        { maxLength: 6 },
      ),
      step: fc.maxSafeInteger().map(Math.abs),
      dt: fc.integer({ min: 0, max: 5000 }),
    }),
    weight: 8,
  },
  {
    arbitrary: fc.record({
      kind: fc.constant("json" as const),
      metrics: fc.constantFrom('{"s":"é\\n"}', "{}", '{"a":[1,2.5,null]}'),
      step: fc.nat(),
      dt: fc.integer({ min: 0, max: 5 }),
    }),
    weight: 2,
  },
  { arbitrary: fc.record({ kind: fc.constant("alert" as const), title: fc.string(), step: fc.nat() }), weight: 1 },
  {
    arbitrary: fc.record({
      kind: fc.constant("config" as const),
      config: fc.oneof(
        fc.nat().map((n) => `{"lr":${n}}`),
        fc.constantFrom("null", "{}", '{"é":"🎉\\n","n":[1,null,-0.0]}'),
      ),
    }),
    weight: 1,
  },
  // Outside take() too, though the worker asks for a resend only before taking a batch.
  { arbitrary: fc.constant({ kind: "resend" as const }), weight: 1 },
  { arbitrary: fc.constant({ kind: "take" as const }), weight: 2 },
);

/** The fields of a fragment line that Trackio's bulk_log reads: no v, kind, resend, timestamp, or null config. */
function serverRead(line: string): Record<string, unknown> {
  const { v, kind, resend, timestamp, config, ...read } = JSON.parse(line) as Record<string, unknown>;
  assert.equal(v, 1);
  assert.equal(kind, "metric");
  assert.ok(resend === undefined || resend === true);
  assert.equal(typeof timestamp, "string");
  return config === null ? read : { ...read, config };
}

describe("BatchBuilder's bytes", () => {
  test("a value repeated from the record before is written as itself (-0 after 0, NaN, across batches)", () => {
    const s = testSettings("http://127.0.0.1:1");
    const b = new BatchBuilder(s);
    const names = ["lr", "loss", "z", "n"];
    const keys = names.map((k) => new Uint8Array(Buffer.from(`,${JSON.stringify(k)}:`)));
    const region = regionOf(new ArrayBuffer(256));
    const want: string[] = [];
    const zeros = [0, -0, -0, 0];
    for (let i = 0; i < 40; i++) {
      const values = [0.001, i < 20 ? 0.5 : 1 / (i + 1), zeros[i % 4], i % 3 === 0 ? Number.NaN : 2.5];
      writeNumeric(region, 0, i, T0, i, 4, new Float64Array(values), new Uint16Array([0, 1, 2, 3]));
      b.addNumeric(region, 0, keys, i, T0, i);
      want.push(
        numericMetricsJson(
          region,
          0,
          names.map((k) => JSON.stringify(k)),
        ),
      );
      // Batches of 7: the text of the record before may be in the batch already taken.
      if (i % 7 === 6) {
        assert.deepEqual(
          b.take().map((l) => l.slice(l.indexOf('"metrics":') + 10, l.indexOf(',"step":'))),
          want.splice(0),
        );
      }
    }
    assert.deepEqual(
      b.take().map((l) => l.slice(l.indexOf('"metrics":') + 10, l.indexOf(',"step":'))),
      want,
    );
  });

  test("lines are the fragment template's; body entries are the compact template's and the server-read part of their lines", () => {
    const region = regionOf(new ArrayBuffer(4096));
    fc.assert(
      fc.property(
        fc.array(opArb, { maxLength: 40 }),
        fc.constantFrom("null", '"hf_x"'),
        fc.constantFrom('{"lr":0.1}', "null"),
        (ops, token, firstConfig) => {
          const s = testSettings("http://127.0.0.1:1", {
            project: 'p "é" 🎉',
            run: "r\n1",
            configJson: firstConfig,
          });
          const run = `"project":${JSON.stringify(s.project)},"run":${JSON.stringify(s.run)},"run_id":${JSON.stringify(s.runId)}`;
          type Metric = { resend: boolean; metrics: string; step: number; time: number; seq: number; config: string };
          // What the worker made before (and still spools), and what bulk_log bodies carry now.
          const line = (m: Metric) =>
            `${m.resend ? RESEND_PREFIX : KIND_PREFIX.metric}${run},"metrics":${m.metrics},"step":${m.step},"timestamp":"${isoTimestamp(m.time)}","config":${m.config},"log_id":"${s.clientId}-${m.seq}"}`;
          const entry = (m: Metric) =>
            `{${run},"metrics":${m.metrics},"step":${m.step}${m.config === "null" ? "" : `,"config":${m.config}`},"log_id":"${s.clientId}-${m.seq}"}`;
          const b = new BatchBuilder(s);
          const keyIds = new Map<string, number>();
          const keyBytes: Uint8Array[] = [];
          const keyJson: string[] = [];
          let config = s.configJson;
          let configSent = false;
          let last: Metric | null = null;
          let want: (string | Metric)[] = [];
          let time = T0;
          let seq = 0;
          const metric = (metrics: string, step: number) => {
            last = { resend: false, metrics, step, time, seq, config: configSent ? "null" : config };
            want.push(last);
            configSent = true;
          };
          const resend = () => {
            if (!configSent && last !== null) {
              want.push({ ...last, resend: true, config });
              configSent = true;
            }
            b.addConfigResend();
          };
          const checkPart = (part: BytesPart, metrics: Metric[]) => {
            const body = Buffer.from(part.body(token)).toString("utf8");
            assert.equal(body, bulkBody(ENDPOINTS[0], metrics.map(entry), token));
            const entries = (JSON.parse(body) as { kwargs: { logs: unknown[] } }).kwargs.logs;
            assert.equal(entries.length, part.count);
            for (let i = 0; i < part.count; i++) {
              assert.equal(part.entry(i), entry(metrics[i]));
              assert.deepEqual(entries[i], serverRead(line(metrics[i])));
              assert.deepEqual(Object.keys(entries[i] as object), [
                "project",
                "run",
                "run_id",
                "metrics",
                "step",
                ...(metrics[i].config === "null" ? [] : ["config"]),
                "log_id",
              ]);
            }
            assert.equal(part.records, metrics.filter((m) => !m.resend).length);
            assert.equal(part.last(), line(metrics[metrics.length - 1]));
          };
          const take = () => {
            resend();
            const batch = b.takeBatch();
            const metrics = want.filter((w): w is Metric => typeof w !== "string");
            if (batch.metrics === null) assert.equal(metrics.length, 0);
            else checkPart(batch.metrics, metrics);
            assert.deepEqual(
              batch.lines(),
              want.map((w) => (typeof w === "string" ? w : line(w))),
            );
            // Recycled, the next batch reuses its buffer and entries; the lines made stay.
            const lines = batch.lines();
            b.recycle(batch);
            assert.deepEqual(batch.lines(), lines);
            want = [];
          };
          for (const op of ops) {
            if (op.kind === "numeric") {
              const ids = op.entries.map(([k]) => {
                let id = keyIds.get(k);
                if (id === undefined) {
                  id = keyIds.size;
                  keyIds.set(k, id);
                  keyJson.push(JSON.stringify(safeKey(k)));
                  keyBytes.push(new Uint8Array(Buffer.from(`,${keyJson[id]}:`)));
                }
                return id;
              });
              time += op.dt;
              const n = op.entries.length;
              writeNumeric(
                region,
                0,
                op.step,
                time,
                seq,
                n,
                new Float64Array(op.entries.map(([, v]) => v)),
                new Uint16Array(ids),
              );
              metric(numericMetricsJson(region, 0, keyJson), op.step);
              b.addNumeric(region, 0, keyBytes, op.step, time, seq++);
            } else if (op.kind === "json") {
              time += op.dt;
              metric(op.metrics, op.step);
              b.add(op.metrics, op.step, time, seq++);
            } else if (op.kind === "alert") {
              const alert = JSON.stringify({ title: op.title, text: null, level: "warn" });
              want.push(
                `${KIND_PREFIX.alert}${run},"title":${JSON.stringify(op.title)},"text":null,"level":"warn","step":${op.step},"timestamp":"${isoTimestamp(time)}","alert_id":"${s.clientId}-${seq}"}`,
              );
              b.addAlert(alert, op.step, time, seq++);
            } else if (op.kind === "config") {
              config = op.config;
              configSent = false;
              b.setConfig(config);
              seq++;
            } else if (op.kind === "resend") resend();
            else take();
          }
          take();
        },
      ),
      { seed: SEED, numRuns: 300 },
    );
  });
});

describe("BatchBuilder's entries", () => {
  test("a batch past the entries' first capacity, then one in its recycled buffer, keeps every line and entry", () => {
    const s = testSettings("http://127.0.0.1:1", { configJson: '{"a":1}' });
    const b = new BatchBuilder(s);
    const run = `"project":${JSON.stringify(s.project)},"run":${JSON.stringify(s.run)},"run_id":${JSON.stringify(s.runId)}`;
    let seq = 0;
    for (const n of [5000, 3000]) {
      const want: string[] = [];
      const entries: string[] = [];
      for (let i = 0; i < n; i++, seq++) {
        const config = seq === 0 ? '{"a":1}' : "null";
        // A new millisecond every 3 records: lines share a timestamp's text only within one.
        const time = T0 + Math.floor(seq / 3);
        b.add(`{"x":${seq}}`, seq, time, seq);
        want.push(
          `${KIND_PREFIX.metric}${run},"metrics":{"x":${seq}},"step":${seq},"timestamp":"${isoTimestamp(time)}","config":${config},"log_id":"${s.clientId}-${seq}"}`,
        );
        entries.push(
          `{${run},"metrics":{"x":${seq}},"step":${seq}${seq === 0 ? ',"config":{"a":1}' : ""},"log_id":"${s.clientId}-${seq}"}`,
        );
      }
      const batch = b.takeBatch();
      assert.equal(Buffer.from(batch.metrics?.body("null") ?? []).toString(), bulkBody(ENDPOINTS[0], entries, "null"));
      assert.deepEqual(batch.lines(), want);
      b.recycle(batch);
    }
  });
});
