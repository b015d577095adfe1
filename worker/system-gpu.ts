// NVIDIA GPUs through `nvidia-smi`, under the names Trackio's Python monitor gives the same
// NVML figures (trackio/gpu.py). nvidia-smi instead of NVML keeps native modules out; what
// nvidia-smi cannot report (NVML's energy counter and PCIe throughput) is left out.

import { execFile } from "node:child_process";
import { promisify } from "node:util";
import type { Sample } from "./system-host.js";

const GIB = 1024 ** 3;
const MIB = 1024 ** 2;

/** The query, in the column order parseNvidiaSmi reads. */
export const GPU_FIELDS = [
  "index",
  "utilization.gpu",
  "utilization.memory",
  "memory.used",
  "memory.total",
  "power.draw",
  "temperature.gpu",
  "power.limit",
  "clocks.sm",
  "clocks.mem",
  "fan.speed",
  "pstate",
  "clocks_throttle_reasons.sw_thermal_slowdown",
  "clocks_throttle_reasons.sw_power_cap",
  "clocks_throttle_reasons.hw_slowdown",
  "clocks_throttle_reasons.applications_clocks_setting",
  "ecc.errors.corrected.volatile.total",
  "ecc.errors.uncorrected.volatile.total",
] as const;

/** The first seven: what every nvidia-smi knows, asked when an older one refuses the rest. */
const BASIC_FIELDS = GPU_FIELDS.slice(0, 7);

function cell(raw: string | undefined): number {
  const text = (raw ?? "").trim();
  // pstate "P2" is NVML's performance state 2; throttle reasons are "Active" / "Not Active".
  if (/^P\d+$/.test(text)) return Number(text.slice(1));
  if (text === "Active") return 1;
  if (text === "Not Active") return 0;
  return text === "" || !/^-?[\d.]+$/.test(text) ? Number.NaN : Number(text);
}

/**
 * Parse `nvidia-smi --query-gpu=<GPU_FIELDS or its first seven> --format=csv,noheader,nounits`.
 * "[N/A]" and "[Not Supported]" cells are left out, as Python leaves out what NVML refuses.
 */
export function parseNvidiaSmi(csv: string): Sample {
  const out: Sample = {};
  let utilSum = 0;
  let utilCount = 0;
  let memUsed = 0;
  let powerSum = 0;
  let maxTemp = 0;
  for (const line of csv.split("\n")) {
    const c = line.split(",").map(cell);
    if (c.length < BASIC_FIELDS.length || Number.isNaN(c[0])) continue;
    const p = `gpu/${c[0]}`;
    const put = (key: string, value: number | undefined) => {
      if (value !== undefined && Number.isFinite(value)) out[`${p}/${key}`] = value;
    };
    const [, util, memUtil, usedMib, totalMib, power, temp, powerLimit] = c;
    put("utilization", util);
    put("memory_utilization", memUtil);
    put("allocated_memory", (usedMib * MIB) / GIB);
    put("total_memory", (totalMib * MIB) / GIB);
    if (totalMib > 0) put("memory_usage", usedMib / totalMib);
    put("power", power);
    put("power_limit", powerLimit);
    if (powerLimit > 0 && Number.isFinite(power)) put("power_percent", (power / powerLimit) * 100);
    put("temp", temp);
    put("sm_clock", c[8]);
    put("memory_clock", c[9]);
    put("fan_speed", c[10]);
    put("performance_state", c[11]);
    put("throttle_thermal", c[12]);
    put("throttle_power", c[13]);
    put("throttle_hw_slowdown", c[14]);
    put("throttle_apps", c[15]);
    put("corrected_memory_errors", c[16]);
    put("uncorrected_memory_errors", c[17]);
    if (Number.isFinite(util)) {
      utilSum += util;
      utilCount++;
    }
    if (Number.isFinite(usedMib)) memUsed += (usedMib * MIB) / GIB;
    if (Number.isFinite(power)) powerSum += power;
    if (Number.isFinite(temp)) maxTemp = Math.max(maxTemp, temp);
  }
  // Python's aggregates, each only when positive (or, for the mean, when any GPU answered).
  if (utilCount > 0) out["gpu/mean_utilization"] = utilSum / utilCount;
  if (memUsed > 0) out["gpu/total_allocated_memory"] = memUsed;
  if (powerSum > 0) out["gpu/total_power"] = powerSum;
  if (maxTemp > 0) out["gpu/max_temp"] = maxTemp;
  return out;
}

/**
 * Asks nvidia-smi each sample. Until one query has answered, a failure narrows the query to
 * the basic fields, then gives up for good; after that, a failure only costs that sample.
 */
export class GpuReader {
  #fields: readonly string[] | null = GPU_FIELDS;
  #answered = false;
  constructor(private readonly command = "nvidia-smi") {}

  async read(): Promise<Sample> {
    while (this.#fields !== null) {
      try {
        const { stdout } = await promisify(execFile)(
          this.command,
          [`--query-gpu=${this.#fields.join(",")}`, "--format=csv,noheader,nounits"],
          { timeout: 5000 },
        );
        this.#answered = true;
        return parseNvidiaSmi(stdout);
      } catch {
        if (this.#answered) return {};
        // No nvidia-smi, no GPU, or (for the full query) a driver that lacks a field.
        this.#fields = this.#fields === GPU_FIELDS ? BASIC_FIELDS : null;
      }
    }
    return {};
  }
}
