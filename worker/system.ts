// System metrics, sampled in the worker thread so that sampling never touches the training
// loop (and keeps going while that loop never yields). Names follow Trackio's Python monitors
// (trackio/cpu.py, gpu.py) where they measure the same thing; `process/*` and `eventloop/*`
// are this client's own: the Node process and its main thread.

import { execFile } from "node:child_process";
import { cpus, freemem, totalmem } from "node:os";
import { promisify } from "node:util";
import { CTL_MAIN_HEAP_KB, CTL_MAIN_LOOP_MAX_US, CTL_MAIN_LOOP_P99_US } from "../src/shared/ring.js";

const GIB = 1024 ** 3;
const MIB = 1024 ** 2;

type Sample = Record<string, number>;

interface CpuTimes {
  idle: number;
  total: number;
}

function cpuTimes(): CpuTimes[] {
  return cpus().map(({ times }) => ({
    idle: times.idle,
    total: times.user + times.nice + times.sys + times.idle + times.irq,
  }));
}

/** Parse `nvidia-smi --query-gpu=index,utilization.gpu,utilization.memory,memory.used,memory.total,power.draw,temperature.gpu --format=csv,noheader,nounits`. */
export function parseNvidiaSmi(csv: string): Sample {
  const out: Sample = {};
  let utilSum = 0;
  let utilCount = 0;
  let memUsed = 0;
  for (const line of csv.split("\n")) {
    const cells = line.split(",").map((c) => Number.parseFloat(c.trim()));
    if (cells.length < 7 || Number.isNaN(cells[0])) continue;
    const [index, util, memUtil, usedMib, totalMib, power, temp] = cells;
    const p = `gpu/${index}`;
    const put = (key: string, value: number) => {
      if (Number.isFinite(value)) out[`${p}/${key}`] = value;
    };
    put("utilization", util);
    put("memory_utilization", memUtil);
    put("allocated_memory", (usedMib * MIB) / GIB);
    put("total_memory", (totalMib * MIB) / GIB);
    if (totalMib > 0) put("memory_usage", usedMib / totalMib);
    put("power", power);
    put("temp", temp);
    if (Number.isFinite(util)) {
      utilSum += util;
      utilCount++;
    }
    if (Number.isFinite(usedMib)) memUsed += (usedMib * MIB) / GIB;
  }
  if (utilCount > 0) {
    out["gpu/mean_utilization"] = utilSum / utilCount;
    out["gpu/total_allocated_memory"] = memUsed;
  }
  return out;
}

export class SystemSampler {
  #cpu = cpuTimes();
  #proc = process.cpuUsage();
  #wall = performance.now();
  #gpu: boolean | null = null;

  constructor(private readonly ctl: Int32Array) {}

  async sample(): Promise<Sample> {
    const out: Sample = {};
    // Host CPU: busy share of each core since the last sample.
    const now = cpuTimes();
    let busySum = 0;
    now.forEach((t, i) => {
      const before = this.#cpu[i];
      const total = t.total - (before?.total ?? 0);
      const busy = total > 0 ? 100 * (1 - (t.idle - (before?.idle ?? 0)) / total) : 0;
      out[`cpu/${i}/utilization`] = busy;
      busySum += busy;
    });
    this.#cpu = now;
    out["cpu/utilization"] = now.length > 0 ? busySum / now.length : 0;
    out["cpu/count_logical"] = now.length;
    // Host memory, in GiB like Trackio's monitor.
    const total = totalmem();
    const available = freemem();
    out["memory/used"] = (total - available) / GIB;
    out["memory/total"] = total / GIB;
    out["memory/available"] = available / GIB;
    out["memory/percent"] = (100 * (total - available)) / total;
    // This process: CPU (all threads, as a share of one core) and resident memory.
    const wall = performance.now();
    const proc = process.cpuUsage(this.#proc);
    this.#proc = process.cpuUsage();
    out["process/cpu_percent"] = wall > this.#wall ? (100 * (proc.user + proc.system)) / 1000 / (wall - this.#wall) : 0;
    this.#wall = wall;
    out["process/rss_mb"] = process.memoryUsage.rss() / MIB;
    // The main thread publishes these from its own (unref'd) timer; they stand still while
    // its loop does not yield. Until its first publication they are unknown, not 0: a loop
    // that never yields from the start would otherwise chart a zero heap and no delay.
    const heapKb = Atomics.load(this.ctl, CTL_MAIN_HEAP_KB);
    if (heapKb > 0) {
      out["process/heap_used_mb"] = heapKb / 1024;
      out["eventloop/delay_p99_ms"] = Atomics.load(this.ctl, CTL_MAIN_LOOP_P99_US) / 1000;
      out["eventloop/delay_max_ms"] = Atomics.load(this.ctl, CTL_MAIN_LOOP_MAX_US) / 1000;
    }
    Object.assign(out, await this.#sampleGpu());
    return out;
  }

  async #sampleGpu(): Promise<Sample> {
    if (this.#gpu === false) return {};
    try {
      const { stdout } = await promisify(execFile)(
        "nvidia-smi",
        [
          "--query-gpu=index,utilization.gpu,utilization.memory,memory.used,memory.total,power.draw,temperature.gpu",
          "--format=csv,noheader,nounits",
        ],
        { timeout: 5000 },
      );
      this.#gpu = true;
      return parseNvidiaSmi(stdout);
    } catch {
      // No nvidia-smi (or no GPU): stop asking.
      if (this.#gpu === null) this.#gpu = false;
      return {};
    }
  }
}
