// The host's figures as Trackio's Python monitor gets them from psutil (trackio/cpu.py), read
// from the same Linux files psutil reads (/proc/stat, /proc/meminfo, /proc/diskstats,
// /proc/net/dev, /proc/cpuinfo, /sys/devices/system/cpu) with psutil's arithmetic and
// rounding, so that a Node run and a Python run on one machine chart the same numbers under
// the same names. No native module: elsewhere than Linux these readers return null.
//
// Every reader takes the root it reads under, so the tests can feed it a fixture tree.

import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";

const GIB = 1024 ** 3;
const MIB = 1024 ** 2;
/** psutil's DISK_SECTOR_SIZE: /proc/diskstats counts 512-byte sectors whatever the device's. */
const SECTOR = 512;

export type Sample = Record<string, number>;

function read(root: string, path: string): string | null {
  try {
    return readFileSync(join(root, path), "utf8");
  } catch {
    return null;
  }
}

function list(root: string, path: string): string[] {
  try {
    return readdirSync(join(root, path));
  } catch {
    return [];
  }
}

/**
 * Python's `round(x, 1)`: the nearest tenth of the double's exact value, ties to even.
 * `toFixed` rounds the exact value too but ties away from zero; the only exact ties at one
 * decimal are the quarters (x.25, x.75), which are settled here as Python settles them.
 */
export function pyRound1(x: number): number {
  if (!Number.isFinite(x)) return x;
  if (Number.isInteger(x * 4) && !Number.isInteger(x * 2)) {
    const low = Math.floor(x * 10);
    return (low % 2 === 0 ? low : low + 1) / 10;
  }
  return Number(x.toFixed(1));
}

/** psutil's `usage_percent(used, total, round_=1)`. */
function usagePercent(used: number, total: number): number {
  return total === 0 ? 0 : pyRound1((used / total) * 100);
}

// ---- CPU --------------------------------------------------------------------------------

/** One core's counters from /proc/stat: user nice system idle iowait irq softirq steal guest guest_nice. */
export type CoreTimes = number[];

/** The per-core lines of /proc/stat (`cpu0 …`, `cpu1 …`), in order. */
export function readCoreTimes(root: string): CoreTimes[] | null {
  const text = read(root, "proc/stat");
  if (text === null) return null;
  const cores: CoreTimes[] = [];
  for (const line of text.split("\n")) {
    if (!/^cpu\d+ /.test(line)) continue;
    cores.push(line.trim().split(/\s+/).slice(1, 11).map(Number));
  }
  return cores.length > 0 ? cores : null;
}

/**
 * psutil's `cpu_percent(percpu=True)` between two readings: busy share of each core, where
 * busy leaves out idle and iowait and the total leaves out guest time (already in user and
 * nice), negative deltas trimmed to 0, rounded to one decimal.
 */
export function corePercents(before: CoreTimes[], after: CoreTimes[]): number[] {
  return after.map((now, i) => {
    const prev = before[i] ?? [];
    const d = now.map((v, k) => Math.max(0, v - (prev[k] ?? 0)));
    let total = 0;
    for (const v of d) total += v;
    total -= (d[8] ?? 0) + (d[9] ?? 0);
    const busy = total - (d[3] ?? 0) - (d[4] ?? 0);
    return total === 0 ? 0 : pyRound1((busy / total) * 100);
  });
}

/** `cpu_count(logical=False)`: distinct core sibling lists in sysfs, else /proc/cpuinfo's sockets. */
export function physicalCores(root: string): number | null {
  const cpuDir = "sys/devices/system/cpu";
  const cpus = list(root, cpuDir).filter((d) => /^cpu\d+$/.test(d));
  for (const file of ["core_cpus_list", "thread_siblings_list"]) {
    const seen = new Set<string>();
    for (const cpu of cpus) {
      const text = read(root, `${cpuDir}/${cpu}/topology/${file}`);
      if (text !== null) seen.add(text.trim());
    }
    if (seen.size > 0) return seen.size;
  }
  const info = read(root, "proc/cpuinfo");
  if (info === null) return null;
  const coresBySocket = new Map<string, number>();
  for (const section of info.split(/\n\s*\n/)) {
    const socket = /^physical id\s*:\s*(.+)$/im.exec(section)?.[1];
    const cores = /^cpu cores\s*:\s*(\d+)/im.exec(section)?.[1];
    if (socket !== undefined && cores !== undefined) coresBySocket.set(socket.trim(), Number(cores));
  }
  let sum = 0;
  for (const n of coresBySocket.values()) sum += n;
  return sum > 0 ? sum : null;
}

/** `cpu_freq()` averaged over the CPUs, in MHz: `{ current, max }` (max 0 when unknown). */
export function cpuFrequency(root: string): { current: number; max: number } | null {
  const info = read(root, "proc/cpuinfo") ?? "";
  const infoMhz = [...info.matchAll(/^cpu mhz\s*:\s*([\d.]+)/gim)].map((m) => Number.parseFloat(m[1]));
  const cpuDir = "sys/devices/system/cpu";
  const num = (p: string) => Number(/\d+/.exec(p)?.[0]);
  let dirs = list(root, `${cpuDir}/cpufreq`)
    .filter((d) => /^policy\d+$/.test(d))
    .map((d) => `${cpuDir}/cpufreq/${d}`);
  if (dirs.length === 0) {
    dirs = list(root, cpuDir)
      .filter((d) => /^cpu\d+$/.test(d) && list(root, `${cpuDir}/${d}/cpufreq`).length > 0)
      .map((d) => `${cpuDir}/${d}/cpufreq`);
  }
  dirs.sort((a, b) => num(a.slice(cpuDir.length)) - num(b.slice(cpuDir.length)));
  let freqs: { current: number; max: number }[];
  if (dirs.length === 0) {
    freqs = infoMhz.map((current) => ({ current, max: 0 }));
  } else {
    freqs = [];
    for (const [i, dir] of dirs.entries()) {
      // psutil takes /proc/cpuinfo's figure when it has one per CPU (truncated to kHz).
      const khz =
        dirs.length === infoMhz.length
          ? Math.trunc(infoMhz[i] * 1000)
          : Number(read(root, `${dir}/scaling_cur_freq`) ?? read(root, `${dir}/cpuinfo_cur_freq`) ?? Number.NaN);
      const maxKhz = Number(read(root, `${dir}/scaling_max_freq`) ?? Number.NaN);
      if (!Number.isFinite(khz) || !Number.isFinite(maxKhz)) return null;
      freqs.push({ current: khz / 1000, max: maxKhz / 1000 });
    }
  }
  if (freqs.length === 0) return null;
  if (freqs.length === 1) return freqs[0];
  let current = 0;
  let max = 0;
  for (const f of freqs) {
    current += f.current;
    max += f.max;
  }
  return { current: current / freqs.length, max: max / freqs.length };
}

// ---- memory -------------------------------------------------------------------------------

/** `memory/*` and `swap/*` from /proc/meminfo, as psutil's virtual_memory() and swap_memory(). */
export function memoryMetrics(root: string): Sample | null {
  const text = read(root, "proc/meminfo");
  if (text === null) return null;
  const kb = new Map<string, number>();
  for (const m of text.matchAll(/^(\w+(?:\(\w+\))?):\s+(\d+)/gm)) kb.set(m[1], Number(m[2]) * 1024);
  const total = kb.get("MemTotal");
  if (total === undefined) return null;
  const free = kb.get("MemFree") ?? 0;
  let avail = kb.get("MemAvailable") ?? free + (kb.get("Buffers") ?? 0) + (kb.get("Cached") ?? 0);
  // psutil's guard for containers whose figures are the host's.
  if (avail < 0) avail = 0;
  else if (avail > total) avail = free;
  const out: Sample = {
    "memory/used": (total - avail) / GIB,
    "memory/total": total / GIB,
    "memory/available": avail / GIB,
    "memory/percent": usagePercent(total - avail, total),
  };
  const swapTotal = kb.get("SwapTotal");
  const swapFree = kb.get("SwapFree");
  if (swapTotal !== undefined && swapFree !== undefined) {
    const used = swapTotal - swapFree;
    out["swap/used"] = used / GIB;
    out["swap/total"] = swapTotal / GIB;
    out["swap/percent"] = usagePercent(used, swapTotal);
  }
  return out;
}

// ---- disk and network -----------------------------------------------------------------------

export interface IoCounters {
  disk: { reads: number; writes: number; readBytes: number; writeBytes: number } | null;
  net: { sent: number; recv: number } | null;
  /** When they were read, in seconds of a monotonic clock. */
  at: number;
}

/** psutil's `disk_io_counters()`: whole devices only (those /sys/block lists), not partitions. */
export function readDisk(root: string): IoCounters["disk"] {
  const text = read(root, "proc/diskstats");
  if (text === null) return null;
  const devices = new Set(list(root, "sys/block"));
  const sum = { reads: 0, writes: 0, readBytes: 0, writeBytes: 0 };
  let devicesSeen = 0;
  for (const line of text.split("\n")) {
    const f = line.trim().split(/\s+/);
    let name: string;
    let c: number[];
    if (f.length === 14 || f.length >= 18) {
      name = f[2];
      // reads, reads merged, sectors read, time, writes, writes merged, sectors written
      const [reads, , rsec, , writes, , wsec] = f.slice(3, 10).map(Number);
      c = [reads, writes, rsec, wsec];
    } else if (f.length === 7) {
      name = f[2];
      const [reads, rsec, writes, wsec] = f.slice(3).map(Number);
      c = [reads, writes, rsec, wsec];
    } else continue;
    if (!devices.has(name.replaceAll("/", "!"))) continue;
    devicesSeen++;
    sum.reads += c[0];
    sum.writes += c[1];
    sum.readBytes += c[2] * SECTOR;
    sum.writeBytes += c[3] * SECTOR;
  }
  // psutil reports no counters (and Python logs no disk keys) when no device is listed.
  return devicesSeen > 0 ? sum : null;
}

/** psutil's `net_io_counters()`: every interface of /proc/net/dev, loopback included. */
export function readNet(root: string): IoCounters["net"] {
  const text = read(root, "proc/net/dev");
  if (text === null) return null;
  const sum = { sent: 0, recv: 0 };
  let interfaces = 0;
  for (const line of text.split("\n").slice(2)) {
    const colon = line.lastIndexOf(":");
    if (colon < 0) continue;
    interfaces++;
    const f = line
      .slice(colon + 1)
      .trim()
      .split(/\s+/)
      .map(Number);
    sum.recv += f[0];
    sum.sent += f[8];
  }
  return interfaces > 0 ? sum : null;
}

export function readIo(root: string): IoCounters {
  return { disk: readDisk(root), net: readNet(root), at: performance.now() / 1000 };
}

/** The rates trackio/cpu.py logs between two readings (MB here is MiB, as Python's). */
export function ioRates(before: IoCounters, after: IoCounters): Sample {
  const out: Sample = {};
  const elapsed = after.at - before.at;
  if (!(elapsed > 0)) return out;
  if (before.disk && after.disk) {
    out["disk/read_mb_per_sec"] = (after.disk.readBytes - before.disk.readBytes) / elapsed / MIB;
    out["disk/write_mb_per_sec"] = (after.disk.writeBytes - before.disk.writeBytes) / elapsed / MIB;
    out["disk/read_iops"] = (after.disk.reads - before.disk.reads) / elapsed;
    out["disk/write_iops"] = (after.disk.writes - before.disk.writes) / elapsed;
  }
  if (before.net && after.net) {
    out["network/sent_mb_per_sec"] = (after.net.sent - before.net.sent) / elapsed / MIB;
    out["network/recv_mb_per_sec"] = (after.net.recv - before.net.recv) / elapsed / MIB;
  }
  return out;
}
