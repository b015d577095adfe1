// The general path for metric values that are not all numbers: checked and turned into
// JSON text on the main thread, because a JS object cannot cross to the worker cheaply.

import { InvalidArgError } from "./errors.js";
import { FileMedia } from "./file-media.js";
import { Table } from "./media.js";

/** A value Trackio stores: what its Python client accepts, in JSON terms. */
export type MetricValue =
  | number
  | string
  | boolean
  | null
  | MetricValue[]
  | { [key: string]: MetricValue }
  // Histogram, Table, Markdown (and Date): encoded through their toJSON().
  | { toJSON(): unknown };
export type Metrics = Record<string, MetricValue>;

function describe(value: unknown): string {
  if (typeof value === "function") return "a function";
  if (typeof value === "bigint") return `a bigint (${value}n)`;
  if (typeof value === "symbol") return "a symbol";
  if (value === undefined) return "undefined";
  const proto = Object.getPrototypeOf(value);
  return `an instance of ${proto?.constructor?.name ?? "an unknown class"}`;
}

// NaN and ±Infinity travel as the strings Trackio's Python client sends (JSON has no token for
// them); the server stores them as such and reads them back as floats.
let currentCall = "log()";
let currentOnMedia: ((media: FileMedia, key: string) => void) | null = null;

function replacer(this: unknown, key: string, value: unknown): unknown {
  switch (typeof value) {
    case "number":
      if (Number.isFinite(value)) return value;
      return Number.isNaN(value) ? "NaN" : value > 0 ? "Infinity" : "-Infinity";
    case "string":
    case "boolean":
      return value;
    case "object": {
      if (value === null || Array.isArray(value)) return value;
      const proto = Object.getPrototypeOf(value);
      if (proto === Object.prototype || proto === null) return value;
      break;
    }
  }
  const where = key === "" ? "metrics" : `metric ${JSON.stringify(key)}`;
  throw new InvalidArgError(
    `${currentCall}: ${where} is ${describe(value)}; values must be numbers, strings, booleans, null, arrays or plain objects`,
  );
}

/**
 * Check a value tree before it is stringified: throws on what Trackio cannot store, and
 * returns whether it holds a non-finite number (which needs the slower replacer). Objects
 * with a toJSON() (Date, Histogram, Table …) are left to it.
 */
function check(value: unknown, key: string, depth: number): boolean {
  switch (typeof value) {
    case "number":
      return !Number.isFinite(value);
    case "string":
    case "boolean":
      return false;
    case "object": {
      if (value === null) return false;
      if (depth > 64)
        throw new InvalidArgError(`${currentCall}: metrics nest deeper than 64 levels (or contain a cycle)`);
      if (Array.isArray(value)) {
        let nonFinite = false;
        for (let i = 0; i < value.length; i++) nonFinite = check(value[i], String(i), depth + 1) || nonFinite;
        return nonFinite;
      }
      if (value instanceof FileMedia) {
        if (currentOnMedia === null) {
          throw new InvalidArgError(
            `${currentCall}: metric ${JSON.stringify(key)} is ${value.constructor.name === "Html" ? "an" : "a"} ${value.constructor.name}; media values can only be logged with log()`,
          );
        }
        currentOnMedia(value, key);
        return false;
      }
      // A table's cells may hold media (each uploaded like a top-level value) and are checked
      // like any value.
      if (value instanceof Table) {
        for (const row of value.rows) check(row, key, depth + 1);
        return true;
      }
      if (typeof (value as { toJSON?: unknown }).toJSON === "function") return true;
      const proto = Object.getPrototypeOf(value);
      if (proto !== Object.prototype && proto !== null) break;
      let nonFinite = false;
      for (const k in value) nonFinite = check((value as Record<string, unknown>)[k], k, depth + 1) || nonFinite;
      return nonFinite;
    }
  }
  const where = depth === 0 ? "metrics" : `metric ${JSON.stringify(key)}`;
  throw new InvalidArgError(
    `${currentCall}: ${where} is ${describe(value)}; values must be numbers, strings, booleans, null, arrays or plain objects`,
  );
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
    // JSON.stringify with a replacer is about twice as slow; most records need none.
    return check(metrics, "", 0) ? JSON.stringify(metrics, replacer) : JSON.stringify(metrics);
  } catch (err) {
    if (err instanceof InvalidArgError) throw err;
    // JSON.stringify's own TypeErrors: a bigint inside a toJSON result, say.
    throw new InvalidArgError(`${call}: value cannot be encoded: ${(err as Error).message}`);
  } finally {
    currentOnMedia = null;
  }
}
