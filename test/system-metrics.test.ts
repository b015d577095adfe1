// System metrics side by side with Trackio's Python monitor (trackio/cpu.py with psutil, from
// the venv) on this machine, and through a REAL server: the keys our worker samples are the
// ones Python samples here, its rounding is Python's `round(x, 1)`, and what the server stores
// for a Node run (keys, ints and floats, which samples carry the static keys) is what it stores
// for a Python run logged the way Python's monitor logs. Values are compared where both read
// the same figure (memory total, core counts, frequency) and checked for range elsewhere: the
// two samplers cannot read the same instant.

import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { promisify } from "node:util";
import { startTrackio, type TrackioServer, venvPython } from "../scripts/trackio-server.js";
import { Client } from "../src/index.js";
import { SystemSampler } from "../worker/system.js";
import { pyRound1 } from "../worker/system-host.js";
import { queryProject, sqlString } from "./support/read-api.js";

const run = promisify(execFile);

async function python(script: string, ...args: string[]): Promise<string> {
  try {
    const { stdout } = await run(venvPython(), ["-c", script, ...args], {
      env: { ...process.env, TRACKIO_DIR: mkdtempSync(join(tmpdir(), "trackio-py-client-")) },
      timeout: 120_000,
      maxBuffer: 64 * 1024 * 1024,
    });
    return stdout;
  } catch (err) {
    const e = err as { stderr?: string };
    if (/No module named 'psutil'/.test(e.stderr ?? "")) {
      throw new Error("the venv lacks psutil (python/requirements.txt): run `npm run setup:python`");
    }
    throw err;
  }
}

/** Python's sensors and battery (psutil reads hwmon and power_supply): not sampled by ours. */
const PYTHON_ONLY = /^(temp|battery)\//;
/** Ours alone: the Node process and its main thread. */
const NODE_ONLY = /^(process|eventloop)\//;

// Python's monitor: counters at start, one sample after `elapsed`, with the static keys.
const PY_SAMPLE = `
import json, sys, time, psutil
from trackio.cpu import collect_cpu_metrics
disk, net, t0 = psutil.disk_io_counters(), psutil.net_io_counters(), time.monotonic()
time.sleep(float(sys.argv[1]))
print(json.dumps(collect_cpu_metrics(disk, net, time.monotonic() - t0, include_static=True)))
`;

describe("against Python's sampler on this machine", () => {
  let py: Record<string, number>;
  let ours: Record<string, number>;
  before(async () => {
    const sampler = new SystemSampler(new Int32Array(64));
    const [pyText] = await Promise.all([python(PY_SAMPLE, "1"), new Promise((r) => setTimeout(r, 1000))]);
    ours = await sampler.sample();
    py = JSON.parse(pyText);
  });

  test("the same keys (Python's sensors and battery aside), in the same order", () => {
    const pyKeys = Object.keys(py).filter((k) => !PYTHON_ONLY.test(k));
    const ourKeys = Object.keys(ours).filter((k) => !NODE_ONLY.test(k) && !k.startsWith("gpu/"));
    assert.ok(pyKeys.length >= 19, `Python sampled ${pyKeys.length} keys: ${pyKeys}`);
    assert.deepEqual(ourKeys, pyKeys);
  });

  test("the same figures where both read the same one; Python's rounding and ranges elsewhere", () => {
    for (const key of ["memory/total", "swap/total", "cpu/count_logical", "cpu/count_physical", "cpu/frequency_max"]) {
      assert.equal(ours[key], py[key], key);
    }
    // A VM's /proc/cpuinfo figure stands still; a real CPU's moves between the two reads.
    assert.ok(Math.abs(ours["cpu/frequency"] - py["cpu/frequency"]) <= py["cpu/frequency"] * 0.5, "cpu/frequency");
    for (const [key, value] of Object.entries(ours)) {
      assert.ok(Number.isFinite(value) && value >= 0, `${key} = ${value}`);
      if (/^cpu\/(\d+\/)?utilization$|percent$/.test(key) && !NODE_ONLY.test(key)) {
        assert.ok(value <= 100, `${key} = ${value}`);
      }
      if (/^cpu\/\d+\/utilization$|^(memory|swap)\/percent$/.test(key)) {
        assert.equal(pyRound1(value), value, `${key} = ${value} has one decimal`);
      }
    }
    assert.ok(Math.abs(ours["memory/percent"] - py["memory/percent"]) < 20, "memory/percent");
  });

  test("pyRound1 is Python's round(x, 1) on ties, near-ties and ordinary values", async () => {
    const xs: number[] = [];
    for (let k = 0; k <= 400; k++) xs.push(k / 4, k / 40, k / 400 + 0.05);
    for (let k = 0; k <= 1000; k++) xs.push((k * 100) / 1000, ((k * 7919) % 1000) / 9.7, k * 0.15);
    let seed = 7;
    for (let k = 0; k < 2000; k++) {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      xs.push((seed / 2 ** 31) * 100);
    }
    const script = "import json, sys\nprint(json.dumps([round(x, 1) for x in json.load(sys.stdin)]))";
    const child = execFile(venvPython(), ["-c", script], { maxBuffer: 64 * 1024 * 1024 });
    const out = new Promise<string>((resolve, reject) => {
      let text = "";
      child.stdout?.on("data", (c) => {
        text += c;
      });
      child.on("error", reject);
      child.on("close", (code) => (code === 0 ? resolve(text) : reject(new Error(`python exited ${code}`))));
    });
    child.stdin?.end(JSON.stringify(xs));
    const rounded = JSON.parse(await out) as number[];
    const differ = xs.filter((x, i) => pyRound1(x) !== rounded[i]);
    assert.deepEqual(differ, [], "values whose rounding differs");
  });
});

describe("through a real server, beside a Python run", () => {
  let server: TrackioServer;
  const project = "system-vs-python";
  let nodeRows: Record<string, unknown>[];
  let pyRows: Record<string, unknown>[];

  before(async () => {
    server = await startTrackio();
    // Python's monitor logs its first sample with the static keys and later ones without.
    await python(
      `
import sys, time, psutil, trackio
from trackio.cpu import collect_cpu_metrics
run = trackio.init(project=sys.argv[2], name="py", server_url=sys.argv[1], auto_log_cpu=False, auto_log_gpu=False)
disk, net, t = psutil.disk_io_counters(), psutil.net_io_counters(), time.monotonic()
for first in (True, False):
    time.sleep(0.3)
    now = time.monotonic()
    run.log_system(collect_cpu_metrics(disk, net, now - t, include_static=first))
    disk, net, t = psutil.disk_io_counters(), psutil.net_io_counters(), now
trackio.finish()
`,
      server.writeUrl,
      project,
    );
    const rows = (name: string) =>
      queryProject(
        server.url,
        project,
        `SELECT metrics FROM system_metrics WHERE run_name = ${sqlString(name)} ORDER BY timestamp, id`,
      );
    const client = new Client({ baseUrl: server.writeUrl, project, run: "node", systemMetrics: 300, quiet: true });
    client.log({ loss: 1 }, 0);
    // Three samples, however long the worker takes to start (bounded by the test's timeout).
    while ((await rows("node")).length < 3) await new Promise((r) => setTimeout(r, 200));
    await client.close();
    nodeRows = await rows("node");
    pyRows = await rows("py");
  });
  after(async () => {
    await server?.stop();
  });

  /** Each key of a stored row, with whether its JSON text is an int or a float. */
  function shape(row: Record<string, unknown>, skip: RegExp): string[] {
    const text = String(row.metrics);
    const out: string[] = [];
    for (const m of text.matchAll(/"([^"]+)":\s*(-?[0-9][0-9.eE+-]*)/g)) {
      if (!skip.test(m[1])) out.push(`${m[1]}:${/[.eE]/.test(m[2]) ? "float" : "int"}`);
    }
    return out;
  }

  test("the stored keys, ints and floats are Python's; static keys in the first sample only", () => {
    assert.equal(pyRows.length, 2);
    assert.ok(nodeRows.length >= 3, `expected at least 3 samples, got ${nodeRows.length}`);
    const drop = /^(temp|battery|process|eventloop|gpu)\//;
    assert.deepEqual(shape(nodeRows[0], drop), shape(pyRows[0], drop));
    for (const row of nodeRows.slice(1)) assert.deepEqual(shape(row, drop), shape(pyRows[1], drop));
    // Ours add the process's keys to every sample, as floats.
    for (const row of nodeRows) {
      assert.deepEqual(shape(row, /^(?!process|eventloop)/).slice(0, 2), [
        "process/cpu_percent:float",
        "process/rss_mb:float",
      ]);
    }
  });
});
