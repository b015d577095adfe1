// Turning ring records into the entries of a batch: metric entries written as bytes into
// the body of one `bulk_log` request, with only the fields the server reads; the project/run
// prefix and every quoted key name are made once, not per record.

import { type MediaDesc, RECORD_HEADER, type Region } from "../shared/codec.js";
import type { WorkerSettings } from "../shared/protocol.js";
import { BytesPart, bodyHead, ENDPOINTS, isoTimestamp, KIND_PREFIX, MetricEntries, OutBatch } from "./bodies.js";
import { ByteWriter, copyBytes, copyEarlier, NUMBER_MAX, writeAscii, writeNumber, writeUint } from "./json-bytes.js";
import type { MediaJob } from "./media-files.js";

// Read for every record, copied once (see decoder.ts): where the worker runs through a
// CommonJS transform (tsx, as in the tests and the bench), each read of an import is a getter
// call.
const HEADER = RECORD_HEADER;
const MAX_NUMBER = NUMBER_MAX;
const copy = copyBytes;
const again = copyEarlier;
const number = writeNumber;
const uint = writeUint;
const asciiAt = writeAscii;

/**
 * Keys that Trackio's read API puts into every row (or that its Python client reserves) are
 * renamed to `__<key>`, as the Python client does, so they cannot shadow `step` or `timestamp`.
 */
const RESERVED = new Set(["project", "run", "timestamp", "step", "time", "metrics"]);
const RESERVED_IN_TEXT = /"(?:project|run|timestamp|step|time|metrics|__(?:[^"\\]|\\.)*)"\s*:/;

export function safeKey(key: string): string {
  return RESERVED.has(key) || key.startsWith("__") ? `__${key}` : key;
}

/**
 * Rename reserved top-level keys of a metrics object given as JSON text, in the text itself:
 * re-parsing and re-stringifying would undo how the main thread wrote its numbers (`-0.0`,
 * `1e20` as a float; see codec.ts numberJson). The text is what JSON.stringify or the exact
 * writer made, so a reserved name appears unescaped, and a key at depth 1 is a string that
 * follows `{` or `,` there.
 */
export function renameReservedKeys(text: string, onRename: (from: string) => void): string {
  if (!RESERVED_IN_TEXT.test(text)) return text;
  let out = "";
  let copied = 0;
  let depth = 0;
  let expectKey = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22 /* " */) {
      const start = i;
      for (i++; text.charCodeAt(i) !== 0x22; i++) if (text.charCodeAt(i) === 0x5c /* \ */) i++;
      if (depth === 1 && expectKey) {
        const key = JSON.parse(text.slice(start, i + 1)) as string;
        if (safeKey(key) !== key) {
          onRename(key);
          out += `${text.slice(copied, start + 1)}__`;
          copied = start + 1;
        }
      }
      expectKey = false;
    } else if (c === 0x7b /* { */ || c === 0x5b /* [ */) {
      depth++;
      expectKey = c === 0x7b && depth === 1;
    } else if (c === 0x7d /* } */ || c === 0x5d /* ] */) {
      depth--;
    } else if (c === 0x2c /* , */) {
      expectKey = depth === 1;
    }
  }
  return copied === 0 ? text : out + text.slice(copied);
}

/**
 * The entries of one batch. Metric entries are written as bytes straight into the body of
 * their `bulk_log` request (bodies.ts), numeric records from the ring's values without a
 * string per record, and carry only what `bulk_log` reads (project, run, run_id, metrics,
 * step, a config that is not null, log_id): the HTTP API stamps metric rows itself and
 * ignores `v`, `kind` and `timestamp`, ~29% of the bytes of a 4-metric record. What a
 * complete inbox-fragment line has beyond that (the record's time, the resend marker) is
 * kept beside the entries (MetricEntries), and the line is made from the entry when one is
 * needed: to spool, to isolate a refused record, to drop into a local inbox. Alerts and
 * system samples stay text, as fragment lines, timestamps included (the server stores those).
 */
export class BatchBuilder {
  readonly #run: string;
  readonly #idPrefix: string;
  /** `{<run>,"metrics":` as bytes. */
  readonly #metricHead: Uint8Array;
  readonly #stepKey = ascii('},"step":');
  readonly #configKey = ascii(',"config":');
  /** `,"log_id":"<client id>-` as bytes. */
  readonly #logIdKey: Uint8Array;
  #configJson: string;
  #configSent = false;
  /**
   * The last metrics entry, to send again with a changed config (see addConfigResend): its
   * metrics object at from…to in the buffer, or copied out once the buffer is taken.
   */
  readonly #last = { any: false, metrics: null as Uint8Array | null, from: 0, to: 0, step: 0, time: 0, seq: 0 };
  #hasConfig = false;
  #out = new ByteWriter();
  #entries = new MetricEntries();
  #metricRecords = 0;
  #others: { at: number; line: string }[] = [];
  #othersChars = 0;
  #media: MediaJob[] = [];
  /** Where the value at each position of the last numeric record was written, by key id. */
  readonly #slots = {
    key: new Int32Array(SLOTS).fill(-1),
    value: new Float64Array(SLOTS),
    at: new Int32Array(SLOTS),
    length: new Int32Array(SLOTS),
  };
  /** The buffer and entries of a batch already sent, for the next batch's (see recycle). */
  #spare: Uint8Array | null = null;
  #spareEntries: MetricEntries | null = null;
  /** Ring records behind the current lines (a config record makes none; a resend line has none). */
  records = 0;

  constructor(s: WorkerSettings) {
    this.#run = `"project":${JSON.stringify(s.project)},"run":${JSON.stringify(s.run)},"run_id":${JSON.stringify(s.runId)}`;
    this.#idPrefix = `${s.clientId}-`;
    this.#configJson = s.configJson;
    this.#metricHead = utf8(`{${this.#run},"metrics":`);
    this.#logIdKey = utf8(`,"log_id":"${this.#idPrefix}`);
    this.#out.ascii(bodyHead(ENDPOINTS[0]));
  }

  /** Lines so far. */
  get count(): number {
    return this.#entries.count + this.#others.length;
  }

  /** Size of the lines so far (bytes of the metrics body, characters of the others). */
  get bytes(): number {
    return this.#entries.count === 0 ? this.#othersChars : this.#out.pos + this.#othersChars;
  }

  /**
   * Add one metrics entry, its metrics given as JSON object text. The log_id is the client's
   * id and the record's sequence number: unique per project, free to make on the hot path,
   * and the same on every retry. The first metrics entry this worker builds carries the
   * run's config (Trackio stores a config only with a metrics row), so a retry of that batch
   * carries it too.
   */
  add(metricsJson: string, step: number, time: number, seq: number): void {
    const from = this.#begin();
    const out = this.#out;
    // Its closing brace comes with the rest of the line (#tail).
    out.text(metricsJson);
    out.pos--;
    this.#end(from, step, time, seq);
  }

  /** Add one metrics entry from a NUMERIC ring record; `keys[id]` is `,"<name>":` as UTF-8. */
  addNumeric(r: Region, off: number, keys: readonly Uint8Array[], step: number, time: number, seq: number): void {
    const n = r.u16[(off + 6) >> 1];
    const v = (off + HEADER) >> 3;
    const k = (off + HEADER + n * 8) >> 1;
    // The entry's head and its first key in one copy (see #headWith).
    const head = n === 0 ? this.#metricHead : this.#headWith(r.u16[k], keys);
    const out = this.#out;
    // Room for the entry up to its tail at once, then unchecked writes: one capacity check
    // a record instead of one a piece.
    let room = 2 + head.length + n * MAX_NUMBER;
    for (let i = 1; i < n; i++) room += keys[r.u16[k + i]].length;
    out.ensure(room);
    const buf = out.buf;
    let p = out.pos;
    if (this.#entries.count > 0) buf[p++] = 0x2c /* , */;
    this.#entries.open(p);
    const from = p + this.#metricHead.length;
    p = copy(buf, p, head);
    if (n === 0) buf[p++] = 0x7b /* { */;
    const slots = this.#slots;
    for (let i = 0; i < n; i++) {
      const id = r.u16[k + i];
      if (i > 0) p = copy(buf, p, keys[id]);
      const x = r.f64[v + i];
      // The same metric as the record before, unchanged (a learning rate, an epoch): copy its
      // text. Zeros are left out (0 and -0 are equal but written apart), NaN never matches.
      if (i < SLOTS && slots.key[i] === id && slots.value[i] === x && x !== 0) {
        p = again(buf, p, slots.at[i], slots.length[i]);
        continue;
      }
      const at = p;
      p = number(buf, p, x);
      if (i < SLOTS) {
        slots.key[i] = id;
        slots.value[i] = x;
        slots.at[i] = at;
        slots.length[i] = p - at;
      }
    }
    out.pos = p;
    this.#end(from, step, time, seq);
  }

  // `<head>{"<first key>":` by key id, made the first time a record starts with that key: one
  // copy costs less than three, and the records of a loop start with few different keys.
  readonly #headKeys: (Uint8Array | undefined)[] = [];
  #headWith(id: number, keys: readonly Uint8Array[]): Uint8Array {
    let merged = this.#headKeys[id];
    if (merged === undefined) {
      const head = this.#metricHead;
      const key = keys[id];
      merged = new Uint8Array(head.length + key.length);
      merged.set(head);
      merged.set(key, head.length);
      // The first key's comma opens the object.
      merged[head.length] = 0x7b /* { */;
      this.#headKeys[id] = merged;
    }
    return merged;
  }

  /**
   * Open an entry with `head`: the metric head, or the head with the first key; returns where
   * the entry's metrics object starts (just after the metric head).
   */
  #begin(head: Uint8Array = this.#metricHead): number {
    const out = this.#out;
    if (this.#entries.count > 0) out.byte(0x2c /* , */);
    this.#entries.open(out.pos);
    const from = out.pos + this.#metricHead.length;
    out.bytes(head);
    return from;
  }

  // Everything after the metrics object's last value; `from` is where the object starts.
  #end(from: number, step: number, time: number, seq: number): void {
    const out = this.#out;
    const to = out.pos;
    let config: string | null = null;
    if (!this.#configSent) {
      this.#configSent = true;
      this.#hasConfig = true;
      config = this.#configJson;
    }
    const last = this.#last;
    last.any = true;
    last.metrics = null;
    last.from = from;
    last.to = to;
    last.step = step;
    last.time = time;
    last.seq = seq;
    this.records++;
    this.#metricRecords++;
    this.#tail(step, time, seq, config);
  }

  // After the metrics object's last value: `},"step":…` to the end of the entry. A null
  // config is left out (the server reads only one that is truthy); its line says null.
  #tail(step: number, time: number, seq: number, config: string | null): void {
    const out = this.#out;
    out.ensure(this.#stepKey.length + this.#logIdKey.length + 2 * MAX_NUMBER + 2);
    const buf = out.buf;
    let p = copy(buf, out.pos, this.#stepKey);
    p = plain(buf, p, step);
    this.#entries.close(p, time);
    if (config !== null && config !== "null") {
      out.pos = p;
      out.bytes(this.#configKey);
      out.text(config);
      out.ensure(this.#logIdKey.length + MAX_NUMBER + 2);
      p = out.pos;
    }
    p = copy(out.buf, p, this.#logIdKey);
    p = plain(out.buf, p, seq);
    out.buf[p++] = 0x22 /* " */;
    out.buf[p++] = 0x7d /* } */;
    out.pos = p;
  }

  /**
   * Whether the lines so far include one carrying a config. Trackio keeps only the first
   * config of a run within one request, so a changed config must start a new request.
   */
  get hasConfig(): boolean {
    return this.#hasConfig;
  }

  /** The run's config changed: the next metrics entry carries the new one. */
  setConfig(configJson: string): void {
    this.#configJson = configJson;
    this.#configSent = false;
    this.records++;
  }

  /**
   * If a changed config has no metrics entry to ride on yet, send the last entry again with
   * it (see RESEND_PREFIX). Returns whether a line was added.
   */
  addConfigResend(): boolean {
    const last = this.#last;
    if (this.#configSent || !last.any) return false;
    this.#configSent = true;
    this.#hasConfig = true;
    const metrics = last.metrics ?? this.#out.buf.slice(last.from, last.to);
    this.#begin();
    this.#out.bytes(metrics);
    this.#entries.markResend();
    this.#tail(last.step, last.time, last.seq, this.#configJson);
    return true;
  }

  /** Add one alert; `alertJson` is `{"title","text","level"}`. Its alert_id makes retries idempotent. */
  addAlert(alertJson: string, step: number, time: number, seq: number): void {
    const a = JSON.parse(alertJson) as { title: string; text: string | null; level: string };
    this.records++;
    this.#other(
      `${KIND_PREFIX.alert}${this.#run},"title":${JSON.stringify(a.title)},"text":${JSON.stringify(a.text)},"level":${JSON.stringify(a.level)},"step":${step},"timestamp":"${isoTimestamp(time)}","alert_id":"${this.#idPrefix}${seq}"}`,
    );
  }

  /** Add one system-metrics entry (sampled in the worker; no step, the timestamp is the x-axis). */
  addSystem(metricsJson: string, time: number, id: string): void {
    this.#other(
      `${KIND_PREFIX.system}${this.#run},"metrics":${metricsJson},"timestamp":"${isoTimestamp(time)}","log_id":"${this.#idPrefix}${id}"}`,
    );
  }

  #other(line: string): void {
    this.#others.push({ at: this.#entries.count, line });
    this.#othersChars += line.length;
  }

  /** Add the file of a media value; it is uploaded after the lines of the same batch. */
  addMedia(desc: MediaDesc, payload: Uint8Array | null, step: number, seq: number): void {
    this.records++;
    this.#othersChars += desc.n;
    this.#media.push({ id: `${this.#idPrefix}${seq}`, step, desc, payload });
  }

  /** Take the media files out (call before take(), which resets the counts). */
  takeMedia(): MediaJob[] {
    const media = this.#media;
    if (media.length > 0) this.#media = [];
    return media;
  }

  /** Take the lines out as a batch, leaving the builder empty (read `records` first). */
  takeBatch(): OutBatch {
    const out = this.#out;
    const last = this.#last;
    // The last entry outlives this buffer: a later config change may send it again.
    if (last.any && last.metrics === null) last.metrics = out.buf.slice(last.from, last.to);
    const entries = this.#entries;
    const metrics = entries.count === 0 ? null : new BytesPart(out.buf, entries, out.pos, this.#metricRecords);
    const batch = new OutBatch(metrics, this.#others);
    if (metrics !== null) {
      this.#slots.key.fill(-1);
      // The body may still be sent (and retried) while the next batch is written.
      this.#out = new ByteWriter(out.buf.length, this.#spare);
      this.#spare = null;
      this.#out.ascii(bodyHead(ENDPOINTS[0]));
      this.#entries = this.#spareEntries ?? new MetricEntries(entries.starts.length);
      this.#spareEntries = null;
    }
    this.#metricRecords = 0;
    this.#others = [];
    this.#othersChars = 0;
    this.records = 0;
    this.#hasConfig = false;
    return batch;
  }

  /**
   * Give back the buffer of a batch that nothing reads any more (its requests settled, its
   * lines kept as text where they were needed), so that the next batch does not allocate.
   */
  recycle(batch: OutBatch): void {
    const parts = batch.metrics?.detach() ?? null;
    if (parts === null) return;
    if (parts.buf.length >= this.#out.buf.length) this.#spare = parts.buf;
    parts.entries.clear();
    this.#spareEntries = parts.entries;
  }

  /** Take the lines out as text (see takeBatch). */
  take(): string[] {
    return this.takeBatch().lines();
  }
}

/** Positions of a numeric record whose last value's text is remembered. */
const SLOTS = 64;

/** A step or sequence number as `${x}` writes it, at `p` (NUMBER_MAX bytes of room); returns the end. */
function plain(buf: Uint8Array, p: number, x: number): number {
  return Number.isSafeInteger(x) && x >= 0 ? uint(buf, p, x) : asciiAt(buf, p, String(x));
}

function utf8(s: string): Uint8Array {
  return new Uint8Array(Buffer.from(s, "utf8"));
}

function ascii(s: string): Uint8Array {
  return new Uint8Array(Buffer.from(s, "latin1"));
}
