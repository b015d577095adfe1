// Measuring tools used inside a child: timer calibration, per-thread CPU time, and a
// synchronous read of the target's stored count that works from inside a loop that never
// yields.

import { readFileSync, writeSync } from "node:fs";
import type { RecordableHistogram } from "node:perf_hooks";
import { Worker } from "node:worker_threads";
import { threadCpuNs as ownThreadCpuNs } from "../worker/thread-cpu.js";
import type { Latency } from "./types.js";

/** Median ns between two back-to-back performance.now() calls (what each timed call carries). */
export function timerOverheadNs(pairs = 200_000): number {
  const d = new Float64Array(pairs);
  for (let round = 0; round < 2; round++) {
    for (let i = 0; i < pairs; i++) {
      const a = performance.now();
      const b = performance.now();
      d[i] = b - a;
    }
  }
  d.sort();
  return d[pairs >> 1] * 1e6;
}

/** Percentiles of a histogram of raw per-call ns, minus the timer overhead. */
export function latencyOf(h: RecordableHistogram, overheadNs: number): Latency {
  const net = (v: number) => Math.max(0, Math.round(v - overheadNs));
  return {
    samples: h.count,
    p50: net(h.percentile(50)),
    p90: net(h.percentile(90)),
    p99: net(h.percentile(99)),
    p999: net(h.percentile(99.9)),
    max: net(h.max),
    over10us: 100 - percentileAt(h, 10_000 + overheadNs),
  };
}

/** The percentile at which the histogram reaches `value` (bisection; percentile() is monotonic). */
function percentileAt(h: RecordableHistogram, value: number): number {
  if (h.count === 0 || h.max < value) return 100;
  let lo = 0;
  let hi = 100;
  for (let i = 0; i < 40; i++) {
    const mid = (lo + hi) / 2;
    if (h.percentile(mid) >= value) hi = mid;
    else lo = mid;
  }
  return lo;
}

/**
 * CPU time of the calling thread in ns: /proc/thread-self/schedstat on Linux (ns resolution),
 * else the whole process's (Node 20 has no process.threadCpuUsage).
 */
export function threadCpuNs(): number {
  const ns = ownThreadCpuNs();
  if (ns !== null) return ns;
  const u = process.cpuUsage();
  return (u.user + u.system) * 1000;
}

/** CPU time (user + system) of another process from /proc/<pid>/stat, in ms; null off Linux. */
export function otherProcessCpuMs(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "latin1");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    // fields[0] is field 3 (state); utime and stime are fields 14 and 15, in clock ticks (100/s).
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100;
  } catch {
    return null;
  }
}

/**
 * CPU snapshot for telling how busy *other* processes kept the machine: every CPU's busy time
 * (/proc/stat) and this process's own time plus that of its exited children, in ms.
 */
export function cpuSnapshot(): { busyMs: number; ownMs: number } | null {
  try {
    const cpu = readFileSync("/proc/stat", "latin1").split("\n")[0].trim().split(/\s+/).slice(1).map(Number);
    const total = cpu.slice(0, 8).reduce((a, b) => a + b, 0);
    const idle = cpu[3] + cpu[4];
    const stat = readFileSync("/proc/self/stat", "latin1");
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    const own = Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14]);
    return { busyMs: ((total - idle) * 1000) / 100, ownMs: (own * 1000) / 100 };
  } catch {
    return null;
  }
}

export function processCpuNs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) * 1000;
}

// Plain JS, run as an eval'd worker: fetches on request and hands the answer back through
// shared memory, so the main thread can block on it with Atomics.wait.
const PROBE_SOURCE = `
const { parentPort, workerData } = require("node:worker_threads");
const ctl = new Int32Array(workerData.sab, 0, 2);
const out = new Uint8Array(workerData.sab, 8);
parentPort.on("message", async ({ url, init }) => {
  let text;
  try {
    const res = await fetch(url, { ...init, signal: AbortSignal.timeout(20000) });
    text = JSON.stringify({ status: res.status, text: await res.text() });
  } catch (err) {
    text = JSON.stringify({ status: 0, text: String(err) });
  }
  const n = new TextEncoder().encodeInto(text, out).written;
  Atomics.store(ctl, 1, n);
  Atomics.store(ctl, 0, 1);
  Atomics.notify(ctl, 0);
});
`;

/**
 * How many records the target holds for a run, read synchronously. A helper thread started
 * before the loop does the HTTP request; the main thread blocks on Atomics.wait meanwhile,
 * which costs a few ms rather than the ~100 ms of spawning a process (syncRunRows).
 */
export class SyncProbe {
  readonly #sab = new SharedArrayBuffer(8 + 65536);
  readonly #ctl = new Int32Array(this.#sab, 0, 2);
  readonly #worker: Worker;

  constructor() {
    this.#worker = new Worker(PROBE_SOURCE, { eval: true, workerData: { sab: this.#sab } });
    this.#worker.unref();
  }

  #fetch(url: string, init: RequestInit): { status: number; text: string } {
    Atomics.store(this.#ctl, 0, 0);
    this.#worker.postMessage({ url, init });
    if (Atomics.wait(this.#ctl, 0, 0, 30_000) === "timed-out") throw new Error(`probe: no answer from ${url}`);
    const n = Atomics.load(this.#ctl, 1);
    const bytes = new Uint8Array(this.#sab, 8, n).slice();
    return JSON.parse(new TextDecoder().decode(bytes)) as { status: number; text: string };
  }

  /** Rows of one run on a Trackio server (0 while its project does not exist yet). */
  trackioRows(url: string, project: string, runId: string): number {
    const query = `SELECT COUNT(*) AS n FROM metrics WHERE run_id = '${runId.replaceAll("'", "''")}'`;
    const r = this.#fetch(`${url}api/query_project`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ kwargs: { project, query } }),
    });
    if (r.status !== 200) {
      if (/not found/i.test(r.text)) return 0;
      throw new Error(`probe: query_project answered ${r.status}: ${r.text.slice(0, 300)}`);
    }
    return Number((JSON.parse(r.text) as { data: { rows: { n: number }[] } }).data.rows[0]?.n ?? 0);
  }

  /** Records the sink received for a project. */
  sinkRows(url: string, project: string): number {
    const r = this.#fetch(`${url}count?project=${encodeURIComponent(project)}`, { method: "GET" });
    if (r.status !== 200) throw new Error(`probe: sink answered ${r.status}`);
    return (JSON.parse(r.text) as { rows: number }).rows;
  }

  async stop(): Promise<void> {
    await this.#worker.terminate();
  }
}

/** A measuring child's end: its result as one `BENCH_RESULT <json>` line for run.ts, or the error. */
export function runAsChild(main: () => Promise<unknown>): void {
  main().then(
    (result) => {
      writeSync(1, `BENCH_RESULT ${JSON.stringify(result)}\n`);
      process.exit(0);
    },
    (err: unknown) => {
      writeSync(1, `BENCH_ERROR ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
      process.exit(1);
    },
  );
}
