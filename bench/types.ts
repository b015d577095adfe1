// Shapes shared by the orchestrator (run.ts) and the measuring child (child.ts).

export type ClientKind = "worker" | "inline" | "floor";
export type WorkloadName = "w1" | "w2" | "w3" | "w4" | "w5" | "w6";
export type TargetKind = "trackio" | "sink";

/** What the parent tells one child to measure (passed as JSON in argv). */
export interface ChildSpec {
  client: ClientKind;
  workload: WorkloadName;
  target: TargetKind;
  /** Records logged by the measured client, step 0 included. */
  n: number;
  /** Calls made on a throwaway client (always against the sink) before the measured run. */
  warmup: number;
  /**
   * Metric values the same throwaway client then logs with no work between calls (1,000,000
   * W1 records in a full run): the worker's encoder reaches its steady cost only after about
   * a million W1 records (README, Method).
   */
  warmValues: number;
  /** Iterations of spin() that take about 1 µs (times the workload's workUs). */
  workIters: number;
  /** Write URL of the measured target (ignored by the floor). */
  writeUrl: string;
  /** Read URL: Trackio's base URL, or the sink's. */
  readUrl: string;
  /** The sink's write URL, for the warm-up client. */
  sinkUrl: string;
  project: string;
  /** Run name (default "bench"). */
  run?: string;
  /** Epoch ms at which the timed loop starts (the eight-rank group starts together); default at once. */
  startAt?: number;
  /** Pause between flush() of the first record (stored by then) and the timed loop, in ms. */
  settleMs: number;
  /** Profiling mode: no per-call timers, just the loop. */
  bare?: boolean;
  /** Stalls mode: the client's ring size (default 16 MiB) and the Trackio server's pid (its threads' CPU). */
  ringBytes?: number;
  serverPid?: number;
  /** Stalls mode: SIGSTOP the server (serverPid) for the loop, SIGCONT after it. */
  pauseServer?: boolean;
  /** Import the real client from here (its tsc build, bench/build.ts) instead of src/. */
  clientModule?: string;
  /** Which run of a repeated group (W5, W6: see SLOWDOWN_RUNS in run.ts). */
  rep?: number;
}

/** Latency percentiles of single log() calls, in ns, timer overhead subtracted. */
export interface Latency {
  samples: number;
  p50: number;
  p90: number;
  p99: number;
  p999: number;
  max: number;
  /** Share of calls that took 10 µs or more, in percent. */
  over10us: number;
}

export interface ChildResult {
  spec: ChildSpec;
  runId: string | null;
  /** Median cost of two back-to-back performance.now() calls, in ns (subtracted from `latency`). */
  timerOverheadNs: number;
  latency: Latency;
  /** Mean ns per step in the blocks timed as a whole (makes the metrics object, calls log()). */
  blockMeanNs: number;
  /** Steps per second in the blocks timed as a whole. */
  stepsPerSec: number;
  /** The first log() call (it starts the client), µs. */
  firstCallUs: number;
  /** Timed loop, first step to last. */
  loopMs: number;
  /** Epoch ms of the loop's first step and of close() returning (the eight-rank group's window). */
  loopStartEpochMs: number;
  closedEpochMs: number;
  /** The same two instants on the monotonic clock V8's profiler stamps samples with (µs). */
  loopStartMonoUs: number;
  closedMonoUs: number;
  /** Main-thread CPU time from loop start until close() returned (loop included), ms. */
  mainCpuMs: number;
  /** Main-thread CPU time during the loop only, ms. */
  loopMainCpuMs: number;
  /** CPU time of the whole process (every thread) from loop start until close() returned, ms. */
  processCpuMs: number;
  /** The worker thread's CPU time from the flush before the loop until close(), ms (worker client, Linux). */
  workerCpuMs: number | null;
  /** Event-loop delay (monitorEventLoopDelay, 10 ms resolution) over the run, ms. */
  eld: { p50: number; p99: number; max: number };
  /** Records the target held when the loop started (step 0, flushed before it). */
  storedBeforeLoop: number | null;
  /** Records the client saw acknowledged between loop start and loop end (client.stats().sent). */
  ackedDuringLoop: number | null;
  /** Records the target held when the loop ended, read before any await. */
  storedAtLoopEnd: number | null;
  /** How long that synchronous read took, ms (part of drainMs). */
  probeMs: number;
  /** Loop end until close() returned, ms. */
  drainMs: number;
  /** n / (first loop step until close() returned). */
  storedPerSec: number;
  /** Rows the target holds for this run after close(). */
  verifiedRows: number | null;
  verifiedDistinctLogIds: number | null;
  peakRssMB: number;
  baseRssMB: number;
  peakHeapMB: number;
  errors: number;
  /** CPU the target used while this child ran (Trackio's Python process, or the sink's), ms; set by run.ts. */
  targetCpuMs?: number | null;
  /** client.stats() after close(): for the worker client, `overflowed` counts records that waited on the main thread. */
  clientStats: Record<string, number> | null;
  /** Keeps the workload's numeric work observable. */
  checksum: number;
}
