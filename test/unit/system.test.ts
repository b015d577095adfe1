// worker/system*.ts on a fixture tree of Linux files: the keys, arithmetic and rounding of
// Trackio's Python monitor (psutil's), the first-sample-only keys, the GPU query and its
// fallback, the int/float text of a sample, and the option's default and environment
// variable. test/system-metrics.test.ts compares the same sampler with Python's on this
// machine and through the real server.

import assert from "node:assert/strict";
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { after, describe, test } from "node:test";
import { resolveOptions } from "../../src/options.js";
import { SystemSampler, systemSampleJson } from "../../worker/system.js";
import { GpuReader, parseNvidiaSmi } from "../../worker/system-gpu.js";
import {
  corePercents,
  cpuFrequency,
  ioRates,
  memoryMetrics,
  physicalCores,
  pyRound1,
  readCoreTimes,
  readDisk,
  readNet,
} from "../../worker/system-host.js";

const GIB = 1024 ** 3;
const MIB = 1024 ** 2;
const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function tree(files: Record<string, string>): string {
  const root = mkdtempSync(join(tmpdir(), "trackio-sys-"));
  dirs.push(root);
  for (const [path, text] of Object.entries(files)) {
    if (path.endsWith("/")) {
      mkdirSync(join(root, path), { recursive: true });
      continue;
    }
    mkdirSync(dirname(join(root, path)), { recursive: true });
    writeFileSync(join(root, path), text);
  }
  return root;
}

const STAT_1 =
  "cpu  1 2 3 4\ncpu0 100 0 50 800 50 0 0 0 0 0\ncpu1 200 10 40 700 0 5 5 0 20 0\ncpu2 0 0 0 0 0 0 0 0 0 0\nintr 1\n";
// cpu0: 40 busy of 100 (iowait is not busy); cpu1: guest time is already in user, so the
// total is 120 and 70 of it busy; cpu2: 12.25 %, an exact tie that Python rounds to even.
const STAT_2 =
  "cpu  9 9 9 9\ncpu0 130 0 60 850 60 0 0 0 0 0\ncpu1 260 10 50 750 0 5 5 0 40 0\ncpu2 49 0 0 351 0 0 0 0 0 0\n";
const MEMINFO = [
  "MemTotal:        4000000 kB",
  "MemFree:          100000 kB",
  "MemAvailable:    3510000 kB",
  "Buffers:            1000 kB",
  "Cached:             2000 kB",
  "SwapCached:            0 kB",
  "Active(anon):        10 kB",
  "SwapTotal:       2000000 kB",
  "SwapFree:        1955000 kB",
  "",
].join("\n");
const zeros = (n: number) => Array(n).fill(0).join(" ");
const DISKSTATS = [
  `   7       0 loop0 ${zeros(17)}`,
  " 254       0 vda 100 0 2048 0 50 0 4096 0 0 0 0 0 0 0 0 0 0",
  " 254       1 vda1 90 0 2000 0 40 0 4000 0 0 0 0 0 0 0 0 0 0",
  // Kernels before 4.18 write 11 counters.
  " 254      16 vdb 1 0 8 0 2 0 16 0 0 0 0",
  "",
].join("\n");
const NETDEV = [
  "Inter-|   Receive                                                |  Transmit",
  " face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed",
  "    lo:    1000      10    0    0    0     0          0         0     1000      10    0    0    0     0       0          0",
  "  eth0: 5000 50 0 0 0 0 0 0 3000 30 0 0 0 0 0 0",
  "",
].join("\n");
const CPUINFO =
  "processor\t: 0\nphysical id\t: 0\ncpu cores\t: 2\ncpu MHz\t\t: 2596.096\n\nprocessor\t: 1\nphysical id\t: 0\ncpu cores\t: 2\ncpu MHz\t\t: 2400.5\n\n";

function host(extra: Record<string, string> = {}): string {
  return tree({
    "proc/stat": STAT_1,
    "proc/meminfo": MEMINFO,
    "proc/diskstats": DISKSTATS,
    "proc/net/dev": NETDEV,
    "proc/cpuinfo": CPUINFO,
    "sys/block/loop0/": "",
    "sys/block/vda/": "",
    "sys/block/vdb/": "",
    "sys/devices/system/cpu/cpu0/topology/core_cpus_list": "0-1\n",
    "sys/devices/system/cpu/cpu1/topology/core_cpus_list": "0-1\n",
    "sys/devices/system/cpu/cpu2/topology/core_cpus_list": "2\n",
    ...extra,
  });
}

describe("Python's round(x, 1)", () => {
  test("ties to even on exact quarters, the double's exact value elsewhere", () => {
    const cases: [number, number][] = [
      [0.25, 0.2],
      [0.75, 0.8],
      [12.25, 12.2],
      [2.25, 2.2],
      [99.75, 99.8],
      [0.35, 0.3], // 0.35 is 0.34999… as a double
      [2.675, 2.7],
      [0.05, 0.1],
      [1.45, 1.4],
      [100, 100],
      [0, 0],
      [33.333333, 33.3],
    ];
    for (const [x, want] of cases) assert.equal(pyRound1(x), want, `round(${x}, 1)`);
  });
});

describe("the Linux readers, as psutil reads the same files", () => {
  test("per-core busy share: idle and iowait are not busy, guest is not counted twice, one decimal", () => {
    const before = readCoreTimes(host());
    const after = readCoreTimes(host({ "proc/stat": STAT_2 }));
    assert.ok(before && after);
    assert.deepEqual(corePercents(before, after), [40, 58.3, 12.2]);
    // Counters that went backwards count as 0; a core with no time passed reads 0.
    assert.deepEqual(corePercents(after, before), [0, 0, 0]);
  });

  test("memory and swap in GiB; percents rounded as psutil rounds them", () => {
    const m = memoryMetrics(host());
    const total = 4000000 * 1024;
    const avail = 3510000 * 1024;
    assert.deepEqual(m, {
      "memory/used": (total - avail) / GIB,
      "memory/total": total / GIB,
      "memory/available": avail / GIB,
      "memory/percent": 12.2,
      "swap/used": (45000 * 1024) / GIB,
      "swap/total": (2000000 * 1024) / GIB,
      "swap/percent": 2.2,
    });
    // No swap configured: psutil's percent of an empty total is 0.0.
    const noSwap = memoryMetrics(host({ "proc/meminfo": MEMINFO.replace(/Swap(Total|Free): +\d+/g, "Swap$1: 0") }));
    assert.equal(noSwap?.["swap/percent"], 0);
    // MemAvailable above MemTotal (a container seeing the host's): psutil takes MemFree.
    const odd = memoryMetrics(host({ "proc/meminfo": MEMINFO.replace("3510000", "9000000") }));
    assert.equal(odd?.["memory/available"], (100000 * 1024) / GIB);
  });

  test("disk counters of whole devices only, in 512-byte sectors; network over every interface", () => {
    assert.deepEqual(readDisk(host()), { reads: 101, writes: 52, readBytes: 2056 * 512, writeBytes: 4112 * 512 });
    assert.deepEqual(readNet(host()), { recv: 6000, sent: 4000 });
    // No whole device (a container's partitions only) and no interface: no counters, as psutil.
    assert.equal(
      readDisk(host({ "proc/diskstats": DISKSTATS.replace(/vd[ab] /g, "vdz ").replace(/loop0/, "loopz") })),
      null,
    );
    assert.equal(readNet(host({ "proc/net/dev": NETDEV.split("\n").slice(0, 2).join("\n") })), null);
    const before = { disk: { reads: 100, writes: 50, readBytes: 0, writeBytes: 0 }, net: { sent: 0, recv: 0 }, at: 10 };
    const after = {
      disk: { reads: 110, writes: 90, readBytes: 2 * MIB, writeBytes: 8 * MIB },
      net: { sent: 4 * MIB, recv: MIB },
      at: 12,
    };
    assert.deepEqual(ioRates(before, after), {
      "disk/read_mb_per_sec": 1,
      "disk/write_mb_per_sec": 4,
      "disk/read_iops": 5,
      "disk/write_iops": 20,
      "network/sent_mb_per_sec": 2,
      "network/recv_mb_per_sec": 0.5,
    });
    assert.deepEqual(ioRates(before, { ...after, at: 10 }), {}, "no time passed, no rate");
  });

  test("physical cores: distinct sibling lists in sysfs, else sockets' cores in /proc/cpuinfo", () => {
    assert.equal(physicalCores(host()), 2);
    const noTopology = tree({ "proc/cpuinfo": CPUINFO });
    assert.equal(physicalCores(noTopology), 2);
    assert.equal(physicalCores(tree({ "proc/cpuinfo": "processor\t: 0\n" })), null);
  });

  test("frequency: /proc/cpuinfo's mean without cpufreq; with it, psutil's choice of source and the mean max", () => {
    assert.deepEqual(cpuFrequency(host()), { current: (2596.096 + 2400.5) / 2, max: 0 });
    const policy = (n: number, cur: string, max: string) => ({
      [`sys/devices/system/cpu/cpufreq/policy${n}/scaling_cur_freq`]: cur,
      [`sys/devices/system/cpu/cpufreq/policy${n}/scaling_max_freq`]: max,
      [`sys/devices/system/cpu/cpufreq/policy${n}/scaling_min_freq`]: "800000\n",
    });
    // As many policies as cpuinfo figures: cpuinfo's, truncated to kHz.
    const both = host({ ...policy(0, "1000000\n", "3000000\n"), ...policy(1, "1200000\n", "3400000\n") });
    assert.deepEqual(cpuFrequency(both), { current: (2596.096 + 2400.5) / 2, max: 3200 });
    // Otherwise scaling_cur_freq.
    const sysfsOnly = tree({ ...policy(0, "1000000\n", "3000000\n"), "proc/cpuinfo": "processor\t: 0\n" });
    assert.deepEqual(cpuFrequency(sysfsOnly), { current: 1000, max: 3000 });
    assert.equal(cpuFrequency(tree({ "proc/cpuinfo": "processor\t: 0\n" })), null);
  });
});

describe("SystemSampler", () => {
  test("Python's keys in Python's order; frequency and core counts in the first sample only; no GPU, no GPU keys", async () => {
    const root = host();
    const sampler = new SystemSampler(new Int32Array(64), { root, gpuCommand: join(root, "no-nvidia-smi") });
    writeFileSync(join(root, "proc/stat"), STAT_2);
    const first = await sampler.sample();
    const hostKeys = (s: Record<string, number>) => Object.keys(s).filter((k) => !k.startsWith("process/"));
    assert.deepEqual(hostKeys(first), [
      "cpu/0/utilization",
      "cpu/1/utilization",
      "cpu/2/utilization",
      "cpu/utilization",
      "cpu/frequency",
      "cpu/count_logical",
      "cpu/count_physical",
      "memory/used",
      "memory/total",
      "memory/available",
      "memory/percent",
      "swap/used",
      "swap/total",
      "swap/percent",
      "disk/read_mb_per_sec",
      "disk/write_mb_per_sec",
      "disk/read_iops",
      "disk/write_iops",
      "network/sent_mb_per_sec",
      "network/recv_mb_per_sec",
    ]);
    assert.equal(first["cpu/utilization"], (40 + 58.3 + 12.2) / 3);
    assert.equal(first["cpu/count_logical"], 3);
    assert.equal(first["cpu/count_physical"], 2);
    assert.equal(first["disk/read_iops"], 0, "the fixture's counters stood still");
    assert.ok(first["process/rss_mb"] > 0);
    const second = await sampler.sample();
    assert.deepEqual(
      hostKeys(second),
      hostKeys(first).filter((k) => !/^cpu\/(frequency|count_)/.test(k)),
    );
    assert.deepEqual([second["cpu/0/utilization"], second["cpu/utilization"]], [0, 0], "no time passed on any core");
  });

  test("a sample's JSON: core counts and NVML's integer readings as ints, everything else as floats", () => {
    const text = systemSampleJson({
      "cpu/0/utilization": 100,
      "cpu/count_logical": 2,
      "cpu/count_physical": 1,
      "memory/percent": 12,
      "swap/used": 0,
      "gpu/0/utilization": 97,
      "gpu/0/temp": 71,
      "gpu/0/throttle_power": 0,
      "gpu/0/corrected_memory_errors": 0,
      "gpu/0/power": 250,
      "gpu/max_temp": 71,
      "gpu/total_power": 250,
      "process/rss_mb": 80,
    });
    assert.equal(
      text,
      '{"cpu/0/utilization":100.0,"cpu/count_logical":2,"cpu/count_physical":1,"memory/percent":12.0,"swap/used":0.0,' +
        '"gpu/0/utilization":97,"gpu/0/temp":71,"gpu/0/throttle_power":0,"gpu/0/corrected_memory_errors":0,' +
        '"gpu/0/power":250.0,"gpu/max_temp":71,"gpu/total_power":250.0,"process/rss_mb":80.0}',
    );
  });
});

describe("GPUs through nvidia-smi", () => {
  test("the full query, under the names trackio/gpu.py gives NVML's figures", () => {
    const row = (i: number, temp: string) =>
      `${i}, 97, 40, 8192, 16384, 250.5, ${temp}, 300.00, 1980, 9501, 45, P2, Not Active, Active, Not Active, Not Active, 0, [N/A]`;
    const s = parseNvidiaSmi(`${row(0, "71")}\n${row(1, "65")}\n`);
    assert.deepEqual(Object.fromEntries(Object.entries(s).filter(([k]) => k.startsWith("gpu/0/"))), {
      "gpu/0/utilization": 97,
      "gpu/0/memory_utilization": 40,
      "gpu/0/allocated_memory": 8,
      "gpu/0/total_memory": 16,
      "gpu/0/memory_usage": 0.5,
      "gpu/0/power": 250.5,
      "gpu/0/power_limit": 300,
      "gpu/0/power_percent": (250.5 / 300) * 100,
      "gpu/0/temp": 71,
      "gpu/0/sm_clock": 1980,
      "gpu/0/memory_clock": 9501,
      "gpu/0/fan_speed": 45,
      "gpu/0/performance_state": 2,
      "gpu/0/throttle_thermal": 0,
      "gpu/0/throttle_power": 1,
      "gpu/0/throttle_hw_slowdown": 0,
      "gpu/0/throttle_apps": 0,
      "gpu/0/corrected_memory_errors": 0,
    });
    assert.equal(s["gpu/mean_utilization"], 97);
    assert.equal(s["gpu/total_allocated_memory"], 16);
    assert.equal(s["gpu/total_power"], 501);
    assert.equal(s["gpu/max_temp"], 71);
  });

  test("an nvidia-smi that refuses the full query is asked the basic one; none at all is asked once", async () => {
    const root = tree({});
    const log = join(root, "calls");
    const fake = join(root, "nvidia-smi");
    // Refuses any query naming pstate, as a driver without that field would.
    writeFileSync(
      fake,
      `#!${process.execPath}\nconst fs = require("node:fs");\nfs.appendFileSync(${JSON.stringify(log)}, process.argv[2] + "\\n");\n` +
        `if (process.argv[2].includes("pstate")) process.exit(6);\nconsole.log("0, 50, 10, 1024, 4096, 70.25, 64");\n`,
    );
    chmodSync(fake, 0o755);
    const reader = new GpuReader(fake);
    const first = await reader.read();
    assert.equal(first["gpu/0/utilization"], 50);
    assert.equal(first["gpu/0/temp"], 64);
    assert.equal(first["gpu/0/power_limit"], undefined, "not in the basic query");
    await reader.read();
    const calls = readFileSync(log, "utf8").trim().split("\n");
    assert.equal(calls.length, 3, "full (refused), basic, then basic again");
    assert.match(calls[0], /pstate/);
    assert.doesNotMatch(calls[2], /pstate/);
    const none = new GpuReader(join(root, "missing"));
    assert.deepEqual(await none.read(), {});
    assert.deepEqual(await none.read(), {});
  });
});

describe("the systemMetrics option", () => {
  test("on every 10 s by default, as Python's monitors; false or TRACKIO_SYSTEM_METRICS turns it off", () => {
    const saved = process.env.TRACKIO_SYSTEM_METRICS;
    try {
      delete process.env.TRACKIO_SYSTEM_METRICS;
      assert.equal(resolveOptions({}).systemMetricsMs, 10_000);
      assert.equal(resolveOptions({ systemMetrics: false }).systemMetricsMs, 0);
      assert.equal(resolveOptions({ systemMetrics: 250 }).systemMetricsMs, 250);
      for (const [raw, ms] of [
        ["false", 0],
        ["0", 0],
        ["TRUE", 10_000],
        ["1", 10_000],
        ["2500", 2500],
      ] as const) {
        process.env.TRACKIO_SYSTEM_METRICS = raw;
        assert.equal(resolveOptions({}).systemMetricsMs, ms, raw);
      }
      process.env.TRACKIO_SYSTEM_METRICS = "false";
      assert.equal(resolveOptions({ systemMetrics: true }).systemMetricsMs, 10_000, "the option wins");
      process.env.TRACKIO_SYSTEM_METRICS = "often";
      assert.throws(() => resolveOptions({}), { code: "ERR_TRACKIO_INVALID_ARG", message: /TRACKIO_SYSTEM_METRICS/ });
      process.env.TRACKIO_SYSTEM_METRICS = "50";
      assert.throws(() => resolveOptions({}), { code: "ERR_TRACKIO_INVALID_ARG" });
    } finally {
      if (saved === undefined) delete process.env.TRACKIO_SYSTEM_METRICS;
      else process.env.TRACKIO_SYSTEM_METRICS = saved;
    }
  });
});
