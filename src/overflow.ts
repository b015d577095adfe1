// Where records go while the ring is full: main-thread chunks with the ring's own record
// layout, moved into the ring in order as the worker frees space. The policy, in order:
//   1. ring has room            -> the record goes into the ring
//   2. ring full                -> the record goes into a chunk here (counted: `overflowed`)
//   3. chunks hold maxBytes     -> log() blocks in short Atomics.wait slices while the worker
//                                  drains (counted: `blockedMs`)
//   4. still full after timeout -> log() throws OverflowError; that record is not queued,
//                                  every record queued before it is kept (counted: `rejected`)
// Nothing is dropped silently and nothing blocks without a bound.

import { type Region, regionOf } from "./shared/codec.js";
import { OverflowError } from "./shared/errors.js";
import { type RingWriter, touchPages } from "./shared/ring.js";

const CHUNK_BYTES = 1024 * 1024;
/** Bytes moved into the ring per log() call, so one call never copies megabytes. */
const MOVE_BUDGET = 64 * 1024;
const WAIT_SLICE_MS = 50;

interface Chunk {
  region: Region;
  used: number;
  read: number;
  /** Bytes from the start whose pages have been written to (see touchAhead). */
  touched: number;
}

export class Overflow {
  private readonly chunks: Chunk[] = [];
  private spare: Chunk | null = null;
  private bytes = 0;
  /** Records currently held here. */
  records = 0;
  /** Records that ever went through here. */
  overflowed = 0;
  rejected = 0;
  blockedMs = 0;
  peakBytes = 0;
  /** Bytes of a new chunk (smaller only for warmOverflowPath's scratch ring). */
  chunkBytes = CHUNK_BYTES;

  constructor(
    private readonly writer: RingWriter,
    private readonly maxBytes: number,
    private readonly timeoutMs: number,
  ) {}

  get empty(): boolean {
    return this.records === 0;
  }

  /**
   * Room for a record of `size` bytes at the end of the last chunk. Blocks (bounded) when
   * the overflow is at its cap; throws OverflowError past the bound.
   */
  reserve(size: number): Region {
    if (this.bytes + size > this.maxBytes) this.waitForRoom(size);
    let last = this.chunks[this.chunks.length - 1];
    if (last === undefined || last.used + size > last.region.u8.length) {
      const spare = this.spare;
      if (spare !== null && size <= spare.region.u8.length) {
        this.spare = null;
        last = spare;
      } else {
        last = { region: regionOf(new ArrayBuffer(Math.max(this.chunkBytes, size))), used: 0, read: 0, touched: 0 };
      }
      this.chunks.push(last);
    }
    if (last.used + size > last.touched) touchAhead(last, last.used + size);
    return last.region;
  }

  /** Offset of the room found by the last reserve(). */
  get reserveOffset(): number {
    return this.chunks[this.chunks.length - 1].used;
  }

  commit(size: number): void {
    const last = this.chunks[this.chunks.length - 1];
    last.used += size;
    this.bytes += size;
    this.records++;
    this.overflowed++;
    if (this.bytes > this.peakBytes) this.peakBytes = this.bytes;
    // The ring is full: the worker must drain now. Waking it takes a system call, so only when
    // the overflow starts; its "ring more than half full" rule keeps it sending after that.
    if (this.records === 1) this.writer.wake();
  }

  /** Move records into the ring, oldest first, up to `budget` bytes; false if some remain. */
  moveToRing(budget = MOVE_BUDGET): boolean {
    const views = this.writer.views;
    let moved = 0;
    while (this.chunks.length > 0) {
      const c = this.chunks[0];
      if (c.read === c.used) {
        // Keep the last chunk for reuse; it may be written to again.
        if (this.chunks.length === 1) {
          c.read = 0;
          c.used = 0;
          break;
        }
        // Keep one emptied chunk: a new one would page-fault its way through a megabyte.
        const done = this.chunks.shift() as Chunk;
        done.used = 0;
        done.read = 0;
        this.spare = done;
        continue;
      }
      const size = c.region.i32[c.read >> 2];
      if (moved > 0 && moved + size > budget) return false;
      const off = this.writer.reserve(size);
      if (off < 0) return false;
      views.u8.set(c.region.u8.subarray(c.read, c.read + size), off);
      this.writer.commit(size);
      c.read += size;
      moved += size;
      this.bytes -= size;
      this.records--;
    }
    return true;
  }

  private waitForRoom(size: number): void {
    const start = performance.now();
    try {
      while (this.bytes + size > this.maxBytes) {
        this.moveToRing(Number.POSITIVE_INFINITY);
        if (this.bytes + size <= this.maxBytes) return;
        if (performance.now() - start >= this.timeoutMs) {
          this.rejected++;
          throw new OverflowError(
            `log() could not queue a record: the ring and ${this.maxBytes} bytes of overflow stayed full for ${this.timeoutMs} ms (is the server reachable?). Records logged before this one are kept.`,
          );
        }
        this.writer.waitForSpace(WAIT_SLICE_MS);
      }
    } finally {
      this.blockedMs += performance.now() - start;
    }
  }
}

// A fresh chunk's pages fault in as records first reach them: left alone, one call in ~57
// took a fault, and those calls were the p99 of an overflowing loop (`npm run bench --
// --stalls`: 1.5 µs). Touching the whole MiB at once instead put 256 faults in one call,
// 0.3-3.7 ms, enough to push its block of 1,000 calls over 2 ms. So 16 pages at a time: one
// call in ~900 takes them (tens of µs), below the p99 and far from a slow block.
const TOUCH_STEP = 64 * 1024;

function touchAhead(chunk: Chunk, need: number): void {
  const u8 = chunk.region.u8;
  const end = Math.min(u8.length, Math.max(need, chunk.touched + TOUCH_STEP));
  touchPages(u8, chunk.touched, end);
  chunk.touched = end;
}
