// The general path for metric values that are not all numbers: checked and turned into
// JSON text on the main thread, because a JS object cannot cross to the worker cheaply.
//
// What is refused here, at the call, is what the server can never store or what would not
// be the value the user meant: strings that are not well-formed UTF-16 (the server cannot
// encode a lone surrogate and refuses the whole request), objects other than plain objects,
// arrays and this package's value classes (a Map, Set or Date would be stored as `{}` or a
// string, a class instance loses its prototype), keys inherited from a prototype, and getters
// that throw. Everything else is stored as Trackio's Python client stores it.

import { floatJson, needsNumberJson, numberJson } from "../shared/codec.js";
import { InvalidArgError } from "../shared/errors.js";
import { FileMedia } from "./file-media.js";
import { Histogram, Markdown, Table } from "./structured.js";
import { Trace } from "./trace.js";

function describe(value: unknown): string {
  if (typeof value === "function") return "a function";
  if (typeof value === "bigint") return `a bigint (${value}n)`;
  if (typeof value === "symbol") return "a symbol";
  if (value === undefined) return "undefined";
  if (Array.isArray(value)) return "an array with a toJSON() of its own";
  const proto = Object.getPrototypeOf(value);
  return `an instance of ${proto?.constructor?.name ?? "an unknown class"}`;
}

let currentCall = "log()";
let currentOnMedia: ((media: FileMedia, key: string) => void) | null = null;
/** Whether the array being checked is a metric's value made of Traces only (where Trackio stores Traces). */
let inTraceList = false;

function where(path: string): string {
  return path === "" ? "metrics" : `metric ${JSON.stringify(path)}`;
}

function refuse(path: string, value: unknown): never {
  throw new InvalidArgError(
    `${currentCall}: ${where(path)} is ${describe(value)}; values must be numbers, strings, booleans, null, arrays or plain objects`,
  );
}

/**
 * A string the server can store: well-formed UTF-16. A lone surrogate (half of a pair, e.g.
 * from slicing a string through an emoji) has no UTF-8 form; the server would refuse the
 * whole request it came in.
 */
export function checkWellFormed(text: string, what: string): void {
  if (!text.isWellFormed()) {
    const at = firstLoneSurrogate(text);
    throw new InvalidArgError(
      `${what} contains a lone surrogate (U+${text.charCodeAt(at).toString(16).toUpperCase()} at index ${at}), which is not valid Unicode and cannot be stored; use String.prototype.toWellFormed() to replace it with U+FFFD`,
    );
  }
}

function firstLoneSurrogate(text: string): number {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff) {
      const d = text.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) i++;
      else return i;
    } else if (c >= 0xdc00 && c <= 0xdfff) return i;
  }
  return 0;
}

function isValueClass(value: object): boolean {
  return (
    value instanceof Histogram ||
    value instanceof Markdown ||
    value instanceof Table ||
    value instanceof FileMedia ||
    value instanceof Trace
  );
}

export function isPlainObject(value: object): boolean {
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

function child(path: string, key: string): string {
  return path === "" ? key : `${path}.${key}`;
}

/** A getter that threw while `call` read a metric: the caller's bad argument. */
export function getterThrew(call: string, path: string, err: unknown): InvalidArgError {
  return new InvalidArgError(
    `${call}: reading ${where(path)} threw: ${err instanceof Error ? err.message : String(err)}`,
    { cause: err },
  );
}

/** A property read that may run a getter. */
function read(obj: Record<string, unknown>, key: string, path: string): unknown {
  try {
    return obj[key];
  } catch (err) {
    throw getterThrew(currentCall, child(path, key), err);
  }
}

/**
 * Check a value tree before it is stringified: throws on what Trackio cannot store, and
 * returns whether JSON.stringify would write it differently from Trackio's Python client
 * (a non-finite number, an integral double beyond 2^53, -0, a value class), in which case
 * exactJson() writes it instead.
 */
function check(value: unknown, path: string, depth: number): boolean {
  switch (typeof value) {
    case "number":
      return needsNumberJson(value);
    case "string":
      checkWellFormed(value, `${currentCall}: ${where(path)}`);
      return false;
    case "boolean":
      return false;
    case "object": {
      if (value === null) return false;
      if (depth > 64)
        throw new InvalidArgError(`${currentCall}: metrics nest deeper than 64 levels (or contain a cycle)`);
      if (Array.isArray(value)) {
        // JSON.stringify would call it, and write whatever it returns unchecked.
        if (typeof (value as { toJSON?: unknown }).toJSON === "function") refuse(path, value);
        if (depth === 1) inTraceList = isTraceList(value, path);
        let exact = false;
        for (let i = 0; i < value.length; i++) exact = check(value[i], child(path, String(i)), depth + 1) || exact;
        if (depth === 1) inTraceList = false;
        return exact;
      }
      if (value instanceof FileMedia) {
        if (currentOnMedia === null) {
          throw new InvalidArgError(
            `${currentCall}: ${where(path)} is ${value.constructor.name === "Html" ? "an" : "a"} ${value.constructor.name}; media values can only be logged with log()`,
          );
        }
        if (value.caption !== null) checkWellFormed(value.caption, `${currentCall}: the caption of ${where(path)}`);
        currentOnMedia(value, path);
        return true;
      }
      // A table's cells may hold media (each uploaded like a top-level value) and are checked
      // like any value.
      if (value instanceof Table) {
        for (const row of value.rows) check(row, path, depth + 1);
        return true;
      }
      if (value instanceof Markdown) {
        checkWellFormed(value.text, `${currentCall}: the Markdown text of ${where(path)}`);
        return true;
      }
      if (value instanceof Histogram) return true;
      if (value instanceof Trace) {
        checkTracePlace(path, depth);
        check(value.messages, child(path, "messages"), depth + 1);
        check(value.metadata, child(path, "metadata"), depth + 1);
        check(value.spans, child(path, "spans"), depth + 1);
        return true;
      }
      if (!isPlainObject(value)) refuse(path, value);
      let exact = false;
      const obj = value as Record<string, unknown>;
      // for...in also walks the prototype, which for a plain object is Object.prototype (or
      // nothing): an enumerable key found there was added to every object, not logged.
      for (const k in obj) {
        if (!Object.hasOwn(obj, k)) {
          throw new InvalidArgError(
            `${currentCall}: ${where(child(path, k))} is inherited from Object.prototype, not the object's own`,
          );
        }
        checkWellFormed(k, `${currentCall}: the name of ${where(child(path, k))}`);
        exact = check(read(obj, k, path), child(path, k), depth + 1) || exact;
      }
      return exact;
    }
  }
  refuse(path, value);
}

/**
 * Trackio's server takes a Trace out of the metrics into its traces table only as a metric's
 * value or as an item of a list of Traces that is one (Python's client sends nothing else):
 * anywhere else it would stay in the metrics row as a plain object no tab shows.
 */
function checkTracePlace(path: string, depth: number): void {
  if (currentOnMedia === null)
    throw new InvalidArgError(`${currentCall}: ${where(path)} is a Trace; traces can only be logged with log()`);
  if (depth === 1 || (depth === 2 && inTraceList)) return;
  throw new InvalidArgError(
    `${currentCall}: ${where(path)} is a Trace inside another value; log a Trace as a metric's value ({ agent: trace }) or in a list of Traces ({ agent: [t1, t2] })`,
  );
}

function isTraceList(value: unknown[], path: string): boolean {
  let traces = 0;
  for (const item of value) if (item instanceof Trace) traces++;
  if (traces > 0 && traces < value.length)
    throw new InvalidArgError(
      `${currentCall}: ${where(path)} mixes Traces with other values; Trackio stores a list of Traces only when every item is one`,
    );
  return traces > 0;
}

/**
 * JSON text as Trackio's Python client would send it (numbers by numberJson), for the records
 * check() flagged. Values come from a checked tree or from this package's toJSON() methods.
 */
function exactJson(value: unknown, key: string): string {
  switch (typeof value) {
    case "number":
      return numberJson(value);
    case "string":
      return JSON.stringify(value);
    case "boolean":
      return value ? "true" : "false";
    case "object": {
      if (value === null) return "null";
      if (Array.isArray(value)) {
        let out = "[";
        for (let i = 0; i < value.length; i++) out += `${i > 0 ? "," : ""}${exactJson(value[i], String(i))}`;
        return `${out}]`;
      }
      if (value instanceof Histogram) {
        const edge = value.floatBins ? floatJson : numberJson;
        return `{"_type":"trackio.histogram","bins":[${value.bins.map(edge).join(",")}],"values":[${value.values.map(numberJson).join(",")}]}`;
      }
      if (isValueClass(value)) return exactJson((value as { toJSON(key: string): unknown }).toJSON(key), key);
      let out = "{";
      let first = true;
      for (const k in value) {
        out += `${first ? "" : ","}${JSON.stringify(k)}:${exactJson((value as Record<string, unknown>)[k], k)}`;
        first = false;
      }
      return `${out}}`;
    }
  }
  return refuse(key, value);
}

/**
 * JSON text of `metrics`; `call` names the API call in error messages. `onMedia` is called for
 * each Image, Audio, Video or Html value found (in tables too) before the text is made, so
 * that it can name the file the text will reference; without it, media values are refused.
 */
export function metricsToJson(
  metrics: object,
  call = "log()",
  onMedia: ((media: FileMedia, key: string) => void) | null = null,
): string {
  currentCall = call;
  currentOnMedia = onMedia;
  try {
    if (!isPlainObject(metrics)) refuse("", metrics);
    // JSON.stringify is the fast way for the usual record; exactJson only when it would differ.
    return check(metrics, "", 0) ? exactJson(metrics, "") : JSON.stringify(metrics);
  } catch (err) {
    if (err instanceof InvalidArgError) throw err;
    throw new InvalidArgError(`${call}: value cannot be encoded: ${(err as Error).message}`, { cause: err });
  } finally {
    currentOnMedia = null;
    inTraceList = false;
  }
}
