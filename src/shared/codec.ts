// The record format inside the ring (and inside overflow chunks, which use the same layout so
// that moving a record is one copy). Imported by both threads.
//
//   0  i32  size in bytes, a multiple of 8 (ring.ts: -1 marks a skipped tail instead)
//   4  u8   kind: NUMERIC, JSON (metrics), ALERT or CONFIG
//   6  u16  NUMERIC: number of metrics
//   8  f64  step
//  16  f64  wall-clock time of the log() call, ms since the epoch
//  24  f64  sequence number of the record within its client (the tail of its log_id)
//  32  NUMERIC: f64 values[n], then u16 key ids[n], padded to 8
//      JSON:    i32 byte length, then the UTF-8 text of the metrics object
//      MEDIA:   i32 byte length, the UTF-8 JSON of a MediaDesc, padded to 8, then the
//               payload (`desc.n` bytes: file bytes, pixels or samples; none for a path)
//
// Numeric metrics take the binary path: no string is built on the main thread, each key
// name crosses once through the key table. Everything else (strings, booleans, nested
// objects, null) is JSON text made on the main thread, because only there is the object
// alive.

export const KIND_NUMERIC = 1;
export const KIND_JSON = 2;
/** An alert: JSON text `{"title","text","level"}`, step and time as for metrics. */
export const KIND_ALERT = 3;
/** The run's whole config as JSON text, after client.config() changed it. */
export const KIND_CONFIG = 4;
/** The file of an Image, Audio, Video or Html value, logged beside the record naming it. */
export const KIND_MEDIA = 5;
export const RECORD_HEADER = 32;

/**
 * What a MEDIA record says about its file: the name it is stored under on the server
 * (`<canonical project>/<run>/<step>/<uuid>.<ext>`), where its bytes come from, and how
 * the worker turns them into the file (see file-media.ts MediaSource).
 */
export interface MediaDesc {
  type: "image" | "audio" | "video" | "html";
  file: string;
  src: "path" | "bytes" | "pixels" | "samples" | "text";
  /** Payload bytes in the record. */
  n: number;
  path?: string;
  /** A path's size and modification time when the value was made. */
  size?: number;
  mtimeMs?: number;
  width?: number;
  height?: number;
  channels?: number;
  sampleRate?: number;
  dtype?: string;
  /** Html: wrap a fragment in a document. */
  inject?: boolean;
}

/** Typed views over a byte region (the ring, or an overflow chunk). */
export interface Region {
  u8: Uint8Array;
  u16: Uint16Array;
  i32: Int32Array;
  f64: Float64Array;
}

export function regionOf(buffer: ArrayBufferLike, byteOffset = 0, byteLength?: number): Region {
  const len = byteLength ?? buffer.byteLength - byteOffset;
  return {
    u8: new Uint8Array(buffer, byteOffset, len),
    u16: new Uint16Array(buffer, byteOffset, len >> 1),
    i32: new Int32Array(buffer, byteOffset, len >> 2),
    f64: new Float64Array(buffer, byteOffset, len >> 3),
  };
}

export function numericSize(n: number): number {
  return RECORD_HEADER + n * 8 + ((n * 2 + 7) & ~7);
}

export function jsonSize(byteLength: number): number {
  return (RECORD_HEADER + 4 + byteLength + 7) & ~7;
}

function writeHeader(
  r: Region,
  off: number,
  size: number,
  kind: number,
  n: number,
  step: number,
  time: number,
  seq: number,
): void {
  r.i32[off >> 2] = size;
  r.u8[off + 4] = kind;
  r.u16[(off + 6) >> 1] = n;
  const f = off >> 3;
  r.f64[f + 1] = step;
  r.f64[f + 2] = time;
  r.f64[f + 3] = seq;
}

export function writeNumeric(
  r: Region,
  off: number,
  step: number,
  time: number,
  seq: number,
  n: number,
  values: Float64Array,
  ids: Uint16Array,
): number {
  const size = numericSize(n);
  writeHeader(r, off, size, KIND_NUMERIC, n, step, time, seq);
  const v = (off + RECORD_HEADER) >> 3;
  const k = (off + RECORD_HEADER + n * 8) >> 1;
  for (let i = 0; i < n; i++) {
    r.f64[v + i] = values[i];
    r.u16[k + i] = ids[i];
  }
  return size;
}

const encoder = new TextEncoder();

export function writeJson(
  r: Region,
  off: number,
  step: number,
  time: number,
  seq: number,
  text: string,
  byteLength: number,
  kind = KIND_JSON,
): number {
  const size = jsonSize(byteLength);
  writeHeader(r, off, size, kind, 0, step, time, seq);
  r.i32[(off + RECORD_HEADER) >> 2] = byteLength;
  const start = off + RECORD_HEADER + 4;
  encoder.encodeInto(text, r.u8.subarray(start, start + byteLength));
  return size;
}

function mediaPayloadStart(descLength: number): number {
  return (RECORD_HEADER + 4 + descLength + 7) & ~7;
}

export function mediaSize(descLength: number, payloadLength: number): number {
  return (mediaPayloadStart(descLength) + payloadLength + 7) & ~7;
}

export function writeMedia(
  r: Region,
  off: number,
  step: number,
  time: number,
  seq: number,
  desc: string,
  descLength: number,
  payload: Uint8Array | null,
): number {
  const size = mediaSize(descLength, payload === null ? 0 : payload.length);
  writeHeader(r, off, size, KIND_MEDIA, 0, step, time, seq);
  r.i32[(off + RECORD_HEADER) >> 2] = descLength;
  const start = off + RECORD_HEADER + 4;
  encoder.encodeInto(desc, r.u8.subarray(start, start + descLength));
  if (payload !== null) r.u8.set(payload, off + mediaPayloadStart(descLength));
  return size;
}

/** A MEDIA record's description and a copy of its payload (the ring space is reused later). */
export function readMedia(r: Region, off: number): { desc: MediaDesc; payload: Uint8Array | null } {
  const desc = JSON.parse(jsonMetricsText(r, off)) as MediaDesc;
  if (desc.n === 0) return { desc, payload: null };
  const start = off + mediaPayloadStart(r.i32[(off + RECORD_HEADER) >> 2]);
  return { desc, payload: r.u8.slice(start, start + desc.n) };
}

/** What the worker reads back from one record. */
export interface RecordView {
  size: number;
  kind: number;
  step: number;
  time: number;
  seq: number;
}

export function readRecord(r: Region, off: number, out: RecordView): RecordView {
  out.size = r.i32[off >> 2];
  out.kind = r.u8[off + 4];
  const f = off >> 3;
  out.step = r.f64[f + 1];
  out.time = r.f64[f + 2];
  out.seq = r.f64[f + 3];
  return out;
}

/**
 * The metrics of a NUMERIC record as JSON object text. `keyJson[id]` is the key already
 * JSON-quoted. Non-finite values become the strings Trackio's own client sends.
 */
export function numericMetricsJson(r: Region, off: number, keyJson: readonly string[]): string {
  const n = r.u16[(off + 6) >> 1];
  const v = (off + RECORD_HEADER) >> 3;
  const k = (off + RECORD_HEADER + n * 8) >> 1;
  let out = "{";
  for (let i = 0; i < n; i++) {
    if (i > 0) out += ",";
    out += `${keyJson[r.u16[k + i]]}:${numberJson(r.f64[v + i])}`;
  }
  return `${out}}`;
}

/**
 * A number as JSON text that Trackio stores as the same double, int or float as its Python
 * client would. JavaScript has one number type, so the rule is: a safe integer is an int;
 * every other double is written so that the server's parser (orjson) reads a float: `-0.0`,
 * and integral doubles beyond ±2^53 with a `.0` (String() writes 1e20 as an integer literal,
 * which the server refuses beyond 64 bits and would store as an int below). Non-finite
 * values become the strings Trackio's Python client sends.
 */
export function numberJson(x: number): string {
  if (Number.isSafeInteger(x)) return x === 0 && 1 / x < 0 ? "-0.0" : String(x);
  if (Number.isFinite(x)) {
    const s = String(x);
    // Non-integers always carry "." or "e"; integral doubles from 2^53 up to 1e21 carry neither.
    return Number.isInteger(x) && s.indexOf("e") < 0 ? `${s}.0` : s;
  }
  if (Number.isNaN(x)) return '"NaN"';
  return x > 0 ? '"Infinity"' : '"-Infinity"';
}

/** `x` as a JSON float, as Python writes a float64 (`2.0`, `-0.0`); non-finite as numberJson. */
export function floatJson(x: number): string {
  if (!Number.isInteger(x)) return numberJson(x);
  const s = numberJson(x);
  return s.indexOf(".") < 0 && s.indexOf("e") < 0 ? `${s}.0` : s;
}

/** The JSON text of a JSON, ALERT or CONFIG record, as the main thread wrote it. */
export function jsonMetricsText(r: Region, off: number): string {
  const len = r.i32[(off + RECORD_HEADER) >> 2];
  const start = r.u8.byteOffset + off + RECORD_HEADER + 4;
  return Buffer.from(r.u8.buffer, start, len).toString("utf8");
}

/**
 * The key table: an append-only list of metric names in shared memory, entry i being the
 * name with id i, stored as (u16 byte length, UTF-8 bytes) padded to 2 bytes. The producer
 * writes an entry before it publishes the first record that uses it, so the consumer always
 * finds the name; a worker that restarts reads the table from the start.
 */
export class KeyTableWriter {
  private readonly ids = new Map<string, number>();
  private readonly bytes: Uint8Array;
  private readonly ctl: Int32Array;
  private readonly lenIndex: number;
  private len = 0;

  constructor(bytes: Uint8Array, ctl: Int32Array, lenIndex: number) {
    this.bytes = bytes;
    this.ctl = ctl;
    this.lenIndex = lenIndex;
  }

  // The keys and ids of the previous record, by position: a training loop logs the same keys
  // in the same order every step, and comparing interned strings is cheaper than hashing.
  private readonly lastKeys: string[] = [];
  private readonly lastIds: number[] = [];

  /** The id of `key`, the i-th key of its record; defines it if new; -1 when the table is full. */
  idAt(i: number, key: string): number {
    if (this.lastKeys[i] === key) return this.lastIds[i];
    const id = this.id(key);
    this.lastKeys[i] = key;
    this.lastIds[i] = id;
    return id;
  }

  /** The id of `key`, defining it if new; -1 when the table is full (use the JSON path). */
  id(key: string): number {
    const id = this.ids.get(key);
    if (id !== undefined) return id;
    return this.define(key);
  }

  private define(key: string): number {
    // A name that is not well-formed UTF-16 is left to the JSON path, which refuses it.
    if (!key.isWellFormed()) return -1;
    const id = this.ids.size;
    const byteLength = Buffer.byteLength(key);
    const need = 2 + ((byteLength + 1) & ~1);
    if (id > 0xffff || byteLength > 0xffff || this.len + need > this.bytes.length) return -1;
    const at = this.len;
    this.bytes[at] = byteLength & 0xff;
    this.bytes[at + 1] = byteLength >> 8;
    encoder.encodeInto(key, this.bytes.subarray(at + 2, at + 2 + byteLength));
    this.len += need;
    this.ids.set(key, id);
    Atomics.store(this.ctl, this.lenIndex, this.len);
    return id;
  }
}

export class KeyTableReader {
  readonly names: string[] = [];
  private pos = 0;

  constructor(
    private readonly bytes: Uint8Array,
    private readonly ctl: Int32Array,
    private readonly lenIndex: number,
  ) {}

  /** Read entries published since the last call; returns the number of names known. */
  refresh(): number {
    const end = Atomics.load(this.ctl, this.lenIndex);
    while (this.pos < end) {
      const len = this.bytes[this.pos] | (this.bytes[this.pos + 1] << 8);
      const start = this.bytes.byteOffset + this.pos + 2;
      this.names.push(Buffer.from(this.bytes.buffer, start, len).toString("utf8"));
      this.pos += 2 + ((len + 1) & ~1);
    }
    return this.names.length;
  }
}
