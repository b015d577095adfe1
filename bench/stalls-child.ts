// `npm run bench -- --stalls`, one measurement: W1 (4 numeric metrics, never yields) with the
// real Client, every block of 1,000 calls timed as a whole and evidence read between blocks
// (bench/stalls-evidence.ts), GC pauses from a PerformanceObserver. As child.ts: warm-up on a
// throwaway client against the sink, step 0 flushed and stored before the loop.
// Usage (from stalls.ts): node --import tsx --expose-gc bench/stalls-child.ts '<ChildSpec JSON>'
// Prints one line `BENCH_RESULT <StallsResult JSON>` on stdout.

import { type PerformanceEntry, PerformanceObserver } from "node:perf_hooks";
import { setTimeout as sleep } from "node:timers/promises";
import { runRows } from "../test/support/read-api.js";
import { BLOCK, loopSync, newLoopState, timedEach, untimed } from "./loop.js";
import { latencyOf, runAsChild, timerOverheadNs } from "./measure.js";
import { Evidence, FIELDS, findWorkerTid, machineCpu, ownThreads } from "./stalls-evidence.js";
import type { ChildSpec, Latency } from "./types.js";
import { WORKLOADS } from "./workloads.js";

export interface StallsBlock {
  /** ms since the loop started, and the block's wall time. */
  at: number;
  ms: number;
  /** Whether each call was timed on its own (even blocks, ~50 ns of timer per call more). */
  timed: boolean;
  /** Differences of FIELDS over the block (snapshot before it to snapshot after it). */
  d: number[];
  /** GC pauses of the main thread that started inside the block, ms. */
  gcMs: number;
  gcKinds: string[];
}

export interface StallsResult {
  spec: ChildSpec;
  timerOverheadNs: number;
  latency: Latency;
  loopMs: number;
  blocks: StallsBlock[];
  /** Main-thread GC pauses outside the timed blocks (the snapshots between them), ms. */
  gcOutsideMs: number;
  /** Over the loop: every CPU's busy time (/proc/stat, 10 ms ticks), this process's CPU, and PSI's time some task waited for a CPU. */
  machine: { busyMs: number; ownMs: number; cpuWaitMs: number };
  workerTidFound: boolean;
  /** CPU over the loop of this process's other threads: those there before the client started are V8's and libuv's. */
  otherThreadsMs: { tid: number; startedWithClient: boolean; ms: number }[];
  serverThreads: number;
  clientStats: Record<string, unknown>;
  verifiedRows: number | null;
  verifiedDistinctLogIds: number | null;
  errors: number;
}

const GC_KINDS: Record<number, string> = { 1: "scavenge", 2: "mark-compact", 4: "incremental", 8: "weak-cb" };

async function main(): Promise<StallsResult> {
  const spec = JSON.parse(process.argv[2] ?? "") as ChildSpec;
  // --compare runs an earlier commit's client, extracted under .cache/, beside this one.
  const { Client } = (await import(spec.clientModule ?? "../src/index.js")) as typeof import("../src/index.js");
  const w = WORKLOADS[spec.workload];
  const overhead = timerOverheadNs();
  let errors = 0;
  const make = (baseUrl: string, project: string, run: string) => {
    const c = new Client({ baseUrl, project, run, ringBytes: spec.ringBytes });
    c.on("error", () => errors++);
    return c;
  };

  const threadsBefore = ownThreads();
  const subject = make(spec.writeUrl, spec.project, spec.run ?? "bench");
  subject.log(w.make(0, 0), 0);
  if (spec.warmup > 0) {
    const warm = make(spec.sinkUrl, `${spec.project}-warmup`, "warmup");
    warm.log(w.make(0, 0), 0);
    loopSync(warm, w, spec.warmup, 0, newLoopState());
    await warm.close();
  }
  (globalThis as { gc?: () => void }).gc?.();
  await subject.flush();
  await sleep(spec.settleMs);

  const workerTid = findWorkerTid(threadsBefore);
  const ev = new Evidence(workerTid, spec.serverPid ?? null, () => {
    const s = subject.stats();
    return { overflowed: s.overflowed, blockedMs: s.blockedMs };
  });
  const gcs: PerformanceEntry[] = [];
  const obs = new PerformanceObserver((list) => gcs.push(...list.getEntries()));
  obs.observe({ entryTypes: ["gc"] });

  const nBlocks = Math.ceil((spec.n - 1) / BLOCK);
  const width = FIELDS.length;
  const snaps = new Float64Array((nBlocks + 1) * width);
  const starts = new Float64Array(nBlocks);
  const ends = new Float64Array(nBlocks);
  const st = newLoopState();
  // An experiment: with the server stopped, it cannot take a CPU from the loop (the worker's
  // requests wait; close() delivers them once it runs again).
  const paused = spec.pauseServer === true && spec.serverPid !== undefined;
  if (paused) {
    const pid = spec.serverPid as number;
    // Whatever happens to this child, the server must not stay stopped.
    process.once("exit", () => process.kill(pid, "SIGCONT"));
    process.kill(pid, "SIGSTOP");
  }
  const machine0 = machineCpu();
  const others0 = ev.otherThreads();
  ev.take(snaps, 0);
  const t0 = performance.now();
  // Never yields: no await until the loop is over.
  for (let b = 0, i = 1; i < spec.n; b++) {
    const end = Math.min(spec.n, i + BLOCK);
    const s = performance.now();
    if ((b & 1) === 0) timedEach(subject, w, i, end, 0, st);
    else untimed(subject, w, i, end, 0, st);
    ends[b] = performance.now();
    starts[b] = s;
    ev.take(snaps, (b + 1) * width);
    i = end;
  }
  const loopMs = performance.now() - t0;
  const machine1 = machineCpu();
  const others1 = ev.otherThreads();
  if (paused) process.kill(spec.serverPid as number, "SIGCONT");
  await sleep(10); // the observer's entries arrive once the event loop turns
  obs.disconnect();
  ev.close();
  await subject.close();

  const blocks: StallsBlock[] = [];
  let gcInside = 0;
  for (let b = 0; b < nBlocks; b++) {
    const d = FIELDS.map((_, f) => snaps[(b + 1) * width + f] - snaps[b * width + f]);
    const inBlock = gcs.filter((g) => g.startTime >= starts[b] && g.startTime < ends[b]);
    const gcMs = inBlock.reduce((a, g) => a + g.duration, 0);
    gcInside += gcMs;
    const kinds = inBlock.map(
      (g) => GC_KINDS[(g as unknown as { detail?: { kind?: number } }).detail?.kind ?? 0] ?? "other",
    );
    blocks.push({ at: starts[b] - t0, ms: ends[b] - starts[b], timed: (b & 1) === 0, d, gcMs, gcKinds: kinds });
  }
  const gcInLoop = gcs.filter((g) => g.startTime >= t0 && g.startTime < t0 + loopMs);
  const gcOutsideMs = gcInLoop.reduce((a, g) => a + g.duration, 0) - gcInside;

  let verified: { rows: number; distinctLogIds: number } | null = null;
  if (spec.target === "trackio") {
    const runId = subject.runId;
    for (let tries = 0; runId !== undefined && tries < 20; tries++) {
      verified = await runRows(spec.readUrl, spec.project, runId);
      if (verified.rows >= spec.n) break;
      await sleep(250);
    }
  }
  return {
    spec,
    timerOverheadNs: overhead,
    latency: latencyOf(st.hist, overhead),
    loopMs,
    blocks,
    gcOutsideMs,
    machine: {
      busyMs: machine1.busyMs - machine0.busyMs,
      ownMs: machine1.ownMs - machine0.ownMs,
      cpuWaitMs: machine1.cpuWaitMs - machine0.cpuWaitMs,
    },
    workerTidFound: workerTid !== null,
    otherThreadsMs: others1.map((t, i) => ({
      tid: t.tid,
      startedWithClient: !threadsBefore.has(t.tid),
      ms: (t.ns - others0[i].ns) / 1e6,
    })),
    serverThreads: ev.serverThreads,
    clientStats: subject.stats() as unknown as Record<string, unknown>,
    verifiedRows: verified?.rows ?? null,
    verifiedDistinctLogIds: verified?.distinctLogIds ?? null,
    errors,
  };
}

runAsChild(main);
