// Smoke test of the test harness itself against a real Trackio server:
// start it, write with a raw bulk_log, read back through the read API.
import assert from "node:assert/strict";
import { rmSync } from "node:fs";
import { after, before, test } from "node:test";
import { startTrackio, type TrackioServer } from "../scripts/trackio-server.js";
import { callApi, queryProject, runRows, runSteps, syncRunRows } from "./support/read-api.js";

const PROJECT = "harness-project";
const RUN = "harness-run";
const RUN_ID = "harness-run-id-'quoted'"; // exercises SQL quoting
const STEPS = [0, 1, 2, 5, 7];

let server: TrackioServer;

before(async () => {
  server = await startTrackio();
});

after(async () => {
  if (!server) return;
  await server.stop();
  rmSync(server.dataDir, { recursive: true, force: true });
});

function bulkLogBody(steps: number[], runId = RUN_ID): string {
  return JSON.stringify({
    kwargs: {
      logs: steps.map((step) => ({
        project: PROJECT,
        run: RUN,
        run_id: runId,
        metrics: { loss: 1 / (step + 1), acc: step / 10 },
        step,
        log_id: `${runId}:${step}`,
      })),
      hf_token: null,
    },
  });
}

async function postBulkLog(body: string, token?: string): Promise<Response> {
  const headers: Record<string, string> = { "content-type": "application/json" };
  if (token !== undefined) headers["x-trackio-write-token"] = token;
  return fetch(`${server.url}api/bulk_log`, { method: "POST", headers, body });
}

test("server is up and reports api_version 1", async () => {
  assert.match(server.url, /^http:\/\/127\.0\.0\.1:\d+\/$/);
  assert.equal(server.writeUrl, `${server.url}?write_token=${server.writeToken}`);
  const res = await fetch(`${server.url}version`);
  assert.equal(res.status, 200);
  const info = (await res.json()) as { version: string; api_version: number };
  assert.equal(info.api_version, 1);
  assert.equal(info.version, "0.43.0");
  assert.match(server.log(), /launched at/);
});

test("run with no data reads as zero rows", async () => {
  assert.deepEqual(await runRows(server.url, PROJECT, "no-such-run"), {
    rows: 0,
    distinctLogIds: 0,
    distinctSteps: 0,
    minStep: null,
    maxStep: null,
  });
  assert.equal(syncRunRows(server.url, PROJECT, "no-such-run").rows, 0);
});

test("bulk_log without a write token is rejected with HTTP 400", async () => {
  const res = await postBulkLog(bulkLogBody([99], "unauthorized-run"));
  assert.equal(res.status, 400);
  const body = (await res.json()) as { error: string };
  assert.match(body.error, /write_token/);

  const wrong = await postBulkLog(bulkLogBody([99], "unauthorized-run"), "wrong-token");
  assert.equal(wrong.status, 400);
});

test("bulk_log rows are stored exactly once and read back", async () => {
  const res = await postBulkLog(bulkLogBody(STEPS), server.writeToken);
  assert.equal(res.status, 200, await res.clone().text());
  assert.deepEqual(await res.json(), { data: null });

  // Re-sending the same log_ids is a no-op (INSERT OR IGNORE on the unique log_id index).
  const again = await postBulkLog(bulkLogBody(STEPS), server.writeToken);
  assert.equal(again.status, 200);

  const expected = { rows: 5, distinctLogIds: 5, distinctSteps: 5, minStep: 0, maxStep: 7 };
  assert.deepEqual(await runRows(server.url, PROJECT, RUN_ID), expected);
  assert.deepEqual(syncRunRows(server.url, PROJECT, RUN_ID), expected);
  assert.deepEqual(await runSteps(server.url, PROJECT, RUN_ID), STEPS);

  // The unauthorized write above left nothing behind.
  assert.equal((await runRows(server.url, PROJECT, "unauthorized-run")).rows, 0);

  const rows = await queryProject(
    server.url,
    PROJECT,
    "SELECT run_name, step, metrics FROM metrics ORDER BY step LIMIT 1",
  );
  assert.equal(rows.length, 1);
  assert.equal(rows[0]?.run_name, RUN);
  assert.deepEqual(JSON.parse(String(rows[0]?.metrics)), { loss: 1, acc: 0 });

  const runs = await callApi<unknown[]>(server.url, "get_runs_for_project", { project: PROJECT });
  assert.ok(Array.isArray(runs) && runs.length === 1, JSON.stringify(runs));
});

test("runSteps pages past the 10000-row query cap", async () => {
  const runId = "big-run";
  const steps = Array.from({ length: 10_050 }, (_, i) => i);
  const res = await postBulkLog(bulkLogBody(steps, runId), server.writeToken);
  assert.equal(res.status, 200, await res.clone().text());
  const got = await runSteps(server.url, PROJECT, runId);
  assert.equal(got.length, steps.length);
  assert.deepEqual(got, steps);
  assert.deepEqual(syncRunRows(server.url, PROJECT, runId), {
    rows: 10_050,
    distinctLogIds: 10_050,
    distinctSteps: 10_050,
    minStep: 0,
    maxStep: 10_049,
  });
});

test("a killed server restarts on the same dataDir and port with its data", async () => {
  const { dataDir, port, writeToken } = server;
  await server.kill("SIGKILL");
  await assert.rejects(fetch(`${server.url}version`));
  server = await startTrackio({ dataDir, port, writeToken });
  assert.equal(server.port, port);
  assert.equal((await runRows(server.url, PROJECT, RUN_ID)).rows, STEPS.length);
});
