// `npx tsx bench/wire-floor.ts [sink|trackio] [requests]`: the CPU a thread spends sending
// request bodies that are already built, per record: the floor under the bench's "worker
// thread CPU per record", which no encoding work can go below. W1 records, 8,192 a request
// (the default maxRecordsPerRequest; PER_REQUEST=n in the environment for another size;
// GAP_MS=n waits n ms after each answer, as the worker waits while Trackio stores a request),
// written by BatchBuilder as the worker writes them, then
// posted one request at a time through an undici Pool like the worker's (two keep-alive
// connections); CPU of this thread from /proc/thread-self/schedstat, over the posts only.

import { rmSync } from "node:fs";
import { startTrackio, type TrackioServer } from "../scripts/trackio-server.js";
import { DEFAULT_MAX_RECORDS_PER_REQUEST } from "../src/options.js";
import { testSettings } from "../test/support/transport.js";
import { postBodies, w1Bodies, workerLikePool } from "./bodies.js";
import { threadCpuNs } from "./measure.js";
import { startSinkProcess } from "./sink.js";

const PER_REQUEST = Number(process.env.PER_REQUEST ?? DEFAULT_MAX_RECORDS_PER_REQUEST);

async function main(): Promise<void> {
  const target = process.argv[2] === "trackio" ? "trackio" : "sink";
  const requests = Number(process.argv[3] ?? 100);
  const sink = target === "sink" ? await startSinkProcess() : null;
  const server: TrackioServer | null = target === "trackio" ? await startTrackio() : null;
  try {
    const url = new URL(server?.writeUrl ?? (sink?.writeUrl as string));
    const s = testSettings(url.origin, {
      basePath: url.pathname,
      project: `wire-floor-${Date.now().toString(36)}`,
      run: "run",
      runId: "wire-floor-run",
      clientId: "wire-floor",
      configJson: "null",
      writeToken: url.searchParams.get("write_token"),
    });
    const bodies = w1Bodies(s, (requests + 1) * PER_REQUEST, PER_REQUEST);
    const pool = workerLikePool(s);
    // The first request opens the connection and, on Trackio, creates the project.
    await postBodies(pool, s, bodies.slice(0, 1), 1);
    const cpu0 = threadCpuNs();
    const ms = await postBodies(pool, s, bodies.slice(1), 1);
    const cpuNs = threadCpuNs() - cpu0;
    await pool.close();
    const records = requests * PER_REQUEST;
    process.stdout.write(
      `${target}: ${records.toLocaleString("en-US")} records in ${requests} requests of ${bodies[1].length.toLocaleString("en-US")} bytes, ${ms.toFixed(0)} ms; ` +
        `this thread's CPU ${(cpuNs / 1e6).toFixed(0)} ms, ${(cpuNs / records).toFixed(0)} ns per record\n`,
    );
  } finally {
    sink?.stop();
    if (server !== null) {
      await server.stop();
      rmSync(server.dataDir, { recursive: true, force: true });
    }
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`wire-floor: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
