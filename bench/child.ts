// One measurement in a process of its own: one client, one workload, one target.
// Usage (from run.ts): node --import tsx --expose-gc bench/child.ts '<ChildSpec JSON>'
// Prints one line `BENCH_RESULT <ChildResult JSON>` on stdout.

import { monitorEventLoopDelay } from "node:perf_hooks";
import { setTimeout as sleep } from "node:timers/promises";
import { runRows } from "../test/support/read-api.js";
import { InlineClient } from "./inline-client.js";
import {
  type Logger,
  type LoopState,
  loopBare,
  loopSync,
  loopYielding,
  newLoopState,
  sampleHeap,
  warmEncoder,
} from "./loop.js";
import { latencyOf, processCpuNs, runAsChild, SyncProbe, threadCpuNs, timerOverheadNs } from "./measure.js";
import type { ChildResult, ChildSpec, ClientKind } from "./types.js";
import { type Metrics, WORKLOADS, type Workload } from "./workloads.js";

interface Subject extends Logger {
  flush(): Promise<void>;
  close(): Promise<void>;
  readonly runId: string | undefined;
  stats?(): object;
}

/** The floor: a log() that only keeps a reference, so the metrics object cannot be optimized away. */
class Floor implements Subject {
  last: Metrics | null = null;
  readonly runId = undefined;
  log(metrics: Metrics, _step: number): void {
    this.last = metrics;
  }
  async flush(): Promise<void> {}
  async close(): Promise<void> {}
}

let errors = 0;
// Progress on stderr: run.ts shows it only when a child fails or times out.
const debug = (msg: string) => process.stderr.write(`[child ${(performance.now() / 1000).toFixed(1)} s] ${msg}\n`);
let ClientClass: typeof import("../src/index.js").Client;

function makeSubject(kind: ClientKind, baseUrl: string, project: string, run: string): Subject {
  if (kind === "floor") return new Floor();
  if (kind === "inline") return new InlineClient({ baseUrl, project, run });
  const client = new ClientClass({ baseUrl, project, run });
  client.on("error", () => errors++);
  return client;
}

async function runLoop(s: Subject, w: Workload, n: number, iters: number, st: LoopState) {
  if (w.yieldEvery > 0) await loopYielding(s, w, n, iters, st);
  else loopSync(s, w, n, iters, st);
}

async function main(): Promise<ChildResult> {
  const spec = JSON.parse(process.argv[2] ?? "") as ChildSpec;
  const mod = (await import(spec.clientModule ?? "../src/index.js")) as typeof import("../src/index.js");
  ClientClass = mod.Client;
  const w = WORKLOADS[spec.workload];
  const iters = Math.round(spec.workIters * w.workUs);
  const bare = spec.bare === true;
  debug("started");
  const overhead = timerOverheadNs();

  const probe = spec.client === "floor" ? null : new SyncProbe();
  const subject = makeSubject(spec.client, spec.writeUrl, spec.project, spec.run ?? "bench");
  const st = newLoopState();

  // The first call starts the client (for the worker: the pool and its thread); it is timed
  // on its own; the client boots (the worker thread starts) while the warm-up runs.
  const tf = performance.now();
  subject.log(w.make(0, 0), 0);
  const firstCallUs = (performance.now() - tf) * 1000;
  const runId = subject.runId ?? null;
  const storedCount = (): number | null => {
    if (probe === null || runId === null) return null;
    return spec.target === "trackio"
      ? probe.trackioRows(spec.readUrl, spec.project, runId)
      : probe.sinkRows(spec.readUrl, spec.project);
  };

  // Warm-up on a throwaway client of the same class, against the sink: JIT state for log(),
  // the loop and the metrics maker, without touching the measured target.
  if (spec.warmup > 0) {
    const warm = makeSubject(spec.client, spec.sinkUrl, `${spec.project}-warmup`, "warmup");
    warm.log(w.make(0, 0), 0);
    await runLoop(warm, w, spec.warmup, iters, newLoopState());
    await warmEncoder(warm, w, spec.warmup, spec.warmValues);
    await warm.close();
  }
  debug("warm-up done");
  (globalThis as { gc?: () => void }).gc?.();

  // Steady state before the loop: step 0 is flushed and stored, so the client's connection is
  // warm and the project exists on the server.
  await subject.flush();
  await sleep(spec.settleMs);
  const storedBefore = storedCount();
  const ackedBefore = (subject.stats?.() as { sent?: number } | undefined)?.sent ?? null;
  const workerCpu = () => (subject.stats?.() as { workerCpuMs?: number | null } | undefined)?.workerCpuMs ?? null;
  const workerCpu0 = workerCpu();
  debug(`settled, ${storedBefore} stored`);

  if (spec.startAt !== undefined) await sleep(Math.max(0, spec.startAt - Date.now()));
  const baseRss = process.memoryUsage.rss();
  const eld = monitorEventLoopDelay({ resolution: 10 });
  eld.enable();
  const cpu0 = threadCpuNs();
  const proc0 = processCpuNs();
  const t0 = performance.now();
  const mono0 = process.hrtime.bigint();

  if (bare) await loopBare(subject, w, spec.n, iters, st);
  else if (w.yieldEvery > 0) await loopYielding(subject, w, spec.n, iters, st);
  else loopSync(subject, w, spec.n, iters, st); // never yields: no await until the count below

  // Loop end: nothing below awaits before the stored count is read.
  const tEnd = performance.now();
  const cpuEnd = threadCpuNs();
  // The client's own count of records the server acknowledged (shared-memory counters for the
  // worker): exact at this instant, unlike the server read below, which takes 3–80 ms.
  const acked = (subject.stats?.() as { sent?: number } | undefined)?.sent ?? null;
  const stored = storedCount();
  const probeMs = performance.now() - tEnd;
  debug(`loop done in ${(tEnd - t0).toFixed(0)} ms`);

  debug(`probe: ${stored} stored`);
  const heapTimer = setInterval(() => sampleHeap(st), 20);
  await subject.close();
  const tClosed = performance.now();
  const monoClosed = process.hrtime.bigint();
  debug(`closed after ${(tClosed - tEnd).toFixed(0)} ms`);
  clearInterval(heapTimer);
  sampleHeap(st);
  const cpu1 = threadCpuNs();
  const proc1 = processCpuNs();
  eld.disable();

  debug("verifying");
  let verifiedRows: number | null = null;
  let verifiedDistinctLogIds: number | null = null;
  if (probe !== null && runId !== null) {
    if (spec.target === "trackio") {
      // close() returns once the server answered every batch; give a lagging write a moment.
      for (let tries = 0; tries < 20; tries++) {
        const r = await runRows(spec.readUrl, spec.project, runId);
        verifiedRows = r.rows;
        verifiedDistinctLogIds = r.distinctLogIds;
        if (r.rows >= spec.n) break;
        await sleep(250);
      }
    } else {
      verifiedRows = probe.sinkRows(spec.readUrl, spec.project);
    }
    await probe.stop();
  }

  const ms = (ns: number) => ns / 1e6;
  return {
    spec,
    runId,
    timerOverheadNs: overhead,
    latency: latencyOf(st.hist, overhead),
    blockMeanNs: st.blockSteps > 0 ? (st.blockMs * 1e6) / st.blockSteps : 0,
    stepsPerSec: st.blockMs > 0 ? st.blockSteps / (st.blockMs / 1000) : 0,
    firstCallUs,
    loopMs: tEnd - t0,
    loopStartEpochMs: performance.timeOrigin + t0,
    closedEpochMs: performance.timeOrigin + tClosed,
    loopStartMonoUs: Number(mono0 / 1000n),
    closedMonoUs: Number(monoClosed / 1000n),
    mainCpuMs: ms(cpu1 - cpu0),
    loopMainCpuMs: ms(cpuEnd - cpu0),
    processCpuMs: ms(proc1 - proc0),
    workerCpuMs: workerCpu0 === null || workerCpu() === null ? null : (workerCpu() as number) - workerCpu0,
    eld: { p50: ms(eld.percentile(50)), p99: ms(eld.percentile(99)), max: ms(eld.max) },
    storedBeforeLoop: storedBefore,
    ackedDuringLoop: acked === null || ackedBefore === null ? null : acked - ackedBefore,
    storedAtLoopEnd: stored,
    probeMs,
    drainMs: tClosed - tEnd,
    storedPerSec: spec.client === "floor" ? 0 : spec.n / ((tClosed - t0) / 1000),
    verifiedRows,
    verifiedDistinctLogIds,
    peakRssMB: process.resourceUsage().maxRSS / 1024,
    baseRssMB: baseRss / 2 ** 20,
    peakHeapMB: st.peakHeap / 2 ** 20,
    errors,
    clientStats: (subject.stats?.() as Record<string, number> | undefined) ?? null,
    checksum: st.checksum,
  };
}

runAsChild(main);
