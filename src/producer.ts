// The main thread's side of the ring: records encoded into shared memory (the numeric fast
// path, JSON text, the files of media values), the overflow that holds them while the ring
// is full, sequence numbers (the tail of each record's log_id), and the synchronous wait at
// exit. Everything here runs inside log(), alert() and config(): no allocation on the numeric
// path, nothing that waits on the network.

import { randomUUID } from "node:crypto";
import { tooLarge, tooLargeMetric } from "./arguments.js";
import { Overflow } from "./overflow.js";
import {
  jsonSize,
  KeyTableWriter,
  KIND_JSON,
  type MediaDesc,
  mediaSize,
  numericSize,
  type Region,
  writeJson,
  writeMedia,
  writeNumeric,
} from "./shared/codec.js";
import {
  CTL_CLOCK,
  CTL_CLOCK_WANTED,
  CTL_DONE_SEQ,
  CTL_FLUSH_SEQ,
  CTL_KEYS_LEN,
  CTL_SPOOL_REQ,
  createRing,
  type RingLayout,
  RingReader,
  RingViews,
  RingWriter,
  seqDiff,
} from "./shared/ring.js";
import type { FileMedia } from "./values/file-media.js";
import { encodeValues, getterThrew, hasOwnKey, type MediaUse } from "./values/json.js";
import type { Metrics } from "./values/types.js";

const INITIAL_SCRATCH = 64;
/**
 * log() calls within one millisecond that ask for the worker's clock: ~512 Date.now() calls
 * cost about what the clock's 1 kHz ticks do (see worker/clock.ts).
 */
const CLOCK_REQUEST_CALLS = 512;

/** A media value of the record log() is encoding, ready to be written after it. */
interface PendingMedia {
  desc: string;
  descLength: number;
  payload: Uint8Array | null;
  size: number;
}

export interface ProducerOptions {
  maxRecordBytes: number;
  maxOverflowBytes: number;
  overflowTimeoutMs: number;
  /** Date.now() when the ring was made (the worker's clock counts from it). */
  clockBase: number;
  /** `<canonical project>/<run>/`: where this run's media files go on the server. */
  mediaPrefix: string;
}

export class Producer {
  readonly views: RingViews;
  readonly writer: RingWriter;
  readonly overflow: Overflow;
  /** The next record's sequence number: every record queued so far, config changes and files included. */
  seq = 0;
  /** Files of media values queued (each takes a sequence number too). */
  mediaLogged = 0;
  readonly #keys: KeyTableWriter;
  readonly #o: ProducerOptions;
  #overflowEmpty = true;
  #slowOff = 0;
  #values: Float64Array<ArrayBuffer> = new Float64Array(INITIAL_SCRATCH);
  #ids: Uint16Array<ArrayBuffer> = new Uint16Array(INITIAL_SCRATCH);
  #mediaStep = 0;
  /** The last Date.now() of now(), and how many calls after it saw the same value. */
  #nowMs = 0;
  #sameMs = 0;
  // As Python names them: a uuid under the run's step directory.
  readonly #nameFile = (media: FileMedia): string =>
    `${this.#o.mediaPrefix}${this.#mediaStep}/${randomUUID()}.${media.ext}`;

  constructor(layout: RingLayout, options: ProducerOptions) {
    this.views = new RingViews(layout);
    this.writer = new RingWriter(this.views);
    this.#keys = new KeyTableWriter(this.views.keys, this.views.ctl, CTL_KEYS_LEN);
    this.overflow = new Overflow(this.writer, options.maxOverflowBytes, options.overflowTimeoutMs);
    this.#o = options;
  }

  /**
   * Now, from the millisecond clock the worker keeps in shared memory while it runs, else
   * Date.now(); calls that keep seeing the same millisecond ask the worker for the clock.
   */
  now(): number {
    const ctl = this.views.ctl;
    const clock = Atomics.load(ctl, CTL_CLOCK);
    if (clock !== 0) return this.#o.clockBase + clock - 1;
    const t = Date.now();
    if (t !== this.#nowMs) {
      this.#nowMs = t;
      this.#sameMs = 0;
    } else if (++this.#sameMs === CLOCK_REQUEST_CALLS && Atomics.load(ctl, CTL_CLOCK_WANTED) === 0) {
      Atomics.store(ctl, CTL_CLOCK_WANTED, 1);
      Atomics.notify(ctl, CTL_CLOCK_WANTED);
    }
    return t;
  }

  /**
   * The worker thread that kept the clock is gone: log() calls Date.now() again (a clock left
   * running would freeze its time) until a thread is asked for the clock anew.
   */
  clockLost(): void {
    Atomics.store(this.views.ctl, CTL_CLOCK, 0);
    Atomics.store(this.views.ctl, CTL_CLOCK_WANTED, 0);
  }

  /**
   * The numeric fast path: values and key ids collected in scratch arrays, then one copy.
   * Returns false, having queued nothing, when a value is not a number (or the key table is
   * full): the record then takes the JSON path.
   */
  numeric(metrics: Metrics, step: number, time: number): boolean {
    const keys = this.#keys;
    let values = this.#values;
    let ids = this.#ids;
    let n = 0;
    for (const k in metrics) {
      // A key inherited from a polluted Object.prototype: the JSON path refuses it.
      if (!hasOwnKey.call(metrics, k)) return false;
      let v: unknown;
      try {
        v = metrics[k];
      } catch (err) {
        throw getterThrew("log()", k, err);
      }
      if (typeof v !== "number") return false;
      const id = keys.idAt(n, k);
      if (id < 0) return false;
      if (n === values.length) {
        values = this.#values = growF64(values);
        ids = this.#ids = growU16(ids);
      }
      values[n] = v;
      ids[n] = id;
      n++;
    }
    const writer = this.writer;
    const size = numericSize(n);
    const off = this.#overflowEmpty ? writer.reserve(size) : -1;
    if (off >= 0) {
      writeNumeric(writer.views, off, step, time, this.seq, n, values, ids);
      writer.commit(size);
    } else {
      if (size > this.#o.maxRecordBytes) throw tooLarge(size, this.#o.maxRecordBytes);
      const region = this.#reserveSlow(size);
      writeNumeric(region, this.#slowOff, step, time, this.seq, n, values, ids);
      this.#commitSlow(size, region);
    }
    this.seq++;
    return true;
  }

  /** Any other log() record: JSON text made here, with the files of its media values. */
  json(metrics: Metrics, step: number, time: number): void {
    this.#mediaStep = step;
    const { text, media } = encodeValues(metrics, "log()", this.#nameFile);
    // Every size is checked before anything of this call is written.
    const files = media.length > 0 ? media.map((m) => this.#mediaRecord(m)) : null;
    const byteLength = this.checkedLength(text, metrics);
    // The files first: if the ring and the overflow are full and this call throws
    // ERR_TRACKIO_OVERFLOW, the record is then not queued at all (at worst, files no
    // record references are stored), never queued with files that will not follow.
    if (files !== null) this.#writeMedia(files, step, time);
    this.record(KIND_JSON, step, time, text, byteLength);
  }

  /**
   * The UTF-8 length of a JSON-text record's text, once its size is known to fit (a record
   * larger than a quarter of the ring is refused rather than stall it). For a log() record,
   * the refusal names the metric that made it too large; otherwise `of` names the call.
   */
  checkedLength(text: string, of: Metrics | string = "log()"): number {
    const byteLength = Buffer.byteLength(text);
    const size = jsonSize(byteLength);
    if (size > this.#o.maxRecordBytes) {
      if (typeof of === "string") throw tooLarge(size, this.#o.maxRecordBytes, "record", "", of);
      throw tooLargeMetric(of, size, this.#o.maxRecordBytes);
    }
    return byteLength;
  }

  /** A metrics (JSON), alert or config record, off the fast path, at the next sequence number. */
  record(kind: number, step: number, time: number, text: string, byteLength: number): void {
    const size = jsonSize(byteLength);
    const region = this.#reserveSlow(size);
    writeJson(region, this.#slowOff, step, time, this.seq, text, byteLength, kind);
    this.#commitSlow(size, region);
    this.seq++;
  }

  // The record that carries a media value's bytes (or its path, for the worker to read).
  #mediaRecord({ media, key, file }: MediaUse): PendingMedia {
    const source = media.source;
    const payload = source.src === "path" ? null : source.bytes;
    const desc: MediaDesc = { type: media.type, file, src: source.src, n: payload === null ? 0 : payload.length };
    if (source.src === "path") Object.assign(desc, { path: source.path, size: source.size, mtimeMs: source.mtimeMs });
    else if (source.src === "pixels")
      Object.assign(desc, { width: source.width, height: source.height, channels: source.channels });
    else if (source.src === "samples")
      Object.assign(desc, { sampleRate: source.sampleRate, channels: source.channels, dtype: source.dtype });
    if (media.type === "html") desc.inject = (media as FileMedia & { inject: boolean }).inject;
    const text = JSON.stringify(desc);
    const descLength = Buffer.byteLength(text);
    const size = mediaSize(descLength, desc.n);
    if (size > this.#o.maxRecordBytes) {
      throw tooLarge(
        size,
        this.#o.maxRecordBytes,
        `the ${media.constructor.name} in metric ${JSON.stringify(key)}, a record`,
        "pass a file path instead (the worker reads the file), or raise ringBytes",
      );
    }
    return { desc: text, descLength, payload, size };
  }

  // Each file record takes a sequence number but is not a logged record. The worker still
  // sends the row before the files of the same batch, as Trackio's Python client does.
  #writeMedia(records: readonly PendingMedia[], step: number, time: number): void {
    for (let i = 0; i < records.length; i++) {
      const m = records[i];
      const region = this.#reserveSlow(m.size);
      writeMedia(region, this.#slowOff, step, time, this.seq, m.desc, m.descLength, m.payload);
      this.#commitSlow(m.size, region);
      this.seq++;
      this.mediaLogged++;
    }
  }

  // Room for a record off the fast path: in the ring unless it is full or older records still
  // wait in the overflow (they must reach the worker first, to keep the order). The offset
  // goes to #slowOff, so that nothing is allocated per call.
  #reserveSlow(size: number): Region {
    const overflow = this.overflow;
    const writer = this.writer;
    if (overflow.empty || overflow.moveToRing()) {
      const off = writer.reserve(size);
      if (off >= 0) {
        this.#slowOff = off;
        return writer.views;
      }
    }
    const region = overflow.reserve(size);
    this.#slowOff = overflow.reserveOffset;
    return region;
  }

  #commitSlow(size: number, region: Region): void {
    if (region === this.writer.views) this.writer.commit(size);
    else this.overflow.commit(size);
    this.#overflowEmpty = this.overflow.empty;
  }

  /** Move what waits in the overflow into the ring as the worker makes room. */
  async drainOverflow(): Promise<void> {
    while (!this.overflow.moveToRing(Number.POSITIVE_INFINITY)) {
      await new Promise((resolve) => setTimeout(resolve, 1));
    }
    this.#overflowEmpty = true;
  }

  /** The overflow was emptied from outside (kept on disk by the rescue). */
  overflowTaken(): void {
    this.#overflowEmpty = true;
  }

  /** Whether records wait that the worker has not settled. */
  hasPending(): boolean {
    const done = Atomics.load(this.views.ctl, CTL_DONE_SEQ);
    return seqDiff(this.writer.seq, done) !== 0 || !this.overflow.empty;
  }

  /**
   * The process is ending and the event loop will not turn again: wait synchronously while
   * the worker sends; at `keepAt` (at once when `keepNow`: sends are failing, so nothing is
   * likely to be sent in time), have it keep on disk whatever the server has not acknowledged,
   * moving the overflow into the ring as it frees, until `deadline`. Returns the records left
   * neither delivered nor kept.
   */
  waitAtExit(keepAt: number, deadline: number, keepNow: boolean): number {
    const { views, writer, overflow } = this;
    let asked = false;
    for (;;) {
      const now = performance.now();
      if (!asked && (keepNow || now >= keepAt)) {
        asked = true;
        Atomics.add(views.ctl, CTL_SPOOL_REQ, 1);
        Atomics.notify(views.ctl, CTL_SPOOL_REQ);
      }
      const moved = overflow.empty || overflow.moveToRing(Number.POSITIVE_INFINITY);
      const target = writer.seq;
      Atomics.store(views.ctl, CTL_FLUSH_SEQ, target);
      writer.wake();
      const done = Atomics.load(views.ctl, CTL_DONE_SEQ);
      if (moved && seqDiff(done, target) >= 0) break;
      if (now >= deadline) break;
      const slice = Math.min(deadline - now, asked ? 20 : keepAt - now, 50);
      // Space in the ring is what the overflow waits for; the acknowledgement of the last
      // record is what the rest waits for.
      if (!moved) writer.waitForSpace(slice);
      else Atomics.wait(views.ctl, CTL_DONE_SEQ, done, slice);
    }
    this.#overflowEmpty = overflow.empty;
    return seqDiff(writer.seq, Atomics.load(views.ctl, CTL_DONE_SEQ)) + overflow.records;
  }
}

function growF64(a: Float64Array): Float64Array<ArrayBuffer> {
  const b = new Float64Array(a.length * 2);
  b.set(a);
  return b;
}

function growU16(a: Uint16Array): Uint16Array<ArrayBuffer> {
  const b = new Uint16Array(a.length * 2);
  b.set(a);
  return b;
}

// The overflow path's type feedback, made once per process before the first client exists.
// A loop's log() calls are compiled (TurboFan) while the ring still has room, so the code
// that runs when it first fills (Producer.numeric's slow branch, Overflow.reserve, commit and
// moveToRing, and writeNumeric on an overflow chunk's region rather than the ring's views)
// had never run: V8 deoptimized log() there ("insufficient type feedback", "wrong map") and
// compiled it again, on the loop's thread and its background threads at once. In `npm run
// bench -- --stalls` that burst held most of the blocks of 1,000 calls over 2 ms that came
// after the ring filled. Running those paths here, on a scratch ring nobody reads, gives the
// compiler their feedback before the user's loop does.
let warmed = false;

/** What the warm-up ran through, for its test; null when the process was warm already. */
export interface WarmUp {
  /** Records written to the scratch ring, and of them, through the overflow. */
  logged: number;
  overflowed: number;
  /** Read back from the ring (those the overflow held among them, moved in as room freed). */
  read: number;
  /** Whether now() asked for the worker's clock. */
  clockAsked: boolean;
}

/** Run the overflow path on a scratch ring, once per process. Nothing reaches a worker. */
export function warmOverflowPath(): WarmUp | null {
  if (warmed) return null;
  warmed = true;
  const layout = createRing(4096, 64);
  // Options and objects of the same shapes and field types as a client's (a Smi where the
  // client has a double would change the maps the compiled code checks).
  const producer = new Producer(layout, {
    maxRecordBytes: 1024,
    maxOverflowBytes: 1 << 20,
    overflowTimeoutMs: 1000,
    clockBase: Date.now(),
    mediaPrefix: "",
  });
  producer.overflow.chunkBytes = 4096;
  const ctl = producer.views.ctl;
  // Plays the worker: frees the ring so that what overflowed moves into it.
  const reader = new RingReader(new RingViews(layout));
  const metrics = { warm: 0.5 };
  let total = 0;
  for (let round = 0; round < 4; round++) {
    // now() with and without the worker's clock, and asking for it.
    Atomics.store(ctl, CTL_CLOCK, round & 1 ? 1 + round : 0);
    for (let i = 0; i < 160; i++) {
      producer.numeric(metrics, i, producer.now());
      if (i % 16 === 0) producer.record(KIND_JSON, i, producer.now(), "{}", 2);
    }
    let read = 0;
    for (let off = reader.next(); off >= 0; off = reader.next()) {
      reader.advance(reader.views.i32[off >> 2]);
      read++;
    }
    reader.release(reader.pos, read);
    total += read;
  }
  Atomics.store(ctl, CTL_CLOCK, 0);
  for (let i = 0; i < 2 * CLOCK_REQUEST_CALLS; i++) producer.now();
  return {
    logged: producer.seq,
    overflowed: producer.overflow.overflowed,
    read: total,
    clockAsked: Atomics.load(ctl, CTL_CLOCK_WANTED) === 1,
  };
}
