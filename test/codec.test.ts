// The record codec (src/shared/codec.ts), the JSON value path (src/values/json.ts), the key table, and
// the request body builder and key renaming of src/io/batch.ts.

import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { BatchBuilder, renameReservedKeys, safeKey } from "../src/io/batch.js";
import { bodyHead, bodyTail, bulkLogBody, ENDPOINTS, isoTimestamp } from "../src/io/bodies.js";
import {
  jsonMetricsText,
  jsonSize,
  KeyTableReader,
  KeyTableWriter,
  KIND_JSON,
  KIND_NUMERIC,
  numberJson,
  numericMetricsJson,
  numericSize,
  RECORD_HEADER,
  type RecordView,
  readRecord,
  regionOf,
  writeJson,
  writeNumeric,
} from "../src/shared/codec.js";
import { ClosedError, InvalidArgError, TrackioError } from "../src/shared/errors.js";
import type { WorkerSettings } from "../src/shared/protocol.js";
import { CTL_KEYS_LEN, createRing, RingViews } from "../src/shared/ring.js";
import { metricsToJson } from "../src/values/json.js";
import { Histogram } from "../src/values/structured.js";
import { testSettings } from "./support/transport.js";

function blankRecord(): RecordView {
  return { size: 0, kind: 0, step: 0, time: 0, seq: 0 };
}

/** Write `metrics` (all numbers) on the numeric path at `off` and read them back as JSON text. */
function numericRoundTrip(metrics: Record<string, number>, off = 0) {
  const region = regionOf(new ArrayBuffer(8192), 512, 4096);
  const names = Object.keys(metrics);
  const values = new Float64Array(names.map((k) => metrics[k]));
  const ids = new Uint16Array(names.map((_, i) => i));
  const size = writeNumeric(region, off, 12, 1_700_000_000_123, 41, names.length, values, ids);
  const rec = readRecord(region, off, blankRecord());
  const text = numericMetricsJson(
    region,
    off,
    names.map((k) => JSON.stringify(k)),
  );
  const raw = Array.from({ length: names.length }, (_, i) => region.f64[((off + RECORD_HEADER) >> 3) + i]);
  return { size, rec, text, raw };
}

/** The JSON path: metricsToJson on the main thread, writeJson, jsonMetricsText in the worker. */
function jsonRoundTrip(metrics: object, off = 8) {
  const region = regionOf(new ArrayBuffer(16384), 1024, 8192);
  const text = metricsToJson(metrics);
  const byteLength = Buffer.byteLength(text);
  const size = writeJson(region, off, 3, 4, 5, text, byteLength);
  const rec = readRecord(region, off, blankRecord());
  return { text, byteLength, size, rec, back: jsonMetricsText(region, off) };
}

describe("record sizes", () => {
  test("numericSize: header, 8 bytes a value, u16 ids padded to 8", () => {
    assert.equal(numericSize(0), 32);
    assert.equal(numericSize(1), 32 + 8 + 8);
    assert.equal(numericSize(4), 32 + 32 + 8);
    assert.equal(numericSize(5), 32 + 40 + 16);
    for (let n = 0; n < 100; n++) assert.equal(numericSize(n) % 8, 0);
  });

  test("jsonSize: header, i32 length, text, padded to 8", () => {
    assert.equal(jsonSize(0), 40);
    assert.equal(jsonSize(4), 40);
    assert.equal(jsonSize(5), 48);
    for (let n = 0; n < 100; n++) {
      assert.equal(jsonSize(n) % 8, 0);
      assert.ok(jsonSize(n) >= RECORD_HEADER + 4 + n);
    }
  });
});

describe("numeric path", () => {
  test("header fields survive", () => {
    const { size, rec } = numericRoundTrip({ a: 1, b: 2, c: 3 }, 64);
    assert.deepEqual(rec, { size: numericSize(3), kind: KIND_NUMERIC, step: 12, time: 1_700_000_000_123, seq: 41 });
    assert.equal(size, numericSize(3));
  });

  test("every kind of double round-trips; the JSON text parses, non-finite values as strings", () => {
    const metrics = {
      plain: 0.1 + 0.2,
      neg: -123.456,
      zero: 0,
      negZero: -0,
      nan: Number.NaN,
      inf: Number.POSITIVE_INFINITY,
      negInf: Number.NEGATIVE_INFINITY,
      tiny: 1e-300,
      huge: 1e300,
      denormal: 5e-324,
      maxSafe: Number.MAX_SAFE_INTEGER,
      minSafe: Number.MIN_SAFE_INTEGER,
      maxValue: Number.MAX_VALUE,
    };
    const { text, raw } = numericRoundTrip(metrics, 16);
    // The binary path is exact, -0 and NaN included.
    assert.deepEqual(raw, Object.values(metrics));
    assert.ok(Object.is(raw[3], -0));
    const parsed = JSON.parse(text);
    assert.deepEqual(parsed, {
      plain: 0.1 + 0.2,
      neg: -123.456,
      zero: 0,
      negZero: -0,
      nan: "NaN",
      inf: "Infinity",
      negInf: "-Infinity",
      tiny: 1e-300,
      huge: 1e300,
      denormal: 5e-324,
      maxSafe: Number.MAX_SAFE_INTEGER,
      minSafe: Number.MIN_SAFE_INTEGER,
      maxValue: Number.MAX_VALUE,
    });
    assert.deepEqual(Object.keys(parsed), Object.keys(metrics), "key order kept");
    assert.match(text, /"nan":"NaN","inf":"Infinity","negInf":"-Infinity"/);
    assert.match(text, /"tiny":1e-300,"huge":1e\+300/);
    assert.match(text, /"zero":0,"negZero":-0\.0,/);
  });

  test("no metrics is an empty object", () => {
    const { text, size } = numericRoundTrip({});
    assert.equal(text, "{}");
    assert.equal(size, 32);
  });

  test("numberJson", () => {
    assert.equal(numberJson(1.5), "1.5");
    assert.equal(numberJson(-0), "-0.0");
    assert.equal(numberJson(0), "0");
    assert.equal(numberJson(Number.MAX_SAFE_INTEGER), "9007199254740991");
    assert.equal(numberJson(2 ** 53), "9007199254740992.0");
    assert.equal(numberJson(-(2 ** 53)), "-9007199254740992.0");
    assert.equal(numberJson(1.2345678901234568e20), "123456789012345680000.0");
    assert.equal(numberJson(2 ** 63), "9223372036854776000.0");
    assert.equal(numberJson(1e21), "1e+21");
    assert.equal(numberJson(1e-7), "1e-7");
    assert.equal(numberJson(Number.NaN), '"NaN"');
    assert.equal(numberJson(Number.POSITIVE_INFINITY), '"Infinity"');
    assert.equal(numberJson(Number.NEGATIVE_INFINITY), '"-Infinity"');
  });

  test("key ids index keyJson, so names may repeat across records but ids are what is stored", () => {
    const region = regionOf(new ArrayBuffer(1024));
    writeNumeric(region, 0, 0, 0, 0, 3, new Float64Array([1, 2, 3]), new Uint16Array([2, 0, 2]));
    assert.equal(numericMetricsJson(region, 0, ['"a"', '"b"', '"c"']), '{"c":1,"a":2,"c":3}');
  });
});

describe("JSON path", () => {
  test("strings (unicode, emoji, escapes), booleans, null, nested objects and arrays", () => {
    const metrics = {
      s: "plain",
      uni: "λόγος — ü ñ 中文",
      emoji: "🎉🚀 family: 👨‍👩‍👧",
      esc: 'quote " backslash \\ newline \n tab \t nul \u0000',
      t: true,
      f: false,
      n: null,
      nested: { a: { b: [1, "two", { c: null }] }, empty: {} },
      arr: [1, 2.5, -3, [], [[true]]],
      num: 42,
    };
    const { text, byteLength, size, rec, back } = jsonRoundTrip(metrics);
    assert.equal(back, text);
    assert.deepEqual(JSON.parse(back), metrics);
    assert.ok(byteLength > text.length, "multi-byte characters counted in bytes");
    assert.equal(size, jsonSize(byteLength));
    assert.deepEqual(rec, { size, kind: KIND_JSON, step: 3, time: 4, seq: 5 });
  });

  test("NaN and ±Infinity, top-level or nested, become strings", () => {
    const { back } = jsonRoundTrip({
      x: Number.NaN,
      deep: { y: [Number.POSITIVE_INFINITY, { z: Number.NEGATIVE_INFINITY }] },
      s: "ok",
    });
    assert.deepEqual(JSON.parse(back), { x: "NaN", deep: { y: ["Infinity", { z: "-Infinity" }] }, s: "ok" });
  });

  test("plain objects with a null prototype are accepted", () => {
    const o = Object.create(null) as Record<string, unknown>;
    o.a = "b";
    assert.equal(metricsToJson({ o }), '{"o":{"a":"b"}}');
  });

  test("a region at a nonzero byteOffset (as in the ring) reads back the right bytes", () => {
    const layout = createRing(4096, 64);
    const views = new RingViews(layout);
    const text = metricsToJson({ msg: "héllo 🎉" });
    const byteLength = Buffer.byteLength(text);
    writeJson(views, 4096 - jsonSize(byteLength), 1, 2, 3, text, byteLength);
    assert.equal(jsonMetricsText(views, 4096 - jsonSize(byteLength)), text);
  });

  test("an empty text is an empty record", () => {
    const region = regionOf(new ArrayBuffer(256));
    assert.equal(writeJson(region, 0, 0, 0, 0, "", 0), 40);
    assert.equal(jsonMetricsText(region, 0), "");
  });
});

describe("metricsToJson writes numbers as Trackio's Python client stores them", () => {
  test("integral doubles beyond 2^53 and -0 are floats, safe integers stay integers, at any depth", () => {
    const text = metricsToJson({
      s: "x",
      big: 1.2345678901234568e20,
      negZero: -0,
      nested: { a: [2 ** 60, -1e19, 7] },
      safe: Number.MAX_SAFE_INTEGER,
      huge: 1e21,
      nan: Number.NaN,
    });
    assert.equal(
      text,
      '{"s":"x","big":123456789012345680000.0,"negZero":-0.0,"nested":{"a":[1152921504606847000.0,-10000000000000000000.0,7]},"safe":9007199254740991,"huge":1e+21,"nan":"NaN"}',
    );
  });

  test("Histogram edges are floats, and -0 is told from 0 as numpy tells it (found by the property tests)", () => {
    assert.equal(
      metricsToJson({ h: new Histogram([0, -0, -1], 2) }),
      '{"h":{"_type":"trackio.histogram","bins":[-1.0,-0.5,-0.0],"values":[1,2]}}',
    );
    assert.equal(
      metricsToJson({ h: new Histogram([-0, 0, -1], 2) }),
      '{"h":{"_type":"trackio.histogram","bins":[-1.0,-0.5,0.0],"values":[1,2]}}',
    );
  });

  test("the same number gives the same text on both paths", () => {
    for (const x of [0, -0, 1, -1, 0.5, 2 ** 53, 2 ** 63, 1e20, 1e21, 5e-324, Number.MAX_VALUE, Number.NaN]) {
      const { text } = numericRoundTrip({ x });
      assert.equal(metricsToJson({ x, s: "" }), `${text.slice(0, -1)},"s":""}`, String(x));
    }
  });

  test("strings from every plane, well-formed pairs included, are accepted", () => {
    const text = metricsToJson({ s: "a\u0000é😀\u{10ffff}\ufffd", "k😀": "v" });
    assert.deepEqual(JSON.parse(text), { s: "a\u0000é😀\u{10ffff}\ufffd", "k😀": "v" });
  });
});

describe("metricsToJson refuses what Trackio cannot store", () => {
  class Thing {
    x = 1;
  }
  const cycle: Record<string, unknown> = { a: 1 };
  cycle.self = cycle;
  const cases: [string, unknown, RegExp][] = [
    ["a bigint", { big: 10n }, /metric "big" is a bigint \(10n\)/],
    ["a function", { fn: () => 1 }, /metric "fn" is a function/],
    ["a symbol", { sym: Symbol("s") }, /metric "sym" is a symbol/],
    ["undefined", { u: undefined }, /metric "u" is undefined/],
    ["a Map", { m: new Map([["a", 1]]) }, /metric "m" is an instance of Map/],
    ["a Set", { st: new Set([1]) }, /metric "st" is an instance of Set/],
    ["a class instance", { t: new Thing() }, /metric "t" is an instance of Thing/],
    ["a nested bigint", { deep: { er: [1, 2n] } }, /metric "deep\.er\.1" is a bigint/],
    ["undefined in an array", { arr: [1, undefined] }, /metric "arr\.1" is undefined/],
    ["a Date", { d: new Date(0) }, /metric "d" is an instance of Date/],
    [
      "a lone high surrogate in a value",
      { note: "bad \ud800 text" },
      /metric "note" contains a lone surrogate \(U\+D800 at index 4\)/,
    ],
    ["a lone low surrogate in a nested value", { a: [{ b: "\udfff" }] }, /metric "a\.0\.b" contains a lone surrogate/],
    ["a lone surrogate in a key", { "k\ud83d": 1 }, /the name of metric .* contains a lone surrogate/],
    ["an object with a prototype", { o: Object.create({ inherited: 1 }) }, /metric "o" is an instance of/],
    ["a Date as the metrics", new Date(0), /metrics is an instance of Date/],
    [
      "a throwing getter",
      {
        get loss(): number {
          throw new Error("boom");
        },
      },
      /reading metric "loss" threw: boom/,
    ],
    ["a Map as the metrics", new Map(), /metrics is an instance of Map/],
    ["a cycle", cycle, /cycle/],
  ];
  for (const [what, value, message] of cases) {
    test(what, () => {
      assert.throws(
        () => metricsToJson(value as object),
        (err: unknown) => {
          assert.ok(err instanceof InvalidArgError);
          assert.ok(err instanceof TrackioError);
          assert.ok(!(err instanceof ClosedError));
          assert.equal((err as InvalidArgError).code, "ERR_TRACKIO_INVALID_ARG");
          assert.match((err as Error).message, message);
          return true;
        },
      );
    });
  }
});

describe("key table", () => {
  function table(bytes: number) {
    const ctl = new Int32Array(new SharedArrayBuffer(256));
    const buf = new Uint8Array(new SharedArrayBuffer(bytes));
    return {
      ctl,
      buf,
      writer: new KeyTableWriter(buf, ctl, CTL_KEYS_LEN),
      reader: new KeyTableReader(buf, ctl, CTL_KEYS_LEN),
    };
  }

  test("ids are assigned in order, repeated names keep their id", () => {
    const { writer, reader } = table(1024);
    assert.equal(writer.id("loss"), 0);
    assert.equal(writer.id("acc"), 1);
    assert.equal(writer.id("loss"), 0);
    assert.equal(writer.id("lr"), 2);
    assert.equal(reader.refresh(), 3);
    assert.deepEqual(reader.names, ["loss", "acc", "lr"]);
  });

  test("unicode names (multi-byte, emoji, odd byte lengths) and the empty name", () => {
    const { writer, reader, ctl } = table(1024);
    const names = ["λόσς", "🎉", "a", "", "中文/指标", "ünï", "x".repeat(300), "é"];
    assert.deepEqual(
      names.map((n) => writer.id(n)),
      names.map((_, i) => i),
    );
    assert.equal(reader.refresh(), names.length);
    assert.deepEqual(reader.names, names);
    const expectedLen = names.reduce((sum, n) => sum + 2 + ((Buffer.byteLength(n) + 1) & ~1), 0);
    assert.equal(Atomics.load(ctl, CTL_KEYS_LEN), expectedLen);
  });

  test("the reader picks up only what was published since its last refresh", () => {
    const { writer, reader, buf, ctl } = table(1024);
    writer.id("a");
    assert.equal(reader.refresh(), 1);
    assert.equal(reader.refresh(), 1);
    writer.id("b");
    writer.id("c");
    assert.equal(reader.refresh(), 3);
    assert.deepEqual(reader.names, ["a", "b", "c"]);
    // A restarted worker reads the whole table from the start.
    const again = new KeyTableReader(buf, ctl, CTL_KEYS_LEN);
    assert.equal(again.refresh(), 3);
    assert.deepEqual(again.names, ["a", "b", "c"]);
  });

  test("a full table returns -1 and publishes nothing; a name that still fits gets the next id", () => {
    const { writer, reader, ctl } = table(16);
    assert.equal(writer.id("abcd"), 0); // 2 + 4
    assert.equal(writer.id("efgh"), 1); // 2 + 4 = 12 bytes used
    assert.equal(writer.id("ijkl"), -1); // would need 18
    assert.equal(writer.id("ijkl"), -1, "still full, and not cached as defined");
    assert.equal(Atomics.load(ctl, CTL_KEYS_LEN), 12);
    assert.equal(writer.id("x"), 2); // 2 + 2 = 16: exactly full
    assert.equal(writer.id("y"), -1);
    assert.equal(reader.refresh(), 3);
    assert.deepEqual(reader.names, ["abcd", "efgh", "x"]);
  });

  test("idAt: the per-position cache agrees with id()", () => {
    const { writer, reader } = table(1024);
    assert.equal(writer.idAt(0, "loss"), 0);
    assert.equal(writer.idAt(1, "acc"), 1);
    assert.equal(writer.idAt(0, "loss"), 0);
    assert.equal(writer.idAt(0, "acc"), 1, "another key at a cached position");
    assert.equal(writer.idAt(1, "lr"), 2);
    assert.equal(writer.id("lr"), 2);
    reader.refresh();
    assert.deepEqual(reader.names, ["loss", "acc", "lr"]);
  });

  test("in the ring's shared buffer (a nonzero byteOffset)", () => {
    const views = new RingViews(createRing(4096, 256));
    const writer = new KeyTableWriter(views.keys, views.ctl, CTL_KEYS_LEN);
    const reader = new KeyTableReader(views.keys, views.ctl, CTL_KEYS_LEN);
    writer.id("train/loss");
    writer.id("🎉");
    reader.refresh();
    assert.deepEqual(reader.names, ["train/loss", "🎉"]);
  });
});

function settings(over: Partial<WorkerSettings> = {}): WorkerSettings {
  return testSettings("http://127.0.0.1:1", {
    project: "proj",
    run: "run-1",
    clientId: "c0ffee",
    timeoutMs: 1000,
    retryDeadlineMs: 1000,
    configJson: '{"lr":0.1,"_Username":null}',
    ...over,
  });
}

const T0 = Date.UTC(2026, 10, 27, 0, 15, 15, 452);
const T0_ISO = "2026-11-27T00:15:15.452000+00:00";

describe("BatchBuilder", () => {
  test("body shape: kwargs.logs and hf_token, one entry per record with what bulk_log reads; lines whole", () => {
    const b = new BatchBuilder(settings());
    b.add('{"loss":0.5}', 0, T0, 0);
    b.add('{"loss":0.25,"s":"x"}', 1, T0 + 1000, 1);
    b.add("{}", 7, T0, 12);
    assert.equal(b.count, 3);
    const batch = b.takeBatch();
    const body = Buffer.from(batch.metrics?.body("null") ?? []).toString();
    assert.ok(body.startsWith('{"kwargs":{"logs":['));
    assert.ok(body.endsWith('],"hf_token":null}}'));
    const parsed = JSON.parse(body);
    assert.deepEqual(Object.keys(parsed), ["kwargs"]);
    assert.deepEqual(Object.keys(parsed.kwargs), ["logs", "hf_token"]);
    assert.equal(parsed.kwargs.hf_token, null);
    const run = { project: "proj", run: "run-1", run_id: "rid" };
    // No v, kind or timestamp (the HTTP API stamps metric rows itself), no config when null.
    assert.deepEqual(parsed.kwargs.logs, [
      { ...run, metrics: { loss: 0.5 }, step: 0, config: { lr: 0.1, _Username: null }, log_id: "c0ffee-0" },
      { ...run, metrics: { loss: 0.25, s: "x" }, step: 1, log_id: "c0ffee-1" },
      { ...run, metrics: {}, step: 7, log_id: "c0ffee-12" },
    ]);
    // The same records as inbox-fragment lines, for the spool and the local inbox.
    const common = { v: 1, kind: "metric", ...run };
    assert.deepEqual(
      batch.lines().map((l) => JSON.parse(l)),
      [
        {
          ...common,
          metrics: { loss: 0.5 },
          step: 0,
          timestamp: T0_ISO,
          config: { lr: 0.1, _Username: null },
          log_id: "c0ffee-0",
        },
        {
          ...common,
          metrics: { loss: 0.25, s: "x" },
          step: 1,
          timestamp: "2026-11-27T00:15:16.452000+00:00",
          config: null,
          log_id: "c0ffee-1",
        },
        { ...common, metrics: {}, step: 7, timestamp: T0_ISO, config: null, log_id: "c0ffee-12" },
      ],
    );
  });

  test("config only on the first metrics entry the builder makes, alerts never carry it", () => {
    const b = new BatchBuilder(settings());
    b.addAlert('{"title":"t","text":null,"level":"warn"}', 0, T0, 0);
    b.add("{}", 5, T0, 1);
    b.add("{}", 6, T0, 2);
    const lines = b.take();
    assert.equal(JSON.parse(lines[0]).kind, "alert");
    assert.equal(JSON.parse(lines[0]).config, undefined);
    assert.deepEqual(
      lines.slice(1).map((l) => JSON.parse(l).config),
      [{ lr: 0.1, _Username: null }, null],
    );
    b.add("{}", 7, T0, 3);
    assert.equal(JSON.parse(b.take()[0]).config, null, "later batches carry no config");
  });

  test("project, run and run_id are JSON-escaped; the hf_token is passed through", () => {
    const b = new BatchBuilder(settings({ project: 'p "q" \\ 🎉', run: "ru\nn", runId: "id'1" }));
    b.add('{"a":1}', 3, T0, 9);
    const parsed = JSON.parse(bulkLogBody(b.take(), '"hf_abc"'));
    assert.equal(parsed.kwargs.hf_token, "hf_abc");
    const [entry] = parsed.kwargs.logs;
    assert.equal(entry.project, 'p "q" \\ 🎉');
    assert.equal(entry.run, "ru\nn");
    assert.equal(entry.run_id, "id'1");
    assert.equal(entry.log_id, "c0ffee-9");
  });

  test("bytes grows with entries; take() returns the lines and empties the builder", () => {
    const b = new BatchBuilder(settings());
    assert.equal(b.bytes, 0);
    b.add('{"a":1}', 1, T0, 1);
    const one = b.bytes;
    assert.ok(one > 0);
    b.add('{"a":1}', 1, T0, 2);
    assert.ok(b.bytes > one);
    const bytes = b.bytes;
    const batch = b.takeBatch();
    const lines = batch.lines();
    assert.equal(lines.length, 2);
    // The size of the request body so far: its head, then the entries and their commas.
    const body = batch.metrics?.body("null") ?? new Uint8Array(0);
    assert.equal(bytes, body.length - bodyTail("null").length);
    assert.equal(Buffer.from(body.subarray(0, bodyHead(ENDPOINTS[0]).length)).toString(), bodyHead(ENDPOINTS[0]));
    for (const line of lines) assert.equal(JSON.parse(line).metrics.a, 1);
    assert.equal(b.count, 0);
    assert.equal(b.bytes, 0);
    assert.deepEqual(b.take(), []);
    assert.deepEqual(JSON.parse(bulkLogBody([], "null")), { kwargs: { logs: [], hf_token: null } });
  });
});

describe("isoTimestamp (Python's datetime.isoformat for UTC)", () => {
  test("milliseconds as six fraction digits; none when zero", () => {
    assert.equal(isoTimestamp(T0), T0_ISO);
    assert.equal(isoTimestamp(Date.UTC(2026, 10, 27, 0, 15, 15)), "2026-11-27T00:15:15+00:00");
    assert.equal(isoTimestamp(0), "1970-01-01T00:00:00+00:00");
    assert.equal(isoTimestamp(Date.UTC(2026, 0, 1, 0, 0, 0, 7)), "2026-01-01T00:00:00.007000+00:00");
  });

  test("fractional milliseconds become microseconds", () => {
    assert.equal(isoTimestamp(T0 + 0.5), "2026-11-27T00:15:15.452500+00:00");
    assert.equal(isoTimestamp(1.5), "1970-01-01T00:00:00.001500+00:00");
  });

  test("a fraction that rounds up to a whole second carries into the seconds", () => {
    assert.equal(isoTimestamp(999.9996), "1970-01-01T00:00:01+00:00");
    assert.equal(isoTimestamp(Date.UTC(2026, 10, 27, 0, 15, 15, 999) + 0.9999), "2026-11-27T00:15:16+00:00");
  });

  test("times before 1970 (log() accepts any finite timestamp)", () => {
    assert.equal(isoTimestamp(-1), "1969-12-31T23:59:59.999000+00:00");
    assert.equal(isoTimestamp(-1500), "1969-12-31T23:59:58.500000+00:00");
  });
});

describe("reserved keys", () => {
  const RESERVED = ["project", "run", "timestamp", "step", "time", "metrics"];

  test("safeKey renames reserved names and names starting with __", () => {
    for (const k of RESERVED) assert.equal(safeKey(k), `__${k}`);
    assert.equal(safeKey("__x"), "____x");
    assert.equal(safeKey("__"), "____");
    assert.equal(safeKey("__step"), "____step");
    for (const k of ["loss", "Step", "steps", "_x", "x__", "run_id", "log_id", "config", "", "🎉"]) {
      assert.equal(safeKey(k), k);
    }
  });

  test("renameReservedKeys renames top-level keys and reports each", () => {
    const renamed: string[] = [];
    const text = JSON.stringify({
      loss: 1,
      step: 2,
      project: "p",
      run: { nested: true },
      timestamp: "t",
      time: 3,
      metrics: [1],
      __x: null,
    });
    const out = renameReservedKeys(text, (k) => renamed.push(k));
    assert.deepEqual(JSON.parse(out), {
      loss: 1,
      __step: 2,
      __project: "p",
      __run: { nested: true },
      __timestamp: "t",
      __time: 3,
      __metrics: [1],
      ____x: null,
    });
    assert.deepEqual(renamed, ["step", "project", "run", "timestamp", "time", "metrics", "__x"]);
  });

  test("renamed keys cannot collide with an existing __<key>", () => {
    const out = renameReservedKeys('{"step":1,"__step":2}', () => {});
    assert.deepEqual(JSON.parse(out), { __step: 1, ____step: 2 });
  });

  test("text without reserved top-level keys is returned as is", () => {
    const calls: string[] = [];
    for (const text of [
      '{"loss":1,"acc":"x"}',
      '{"a":{"step":1,"__y":2}}', // nested: not renamed
      '{"note":"step: \\"step\\":"}', // inside a string value
      '{"steps":1,"Run":2,"x__":3}',
      "{}",
    ]) {
      assert.equal(
        renameReservedKeys(text, (k) => calls.push(k)),
        text,
      );
    }
    assert.deepEqual(calls, []);
  });

  test("values are preserved exactly when renaming (unicode, NaN strings, nesting)", () => {
    const metrics = { step: "🎉", v: "NaN", deep: { a: [1, { b: null }] }, big: 1e300 };
    const out = renameReservedKeys(JSON.stringify(metrics), () => {});
    assert.deepEqual(JSON.parse(out), { __step: "🎉", v: "NaN", deep: { a: [1, { b: null }] }, big: 1e300 });
  });

  test("renaming keeps the text of every number as the main thread wrote it (found by the property tests)", () => {
    const text = metricsToJson({ step: 1e20, time: -0, "": 2 ** 53 + 2, s: "x", run: [9.2e18] });
    assert.equal(
      renameReservedKeys(text, () => {}),
      '{"__step":100000000000000000000.0,"__time":-0.0,"":9007199254740994.0,"s":"x","__run":[9200000000000000000.0]}',
    );
  });

  test("a __ key containing a quote is renamed like any other __ key", () => {
    const calls: string[] = [];
    const text = metricsToJson({ 'a"b': 1, '__q"': 2 });
    const out = renameReservedKeys(text, (k) => calls.push(k));
    assert.deepEqual(JSON.parse(out), { 'a"b': 1, '____q"': 2 });
    assert.deepEqual(calls, ['__q"']);
    // The numeric path (safeKey over the key table) already does this.
    assert.equal(safeKey('__q"'), '____q"');
  });
});
