import assert from "node:assert/strict";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { startTrackio, type TrackioServer } from "../scripts/trackio-server.js";
import { Client, TrackioError } from "../src/index.js";
import { callApi, queryProject, runRows, runSteps, syncRunRows } from "./support/read-api.js";

// Undeliverable records go to a spool of this test file's own, not the user's cache.
process.env.TRACKIO_SPOOL_DIR = mkdtempSync(join(tmpdir(), "trackio-spool-"));

let server: TrackioServer;
let projectSeq = 0;
const project = () => `client-test-${process.pid}-${projectSeq++}`;

before(async () => {
  server = await startTrackio();
});
after(async () => {
  await server?.stop();
});

function spinMicros(us: number): void {
  const end = performance.now() + us / 1000;
  while (performance.now() < end) {
    // busy: a training step that never yields
  }
}

describe("delivery to a real Trackio server", () => {
  test("the quickstart: two records, flush(), read back with steps and values", async () => {
    const p = project();
    const client = new Client({ baseUrl: server.url, writeToken: server.writeToken, project: p, run: "quick" });
    client.log({ loss: 0.5, acc: 0.8 }, 0);
    client.log({ loss: 0.25, acc: 0.9 }, 1);
    await client.flush();
    const logs = await callApi<Record<string, unknown>[]>(server.url, "get_logs", {
      project: p,
      run: "quick",
      run_id: client.runId,
    });
    assert.deepEqual(
      logs.map((r) => [r.step, r.loss, r.acc]),
      [
        [0, 0.5, 0.8],
        [1, 0.25, 0.9],
      ],
    );
    const cpuAtFlush = client.stats().workerCpuMs;
    await client.close();
    assert.equal(client.stats().sent, 2);
    assert.equal(client.stats().pending, 0);
    // The worker thread's CPU time, read by the worker itself at each answer (Linux says it).
    if (process.platform === "linux") {
      assert.ok(cpuAtFlush !== null && cpuAtFlush > 0, `workerCpuMs at flush: ${cpuAtFlush}`);
      assert.ok((client.stats().workerCpuMs as number) >= cpuAtFlush);
    }
  });

  test("100,000 records from a loop that never yields: all stored once, in order, some before the loop ends", async () => {
    const p = project();
    const client = new Client({ baseUrl: server.writeUrl, project: p, run: "flood", config: { lr: 0.01, layers: 4 } });
    const N = 100_000;
    let storedBeforeLoopEnd = -1;
    for (let i = 0; i < N; i++) {
      client.log({ loss: 1 / (i + 1), acc: i / N, lr: 0.001, i });
      // About a second of "training" in all, so the worker has time to send while we spin.
      if (i % 10 === 0) spinMicros(100);
      if (i === N - 1) storedBeforeLoopEnd = syncRunRows(server.url, p, client.runId as string).rows;
    }
    assert.ok(storedBeforeLoopEnd > 0, `the server held ${storedBeforeLoopEnd} rows before the loop ended`);
    await client.close();
    const runId = client.runId as string;
    const rows = await runRows(server.url, p, runId);
    assert.deepEqual(rows, { rows: N, distinctLogIds: N, distinctSteps: N, minStep: 0, maxStep: N - 1 });
    const steps = await runSteps(server.url, p, runId);
    assert.equal(steps.length, N);
    assert.ok(
      steps.every((s, k) => s === k),
      "steps are 0..N-1 in insertion order",
    );
    const [sums] = await queryProject(
      server.url,
      p,
      `SELECT SUM(json_extract(metrics, '$.i')) AS si, SUM(json_extract(metrics, '$.lr')) AS slr, ` +
        `SUM(ABS(json_extract(metrics, '$.loss') - 1.0 / (step + 1)) > 1e-15) AS badLoss FROM metrics WHERE run_id = '${runId}'`,
    );
    assert.equal(sums.si, (N * (N - 1)) / 2);
    assert.ok(Math.abs((sums.slr as number) - N * 0.001) < 1e-6);
    assert.equal(sums.badLoss, 0);
    const configs = await callApi<Record<string, Record<string, unknown>>>(server.url, "get_run_configs", {
      project: p,
    });
    assert.equal(configs[runId].lr, 0.01);
    assert.equal(configs[runId].layers, 4);
    const stats = client.stats();
    assert.equal(stats.logged, N);
    assert.equal(stats.sent, N);
    assert.equal(stats.failed, 0);
  });

  test("values: NaN and ±Infinity as Trackio stores them, strings, booleans, nested objects", async () => {
    const p = project();
    const client = new Client({ baseUrl: server.writeUrl, project: p, run: "values" });
    client.log({ nan: Number.NaN, inf: Number.POSITIVE_INFINITY, ninf: Number.NEGATIVE_INFINITY, x: 1 }, 0);
    client.log({ label: "cat", ok: true, nested: { a: 1, b: { c: Number.NaN } }, list: [1, "two", null] }, 1);
    await client.close();
    const rows = await queryProject(
      server.url,
      p,
      `SELECT step, metrics FROM metrics WHERE run_id = '${client.runId}' ORDER BY step`,
    );
    assert.deepEqual(JSON.parse(rows[0].metrics as string), { nan: "NaN", inf: "Infinity", ninf: "-Infinity", x: 1 });
    assert.deepEqual(JSON.parse(rows[1].metrics as string), {
      label: "cat",
      ok: true,
      nested: { a: 1, b: { c: "NaN" } },
      list: [1, "two", null],
    });
  });

  test("steps: explicit, then automatic continues past the highest", async () => {
    const p = project();
    const client = new Client({ baseUrl: server.writeUrl, project: p, run: "steps" });
    client.log({ a: 1 });
    client.log({ a: 2 });
    client.log({ a: 3 }, 10);
    client.log({ a: 4 });
    client.log({ a: 5 }, 5);
    client.log({ a: 6 });
    await client.close();
    assert.deepEqual(await runSteps(server.url, p, client.runId as string), [0, 1, 10, 11, 5, 12]);
  });
});

describe("errors", () => {
  test("a missing write token: flush() rejects with ERR_TRACKIO_AUTH", async () => {
    const saved = process.env.TRACKIO_WRITE_TOKEN;
    delete process.env.TRACKIO_WRITE_TOKEN;
    const client = new Client({ baseUrl: server.url, project: project(), run: "noauth" });
    if (saved !== undefined) process.env.TRACKIO_WRITE_TOKEN = saved;
    client.log({ loss: 1 });
    await assert.rejects(client.flush(), (err: unknown) => {
      assert.ok(err instanceof TrackioError);
      assert.equal((err as TrackioError).code, "ERR_TRACKIO_AUTH");
      assert.match((err as Error).message, /write_token/);
      return true;
    });
    await client.close().catch(() => {});
    // Not lost: kept in the spool for a later replay.
    assert.equal(client.stats().spooled, 1);
    assert.equal(client.stats().failed, 0);
  });

  test("a wrong write token: flush() rejects with ERR_TRACKIO_AUTH and never shows the token", async () => {
    const errors: unknown[] = [];
    const client = new Client({
      baseUrl: `${server.url}?write_token=not-the-token-xyz`,
      project: project(),
      run: "badauth",
    });
    client.on("error", (e) => errors.push(e));
    client.log({ loss: 1 });
    const err = await client.flush().then(
      () => assert.fail("flush() resolved"),
      (e: unknown) => e,
    );
    assert.equal((err as TrackioError).code, "ERR_TRACKIO_AUTH");
    assert.doesNotMatch(String((err as Error).message), /not-the-token-xyz/);
    await client.close().catch(() => {});
    assert.equal(errors.length, 1);
    assert.equal((errors[0] as TrackioError).code, "ERR_TRACKIO_AUTH");
  });

  test("nothing listening: flush() rejects with ERR_TRACKIO_HTTP within the retry deadline", async () => {
    const { freePort } = await import("../scripts/trackio-server.js");
    const port = await freePort();
    const client = new Client({
      baseUrl: `http://127.0.0.1:${port}/`,
      project: project(),
      run: "down",
      retryDeadlineMs: 1500,
    });
    client.log({ loss: 1 });
    const t0 = performance.now();
    await assert.rejects(client.flush(), (err: unknown) => {
      assert.ok(err instanceof TrackioError);
      assert.equal((err as TrackioError).code, "ERR_TRACKIO_HTTP");
      assert.match((err as Error).message, /ECONNREFUSED/);
      return true;
    });
    // Bounded, not timed: the rejection comes from the retry deadline, not from a hang.
    assert.ok(performance.now() - t0 < 60_000);
    await client.close().catch(() => {});
    assert.equal(client.stats().spooled, 1);
  });

  test("bad input throws ERR_TRACKIO_INVALID_ARG from log(); the records around it all arrive", async () => {
    const p = project();
    const client = new Client({ baseUrl: server.writeUrl, project: p, run: "bad-input" });
    const bad: [string, () => void][] = [
      ["bigint", () => client.log({ x: 10n as unknown as number })],
      ["function", () => client.log({ x: (() => 1) as unknown as number })],
      ["symbol", () => client.log({ x: Symbol("s") as unknown as number })],
      ["undefined", () => client.log({ x: undefined as unknown as number })],
      ["Map", () => client.log({ x: new Map() as unknown as number })],
      ["metrics null", () => client.log(null as unknown as Record<string, number>)],
      ["metrics array", () => client.log([1, 2] as unknown as Record<string, number>)],
      ["metrics number", () => client.log(3 as unknown as Record<string, number>)],
      ["negative step", () => client.log({ x: 1 }, -1)],
      ["fractional step", () => client.log({ x: 1 }, 1.5)],
      ["NaN step", () => client.log({ x: 1 }, Number.NaN)],
      ["bad timestamp", () => client.log({ x: 1 }, 3, Number.NaN)],
      [
        "cycle",
        () => {
          const o: Record<string, unknown> = { a: "s" };
          o.self = o;
          client.log(o as Record<string, number>);
        },
      ],
    ];
    let step = 0;
    client.log({ good: step }, step++);
    for (const [name, call] of bad) {
      assert.throws(
        call,
        (err: unknown) => err instanceof TrackioError && err.code === "ERR_TRACKIO_INVALID_ARG",
        name,
      );
      client.log({ good: step }, step++);
    }
    await client.close();
    const runId = client.runId as string;
    assert.deepEqual(
      await runSteps(server.url, p, runId),
      Array.from({ length: bad.length + 1 }, (_, k) => k),
    );
    assert.equal(client.stats().logged, bad.length + 1);
  });

  test("no project by the first log() throws ERR_TRACKIO_INVALID_ARG; setters after it too", () => {
    const saved = process.env.TRACKIO_PROJECT;
    delete process.env.TRACKIO_PROJECT;
    try {
      const client = new Client({ baseUrl: server.writeUrl });
      assert.throws(() => client.log({ a: 1 }), { code: "ERR_TRACKIO_INVALID_ARG" });
      client.withProject(project()).withRun("late");
      client.log({ a: 1 });
      assert.throws(() => client.withRun("later"), { code: "ERR_TRACKIO_INVALID_ARG" });
      return client.close();
    } finally {
      if (saved !== undefined) process.env.TRACKIO_PROJECT = saved;
    }
  });

  test("log() after close() is a no-op with one warning", async () => {
    const p = project();
    const client = new Client({ baseUrl: server.writeUrl, project: p, run: "closed" });
    client.log({ a: 1 });
    await client.close();
    const warnings: Error[] = [];
    const onWarning = (w: Error) => warnings.push(w);
    process.on("warning", onWarning);
    client.log({ a: 2 });
    client.log({ a: 3 });
    await new Promise((r) => setImmediate(r));
    process.off("warning", onWarning);
    assert.equal(warnings.filter((w) => /after close/.test(w.message)).length, 1);
    assert.equal((await runRows(server.url, p, client.runId as string)).rows, 1);
  });
});

describe("a full ring", () => {
  test("records wait on the main thread in order and all arrive", async () => {
    const p = project();
    const client = new Client({ baseUrl: server.writeUrl, project: p, run: "tiny-ring", ringBytes: 4096 });
    const N = 20_000;
    for (let i = 0; i < N; i++) {
      if (i % 1000 === 999) client.log({ note: `mixed ${i}`, i }, i);
      else client.log({ i, half: i / 2 }, i);
    }
    const before = client.stats();
    assert.ok(before.overflowed > 0, "the 4 KiB ring overflowed");
    await client.close();
    const runId = client.runId as string;
    assert.deepEqual(
      await runSteps(server.url, p, runId),
      Array.from({ length: N }, (_, k) => k),
    );
    const [check] = await queryProject(
      server.url,
      p,
      `SELECT COUNT(*) AS n, SUM(json_extract(metrics, '$.i') = step) AS same FROM metrics WHERE run_id = '${runId}'`,
    );
    assert.deepEqual(check, { n: N, same: N });
    assert.equal(client.stats().overflowPending, 0);
  });

  test("when the overflow is full too, log() blocks for a bounded time, then throws ERR_TRACKIO_OVERFLOW", async () => {
    // A server that accepts connections and never answers: the worker can send nothing.
    const { createServer } = await import("node:net");
    const sockets: import("node:net").Socket[] = [];
    const silent = createServer((s) => sockets.push(s));
    await new Promise<void>((r) => silent.listen(0, "127.0.0.1", r));
    const port = (silent.address() as import("node:net").AddressInfo).port;
    const client = new Client({
      baseUrl: `http://127.0.0.1:${port}/`,
      project: project(),
      run: "stalled",
      ringBytes: 4096,
      maxOverflowBytes: 64 * 1024,
      overflowTimeoutMs: 200,
      timeoutMs: 500,
      retryDeadlineMs: 500,
    });
    client.on("error", () => {});
    let thrown: unknown = null;
    let logged = 0;
    for (let i = 0; i < 100_000 && thrown === null; i++) {
      try {
        client.log({ i });
        logged++;
      } catch (err) {
        thrown = err;
      }
    }
    assert.ok(thrown instanceof TrackioError);
    assert.equal((thrown as TrackioError).code, "ERR_TRACKIO_OVERFLOW");
    const stats = client.stats();
    assert.equal(stats.logged, logged);
    assert.equal(stats.rejected, 1);
    assert.ok(stats.overflowPending > 0);
    assert.ok(stats.blockedMs >= 200);
    await client.close().catch(() => {});
    // Every record was acknowledged or kept in the spool: none vanished.
    const end = client.stats();
    assert.equal(end.sent + end.spooled, logged);
    assert.equal(end.failed, 0);
    for (const s of sockets) s.destroy();
    silent.close();
  });
});
