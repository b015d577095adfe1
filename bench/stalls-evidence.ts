// Evidence read between two blocks of the stalls loop (bench/stalls-child.ts): per-thread
// scheduler figures from /proc, page faults, context switches and the client's overflow
// counters. Every /proc file is opened once and re-read with pread at offset 0 (about 1–4 µs
// a read here, against 20–45 µs for readFileSync), so a snapshot costs a few tens of µs
// between blocks of ~300 µs and nothing inside a timed block.

import { closeSync, openSync, readdirSync, readFileSync, readSync } from "node:fs";
import { cpuSnapshot, processCpuNs } from "./measure.js";

/** One snapshot's figures; the loop stores differences between consecutive snapshots. */
export const FIELDS = [
  /** Main thread: ns on a CPU, ns runnable but waiting for one (preempted), times scheduled in. */
  "mainRunNs",
  "mainWaitNs",
  "mainSlices",
  /** Main thread's minor and major page faults. */
  "minflt",
  "majflt",
  /** Whole process (getrusage): involuntary and voluntary context switches. */
  "invol",
  "vol",
  /** The trackio worker thread's ns on a CPU; every thread of the Python server, summed. */
  "workerRunNs",
  "serverRunNs",
  /** This process's other threads (V8's GC and compiler helpers, libuv's pool, the read probe), summed. */
  "othersRunNs",
  /** client.stats(): records that went through the overflow, time log() blocked on a full overflow. */
  "overflowed",
  "blockedMs",
] as const;
export type Field = (typeof FIELDS)[number];
export const F: Record<Field, number> = Object.fromEntries(FIELDS.map((f, i) => [f, i])) as Record<Field, number>;

const buf = Buffer.alloc(4096);

function reader(path: string): number | null {
  try {
    return openSync(path, "r");
  } catch {
    return null;
  }
}

function readText(fd: number | null): string {
  if (fd === null) return "";
  try {
    return buf.toString("latin1", 0, readSync(fd, buf, 0, buf.length, 0));
  } catch {
    return "";
  }
}

/** [run ns, wait ns, slices] of a schedstat file, zeros if unreadable. */
function schedstat(fd: number | null): [number, number, number] {
  const t = readText(fd).split(" ");
  return t.length < 3 ? [0, 0, 0] : [Number(t[0]), Number(t[1]), Number(t[2])];
}

/** Threads of this process now. */
export function ownThreads(): Set<number> {
  return new Set(readdirSync("/proc/self/task").map(Number));
}

/**
 * The worker thread: among the threads that appeared since `before` (the client started
 * then), the one that has used the most CPU (it ran the warm-up's records).
 */
export function findWorkerTid(before: Set<number>): number | null {
  let best: number | null = null;
  let bestNs = -1;
  for (const tid of ownThreads()) {
    if (before.has(tid)) continue;
    const fd = reader(`/proc/self/task/${tid}/schedstat`);
    const [ns] = schedstat(fd);
    if (fd !== null) closeSync(fd);
    if (ns > bestNs) {
      best = tid;
      bestNs = ns;
    }
  }
  return best;
}

export interface OverflowFigures {
  overflowed: number;
  blockedMs: number;
}

export class Evidence {
  readonly #mainSched: number | null;
  readonly #mainStat: number | null;
  readonly #workerSched: number | null;
  readonly #serverSched: (number | null)[];
  readonly #ownSched: (number | null)[];
  readonly #ownTids: number[];
  readonly #overflow: () => OverflowFigures;

  constructor(workerTid: number | null, serverPid: number | null, overflow: () => OverflowFigures) {
    this.#mainSched = reader(`/proc/self/task/${process.pid}/schedstat`);
    this.#mainStat = reader(`/proc/self/task/${process.pid}/stat`);
    this.#workerSched = workerTid === null ? null : reader(`/proc/self/task/${workerTid}/schedstat`);
    let serverTids: string[] = [];
    try {
      if (serverPid !== null) serverTids = readdirSync(`/proc/${serverPid}/task`);
    } catch {}
    this.#serverSched = serverTids.map((t) => reader(`/proc/${serverPid}/task/${t}/schedstat`));
    this.#ownTids = [...ownThreads()].filter((t) => t !== process.pid && t !== workerTid).sort((a, b) => a - b);
    this.#ownSched = this.#ownTids.map((t) => reader(`/proc/self/task/${t}/schedstat`));
    this.#overflow = overflow;
  }

  /** ns on a CPU so far of each of this process's other threads, by tid (ascending: creation order). */
  otherThreads(): { tid: number; ns: number }[] {
    return this.#ownTids.map((tid, i) => ({ tid, ns: schedstat(this.#ownSched[i])[0] }));
  }

  get serverThreads(): number {
    return this.#serverSched.length;
  }

  /** Writes one snapshot into `out` at `at` (FIELDS.length numbers). */
  take(out: Float64Array, at: number): void {
    const [run, wait, slices] = schedstat(this.#mainSched);
    out[at + F.mainRunNs] = run;
    out[at + F.mainWaitNs] = wait;
    out[at + F.mainSlices] = slices;
    const stat = readText(this.#mainStat);
    // Fields after the command's closing parenthesis: minflt is field 10, majflt field 12.
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    out[at + F.minflt] = Number(f[7]);
    out[at + F.majflt] = Number(f[9]);
    const ru = process.resourceUsage();
    out[at + F.invol] = ru.involuntaryContextSwitches;
    out[at + F.vol] = ru.voluntaryContextSwitches;
    out[at + F.workerRunNs] = schedstat(this.#workerSched)[0];
    let server = 0;
    for (const fd of this.#serverSched) server += schedstat(fd)[0];
    out[at + F.serverRunNs] = server;
    let own = 0;
    for (const fd of this.#ownSched) own += schedstat(fd)[0];
    out[at + F.othersRunNs] = own;
    const o = this.#overflow();
    out[at + F.overflowed] = o.overflowed;
    out[at + F.blockedMs] = o.blockedMs;
  }

  close(): void {
    for (const fd of [this.#mainSched, this.#mainStat, this.#workerSched, ...this.#serverSched, ...this.#ownSched]) {
      if (fd !== null) closeSync(fd);
    }
  }
}

/**
 * Whole-machine figures, read before and after the loop: every CPU's busy ms (/proc/stat, in
 * 10 ms ticks, so only a loop-long figure), this process's CPU ms, and the ms during which at
 * least one task on the machine was runnable but had no CPU (/proc/pressure/cpu, µs; 0 where
 * the kernel has no PSI).
 */
export function machineCpu(): { busyMs: number; ownMs: number; cpuWaitMs: number } {
  let cpuWaitMs = 0;
  try {
    const m = /some .*total=(\d+)/.exec(readFileSync("/proc/pressure/cpu", "latin1"));
    cpuWaitMs = m === null ? 0 : Number(m[1]) / 1000;
  } catch {}
  return { busyMs: cpuSnapshot()?.busyMs ?? 0, ownMs: processCpuNs() / 1e6, cpuWaitMs };
}
