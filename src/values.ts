// The general path for metric values that are not all numbers: checked and turned into
// JSON text on the main thread, because a JS object cannot cross to the worker cheaply.

import { InvalidArgError } from "./errors.js";

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

/** JSON text of `metrics`; `call` names the API call in error messages. */
export function metricsToJson(metrics: object, call = "log()"): string {
  currentCall = call;
  try {
    return JSON.stringify(metrics, replacer);
  } catch (err) {
    if (err instanceof InvalidArgError) throw err;
    // JSON.stringify's own TypeErrors: a cycle, or a bigint inside a toJSON result.
    throw new InvalidArgError(`${call}: value cannot be encoded: ${(err as Error).message}`);
  }
}
