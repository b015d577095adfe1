// The server's ingest ceiling, for `npm run bench`: how many records/s the Trackio server
// stores when nothing on the client side costs anything. Every `bulk_log` body is built
// before the clock starts (the same bytes our worker sends for workload 1, 8,192 records a
// request, our default maxRecordsPerRequest), then posted as fast as the server answers:
// once with two requests in flight over two keep-alive connections (the worker's pool size),
// once one request at a time.
// Usage (from run.ts): node --import tsx bench/ceiling.ts '<json: writeUrl, project, run, records>'
// Prints one line `BENCH_CEILING <json>`.

import { writeSync } from "node:fs";
import { DEFAULT_MAX_RECORDS_PER_REQUEST } from "../src/options.js";
import type { WorkerSettings } from "../src/shared/protocol.js";
import { postBodies, w1Bodies, workerLikePool } from "./bodies.js";

const PER_REQUEST = DEFAULT_MAX_RECORDS_PER_REQUEST;

interface CeilingSpec {
  writeUrl: string;
  project: string;
  run: string;
  records: number;
}

export interface CeilingResult {
  records: number;
  requests: number;
  /** The faster of the two passes. */
  recordsPerSec: number;
  /** Two requests in flight over two keep-alive connections. */
  twoInFlightPerSec: number;
  /** One request at a time, as one client sends. */
  oneAtATimePerSec: number;
  runId: string;
}

function settings(spec: CeilingSpec, runId: string): WorkerSettings {
  const url = new URL(spec.writeUrl);
  return {
    origin: url.origin,
    basePath: url.pathname,
    displayUrl: url.origin,
    project: spec.project,
    run: spec.run,
    runId,
    clientId: "ceiling",
    writeToken: url.searchParams.get("write_token"),
    hfToken: null,
    timeoutMs: 30_000,
    maxBatch: PER_REQUEST,
    flushIntervalMs: 500,
    maxRecordsPerRequest: PER_REQUEST,
    retryDeadlineMs: 30_000,
    spoolDir: null,
    inboxDir: null,
    systemMetricsMs: 0,
    clockBase: Date.now(),
    configJson: "null",
  };
}

/** The W1 records as the worker's request bodies, for a run of their own. */
function bodiesFor(spec: CeilingSpec, runId: string): { s: WorkerSettings; bodies: Uint8Array[] } {
  const s = settings(spec, runId);
  return { s, bodies: w1Bodies(s, spec.records, PER_REQUEST) };
}

/** ms to post `bodies` with `inFlight` requests at a time, over a pool of their own. */
async function post(s: WorkerSettings, bodies: Uint8Array[], inFlight: number): Promise<number> {
  const pool = workerLikePool(s);
  const ms = await postBodies(pool, s, bodies, inFlight);
  await pool.close();
  return ms;
}

async function main(): Promise<CeilingResult> {
  const spec = JSON.parse(process.argv[2] ?? "") as CeilingSpec;
  const runId = `ceiling${Date.now().toString(36)}`;
  // Two passes, each into a fresh project as every measured client logs into one: Trackio
  // stores the first rows of a project ~25% slower than later ones (200,000 W1 records
  // posted again into the same project went at 72-78k records/s, against 56-59k into a
  // fresh one), so a second pass into the first project would set a ceiling no client
  // logging into a fresh project can reach. The ceiling is the faster pass.
  const two = bodiesFor(spec, runId);
  const one = bodiesFor({ ...spec, project: `${spec.project}-one` }, `${runId}-one`);
  const twoMs = await post(two.s, two.bodies, 2);
  const oneMs = await post(one.s, one.bodies, 1);
  const twoInFlightPerSec = spec.records / (twoMs / 1000);
  const oneAtATimePerSec = spec.records / (oneMs / 1000);
  return {
    records: spec.records,
    requests: two.bodies.length,
    recordsPerSec: Math.max(twoInFlightPerSec, oneAtATimePerSec),
    twoInFlightPerSec,
    oneAtATimePerSec,
    runId,
  };
}

main().then(
  (r) => {
    writeSync(1, `BENCH_CEILING ${JSON.stringify(r)}\n`);
    process.exit(0);
  },
  (err: unknown) => {
    writeSync(2, `ceiling: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);
