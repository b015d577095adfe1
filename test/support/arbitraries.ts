// fast-check generators for the property tests: values from the whole input space of log(),
// config and alert, weighted toward the places where JS and Python disagree or the server
// refuses (integers past 2^53 and 2^63, powers of ten, -0, lone surrogates, reserved keys),
// plus values log() must refuse at the call.

import fc from "fast-check";
import { Markdown } from "../../src/index.js";
import { describeValue, histogramOf } from "./value-model.js";

/** Doubles the issue names, and their neighbours: the 9.2e18…1e21 band, 2^53, 2^63, ±0. */
const SPECIAL_DOUBLES = [
  0,
  -0,
  Number.NaN,
  Number.POSITIVE_INFINITY,
  Number.NEGATIVE_INFINITY,
  Number.MIN_VALUE,
  -Number.MIN_VALUE,
  2.2250738585072014e-308,
  Number.MAX_VALUE,
  -Number.MAX_VALUE,
  Number.EPSILON,
  2 ** 53,
  2 ** 53 - 1,
  -(2 ** 53),
  2 ** 53 + 2,
  2 ** 63,
  -(2 ** 63),
  2 ** 63 - 1024,
  2 ** 64,
  9.2e18,
  9.223372036854776e18,
  -1e19,
  5e19,
  1e20,
  1.2345678901234568e20,
  1e21,
  -1e21,
  1e22,
  1e-7,
  1e-6,
  1e16,
  1e17,
  0.1,
  0.5,
  2.5,
  1e300,
  -1e-300,
];

const sign = fc.constantFrom(1, -1);

/** Every kind of double, finite or not, integral or not. */
export const doubleArb: fc.Arbitrary<number> = fc.oneof(
  { arbitrary: fc.double(), weight: 4 },
  { arbitrary: fc.constantFrom(...SPECIAL_DOUBLES), weight: 4 },
  { arbitrary: fc.maxSafeInteger(), weight: 2 },
  { arbitrary: fc.integer({ min: -1000, max: 1000 }), weight: 2 },
  // Integers just around 2^53 and 2^63 (doubles there are spaced 2 and 2048 apart).
  { arbitrary: fc.tuple(sign, fc.integer({ min: -64, max: 64 })).map(([s, d]) => s * (2 ** 53 + d)), weight: 1 },
  { arbitrary: fc.tuple(sign, fc.integer({ min: -64, max: 64 })).map(([s, d]) => s * (2 ** 63 + d * 2048)), weight: 1 },
  // Powers of ten (and a digit times one) from 1e-30 to 1e30: where String() changes notation.
  {
    arbitrary: fc
      .tuple(sign, fc.integer({ min: 1, max: 9 }), fc.integer({ min: -30, max: 30 }))
      .map(([s, m, e]) => s * Number(`${m}e${e}`)),
    weight: 2,
  },
  // The band where an integral double does not fit an int64: 9.2e18 to 1e21, both signs.
  {
    arbitrary: fc.tuple(sign, fc.double({ min: 9.2e18, max: 1e21, noNaN: true })).map(([s, x]) => s * x),
    weight: 2,
  },
  { arbitrary: fc.double({ min: -1e-300, max: 1e-300, noNaN: true }), weight: 1 },
);

const LONE = ["\ud800", "\udbff", "\udc00", "\udfff"];

/** Strings from every plane, lone surrogates included, and strings that look like numbers. */
export const stringArb: fc.Arbitrary<string> = fc.oneof(
  { arbitrary: fc.string({ unit: "binary", maxLength: 12 }), weight: 3 },
  { arbitrary: fc.string({ unit: "grapheme", maxLength: 8 }), weight: 2 },
  // Any UTF-16 code units, so also halves of pairs in any position.
  {
    arbitrary: fc.string({
      unit: fc.integer({ min: 0, max: 0xffff }).map((u) => String.fromCharCode(u)),
      maxLength: 8,
    }),
    weight: 2,
  },
  {
    arbitrary: fc
      .tuple(fc.string({ maxLength: 4 }), fc.constantFrom(...LONE), fc.string({ maxLength: 4 }))
      .map(([a, b, c]) => a + b + c),
    weight: 1,
  },
  {
    arbitrary: fc.constantFrom(
      "",
      "NaN",
      "Infinity",
      "-Infinity",
      "1e21",
      "-0",
      "\u0000",
      "\u2028",
      "😀",
      "\ud83d\ude00",
    ),
    weight: 1,
  },
);

/** Metric names: reserved ones, ones Python renames, slashes, numeric-looking, unicode, lone surrogates. */
export const keyArb: fc.Arbitrary<string> = fc.oneof(
  {
    arbitrary: fc.constantFrom(
      "",
      "step",
      "time",
      "timestamp",
      "project",
      "run",
      "metrics",
      "__x",
      "__",
      "_x",
      "a/b",
      "/",
      "train/loss",
      "1",
      "0",
      "-1",
      "1.5",
      "4294967295",
      "__proto__",
      "constructor",
      "toString",
      "é",
      "🎉",
      "\ud800",
      "a\udfffb",
    ),
    weight: 2,
  },
  { arbitrary: fc.string({ unit: "binary", minLength: 1, maxLength: 6 }), weight: 1 },
  { arbitrary: fc.constantFrom("loss", "acc", "lr", "x", "y", "z"), weight: 3 },
);

/** An object with exactly these own enumerable data properties ("__proto__" included as a key). */
export function objectOf(entries: [string, unknown][]): Record<string, unknown> {
  const o: Record<string, unknown> = {};
  for (const [k, v] of entries)
    Object.defineProperty(o, k, { value: v, enumerable: true, writable: true, configurable: true });
  return o;
}

/** JSON-like values of bounded depth (numbers, strings, booleans, null, arrays, plain objects). */
export const jsonValueArb: fc.Arbitrary<unknown> = fc.letrec<{ value: unknown }>((tie) => ({
  value: fc.oneof(
    { depthSize: "small", maxDepth: 3 },
    { arbitrary: doubleArb, weight: 4 },
    { arbitrary: stringArb, weight: 3 },
    { arbitrary: fc.boolean(), weight: 1 },
    { arbitrary: fc.constant(null), weight: 1 },
    { arbitrary: fc.array(tie("value"), { maxLength: 4 }), weight: 1 },
    { arbitrary: fc.array(fc.tuple(keyArb, tie("value")), { maxLength: 4 }).map(objectOf), weight: 1 },
  ),
})).value;

/**
 * `o` with an enumerable getter "boom" that throws; fast-check prints it without calling the
 * getter (its printer would otherwise throw while reporting a counterexample).
 */
function withThrowingGetter(o: object): object {
  Object.defineProperty(o, "boom", {
    enumerable: true,
    configurable: true,
    get() {
      throw new Error("getter threw");
    },
  });
  Object.defineProperty(o, fc.toStringMethod, { value: () => describeValue(o) });
  return o;
}

class Point {
  x = 1;
  y = 2;
}

/** Values log() must refuse at the call, wherever they sit (each made fresh). */
export const refusedValueArb: fc.Arbitrary<unknown> = fc
  .constantFrom(
    () => new Map([["loss", 0.5]]),
    () => new Set([1]),
    () => new Date(0),
    () => new Point(),
    () => Object.assign(Object.create({ inherited: 1 }), { own: 2 }),
    () => withThrowingGetter({}),
    () => 1n,
    () => () => 1,
    () => undefined,
    () => Symbol("s"),
  )
  .map((make) => make());

/** A record that is itself not a plain object, or has keys it does not own, or a throwing getter. */
export const refusedRecordArb: fc.Arbitrary<object> = fc
  .tuple(
    fc.constantFrom("map", "date", "class", "inherited", "getter", "getter-first"),
    fc.array(fc.tuple(fc.constantFrom("loss", "acc", "lr"), doubleArb), { maxLength: 3 }),
  )
  .map(([kind, entries]) => {
    const own = objectOf(entries);
    switch (kind) {
      case "map":
        return new Map(entries);
      case "date":
        return Object.assign(new Date(0), own);
      case "class":
        return Object.assign(new Point(), own);
      case "inherited":
        return Object.assign(Object.create({ inherited: 0.5 }), own);
      default: {
        const o = withThrowingGetter(kind === "getter-first" ? {} : own);
        return kind === "getter-first" ? Object.assign(o, own) : o;
      }
    }
  });

/** An all-number record: the binary fast path. */
export const numericRecordArb = fc.array(fc.tuple(keyArb, doubleArb), { minLength: 1, maxLength: 6 }).map(objectOf);

/** A record with at least one non-number: the JSON path. */
export const jsonRecordArb = fc
  .tuple(
    fc.array(fc.tuple(keyArb, jsonValueArb), { maxLength: 5 }),
    fc.tuple(keyArb, fc.oneof(stringArb, fc.boolean(), fc.constant(null), fc.array(doubleArb, { maxLength: 3 }))),
  )
  .map(([entries, nonNumber]) => objectOf([...entries, nonNumber]));

/** A record holding one value log() must refuse, top level or nested, among ordinary ones. */
export const poisonedRecordArb = fc
  .tuple(
    fc.array(fc.tuple(keyArb, doubleArb), { maxLength: 3 }),
    keyArb,
    refusedValueArb,
    fc.constantFrom("top", "array", "object"),
    fc.array(fc.tuple(keyArb, jsonValueArb), { maxLength: 2 }),
  )
  .map(([before, key, bad, where, after]) => {
    const placed = where === "top" ? bad : where === "array" ? [1, bad] : objectOf([["inner", bad]]);
    return objectOf([...before, [key, placed], ...after]);
  });

/** Run configs: odd keys and any values; now and then a key Trackio reserves ("_…"). */
export const configArb: fc.Arbitrary<Record<string, unknown>> = fc
  .array(
    fc.tuple(
      fc.oneof(
        { arbitrary: keyArb.filter((k) => !k.startsWith("_")), weight: 12 },
        { arbitrary: fc.constantFrom("_x", "_Created", "__x"), weight: 1 },
      ),
      jsonValueArb,
    ),
    { maxLength: 4 },
  )
  .map(objectOf);

/** A run name, a config and a later config() update. */
export const runCaseArb = fc.record(
  {
    run: fc.oneof(
      stringArb.filter((s) => s !== ""),
      fc.constantFrom("run/with/slashes", "🎉", "a\ud800", "step", "-0"),
    ),
    config: configArb,
    update: configArb,
  },
  { requiredKeys: ["run"] },
);

export const alertArb = fc.record({
  title: stringArb,
  text: fc.option(stringArb, { nil: null }),
  level: fc.constantFrom("info" as const, "warn" as const, "error" as const),
});

/** Histograms (binned by the client, and by numpy in the oracle) and Markdown, as top-level metrics. */
export const structuredRecordArb = fc
  .array(
    fc.tuple(
      keyArb,
      fc.oneof(
        fc
          .tuple(
            fc.oneof(
              fc.array(doubleArb, { maxLength: 12 }),
              fc.array(fc.double({ min: -10, max: 10, noNaN: true }), { maxLength: 60 }),
              fc.array(fc.integer({ min: -5, max: 5 }), { maxLength: 40 }),
            ),
            fc.oneof(fc.constant(64), fc.integer({ min: 1, max: 600 })),
          )
          .map(([data, bins]) => histogramOf(data, bins)),
        stringArb.map((text) => new Markdown(text)),
        doubleArb,
      ),
    ),
    { minLength: 1, maxLength: 3 },
  )
  .map(objectOf);
