import assert from "node:assert/strict";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { startTrackio, type TrackioServer } from "../scripts/trackio-server.js";
import { Client, TrackioError } from "../src/index.js";
import { callApi, runRows, runSteps } from "./support/read-api.js";

process.env.TRACKIO_SPOOL_DIR = mkdtempSync(join(tmpdir(), "trackio-spool-"));

let server: TrackioServer;
let seq = 0;
const project = () => `resume-${process.pid}-${seq++}`;
const isInvalid = (e: unknown) => e instanceof TrackioError && e.code === "ERR_TRACKIO_INVALID_ARG";

before(async () => {
  server = await startTrackio();
});
after(async () => {
  await server?.stop();
});

describe("runs: runId and resume", () => {
  test('resume: "allow" continues the run and its automatic step after the last stored one', async () => {
    const p = project();
    const first = new Client({ baseUrl: server.writeUrl, project: p, run: "long", quiet: true });
    for (let i = 0; i < 10; i++) first.log({ loss: i });
    await first.close();
    const resumed = await Client.init({
      baseUrl: server.writeUrl,
      project: p,
      run: "long",
      resume: "allow",
      quiet: true,
    });
    assert.equal(resumed.runId, first.runId);
    for (let i = 0; i < 3; i++) resumed.log({ loss: 10 + i });
    await resumed.close();
    assert.deepEqual(
      await runSteps(server.url, p, first.runId as string),
      Array.from({ length: 13 }, (_, k) => k),
    );
  });

  test('resume: "allow" on a missing run starts a new one at step 0', async () => {
    const p = project();
    const client = await Client.init({
      baseUrl: server.writeUrl,
      project: p,
      run: "fresh",
      resume: "allow",
      quiet: true,
    });
    client.log({ a: 1 });
    await client.close();
    assert.deepEqual(await runSteps(server.url, p, client.runId as string), [0]);
  });

  test('resume: "must" on a missing run, and "never" on an existing one, reject clearly', async () => {
    const p = project();
    await assert.rejects(
      Client.init({ baseUrl: server.writeUrl, project: p, run: "ghost", resume: "must", quiet: true }),
      (e: unknown) => isInvalid(e) && /no run "ghost"/.test((e as Error).message),
    );
    const existing = new Client({ baseUrl: server.writeUrl, project: p, run: "taken", quiet: true });
    existing.log({ a: 1 });
    await existing.close();
    await assert.rejects(
      Client.init({ baseUrl: server.writeUrl, project: p, run: "taken", resume: "never", quiet: true }),
      (e: unknown) => isInvalid(e) && /already exists/.test((e as Error).message),
    );
  });

  test("with resume, log() before ready() throws; a bad resume mode throws at construction", async () => {
    const client = new Client({ baseUrl: server.writeUrl, project: project(), run: "r", resume: "allow", quiet: true });
    assert.throws(() => client.log({ a: 1 }), isInvalid);
    await client.ready();
    client.log({ a: 1 });
    await client.close();
    assert.equal(client.stats().sent, 1);
    assert.throws(() => new Client({ resume: "sometimes" as "allow" }), isInvalid);
  });

  test("an explicit runId is used as the run's identity", async () => {
    const p = project();
    const runId = `custom-${process.pid}`;
    const client = new Client({ baseUrl: server.writeUrl, project: p, run: "named", runId, quiet: true });
    client.log({ a: 1 });
    client.log({ a: 2 });
    await client.close();
    assert.equal(client.runId, runId);
    assert.equal((await runRows(server.url, p, runId)).rows, 2);
  });
});

describe("config", () => {
  test("config() replaces the stored config with the merged one, with no extra rows", async () => {
    const p = project();
    const client = new Client({
      baseUrl: server.writeUrl,
      project: p,
      run: "cfg",
      config: { lr: 0.1, layers: 2 },
      quiet: true,
    });
    for (let i = 0; i < 3; i++) client.log({ loss: i });
    client.config({ lr: 0.05, warmup: 10 });
    for (let i = 3; i < 5; i++) client.log({ loss: i });
    // A change with no record after it still reaches the server (with the last record again).
    client.config({ finished: true });
    await client.close();
    const configs = await callApi<Record<string, Record<string, unknown>>>(server.url, "get_run_configs", {
      project: p,
    });
    const stored = configs[client.runId as string];
    assert.equal(stored.lr, 0.05);
    assert.equal(stored.layers, 2);
    assert.equal(stored.warmup, 10);
    assert.equal(stored.finished, true);
    assert.match(String(stored._Created), /\+00:00$/);
    assert.deepEqual(await runRows(server.url, p, client.runId as string), {
      rows: 5,
      distinctLogIds: 5,
      distinctSteps: 5,
      minStep: 0,
      maxStep: 4,
    });
    const stats = client.stats();
    assert.deepEqual([stats.logged, stats.sent, stats.pending], [5, 5, 0]);
  });

  test("config() refuses reserved keys and values Trackio cannot store", () => {
    const client = new Client({ baseUrl: server.writeUrl, project: project(), run: "cfg-bad", quiet: true });
    assert.throws(() => client.config({ _secret: 1 }), isInvalid);
    assert.throws(
      () => client.config({ f: () => 1 }),
      (e: unknown) => isInvalid(e) && /config\(\)/.test(String(e)),
    );
    assert.throws(() => client.config([] as unknown as Record<string, unknown>), isInvalid);
  });
});
