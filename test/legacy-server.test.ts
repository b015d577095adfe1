// Both transports against REAL servers: the pinned current Trackio (python/requirements.txt,
// HTTP API) and the newest Gradio-based one, 0.23.0 (python/requirements-legacy.txt, installed
// into .venv-legacy by `node scripts/setup-python.mjs --legacy`), reached through the Gradio
// fallback. The same client code runs against each; what each server stored is read back.

import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { promisify } from "node:util";
import {
  type LegacyTrackioServer,
  legacyVenvPython,
  setupLegacyVenv,
  startLegacyTrackio,
} from "../scripts/trackio-legacy-server.js";
import { startTrackio, type TrackioServer } from "../scripts/trackio-server.js";
import { Client, Image } from "../src/index.js";
import { listSpooledMedia } from "../src/io/media-files.js";
import { Transport } from "../src/io/transport.js";
import { parseServerUrl } from "../src/options.js";
import { spoolDirFor } from "../src/paths.js";
import { StatusError, type TrackioError } from "../src/shared/errors.js";
import type { WorkerSettings } from "../src/shared/protocol.js";
import { runRows } from "./support/read-api.js";
import { testSettings } from "./support/transport.js";

let current: TrackioServer;
let legacy: LegacyTrackioServer;
/** A Trackio 0.23 acting as a Hugging Face Space (SYSTEM=spaces): writes need an HF token. */
let legacySpace: LegacyTrackioServer;

before(async () => {
  setupLegacyVenv();
  [current, legacy, legacySpace] = await Promise.all([
    startTrackio(),
    startLegacyTrackio(),
    startLegacyTrackio({ env: { SYSTEM: "spaces" } }),
  ]);
});
after(async () => {
  await Promise.all([current?.stop(), legacy?.stop(), legacySpace?.stop()]);
});

/** Rows of one run in a 0.23 project, read from its SQLite file with the venv's Python. */
async function legacyRows(
  server: LegacyTrackioServer,
  project: string,
  run: string,
): Promise<{
  rows: number;
  logIds: number;
  minStep: number;
  maxStep: number;
  config: unknown;
  sample: unknown;
  alerts: string[];
}> {
  const script = `
import json, sqlite3, sys
db = sqlite3.connect(sys.argv[1] + "/" + sys.argv[2] + ".db")
n, ids, lo, hi = db.execute("SELECT COUNT(*), COUNT(DISTINCT log_id), MIN(step), MAX(step) FROM metrics WHERE run_name = ?", (sys.argv[3],)).fetchone()
cfg = db.execute("SELECT config FROM configs WHERE run_name = ?", (sys.argv[3],)).fetchone()
sample = db.execute("SELECT metrics FROM metrics WHERE run_name = ? AND step = 7 ORDER BY id LIMIT 1", (sys.argv[3],)).fetchone()
alerts = [r[0] for r in db.execute("SELECT title FROM alerts WHERE run_name = ?", (sys.argv[3],))]
print(json.dumps({"rows": n, "alerts": alerts, "logIds": ids, "minStep": lo, "maxStep": hi,
  "config": json.loads(cfg[0]) if cfg else None, "sample": json.loads(sample[0]) if sample else None}))
`;
  const { stdout } = await promisify(execFile)(legacyVenvPython(), ["-c", script, server.dataDir, project, run]);
  return JSON.parse(stdout);
}

function transportFor(url: string, over: Partial<WorkerSettings> = {}): Transport {
  const parsed = parseServerUrl(url);
  return new Transport(testSettings(parsed.origin, { ...parsed, timeoutMs: 5000, retryDeadlineMs: 5000, ...over }), {
    onRequest() {},
    onRetry() {},
  });
}

/** The same training loop for every server: 1000 numeric records, a few general ones, an alert. */
async function logRun(baseUrl: string, project: string, run: string): Promise<Client> {
  const client = new Client({ baseUrl, project, run, config: { lr: 0.01 }, spoolDir: false, quiet: true });
  for (let step = 0; step < 1000; step++) client.log({ loss: 1 / (step + 1), acc: step / 1000 }, step);
  client.log({ note: "text", nan: Number.NaN, nested: { a: 1 } }, 1000);
  client.alert({ title: "done", level: "info" });
  await client.close();
  return client;
}

describe("the same client against both protocols", () => {
  test("Trackio 0.23 (Gradio): discovery picks the Gradio protocol", async () => {
    const transport = transportFor(legacy.url);
    try {
      const text = await transport.call("get_all_projects", '{"kwargs":{}}');
      assert.equal(transport.protocol, "gradio");
      assert.ok(Array.isArray((JSON.parse(text) as { data: unknown }).data));
    } finally {
      await transport.close();
    }
    assert.equal(legacy.version, "0.23.0");
  });

  test("Trackio 0.23 (Gradio): every record is delivered and stored once", async () => {
    const client = await logRun(legacy.url, "legacy-delivery", "run-1");
    assert.deepEqual(
      { sent: client.stats().sent, failed: client.stats().failed, spooled: client.stats().spooled },
      { sent: 1002, failed: 0, spooled: 0 },
    );
    const stored = await legacyRows(legacy, "legacy-delivery", "run-1");
    assert.equal(stored.rows, 1001);
    assert.equal(stored.logIds, 1001);
    assert.equal(stored.minStep, 0);
    assert.equal(stored.maxStep, 1000);
    assert.deepEqual(stored.sample, { loss: 1 / 8, acc: 0.007 });
    assert.equal((stored.config as { lr?: unknown }).lr, 0.01);
    assert.deepEqual(stored.alerts, ["done"]);
  });

  test("Trackio 0.23 (Gradio): a media file is kept in the spool with a clear error; its record is stored", async () => {
    const spoolDir = mkdtempSync(join(tmpdir(), "trackio-legacy-media-"));
    const client = new Client({ baseUrl: legacy.url, project: "legacy-media", run: "m", spoolDir, quiet: true });
    client.on("error", () => {});
    client.log({ loss: 0.5, img: new Image({ data: new Uint8Array(4), width: 1, height: 1 }) }, 0);
    await assert.rejects(client.close(), {
      code: "ERR_TRACKIO_NO_ENDPOINT",
      message: /Gradio protocol.*upgrade the server to Trackio 0\.34\.1 or newer.*kept in/s,
    });
    assert.equal(client.stats().sent, 1);
    assert.deepEqual(
      { spooled: client.stats().media.spooled, uploaded: client.stats().media.uploaded },
      { spooled: 1, uploaded: 0 },
    );
    assert.equal(listSpooledMedia(spoolDirFor(spoolDir, client.url)).length, 1);
    assert.equal((await legacyRows(legacy, "legacy-media", "m")).rows, 1);
  });

  test("Trackio 0.23 (Gradio): a batch sent twice is stored once (log_id)", async () => {
    const transport = transportFor(legacy.url);
    const entries = [0, 1, 2].map(
      (i) =>
        `{"v":1,"kind":"metric","project":"legacy-dedupe","run":"r","run_id":"rid","metrics":{"x":${i}},"step":${i},"timestamp":"2026-01-01T00:00:00+00:00","config":null,"log_id":"dup-${i}"}`,
    );
    const body = `{"kwargs":{"logs":[${entries.join(",")}],"hf_token":null}}`;
    try {
      await transport.call("bulk_log", body);
      await transport.call("bulk_log", body);
    } finally {
      await transport.close();
    }
    assert.equal((await legacyRows(legacy, "legacy-dedupe", "r")).rows, 3);
  });

  test("current Trackio (HTTP API): the same run goes over /api/bulk_log and is stored once", async () => {
    const transport = transportFor(current.writeUrl);
    try {
      await transport.call("get_all_projects", '{"kwargs":{}}');
      assert.equal(transport.protocol, "http");
      assert.match(transport.serverVersion ?? "", /^\d+\.\d+\.\d+$/);
    } finally {
      await transport.close();
    }
    const client = await logRun(current.writeUrl, "current-delivery", "run-1");
    assert.equal(client.stats().sent, 1002);
    const rows = await runRows(current.url, "current-delivery", client.runId as string);
    assert.equal(rows.rows, 1001);
    assert.equal(rows.distinctLogIds, 1001);
  });
});

describe("server-side errors on Trackio 0.23 are errors", () => {
  test("an entry its bulk_log cannot take: StatusError from the event stream", async () => {
    const transport = transportFor(legacy.url, { retryDeadlineMs: 3000 });
    try {
      await assert.rejects(
        transport.call("bulk_log", '{"kwargs":{"logs":[{"project":"legacy-bad","metrics":{"x":1}}],"hf_token":null}}'),
        (err: TrackioError) => {
          assert.ok(err instanceof StatusError);
          assert.equal(err.status, 500);
          assert.match(err.message, /gradio_api\/call\/bulk_log failed on the server/);
          return true;
        },
      );
    } finally {
      await transport.close();
    }
  });

  test("a Space that refuses the write (no HF token): flush() rejects, nothing counted as sent", async () => {
    const client = new Client({
      baseUrl: legacySpace.url,
      project: "legacy-space",
      run: "r",
      spoolDir: false,
      quiet: true,
      retryDeadlineMs: 3000,
    });
    const events: TrackioError[] = [];
    client.on("error", (err) => events.push(err));
    for (let step = 0; step < 10; step++) client.log({ loss: step }, step);
    await assert.rejects(client.close(), (err: TrackioError) => {
      assert.equal(err.code, "ERR_TRACKIO_STATUS");
      assert.match(err.message, /failed on the server/);
      return true;
    });
    assert.equal(client.stats().sent, 0);
    assert.equal(client.stats().failed, 10);
    assert.equal(events.length, 1);
    assert.match(legacySpace.log(), /Expected a HF_TOKEN to be provided when logging to a Space/);
  });
});
