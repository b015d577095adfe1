// The shared-memory queue between the main thread (one producer) and the worker (one
// consumer). Imported by both threads; nothing here allocates per record.
//
// Layout of the SharedArrayBuffer:
//   [0, 256)            control words (Int32), producer- and consumer-written words on
//                       separate 64-byte lines so the two cores do not fight over one line
//   [256, 512)          counters (BigInt64) written by the worker, read by stats()
//   [512, 512+keyCap)   key table: append-only (u16 id, u16 byteLength, utf8 name) entries
//   [.., ..+cap)        the ring proper: 8-byte aligned records, see codec.ts
//
// Positions W and R count bytes since the start and wrap at 2^32; the capacity is a power of
// two, so `pos & mask` is the offset and `(W - R) | 0` the bytes in use, even across the wrap.

/* Control word indices (Int32Array over the header). */
// producer line
export const CTL_W = 0; // bytes published
// set by log() when it calls Date.now() often within one millisecond: asks the worker to
// start the clock below (worker/clock.ts); the worker clears it when the clock stops
export const CTL_CLOCK_WANTED = 1;
export const CTL_KEYS_LEN = 2; // bytes of the key table in use
export const CTL_STATE = 3; // 0 open, 1 closing
export const CTL_FLUSH_SEQ = 4; // the worker should send every record below this seq now
export const CTL_SPOOL_REQ = 5; // bumped at an exit deadline: the worker spools everything unsent, now
// main-thread figures for system metrics, refreshed by an unref'd timer on the main thread
export const CTL_MAIN_HEAP_KB = 8;
export const CTL_MAIN_LOOP_P99_US = 9;
export const CTL_MAIN_LOOP_MAX_US = 10;
// A coarse wall clock on a line of its own, written by the worker about every millisecond
// while the ring fills fast (worker/clock.ts says when): ms since the ring's clock base, plus
// one (0 = not running, and log() calls Date.now()). Reading it costs log() a load instead
// of a Date.now() call (35-60 ns on the VMs measured).
export const CTL_CLOCK = 32;
// consumer line
export const CTL_R = 16; // bytes released (the producer may overwrite up to here)
export const CTL_DONE_SEQ = 17; // records acknowledged or given up on
export const CTL_WAKE_AT = 18; // nonzero: the worker sleeps until record WAKE_AT - 1 is published
export const CTL_PRODUCER_WAITS = 19; // nonzero: the producer sleeps on R for space
// nonzero while sends fail (retrying, or the server believed down): at exit nothing is likely
// to be sent before the deadline, so the records are kept on disk at once
export const CTL_TROUBLE = 20;

/* Counter indices (BigInt64Array over [256, 512)). */
export const COUNTER_SENT = 0;
export const COUNTER_FAILED = 1;
export const COUNTER_RETRIED = 2;
export const COUNTER_REQUESTS = 3;
export const COUNTER_SPOOLED = 4; // records written to the spool
export const COUNTER_REPLAYED = 5; // spooled records the server later acknowledged
export const COUNTER_INBOXED = 6; // records written to the local Trackio inbox
// media files (Image, Audio, Video, Html), counted apart from records
export const COUNTER_MEDIA_UPLOADED = 7; // stored by the server
export const COUNTER_MEDIA_SPOOLED = 8; // kept in the spool for a later upload
export const COUNTER_MEDIA_REPLAYED = 9; // spooled files the server has since stored
export const COUNTER_MEDIA_WRITTEN = 10; // written into the local Trackio media directory
export const COUNTER_MEDIA_FAILED = 11; // neither uploaded nor kept (each reported as an error)
export const COUNTER_QUARANTINED = 12; // records the server refused on their own, set aside in the spool

export const HEADER_BYTES = 256;
export const COUNTERS_BYTES = 256;
export const KEYS_OFFSET = HEADER_BYTES + COUNTERS_BYTES;
export const WRAP_MARKER = -1;

export interface RingLayout {
  sab: SharedArrayBuffer;
  capacity: number;
  keyCapacity: number;
}

/** A ring size createRing takes: a power of two from 4 KiB to 1 GiB (positions wrap at 2^32). */
export function isValidRingCapacity(n: number): boolean {
  return n > 0 && (n & (n - 1)) === 0 && n >= 4096 && n <= 2 ** 30;
}

/** a - b for sequence numbers and positions that wrap at 2^32: how far a is ahead of b. */
export function seqDiff(a: number, b: number): number {
  return (a - b) | 0;
}

export function createRing(capacity: number, keyCapacity: number): RingLayout {
  if (!isValidRingCapacity(capacity)) {
    throw new RangeError("ring capacity must be a power of two between 4 KiB and 1 GiB");
  }
  if (keyCapacity % 8 !== 0) throw new RangeError("key capacity must be a multiple of 8");
  const sab = new SharedArrayBuffer(KEYS_OFFSET + keyCapacity + capacity);
  // Otherwise the first lap around the ring takes a page fault every few dozen records,
  // which showed up as a 2 µs p99 in log().
  touchPages(new Uint8Array(sab));
  return { sab, capacity, keyCapacity };
}

/**
 * Writes to every 4 KiB page of fresh memory in [from, to) now, so that its page faults are
 * taken here at once rather than one every few dozen log() calls as records fill it.
 */
export function touchPages(bytes: Uint8Array, from = 0, to = bytes.length): void {
  for (let i = from; i < to; i += 4096) bytes[i] = 0;
}

/** Typed views over the ring region of one SharedArrayBuffer, shared by both ends. */
export class RingViews {
  readonly ctl: Int32Array;
  readonly counters: BigInt64Array;
  readonly keys: Uint8Array;
  readonly keys16: Uint16Array;
  readonly u8: Uint8Array;
  readonly u16: Uint16Array;
  readonly i32: Int32Array;
  readonly f64: Float64Array;
  readonly capacity: number;
  readonly mask: number;

  constructor(layout: RingLayout) {
    const { sab, capacity, keyCapacity } = layout;
    this.capacity = capacity;
    this.mask = capacity - 1;
    this.ctl = new Int32Array(sab, 0, HEADER_BYTES / 4);
    this.counters = new BigInt64Array(sab, HEADER_BYTES, COUNTERS_BYTES / 8);
    this.keys = new Uint8Array(sab, KEYS_OFFSET, keyCapacity);
    this.keys16 = new Uint16Array(sab, KEYS_OFFSET, keyCapacity / 2);
    const dataOffset = KEYS_OFFSET + keyCapacity;
    this.u8 = new Uint8Array(sab, dataOffset, capacity);
    this.u16 = new Uint16Array(sab, dataOffset, capacity / 2);
    this.i32 = new Int32Array(sab, dataOffset, capacity / 4);
    this.f64 = new Float64Array(sab, dataOffset, capacity / 8);
  }
}

/**
 * The producer end. `reserve()` finds room for one record and `commit()` publishes it; a
 * record is invisible to the worker until the release-store of W in commit().
 */
export class RingWriter {
  readonly views: RingViews;
  private w: number;
  private wseq: number;
  // The last R we read; R only grows, so a stale copy can only understate the free space.
  private rCache: number;

  constructor(views: RingViews) {
    this.views = views;
    this.w = Atomics.load(views.ctl, CTL_W);
    this.wseq = Atomics.load(views.ctl, CTL_DONE_SEQ);
    this.rCache = Atomics.load(views.ctl, CTL_R);
  }

  /** Offset where `need` bytes (a multiple of 8) can be written, or -1 when the ring is full. */
  reserve(need: number): number {
    const cap = this.views.capacity;
    const off = this.w & this.views.mask;
    const tail = cap - off;
    // A record never straddles the end: if it does not fit in the tail, the tail is skipped.
    const total = need <= tail ? need : tail + need;
    if (cap - ((this.w - this.rCache) | 0) < total) {
      this.rCache = Atomics.load(this.views.ctl, CTL_R);
      if (cap - ((this.w - this.rCache) | 0) < total) return -1;
    }
    if (need > tail) {
      this.views.i32[off >> 2] = WRAP_MARKER;
      this.w = (this.w + tail) | 0;
      return 0;
    }
    return off;
  }

  /**
   * Publish the record of `size` bytes just written at the last reserved offset: one
   * sequentially consistent store of W, then a load to see whether the worker asked to be
   * woken. The worker counts records itself, so no record counter is shared.
   */
  commit(size: number): void {
    const ctl = this.views.ctl;
    this.w = (this.w + size) | 0;
    this.wseq = (this.wseq + 1) | 0;
    Atomics.store(ctl, CTL_W, this.w);
    const wakeAt = Atomics.load(ctl, CTL_WAKE_AT);
    if (wakeAt !== 0 && ((this.wseq - (wakeAt - 1)) | 0) >= 0) {
      Atomics.store(ctl, CTL_WAKE_AT, 0);
      Atomics.notify(ctl, CTL_W);
    }
  }

  /** Records published so far (wraps at 2^32), in the numbering of CTL_DONE_SEQ. */
  get seq(): number {
    return this.wseq;
  }

  /** Bytes that fit right now without waiting, ignoring the wrap. */
  free(): number {
    this.rCache = Atomics.load(this.views.ctl, CTL_R);
    return this.views.capacity - ((this.w - this.rCache) | 0);
  }

  /** Wake the worker whatever its WAKE_AT says (flush, close, exit, overflow). */
  wake(): void {
    Atomics.store(this.views.ctl, CTL_WAKE_AT, 0);
    Atomics.notify(this.views.ctl, CTL_W);
  }

  /** Block the calling thread until R moves past `r0` or `timeoutMs` passes. */
  waitForSpace(timeoutMs: number): void {
    const ctl = this.views.ctl;
    // The R that reserve() last saw: if the worker released space since, the wait returns at once.
    const r0 = this.rCache;
    Atomics.store(ctl, CTL_PRODUCER_WAITS, 1);
    this.wake();
    Atomics.wait(ctl, CTL_R, r0, timeoutMs);
    Atomics.store(ctl, CTL_PRODUCER_WAITS, 0);
  }
}

/**
 * The consumer end. Reading and releasing are separate: records stay in the ring until the
 * server acknowledged them, so a worker that dies mid-request is replaced by one that starts
 * again from R and resends the same records with the same log_ids.
 */
export class RingReader {
  readonly views: RingViews;
  /** Next byte to read; runs ahead of R by the records read but not yet released. */
  pos: number;

  constructor(views: RingViews) {
    this.views = views;
    this.pos = Atomics.load(views.ctl, CTL_R);
  }

  /** Offset of the next unread record, or -1 when everything published has been read. */
  next(): number {
    const v = this.views;
    const w = Atomics.load(v.ctl, CTL_W);
    if (this.pos === w) return -1;
    let off = this.pos & v.mask;
    if (v.i32[off >> 2] === WRAP_MARKER) {
      this.pos = (this.pos + (v.capacity - off)) | 0;
      if (this.pos === w) return -1;
      off = 0;
    }
    return off;
  }

  /** Mark the record at the current position, of `size` bytes, as read. */
  advance(size: number): void {
    this.pos = (this.pos + size) | 0;
  }

  /** Give the bytes up to `pos` back to the producer. */
  release(pos: number, doneRecords: number): void {
    const ctl = this.views.ctl;
    // DONE before R: a worker killed between the two stores makes its successor resend
    // records the server already has (ignored by log_id), never wait for ones it lost.
    Atomics.add(ctl, CTL_DONE_SEQ, doneRecords);
    Atomics.store(ctl, CTL_R, pos);
    Atomics.notify(ctl, CTL_DONE_SEQ);
    if (Atomics.load(ctl, CTL_PRODUCER_WAITS) !== 0) Atomics.notify(ctl, CTL_R);
  }

  /** True when every published record has been read. */
  drained(): boolean {
    return this.pos === Atomics.load(this.views.ctl, CTL_W);
  }
}
