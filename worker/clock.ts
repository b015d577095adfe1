// log()'s clock (CTL_CLOCK, see ring.ts): a millisecond wall clock the worker keeps in shared
// memory, so that a hot loop reads a word instead of calling Date.now() for every record.
//
// It runs only while the loop logs fast. Each tick wakes this thread, and a wake-up costs
// ~18 µs (a bare futex timeout) to ~32 µs (a libuv timer) of CPU on the 2-vCPU VMs measured,
// against ~35 ns for the Date.now() that log() calls while the clock is stopped: below about
// 900 records/ms the ticks cost more CPU than the calls they save, and on a machine with no
// idle core that CPU comes out of the training loop's share. So log() asks for the clock
// (CTL_CLOCK_WANTED) when 512 of its calls see the same millisecond, and the clock stops
// when the ring fills slower than STOP_BYTES_PER_MS, or the client closes (what close()
// still moves in from the overflow needs no clock).

import { CTL_CLOCK, CTL_CLOCK_WANTED, CTL_STATE, CTL_W } from "../src/shared/ring.js";

/**
 * 16 KiB/ms: ~200 records/ms of 4 numbers (80-byte ring records), ~290 of one number; log()
 * asks for the clock at 512 records/ms, so a loop that got it keeps it while its rate wobbles.
 */
export const STOP_BYTES_PER_MS = 16 * 1024;
/** The rate is judged over at least this long (ms). */
export const RATE_WINDOW_MS = 4;

export class LogClock {
  readonly #ctl: Int32Array;
  readonly #base: number;
  #timer: ReturnType<typeof setInterval> | null = null;
  /** Where the current window opened (performance.now(), CTL_W). */
  #windowAt = 0;
  #windowW = 0;
  #listening = false;
  #closed = false;

  /** `base`: Date.now() when the ring was made (log() adds it back). */
  constructor(ctl: Int32Array, base: number) {
    this.#ctl = ctl;
    this.#base = base;
  }

  get running(): boolean {
    return this.#timer !== null;
  }

  /** Wait for log() to ask for the clock. */
  listen(): void {
    if (this.#listening || this.#closed || this.#timer !== null) return;
    const ctl = this.#ctl;
    const wait = Atomics.waitAsync(ctl, CTL_CLOCK_WANTED, 0);
    if (!wait.async) {
      this.#start(performance.now());
      return;
    }
    this.#listening = true;
    void wait.value.then(() => {
      this.#listening = false;
      if (Atomics.load(ctl, CTL_CLOCK_WANTED) !== 0) this.#start(performance.now());
      else this.listen();
    });
  }

  /** Judge the ring's fill rate while the clock runs; each tick calls this. `now` is performance.now(). */
  observe(now: number): void {
    if (this.#timer === null || now - this.#windowAt < RATE_WINDOW_MS) return;
    const ctl = this.#ctl;
    const w = Atomics.load(ctl, CTL_W);
    const rate = ((w - this.#windowW) | 0) / (now - this.#windowAt);
    this.#windowAt = now;
    this.#windowW = w;
    if (Atomics.load(ctl, CTL_STATE) !== 0 || rate < STOP_BYTES_PER_MS) this.#stop();
  }

  #start(now: number): void {
    if (this.#closed || this.#timer !== null) return;
    if (Atomics.load(this.#ctl, CTL_STATE) !== 0) return;
    this.#windowAt = now;
    this.#windowW = Atomics.load(this.#ctl, CTL_W);
    this.#tick();
    this.#timer = setInterval(() => {
      this.#tick();
      this.observe(performance.now());
    }, 1);
  }

  #tick(): void {
    const ms = Date.now() - this.#base + 1;
    Atomics.store(this.#ctl, CTL_CLOCK, ms > 0 && ms < 2 ** 31 ? ms : 0);
  }

  // log() calls Date.now() until it asks again.
  #stop(): void {
    if (this.#timer !== null) {
      clearInterval(this.#timer);
      this.#timer = null;
    }
    Atomics.store(this.#ctl, CTL_CLOCK, 0);
    Atomics.store(this.#ctl, CTL_CLOCK_WANTED, 0);
    this.listen();
  }

  /** For good: the client closed. */
  close(): void {
    this.#closed = true;
    this.#stop();
    // Ends a pending listen(), which then finds the clock closed.
    Atomics.notify(this.#ctl, CTL_CLOCK_WANTED);
  }
}
