import assert from "node:assert/strict";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { startTrackio, type TrackioServer } from "../scripts/trackio-server.js";
import { Client, TrackioError } from "../src/index.js";
import { runRows, runSteps } from "./support/read-api.js";

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
