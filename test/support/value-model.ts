// What the property tests expect of a logged value, worked out without the client's code:
// whether log() must refuse it at the call (and why), and the same value in the tagged form
// the Python oracle (test/support/oracle.py) reads. Both walk property descriptors, so a
// throwing getter is seen and never called.

import fc from "fast-check";
import { Histogram, Markdown, Trace } from "../../src/index.js";

export type Tagged =
  | ["i", string]
  | ["f", string]
  | ["s", string]
  | ["b", boolean]
  | ["z"]
  | ["a", Tagged[]]
  | ["o", [string, Tagged][]]
  | ["h", Tagged[], number]
  | ["md", string]
  | ["tr", Tagged, Tagged, Tagged];

/** The data each generated Histogram was made from: Python bins the same data itself. */
const histogramData = new WeakMap<Histogram, { data: number[]; numBins: number }>();

/** A value class whose constructor threw: log() must refuse it like any class instance. */
export class ConstructionRefused {
  constructor(
    readonly call: string,
    readonly error: unknown,
  ) {}
}

/**
 * A Histogram whose data the oracle can bin with trackio.Histogram, or what the constructor
 * threw (numpy refuses data it cannot cut into finite, distinct bins).
 */
export function histogramOf(data: number[], numBins: number): Histogram | ConstructionRefused {
  const call = `new Histogram([${data.map((v) => describeValue(v)).join(", ")}], ${numBins})`;
  try {
    const h = new Histogram(data, numBins);
    histogramData.set(h, { data, numBins });
    // fast-check prints a counterexample with this, not with the (long) bins.
    Object.defineProperty(h, fc.toStringMethod, { value: () => call });
    return h;
  } catch (err) {
    return new ConstructionRefused(call, err);
  }
}

const MAX_DEPTH = 64;

function isPlainObject(v: object): boolean {
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

/** Enumerable string keys, inherited ones included (what for-in sees), in for-in order. */
function forInKeys(v: object): string[] {
  const keys: string[] = [];
  for (const k in v) keys.push(k);
  return keys;
}

/**
 * Why the client must refuse `value` at the call (a short reason naming the path), or null
 * when Trackio can store it: values are numbers, well-formed strings, booleans, null, arrays
 * and plain objects whose keys are their own and well-formed, without accessors.
 */
export function refusalReason(value: unknown, path = "metrics", depth = 0): string | null {
  switch (typeof value) {
    case "number":
    case "boolean":
      return null;
    case "string":
      return value.isWellFormed() ? null : `${path} is a string with a lone surrogate`;
    case "object":
      break;
    default:
      return `${path} is ${typeof value}`;
  }
  if (value === null) return null;
  if (depth > MAX_DEPTH) return `${path} nests deeper than ${MAX_DEPTH}`;
  if (value instanceof Histogram) return null;
  if (value instanceof Trace) return `${path} is a Trace inside another value`;
  if (value instanceof ConstructionRefused) return `${path} is what ${value.call} threw`;
  if (value instanceof Markdown) return refusalReason(value.text, `${path} (Markdown)`, depth + 1);
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const d = Object.getOwnPropertyDescriptor(value, i);
      if (d === undefined) return `${path}[${i}] is a hole`;
      if (d.get !== undefined) return `${path}[${i}] is a getter`;
      const r = refusalReason(d.value, `${path}[${i}]`, depth + 1);
      if (r !== null) return r;
    }
    return null;
  }
  if (!isPlainObject(value)) {
    const name = (Object.getPrototypeOf(value) as { constructor?: { name?: string } } | null)?.constructor?.name;
    return `${path} is an instance of ${name ?? "an anonymous prototype"}`;
  }
  for (const k of forInKeys(value)) {
    if (!k.isWellFormed()) return `${path} has a key with a lone surrogate`;
    const d = Object.getOwnPropertyDescriptor(value, k);
    if (d === undefined) return `${path}.${k} is inherited`;
    if (d.get !== undefined || d.set !== undefined) return `${path}.${JSON.stringify(k)} is an accessor`;
    const r =
      depth === 0
        ? metricReason(d.value, `${path}.${JSON.stringify(k)}`)
        : refusalReason(d.value, `${path}.${JSON.stringify(k)}`, depth + 1);
    if (r !== null) return r;
  }
  return null;
}

/**
 * A metric's value: where Trackio's server takes Traces out into its traces table (the value
 * itself, or every item of a list), their parts are checked as values; elsewhere a Trace is
 * refused.
 */
function metricReason(value: unknown, path: string): string | null {
  const traceReason = (t: Trace, at: string) =>
    refusalReason(t.messages, `${at}.messages`, 2) ??
    refusalReason(t.metadata, `${at}.metadata`, 2) ??
    refusalReason(t.spans, `${at}.spans`, 2);
  if (value instanceof Trace) return traceReason(value, path);
  if (Array.isArray(value) && value.some((v) => v instanceof Trace)) {
    if (!value.every((v) => v instanceof Trace)) return `${path} mixes Traces with other values`;
    for (let i = 0; i < value.length; i++) {
      const r = traceReason(value[i], `${path}[${i}]`);
      if (r !== null) return r;
    }
    return null;
  }
  return refusalReason(value, path, 1);
}

/**
 * A JS number as Python sees "the same value": an int when it is a safe integer (and not
 * -0), otherwise a float from its shortest round-trip text, which Python's float() reads
 * back exactly. An integral double such as 2.0 is thus an int on both sides: JS cannot tell.
 */
export function tagNumber(x: number): Tagged {
  if (Number.isSafeInteger(x) && !Object.is(x, -0)) return ["i", String(x)];
  return ["f", Object.is(x, -0) ? "-0.0" : String(x)];
}

/** `value` (which refusalReason accepts) in the oracle's tagged form; object keys in for-in order. */
export function toTagged(value: unknown): Tagged {
  if (typeof value === "number") return tagNumber(value);
  if (typeof value === "string") return ["s", value];
  if (typeof value === "boolean") return ["b", value];
  if (value === null) return ["z"];
  if (Array.isArray(value)) return ["a", value.map(toTagged)];
  if (value instanceof Markdown) return ["md", value.text];
  if (value instanceof Trace) return ["tr", toTagged(value.messages), toTagged(value.metadata), toTagged(value.spans)];
  if (value instanceof Histogram) {
    const made = histogramData.get(value);
    if (made === undefined) throw new TypeError("toTagged: a Histogram not made by histogramOf()");
    return ["h", made.data.map(tagNumber), made.numBins];
  }
  if (typeof value === "object") {
    return ["o", forInKeys(value).map((k): [string, Tagged] => [k, toTagged((value as Record<string, unknown>)[k])])];
  }
  throw new TypeError(`toTagged: ${typeof value} has no tagged form`);
}

/** A short, exact description of a value for failure messages (shows -0, NaN, lone surrogates, prototypes). */
export function describeValue(value: unknown, depth = 0): string {
  if (depth > 6) return "…";
  switch (typeof value) {
    case "number":
      return Object.is(value, -0) ? "-0" : String(value);
    case "string":
      return JSON.stringify(value);
    case "bigint":
      return `${value}n`;
    case "function":
      return "[function]";
    case "symbol":
      return String(value);
    case "undefined":
      return "undefined";
    case "boolean":
      return String(value);
  }
  if (value === null) return "null";
  if (Array.isArray(value)) return `[${value.map((v) => describeValue(v, depth + 1)).join(", ")}]`;
  if (value instanceof Markdown) return `Markdown(${JSON.stringify(value.text)})`;
  if (value instanceof ConstructionRefused) return `(${value.call} threw)`;
  if (value instanceof Histogram) {
    const made = histogramData.get(value);
    return made === undefined
      ? "a Histogram"
      : `new Histogram([${made.data.map((v) => describeValue(v)).join(", ")}], ${made.numBins})`;
  }
  const obj = value as object;
  const proto = Object.getPrototypeOf(obj);
  let prefix = "";
  if (proto === null) prefix = "[null prototype] ";
  else if (proto !== Object.prototype) {
    const name = (proto as { constructor?: { name?: string } }).constructor?.name;
    if (obj instanceof Map) return `Map(${obj.size})`;
    if (obj instanceof Set) return `Set(${obj.size})`;
    if (obj instanceof Date) return `Date(${Number.isNaN(obj.getTime()) ? "invalid" : obj.toISOString()})`;
    prefix =
      Object.getPrototypeOf(proto) === Object.prototype && name === "Object"
        ? "[inherits from {...}] "
        : `${name ?? "?"} `;
  }
  const parts = forInKeys(obj).map((k) => {
    const d = Object.getOwnPropertyDescriptor(obj, k);
    const shown =
      d === undefined ? "(inherited)" : d.get !== undefined ? "(getter)" : describeValue(d.value, depth + 1);
    return `${JSON.stringify(k)}: ${shown}`;
  });
  return `${prefix}{${parts.join(", ")}}`;
}
