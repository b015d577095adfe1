// The read API (`Api`) against REAL servers: what our Client and Trackio's Python client logged
// is read back through it and compared with what was logged, and with what Trackio's own
// readers (get_logs, get_system_logs) and the raw table (query_project) say. The last block
// reads a Gradio-based Trackio 0.23 (.venv-legacy), where Trackio's reader samples.

import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { promisify } from "node:util";
import { type LegacyTrackioServer, setupLegacyVenv, startLegacyTrackio } from "../scripts/trackio-legacy-server.js";
import { startTrackio, type TrackioServer, venvPython } from "../scripts/trackio-server.js";
import {
  Api,
  Client,
  ClosedError,
  InvalidArgError,
  type MetricRow,
  NotFoundError,
  type Run,
  TrackioError,
} from "../src/index.js";
import { parsePythonJson } from "../src/reader.js";
import { callApi, runRows } from "./support/read-api.js";

let server: TrackioServer;
/** Reads with no write token at all: the server allows them. */
let api: Api;

before(async () => {
  server = await startTrackio();
  api = new Api({ baseUrl: server.url });
});
after(async () => {
  await api?.close();
  await server?.stop();
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function runNamed(project: string, name: string): Promise<Run> {
  const run = (await api.runs(project)).find((r) => r.name === name);
  assert.ok(run, `run ${name} in ${project}`);
  return run;
}

/** The value logged as `loss` at log call `seq`: non-finite ones at fixed places. */
function lossAt(seq: number): number {
  if (seq % 1000 === 1) return Number.NaN;
  if (seq % 1000 === 2) return Number.POSITIVE_INFINITY;
  if (seq % 1000 === 3) return Number.NEGATIVE_INFINITY;
  return 1 / (seq + 1);
}

describe("what our Client logged", () => {
  // 12,000 log calls: more than get_logs' 3000 points and than query_project's 10,000-row cap,
  // so the rows come in three pages. 30 calls share step 4990, where the first page ends in
  // the middle of them; the second half of the steps is logged first, so storage order is
  // not step order.
  const N = 12_000;
  const stepOf = (i: number) => (i < 4990 ? i : i < 5020 ? 4990 : i - 29);
  const order = [...Array.from({ length: N / 2 }, (_, k) => N / 2 + k), ...Array.from({ length: N / 2 }, (_, k) => k)];
  let client: Client;
  let other: Client;
  const project = "api-client";

  before(async () => {
    client = new Client({
      baseUrl: server.writeUrl,
      project,
      run: "long",
      config: { lr: 0.001, layers: [64, 64], optimizer: { name: "adam" } },
      quiet: true,
    });
    order.forEach((i, seq) => {
      client.log({ i, seq, loss: lossAt(seq), tag: i % 2 === 0 ? "even" : "odd" }, stepOf(i));
    });
    await client.close();
    other = new Client({ baseUrl: server.writeUrl, project, run: "short", quiet: true });
    other.log({ acc: 0.5 }, 0);
    await other.close();
  });

  test("projects() lists it; runs() gives both runs, oldest first, with ids, times and configs", async () => {
    assert.ok((await api.projects()).includes(project));
    const runs = await api.runs(project);
    assert.deepEqual(
      runs.map((r) => [r.name, r.id]),
      [
        ["long", client.runId],
        ["short", other.runId],
      ],
    );
    const [long, short] = runs;
    assert.equal(long.project, project);
    assert.match(String(long.createdAt), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{6})?\+00:00$/);
    assert.ok(String(long.createdAt) <= String(short.createdAt));
    // Trackio's own keys (_Username, _Created, _Group) are not part of the config.
    assert.deepEqual(long.config, { lr: 0.001, layers: [64, 64], optimizer: { name: "adam" } });
    assert.equal(long.group, null);
    assert.deepEqual(short.config, {});
  });

  test("metrics() returns all 12,000 rows in step order, non-finite values restored", async () => {
    const long = await runNamed(project, "long");
    const rows = await long.metrics();
    assert.equal(rows.length, N);
    assert.equal((await runRows(server.url, project, long.id)).rows, N);
    // Trackio's own reader returns a sample: what the paging is for.
    const sampled = await callApi<unknown[]>(server.url, "get_logs", { project, run: null, run_id: client.runId });
    assert.ok(sampled.length <= 3001, `get_logs returned ${sampled.length}`);

    const expected = order
      .map((i, seq) => ({ i, seq, step: stepOf(i) }))
      .sort((a, b) => a.step - b.step || a.seq - b.seq);
    assert.deepEqual(
      rows.map((r) => [r.step, r.i, r.seq]),
      expected.map((e) => [e.step, e.i, e.seq]),
    );
    for (const r of rows) {
      assert.deepEqual(Object.keys(r), ["step", "timestamp", "i", "seq", "loss", "tag"]);
      assert.match(r.timestamp, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{6})?\+00:00$/);
      assert.equal(r.tag, (r.i as number) % 2 === 0 ? "even" : "odd");
      assert.ok(Object.is(r.loss, lossAt(r.seq as number)), `loss of seq ${r.seq}: ${r.loss}`);
    }
    const nonFinite = rows.filter((r) => !Number.isFinite(r.loss as number));
    assert.equal(nonFinite.length, 36);
  });

  test("a run's alerts, filtered by level and time; the project's, by run", async () => {
    const c = new Client({ baseUrl: server.writeUrl, project, run: "alerting", quiet: true });
    c.log({ x: 1 }, 0);
    c.alert({ title: "slow", text: "step took 2 s", level: "warn" });
    c.alert({ title: "note", level: "info", step: 0 });
    await c.flush();
    await sleep(50);
    const between = new Date();
    await sleep(50);
    c.alert({ title: "diverged", text: "loss is NaN", level: "error", step: 7 });
    await c.close();
    const run = await runNamed(project, "alerting");

    const all = await run.alerts();
    // Newest first, as Trackio lists them.
    assert.deepEqual(
      all.map((a) => a.title),
      ["diverged", ...all.slice(1).map((a) => a.title)],
    );
    assert.deepEqual(all.map((a) => a.title).sort(), ["diverged", "note", "slow"]);
    assert.deepEqual(all[0], {
      timestamp: all[0].timestamp,
      run: "alerting",
      title: "diverged",
      text: "loss is NaN",
      level: "error",
      step: 7,
    });
    assert.deepEqual(
      (await run.alerts({ level: "warn" })).map((a) => [a.title, a.text, a.step]),
      [["slow", "step took 2 s", 0]],
    );
    assert.deepEqual(
      (await run.alerts({ since: between })).map((a) => a.title),
      ["diverged"],
    );
    assert.deepEqual(
      (await run.alerts({ since: all[0].timestamp })).map((a) => a.title),
      [],
    );

    assert.deepEqual(
      (await api.alerts(project, { level: "info" })).map((a) => [a.run, a.title]),
      [["alerting", "note"]],
    );
    assert.deepEqual(await api.alerts(project, { run: "long" }), []);
    assert.equal((await api.alerts(project, { run: "alerting" })).length, 3);
  });

  test("systemMetrics(): every sample of the run, oldest first", async () => {
    const c = new Client({ baseUrl: server.writeUrl, project, run: "sampled", systemMetrics: 100, quiet: true });
    c.log({ x: 1 }, 0);
    // Samples are taken every 100 ms in the worker; wait until the server has a few.
    const deadline = Date.now() + 20_000;
    let samples = 0;
    while (samples < 5 && Date.now() < deadline) {
      await sleep(200);
      await c.flush();
      samples = (await callApi<unknown[]>(server.url, "get_system_logs", { project, run: null, run_id: c.runId }))
        .length;
    }
    await c.close();
    const stored = await callApi<Record<string, unknown>[]>(server.url, "get_system_logs", {
      project,
      run: null,
      run_id: c.runId,
    });
    assert.ok(stored.length >= 5, `${stored.length} samples`);

    const rows = await (await runNamed(project, "sampled")).systemMetrics();
    assert.equal(rows.length, stored.length);
    for (const [k, r] of rows.entries()) {
      assert.equal(Object.keys(r)[0], "timestamp");
      assert.ok(k === 0 || rows[k - 1].timestamp <= r.timestamp);
      const values = Object.entries(r).filter(([key]) => key !== "timestamp");
      assert.ok(values.length > 0);
      for (const [key, value] of values) assert.equal(typeof value, "number", key);
      // The same values Trackio's reader gives, keyed the same.
      assert.deepEqual(r, { timestamp: r.timestamp, ...stored[k] });
    }
    // A run without samples has none.
    assert.deepEqual(await (await runNamed(project, "short")).systemMetrics(), []);
  });
});

describe("what Trackio's Python client logged", () => {
  const project = "api-python";
  before(async () => {
    const script = `
import math, sys, trackio
trackio.init(project=${JSON.stringify(project)}, name="py", group="sweep-1", config={"lr": 0.01, "layers": 3},
             server_url=sys.argv[1], auto_log_cpu=False, auto_log_gpu=False)
for step in range(3200):
    loss = math.nan if step == 10 else math.inf if step == 11 else -math.inf if step == 12 else 1 / (step + 1)
    trackio.log({"loss": loss, "acc": step / 3200}, step=step)
trackio.alert(title="py-warn", text="from python", level=trackio.AlertLevel.WARN)
trackio.alert(title="py-error", level=trackio.AlertLevel.ERROR)
trackio.finish()
`;
    await promisify(execFile)(venvPython(), ["-c", script, server.writeUrl], {
      // A directory of its own: the Python client must write through the server, not next to it.
      env: { ...process.env, TRACKIO_DIR: mkdtempSync(join(tmpdir(), "trackio-py-client-")) },
      timeout: 120_000,
    });
  });

  test("its run, id, group and config; all 3200 rows with NaN and ±Infinity; its alerts", async () => {
    const [run] = await api.runs(project);
    assert.equal(run.name, "py");
    assert.match(run.id, /\S/);
    assert.equal(run.group, "sweep-1");
    assert.deepEqual(run.config, { lr: 0.01, layers: 3 });
    assert.equal((await runRows(server.url, project, run.id)).rows, 3200);

    const rows: MetricRow[] = await run.metrics();
    assert.equal(rows.length, 3200);
    assert.deepEqual(
      rows.map((r) => r.step),
      Array.from({ length: 3200 }, (_, s) => s),
    );
    assert.ok(Number.isNaN(rows[10].loss));
    assert.equal(rows[11].loss, Number.POSITIVE_INFINITY);
    assert.equal(rows[12].loss, Number.NEGATIVE_INFINITY);
    assert.deepEqual(rows[100], { step: 100, timestamp: rows[100].timestamp, loss: 1 / 101, acc: 100 / 3200 });

    assert.deepEqual(
      (await run.alerts({ level: "error" })).map((a) => [a.run, a.title, a.level]),
      [["py", "py-error", "error"]],
    );
    assert.deepEqual((await api.alerts(project, { run: "py" })).map((a) => a.title).sort(), ["py-error", "py-warn"]);
  });
});

describe("errors", () => {
  test("a project that does not exist: NotFoundError naming the project and the server", async () => {
    for (const call of [() => api.runs("no-such-project"), () => api.alerts("no-such-project")]) {
      await assert.rejects(call(), (err: unknown) => {
        assert.ok(err instanceof NotFoundError);
        assert.ok(err instanceof TrackioError);
        assert.equal(err.code, "ERR_TRACKIO_NOT_FOUND");
        assert.match(err.message, /project "no-such-project" does not exist on http:\/\/127\.0\.0\.1:\d+\//);
        return true;
      });
    }
  });

  test("bad arguments are refused at the call", async () => {
    await assert.rejects(api.runs(""), InvalidArgError);
    await assert.rejects(api.runs(42 as unknown as string), InvalidArgError);
    await assert.rejects(api.alerts("api-client", { level: "fatal" as "error" }), InvalidArgError);
    await assert.rejects(api.alerts("api-client", { since: new Date(Number.NaN) }), InvalidArgError);
    await assert.rejects(api.alerts("api-client", { run: "" }), InvalidArgError);
    assert.throws(() => new Api({ baseUrl: "ftp://example.com" }), InvalidArgError);
    assert.throws(() => new Api({ timeoutMs: -1 }), InvalidArgError);
  });

  test("the URL may carry the write token, and the Space-id and env defaults are the Client's", async () => {
    const withToken = new Api({ baseUrl: server.writeUrl });
    assert.equal(withToken.url, server.url);
    assert.ok((await withToken.projects()).includes("api-client"));
    await withToken.close();
    assert.equal(new Api({ baseUrl: "someone/my_space" }).url, "https://someone-my-space.hf.space/");
    const saved = process.env.TRACKIO_SERVER_URL;
    process.env.TRACKIO_SERVER_URL = server.url;
    try {
      assert.equal(new Api().url, server.url);
    } finally {
      if (saved === undefined) delete process.env.TRACKIO_SERVER_URL;
      else process.env.TRACKIO_SERVER_URL = saved;
    }
  });

  test("after close(), reads reject with ClosedError", async () => {
    const closing = new Api({ baseUrl: server.url });
    const [run] = await closing.runs("api-client");
    await closing.close();
    await assert.rejects(closing.projects(), ClosedError);
    await assert.rejects(run.metrics(), ClosedError);
  });

  test("Python's JSON (bare NaN and ±Infinity, as Trackio ≤ 0.23 answers) is read at any depth, strings untouched", () => {
    const parsed = parsePythonJson('[{"a": NaN, "b": [Infinity, -Infinity], "c": "NaN \\"Infinity\\" -Infinity"}]') as [
      { a: number; b: number[]; c: string },
    ];
    assert.ok(Number.isNaN(parsed[0].a));
    assert.deepEqual(parsed[0].b, [Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY]);
    assert.equal(parsed[0].c, 'NaN "Infinity" -Infinity');
  });
});

describe("Trackio 0.23 (Gradio protocol)", () => {
  let legacy: LegacyTrackioServer;
  before(async () => {
    setupLegacyVenv();
    legacy = await startLegacyTrackio();
  });
  after(async () => {
    await legacy?.stop();
  });

  test("runs, configs, alerts and system metrics read in full; metrics sampled to ~1500 rows, with a warning", async () => {
    const client = new Client({
      baseUrl: legacy.url,
      project: "legacy-read",
      run: "old",
      config: { lr: 0.1 },
      systemMetrics: 100,
      spoolDir: false,
      quiet: true,
    });
    for (let step = 0; step < 2000; step++) client.log({ loss: lossAt(step) }, step);
    client.alert({ title: "late", level: "error" });
    await sleep(1000);
    await client.close();

    const old = new Api({ baseUrl: legacy.url });
    try {
      assert.deepEqual(await old.projects(), ["legacy-read"]);
      const [run] = await old.runs("legacy-read");
      // 0.23 has no run ids and does not say when a run began.
      assert.deepEqual(
        [run.name, run.id, run.createdAt, run.config, run.group],
        ["old", "old", null, { lr: 0.1 }, null],
      );

      const warnings: Error[] = [];
      const onWarning = (w: Error) => warnings.push(w);
      process.on("warning", onWarning);
      let rows: MetricRow[];
      try {
        rows = await run.metrics();
        await sleep(10); // warnings are emitted on the next tick
      } finally {
        process.off("warning", onWarning);
      }
      assert.ok(rows.length > 1000 && rows.length < 2000, `${rows.length} rows`);
      assert.ok(rows.every((r, k) => k === 0 || rows[k - 1].step < r.step));
      for (const r of rows) assert.ok(Object.is(r.loss, lossAt(r.step)), `step ${r.step}: ${r.loss}`);
      // Steps 1 and 2 are in 0.23's sample (every 4/3rd row): NaN and Infinity are restored.
      assert.deepEqual(
        rows.slice(0, 3).map((r) => [r.step, r.loss]),
        [
          [0, 1],
          [1, Number.NaN],
          [2, Number.POSITIVE_INFINITY],
        ],
      );
      assert.deepEqual(
        warnings.map((w) => (w as Error & { code?: string }).code),
        ["TRACKIO_PARTIAL_READ"],
      );
      assert.match(warnings[0].message, new RegExp(`returned ${rows.length} of the 2000 rows of run "old"`));

      assert.deepEqual(
        (await run.alerts({ level: "error" })).map((a) => [a.run, a.title]),
        [["old", "late"]],
      );
      assert.equal((await old.alerts("legacy-read", { level: "info" })).length, 0);
      const samples = await run.systemMetrics();
      assert.ok(samples.length >= 3, `${samples.length} samples`);
      for (const s of samples) assert.equal(typeof s["cpu/utilization"], "number");
      await assert.rejects(old.runs("missing"), NotFoundError);
    } finally {
      await old.close();
    }
  });
});
