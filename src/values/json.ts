// The general path for metric values that are not all numbers: checked and turned into
// JSON text on the main thread, because a JS object cannot cross to the worker cheaply.
//
// What is refused here, at the call, is what the server can never store or what would not
// be the value the user meant: strings that are not well-formed UTF-16 (the server cannot
// encode a lone surrogate and refuses the whole request), objects other than plain objects,
// arrays and this package's value classes (a Map, Set or Date would be stored as `{}` or a
// string, a class instance loses its prototype), keys inherited from a prototype, and getters
// that throw. Everything else is stored as Trackio's Python client stores it.

import { floatJson, numberJson } from "../shared/codec.js";
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

/** A media value met while encoding, and the file the text names for it. */
export interface MediaUse {
  readonly media: FileMedia;
  /** The metric's path, for messages. */
  readonly key: string;
  readonly file: string;
}

/** Names the file a media value is stored as; called once per distinct value in a record. */
export type NameFile = (media: FileMedia, key: string) => string;

// One encoding call's state, passed down the walk: the call's name for messages, and the
// files of the media values found (none allowed without nameFile).
class Encoding {
  readonly media: MediaUse[] = [];
  /** The keys from the top to the value being encoded: the first `depth` name its path. */
  readonly keys: string[] = [];
  readonly #files = new Map<FileMedia, string>();
  /** Whether the list being encoded is a metric's value made of Traces (where Trackio stores them). */
  traceList = false;
  constructor(
    readonly call: string,
    readonly nameFile: NameFile | null,
  ) {}

  /** The dotted path of the value at `depth`, for messages (made only when one is needed). */
  path(depth: number): string {
    return this.keys.slice(0, depth).join(".");
  }

  fileOf(media: FileMedia, key: string): string {
    let file = this.#files.get(media);
    if (file === undefined) {
      file = (this.nameFile as NameFile)(media, key);
      this.#files.set(media, file);
      this.media.push({ media, key, file });
    }
    return file;
  }
}

function where(path: string): string {
  return path === "" ? "metrics" : `metric ${JSON.stringify(path)}`;
}

function refuse(call: string, path: string, value: unknown): never {
  throw new InvalidArgError(
    `${call}: ${where(path)} is ${describe(value)}; values must be numbers, strings, booleans, null, arrays or plain objects`,
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

export function isPlainObject(value: object): boolean {
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/**
 * Object.prototype.hasOwnProperty, to be called as `hasOwnKey.call(obj, k)` inside
 * `for (const k in obj)`: V8 then knows a key from the object's own shape is its own, and
 * the check costs nothing (Object.hasOwn there costs more than the rest of the loop).
 */
export const hasOwnKey = Object.prototype.hasOwnProperty;

/** A getter that threw while `call` read a metric: the caller's bad argument. */
export function getterThrew(call: string, path: string, err: unknown): InvalidArgError {
  return new InvalidArgError(
    `${call}: reading ${where(path)} threw: ${err instanceof Error ? err.message : String(err)}`,
    { cause: err },
  );
}

/**
 * JSON text as Trackio's Python client would send it (numbers by numberJson), checked on the
 * way: throws on what Trackio cannot store. One walk that reads each property once, so that
 * a getter cannot pass the check with one value and be written with another. Media values
 * are given their file names here, in the order they are met.
 */
function encode(enc: Encoding, value: unknown, depth: number): string {
  const call = enc.call;
  switch (typeof value) {
    case "number":
      return numberJson(value);
    case "string":
      if (!value.isWellFormed()) checkWellFormed(value, `${call}: ${where(enc.path(depth))}`);
      return JSON.stringify(value);
    case "boolean":
      return value ? "true" : "false";
    case "object": {
      if (value === null) return "null";
      if (depth > 64) throw new InvalidArgError(`${call}: metrics nest deeper than 64 levels (or contain a cycle)`);
      const keys = enc.keys;
      if (Array.isArray(value)) {
        // JSON.stringify would call it; a toJSON of its own is not the array the user logged.
        if (typeof (value as { toJSON?: unknown }).toJSON === "function") refuse(call, enc.path(depth), value);
        let out = "[";
        for (let i = 0; i < value.length; i++) {
          keys[depth] = String(i);
          const item = value[i];
          if (depth === 1) traceListItem(enc, item, i);
          out += `${i > 0 ? "," : ""}${encode(enc, item, depth + 1)}`;
        }
        if (depth === 1) enc.traceList = false;
        return `${out}]`;
      }
      if (value instanceof FileMedia) {
        const path = enc.path(depth);
        if (enc.nameFile === null) {
          throw new InvalidArgError(
            `${call}: ${where(path)} is ${value.constructor.name === "Html" ? "an" : "a"} ${value.constructor.name}; media values can only be logged with log()`,
          );
        }
        const caption = value.caption;
        if (caption !== null) checkWellFormed(caption, `${call}: the caption of ${where(path)}`);
        const file = JSON.stringify(enc.fileOf(value, path));
        return `{"_type":"trackio.${value.type}","file_path":${file},"caption":${caption === null ? "null" : JSON.stringify(caption)}}`;
      }
      // A table's cells may hold media (each uploaded like a top-level value) and are checked
      // like any value.
      if (value instanceof Table) {
        const rows = value.rows;
        let out = '{"_type":"trackio.table","_value":[';
        for (let i = 0; i < rows.length; i++) {
          keys[depth] = String(i);
          out += `${i > 0 ? "," : ""}${encode(enc, rows[i], depth + 1)}`;
        }
        return `${out}]}`;
      }
      if (value instanceof Markdown) {
        checkWellFormed(value.text, `${call}: the Markdown text of ${where(enc.path(depth))}`);
        return `{"_type":"trackio.markdown","_value":${JSON.stringify(value.text)}}`;
      }
      if (value instanceof Histogram) {
        const edge = value.floatBins ? floatJson : numberJson;
        return `{"_type":"trackio.histogram","bins":[${value.bins.map(edge).join(",")}],"values":[${value.values.map(numberJson).join(",")}]}`;
      }
      if (value instanceof Trace) {
        checkTracePlace(enc, depth);
        keys[depth] = "messages";
        const messages = encode(enc, value.messages, depth + 1);
        keys[depth] = "metadata";
        const metadata = encode(enc, value.metadata, depth + 1);
        keys[depth] = "spans";
        const spans = encode(enc, value.spans, depth + 1);
        return `{"_type":"trackio.trace","messages":${messages},"metadata":${metadata},"spans":${spans}}`;
      }
      if (!isPlainObject(value)) refuse(call, enc.path(depth), value);
      const obj = value as Record<string, unknown>;
      let out = "{";
      // for...in also walks the prototype, which for a plain object is Object.prototype (or
      // nothing): an enumerable key found there was added to every object, not logged.
      for (const k in obj) {
        keys[depth] = k;
        if (!hasOwnKey.call(obj, k)) {
          throw new InvalidArgError(
            `${call}: ${where(enc.path(depth + 1))} is inherited from Object.prototype, not the object's own`,
          );
        }
        if (!k.isWellFormed()) checkWellFormed(k, `${call}: the name of ${where(enc.path(depth + 1))}`);
        let v: unknown;
        try {
          v = obj[k];
        } catch (err) {
          throw getterThrew(call, enc.path(depth + 1), err);
        }
        out += `${out.length > 1 ? "," : ""}${JSON.stringify(k)}:${encode(enc, v, depth + 1)}`;
      }
      return `${out}}`;
    }
  }
  refuse(call, enc.path(depth), value);
}

/**
 * Trackio's server takes a Trace out of the metrics into its traces table only as a metric's
 * value or as an item of a list of Traces that is one (Python's client sends nothing else):
 * anywhere else it would stay in the metrics row as a plain object no tab shows.
 */
function checkTracePlace(enc: Encoding, depth: number): void {
  if (enc.nameFile === null)
    throw new InvalidArgError(
      `${enc.call}: ${where(enc.path(depth))} is a Trace; traces can only be logged with log()`,
    );
  if (depth === 1 || (depth === 2 && enc.traceList)) return;
  throw new InvalidArgError(
    `${enc.call}: ${where(enc.path(depth))} is a Trace inside another value; log a Trace as a metric's value ({ agent: trace }) or in a list of Traces ({ agent: [t1, t2] })`,
  );
}

/** Item `i` of a metric's list: a list of Traces holds nothing else. */
function traceListItem(enc: Encoding, item: unknown, i: number): void {
  const isTrace = item instanceof Trace;
  if (i === 0) enc.traceList = isTrace;
  else if (isTrace !== enc.traceList)
    throw new InvalidArgError(
      `${enc.call}: ${where(enc.path(1))} mixes Traces with other values; Trackio stores a list of Traces only when every item is one`,
    );
}

/**
 * JSON text of `metrics`, and the media values it references: `nameFile` names the file of
 * each Image, Audio, Video or Html value found (in tables too) as the text is made; without
 * it, media values are refused. `call` names the API call in error messages.
 */
export function encodeValues(
  metrics: object,
  call: string,
  nameFile: NameFile | null,
): { text: string; media: readonly MediaUse[] } {
  const enc = new Encoding(call, nameFile);
  try {
    if (!isPlainObject(metrics)) refuse(call, "", metrics);
    return { text: encode(enc, metrics, 0), media: enc.media };
  } catch (err) {
    if (err instanceof InvalidArgError) throw err;
    throw new InvalidArgError(`${call}: value cannot be encoded: ${(err as Error).message}`, { cause: err });
  }
}

/** JSON text of values that may not hold media (a run's config, for one). */
export function metricsToJson(metrics: object, call = "log()"): string {
  return encodeValues(metrics, call, null).text;
}
