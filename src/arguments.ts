// log()'s argument checks and the messages of its refusals, kept apart from the hot path.

import { InvalidArgError, type TrackioError } from "./shared/errors.js";
import type { Metrics } from "./values/types.js";

/** What `client.alert()` takes. */
export interface AlertOptions {
  title: string;
  text?: string | null;
  level?: "info" | "warn" | "error";
  step?: number;
}

/** A record larger than this share of the ring is refused rather than stall the ring. */
export const MAX_RECORD_SHARE = 4;

export function notPlainMetrics(metrics: unknown): InvalidArgError {
  let got: string;
  if (metrics === null || typeof metrics !== "object") got = metrics === null ? "null" : typeof metrics;
  else if (Array.isArray(metrics)) got = "an array";
  else {
    const name = Object.getPrototypeOf(metrics)?.constructor?.name;
    got = typeof name === "string" && name !== "Object" ? `an instance of ${name}` : "an object with a prototype";
  }
  return new InvalidArgError(
    `log(): metrics must be a plain object ({ name: value, … }), got ${got}; convert it first, e.g. Object.fromEntries(map)`,
  );
}

export function checkTime(t: number | Date): number {
  const ms = t instanceof Date ? t.getTime() : t;
  // Years 1 to 9999: what Trackio's timestamps (Python datetimes) can hold.
  if (typeof ms !== "number" || !(ms >= -62135596800000 && ms <= 253402300799999)) {
    throw new InvalidArgError(
      `log(): timestamp must be a Date or ms since the epoch within years 1-9999, got ${String(t)}`,
    );
  }
  return ms;
}

export function tooLarge(size: number, max: number, subject = "record", hint = "", call = "log()"): TrackioError {
  return new InvalidArgError(
    `${call}: ${subject} of ${size} bytes exceeds the limit of ${max} bytes (a quarter of ringBytes)${hint === "" ? "" : `; ${hint}`}`,
  );
}

// "5" and 5 print alike; a string is shown quoted and called one.
export function shown(value: unknown): string {
  return typeof value === "string" ? `${JSON.stringify(value)} (a string)` : String(value);
}

// The metric whose value takes the most room in the record (only asked once it is too large).
function largestMetric(metrics: Metrics): string {
  let largest = "";
  let largestSize = -1;
  for (const key in metrics) {
    let size: number;
    try {
      size = JSON.stringify(metrics[key])?.length ?? 0;
    } catch {
      size = 0;
    }
    if (size > largestSize) {
      largest = key;
      largestSize = size;
    }
  }
  return largest;
}

// What to do about a record of `size` bytes: a ring four times as large (up to 1 GiB), or a
// file, which travels by path rather than through the ring.
function tooLargeHint(size: number): string {
  const ring = 2 ** Math.ceil(Math.log2(size * MAX_RECORD_SHARE));
  const raise = ring <= 2 ** 30 ? `raise ringBytes (new Client({ ringBytes: ${ring} })), or ` : "";
  return `${raise}write the data to a file and log it as media by path (new Image(path), Audio(path), Video(path) or Html.fromFile(path): the worker reads the file, up to 2 GiB)`;
}

export function noProject(call: string): InvalidArgError {
  return new InvalidArgError(
    `${call}: no project: pass { project } to new Client(), call withProject(), or set TRACKIO_PROJECT`,
  );
}

/** A log() record too large for the ring: names the metric that made it so, and what to do. */
export function tooLargeMetric(metrics: Metrics, size: number, max: number): InvalidArgError {
  return new InvalidArgError(
    `log(): metric ${JSON.stringify(largestMetric(metrics))} is too large for the ring: its record is ${size} bytes, over the limit of ${max} bytes (a quarter of ringBytes); ${tooLargeHint(size)}`,
  );
}
