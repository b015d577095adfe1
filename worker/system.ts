// System metrics, sampled in the worker thread so that sampling never touches the training
// loop (and keeps going while that loop never yields). The host's keys, values and rounding are
// those of Trackio's Python monitors (trackio/cpu.py, gpu.py; see system-host.ts and
// system-gpu.ts); `process/*` and `eventloop/*` are this client's own: the Node process and its
// main thread.

import { cpus, freemem, totalmem } from "node:os";
import { floatJson, numberJson } from "../src/shared/codec.js";
import { CTL_MAIN_HEAP_KB, CTL_MAIN_LOOP_MAX_US, CTL_MAIN_LOOP_P99_US } from "../src/shared/ring.js";
import { GpuReader } from "./system-gpu.js";
import {
  type CoreTimes,
  corePercents,
  cpuFrequency,
  type IoCounters,
  ioRates,
  memoryMetrics,
  physicalCores,
  pyRound1,
  readCoreTimes,
  readIo,
  type Sample,
} from "./system-host.js";

const GIB = 1024 ** 3;
const MIB = 1024 ** 2;

/** Where no /proc/stat is: os.cpus()' counters laid out as /proc/stat's columns. */
function osCoreTimes(): CoreTimes[] {
  return cpus().map(({ times: t }) => [t.user, t.nice, t.sys, t.idle, 0, t.irq, 0, 0, 0, 0]);
}

export interface SamplerOptions {
  /** The root the Linux files are read under (tests point it at a fixture tree). */
  root?: string;
  /** The nvidia-smi to run. */
  gpuCommand?: string;
}

export class SystemSampler {
  readonly #root: string;
  readonly #gpu: GpuReader;
  #cores: CoreTimes[];
  #io: IoCounters;
  // Python logs frequency and core counts with its monitor's first sample only.
  #first = true;
  #proc = process.cpuUsage();
  #wall = performance.now();

  constructor(
    private readonly ctl: Int32Array,
    options: SamplerOptions = {},
  ) {
    this.#root = options.root ?? "/";
    this.#gpu = new GpuReader(options.gpuCommand);
    this.#cores = this.#coreTimes();
    this.#io = readIo(this.#root);
  }

  #coreTimes(): CoreTimes[] {
    return readCoreTimes(this.#root) ?? osCoreTimes();
  }

  async sample(): Promise<Sample> {
    const out: Sample = {};
    // Host CPU: busy share of each core since the last sample (Python's monitor measures a
    // 0.1 s window at each sample; the whole interval misses no burst in between).
    const cores = this.#coreTimes();
    const percents = corePercents(this.#cores, cores);
    this.#cores = cores;
    let sum = 0;
    percents.forEach((p, i) => {
      out[`cpu/${i}/utilization`] = p;
      sum += p;
    });
    if (percents.length > 0) out["cpu/utilization"] = sum / percents.length;
    if (this.#first) {
      this.#first = false;
      const freq = cpuFrequency(this.#root);
      if (freq !== null) {
        out["cpu/frequency"] = freq.current;
        if (freq.max > 0) out["cpu/frequency_max"] = freq.max;
      }
      out["cpu/count_logical"] = cores.length;
      const physical = physicalCores(this.#root);
      if (physical !== null) out["cpu/count_physical"] = physical;
    }
    Object.assign(out, memoryMetrics(this.#root) ?? osMemory());
    const io = readIo(this.#root);
    Object.assign(out, ioRates(this.#io, io));
    this.#io = io;
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
    Object.assign(out, await this.#gpu.read());
    return out;
  }
}

/** Where no /proc/meminfo is: Node's totals (no swap). */
function osMemory(): Sample {
  const total = totalmem();
  const available = freemem();
  return {
    "memory/used": (total - available) / GIB,
    "memory/total": total / GIB,
    "memory/available": available / GIB,
    "memory/percent": total === 0 ? 0 : pyRound1(((total - available) / total) * 100),
  };
}

/**
 * The keys whose values Python logs as ints (psutil's core counts; NVML's integer readings);
 * every other value it logs is a float, so the server stores `0.0`, not `0`, as Python's.
 */
const INT_KEY =
  /^(cpu\/count_(logical|physical)|gpu\/max_temp|gpu\/\d+\/(utilization|memory_utilization|temp|sm_clock|memory_clock|fan_speed|performance_state|throttle_\w+|(un)?corrected_memory_errors))$/;

/** A sample as the JSON text of Python's `log_system` metrics. */
export function systemSampleJson(sample: Sample): string {
  const parts: string[] = [];
  for (const [key, value] of Object.entries(sample)) {
    parts.push(`${JSON.stringify(key)}:${INT_KEY.test(key) ? numberJson(value) : floatJson(value)}`);
  }
  return `{${parts.join(",")}}`;
}
