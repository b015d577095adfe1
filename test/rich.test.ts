import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { startTrackio, type TrackioServer, venvPython } from "../scripts/trackio-server.js";
import { Client, Histogram, Markdown, Table, TrackioError } from "../src/index.js";
import { callApi, queryProject } from "./support/read-api.js";
import { waitFor } from "./support/scenario.js";

process.env.TRACKIO_SPOOL_DIR = mkdtempSync(join(tmpdir(), "trackio-spool-"));

let server: TrackioServer;
let seq = 0;
const project = () => `rich-${process.pid}-${seq++}`;

before(async () => {
  server = await startTrackio();
});
after(async () => {
  await server?.stop();
});

describe("alerts", () => {
  test("alert() reaches the server through bulk_alert with its level, text and step", async () => {
    const p = project();
    const client = new Client({ baseUrl: server.writeUrl, project: p, run: "alerts" });
    for (let i = 0; i < 5; i++) client.log({ loss: 1 / (i + 1) }, i);
    client.alert({ title: "Loss spike", text: "loss jumped 3x", level: "error" });
    client.alert({ title: "Checkpoint saved", level: "info", step: 2 });
    client.alert({ title: "Default level" });
    await client.close();
    const alerts = await callApi<Record<string, unknown>[]>(server.url, "get_alerts", {
      project: p,
      run: null,
      run_id: client.runId,
      level: null,
      since: null,
    });
    const byTitle = new Map(alerts.map((a) => [a.title, a]));
    assert.equal(alerts.length, 3);
    assert.deepEqual(
      {
        level: byTitle.get("Loss spike")?.level,
        text: byTitle.get("Loss spike")?.text,
        step: byTitle.get("Loss spike")?.step,
      },
      { level: "error", text: "loss jumped 3x", step: 4 },
    );
    assert.equal(byTitle.get("Checkpoint saved")?.step, 2);
    assert.equal(byTitle.get("Default level")?.level, "warn");
    for (const a of alerts) assert.match(String(a.timestamp), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{6})?\+00:00$/);
    // Metrics rows are unaffected by the alerts between them.
    const [{ n }] = await queryProject(
      server.url,
      p,
      `SELECT COUNT(*) AS n FROM metrics WHERE run_id = '${client.runId}'`,
    );
    assert.equal(n, 5);
    assert.equal(client.stats().sent, 8);
  });

  test("bad alerts throw ERR_TRACKIO_INVALID_ARG", async () => {
    const client = new Client({ baseUrl: server.writeUrl, project: project(), run: "bad-alerts" });
    const isInvalid = (e: unknown) => e instanceof TrackioError && e.code === "ERR_TRACKIO_INVALID_ARG";
    assert.throws(() => client.alert({ title: "" }), isInvalid);
    assert.throws(() => client.alert({ title: "x", level: "fatal" as "error" }), isInvalid);
    assert.throws(() => client.alert({ title: "x", step: -1 }), isInvalid);
    assert.throws(() => client.alert(null as unknown as { title: string }), isInvalid);
    await client.close();
    assert.equal(client.stats().logged, 0);
  });
});

describe("structured values", () => {
  test("Histogram, Table and Markdown are stored as Trackio's Python types store them", async () => {
    const p = project();
    const client = new Client({ baseUrl: server.writeUrl, project: p, run: "values" });
    const hist = new Histogram([1, 2, 2, 3, 3, 3, Number.NaN], 3);
    const table = new Table({
      columns: ["text", "label"],
      data: [
        ["a cat", 1],
        ["a dog", 0, "extra"],
      ],
    });
    const objects = new Table({ data: [{ text: "hi", score: 0.5 }] });
    client.log({ hist, table, objects, report: new Markdown("# Title\n**bold**"), loss: 0.1 }, 0);
    await client.close();
    const [row] = await queryProject(server.url, p, `SELECT metrics FROM metrics WHERE run_id = '${client.runId}'`);
    const stored = JSON.parse(row.metrics as string);
    assert.deepEqual(stored.hist, {
      _type: "trackio.histogram",
      bins: [1, 1 + 2 / 3, 1 + 2 * (2 / 3), 3],
      values: [1, 2, 3],
    });
    assert.deepEqual(stored.table, {
      _type: "trackio.table",
      _value: [
        { text: "a cat", label: 1 },
        { text: "a dog", label: 0, "2": "extra" },
      ],
    });
    assert.deepEqual(stored.objects, { _type: "trackio.table", _value: [{ text: "hi", score: 0.5 }] });
    assert.deepEqual(stored.report, { _type: "trackio.markdown", _value: "# Title\n**bold**" });
    assert.equal(stored.loss, 0.1);
  });

  test("Histogram bins exactly as numpy.histogram does", () => {
    // The reference comes from numpy in the project's own venv.
    const script = `
import json, numpy as np
rng = np.random.default_rng(7)
out = []
for data in [rng.standard_normal(2000).tolist(), [5.0] * 10, [0, 0.1, 0.2, 0.30000000000000004, 1.0], list(range(257))]:
    for bins in (64, 10, 1, 600):
        h, e = np.histogram(np.asarray(data), bins=min(bins, 512))
        out.append({"data": data, "bins": bins, "edges": e.tolist(), "counts": h.tolist()})
print(json.dumps(out))`;
    const cases = JSON.parse(execFileSync(venvPython(), ["-c", script], { encoding: "utf8" })) as {
      data: number[];
      bins: number;
      edges: number[];
      counts: number[];
    }[];
    assert.equal(cases.length, 16);
    for (const c of cases) {
      const h = new Histogram(c.data, c.bins);
      assert.deepEqual(h.bins, c.edges, `edges for ${c.data.length} values in ${c.bins} bins`);
      assert.deepEqual(h.values, c.counts, `counts for ${c.data.length} values in ${c.bins} bins`);
    }
  });

  test("Histogram of nothing finite is empty; fromBins checks its shape", () => {
    assert.deepEqual(new Histogram([Number.NaN, Number.POSITIVE_INFINITY]).toJSON(), {
      _type: "trackio.histogram",
      bins: [],
      values: [],
    });
    assert.deepEqual(Histogram.fromBins([0, 1, 2], [4, 5]).toJSON().values, [4, 5]);
    assert.throws(() => Histogram.fromBins([0, 1], [1, 2]), { code: "ERR_TRACKIO_INVALID_ARG" });
    assert.throws(() => new Histogram([1], 0), { code: "ERR_TRACKIO_INVALID_ARG" });
  });
});

describe("system metrics", () => {
  test("systemMetrics samples in the worker and reaches bulk_log_system with timestamps", async () => {
    const p = project();
    const client = new Client({ baseUrl: server.writeUrl, project: p, run: "system", systemMetrics: 200 });
    client.log({ loss: 1 }, 0);
    // Spin without yielding: samples keep coming from the worker thread meanwhile.
    const end = performance.now() + 1200;
    while (performance.now() < end) {
      // a training step that never yields
    }
    // Yield until a sample carries the main thread's heap and event-loop figures (published by
    // its timer once the loop turns): on a busy machine that takes a varying number of samples.
    const systemRows = () =>
      callApi<Record<string, unknown>[]>(server.url, "get_system_logs", {
        project: p,
        run: null,
        run_id: client.runId,
      });
    await waitFor(
      "a system sample with the main thread's figures",
      async () => (await systemRows().catch(() => [])).some((r) => "process/heap_used_mb" in r),
      30_000,
    );
    await client.close();
    const rows = await systemRows();
    for (const r of rows) {
      assert.match(String(r.timestamp), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{6})?\+00:00$/);
      for (const key of ["cpu/utilization", "memory/used", "memory/total", "process/rss_mb", "process/cpu_percent"]) {
        assert.equal(typeof r[key], "number", `${key} in ${JSON.stringify(r)}`);
      }
      assert.ok((r["memory/total"] as number) > 0);
      assert.ok((r["process/rss_mb"] as number) > 0);
    }
    // The main thread's figures are absent, not 0, from samples taken before it ever yielded.
    const mainKeys = ["process/heap_used_mb", "eventloop/delay_p99_ms", "eventloop/delay_max_ms"];
    const withMain = rows.filter((r) => "process/heap_used_mb" in r);
    assert.ok(withMain.length < rows.length, "samples taken while the loop never yielded lack the main thread's keys");
    assert.ok(withMain.length >= 1, "samples after the loop yielded carry them");
    for (const r of rows) {
      if ("process/heap_used_mb" in r) {
        assert.ok((r["process/heap_used_mb"] as number) > 0);
        for (const key of mainKeys) assert.equal(typeof r[key], "number", key);
      } else {
        for (const key of mainKeys) assert.equal(key in r, false, key);
      }
    }
    // System samples are not user records: the record counters leave them out.
    assert.equal(client.stats().sent, 1);
    assert.equal(client.stats().logged, 1);
  });
});
