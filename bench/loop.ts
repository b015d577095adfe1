// The measured loop. Steps run in blocks of 1000; blocks alternate between two ways of
// timing, so one run yields both figures without either dominating the other:
//   - even blocks time every log() call on its own (two performance.now() reads around the
//     call, ~50 ns together on this class of machine; that overhead is calibrated and
//     subtracted later), giving the latency distribution;
//   - odd blocks read the clock once per 1000 steps, giving the mean cost of a step with no
//     timer in it (made metrics object + log() + loop, and in a yielding loop the await after
//     the block), which the floor's mean is subtracted from.
// The metrics object is made before the first clock read, so it is not part of a call's time.

import { createHistogram, type RecordableHistogram } from "node:perf_hooks";
import { getHeapStatistics } from "node:v8";
import { type Metrics, spin, type Workload } from "./workloads.js";

export const BLOCK = 1000;

export interface Logger {
  log(metrics: Metrics, step: number): void;
}

export interface LoopState {
  hist: RecordableHistogram;
  /** ms spent in the blocks timed as a whole, and their steps. */
  blockMs: number;
  blockSteps: number;
  peakHeap: number;
  checksum: number;
}

export function newLoopState(): LoopState {
  return { hist: createHistogram(), blockMs: 0, blockSteps: 0, peakHeap: 0, checksum: 0 };
}

export function sampleHeap(st: LoopState): void {
  const used = getHeapStatistics().used_heap_size;
  if (used > st.peakHeap) st.peakHeap = used;
}

export function timedEach(c: Logger, w: Workload, from: number, to: number, iters: number, st: LoopState): void {
  const hist = st.hist;
  let x = 0;
  for (let i = from; i < to; i++) {
    if (iters > 0) x = spin(iters, i);
    const m = w.make(i, x);
    const t0 = performance.now();
    c.log(m, i);
    const t1 = performance.now();
    hist.record(Math.max(1, Math.round((t1 - t0) * 1e6)));
  }
  st.checksum += x;
}

/** The steps with no clock read inside. */
export function untimed(c: Logger, w: Workload, from: number, to: number, iters: number, st: LoopState): void {
  let x = 0;
  for (let i = from; i < to; i++) {
    if (iters > 0) x = spin(iters, i);
    c.log(w.make(i, x), i);
  }
  st.checksum += x;
}

const immediate = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/**
 * Steps 1..n-1 (step 0 is the client's first call, timed apart). Never yields: it returns
 * synchronously, with no await anywhere on the way.
 */
export function loopSync(c: Logger, w: Workload, n: number, iters: number, st: LoopState): void {
  for (let b = 0, i = 1; i < n; b++) {
    const end = Math.min(n, i + BLOCK);
    if ((b & 1) === 0) timedEach(c, w, i, end, iters, st);
    else {
      const t0 = performance.now();
      untimed(c, w, i, end, iters, st);
      st.blockMs += performance.now() - t0;
      st.blockSteps += end - i;
    }
    sampleHeap(st);
    i = end;
  }
}

/**
 * Like loopSync, with an await on setImmediate after every block (w.yieldEvery = BLOCK). A
 * whole-block timing then runs until the await that follows the block has returned, so that
 * work a client does in the event loop (sockets, timers) counts too.
 */
export async function loopYielding(c: Logger, w: Workload, n: number, iters: number, st: LoopState): Promise<void> {
  for (let b = 0, i = 1; i < n; b++) {
    const end = Math.min(n, i + BLOCK);
    const t0 = performance.now();
    if ((b & 1) === 0) timedEach(c, w, i, end, iters, st);
    else untimed(c, w, i, end, iters, st);
    sampleHeap(st);
    if (end < n) await immediate();
    if ((b & 1) === 1) {
      st.blockMs += performance.now() - t0;
      st.blockSteps += end - i;
    }
    i = end;
  }
}

/** For profiling: the same steps with no clock reads at all. */
export async function loopBare(c: Logger, w: Workload, n: number, iters: number, st: LoopState): Promise<void> {
  let x = 0;
  for (let i = 1; i < n; i++) {
    if (iters > 0) x = spin(iters, i);
    c.log(w.make(i, x), i);
    if (w.yieldEvery > 0 && i % w.yieldEvery === 0) await immediate();
  }
  st.checksum += x;
}

/**
 * The warm-up's second part: records of the workload's metrics as fast as log() takes them,
 * `values` metric values in all, with no work between calls. The worker's encoder reaches its
 * steady cost only after about a million W1 records: before that, V8 is still compiling it,
 * on two cores shared with the loop (README, Method). Flushed a ring's worth at a time, so
 * that the warm-up does not grow the overflow, and with it the measured run's peak RSS.
 */
export async function warmEncoder(
  c: Logger & { flush(): Promise<void> },
  w: Workload,
  from: number,
  values: number,
): Promise<void> {
  const perRecord = Object.keys(w.make(0, 0)).length;
  const records = Math.ceil(values / perRecord);
  const between = Math.max(1, Math.floor(WARM_FLUSH_VALUES / perRecord));
  for (let i = 0; i < records; i++) {
    c.log(w.make(i, 0.5), from + i);
    if ((i + 1) % between === 0) await c.flush();
  }
}

/** About 3 MiB of numeric records in the ring: well inside the default 16 MiB. */
const WARM_FLUSH_VALUES = 200_000;
