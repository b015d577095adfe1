// W1 records as the worker's own `bulk_log` request bodies, built before any clock starts,
// and posting them as fast as the server answers: what the server's ingest ceiling
// (ceiling.ts) and the sending thread's floor (wire-floor.ts) both measure.

import { Pool } from "undici";
import { BatchBuilder } from "../src/io/batch.js";
import type { WorkerSettings } from "../src/shared/protocol.js";
import { WORKLOADS } from "./workloads.js";

/** W1 records 0 … records-1 as request bodies of `perRequest` entries (the last may hold fewer). */
export function w1Bodies(s: WorkerSettings, records: number, perRequest: number): Uint8Array[] {
  const builder = new BatchBuilder(s);
  const bodies: Uint8Array[] = [];
  const now = Date.now();
  for (let i = 0; i < records; i++) {
    builder.add(JSON.stringify(WORKLOADS.w1.make(i, 0)), i, now, i);
    if (builder.count === perRequest || i === records - 1) {
      const part = builder.takeBatch().metrics;
      if (part === null) throw new Error("no metric lines");
      bodies.push(part.body("null"));
    }
  }
  return bodies;
}

/** A pool like the worker's: two keep-alive connections, no pipelining. */
export function workerLikePool(s: WorkerSettings): Pool {
  return new Pool(s.origin, { connections: 2, pipelining: 1 });
}

/** POST `bodies` to `api/bulk_log`, `inFlight` requests at a time; returns the ms it took. */
export async function postBodies(
  pool: Pool,
  s: WorkerSettings,
  bodies: Uint8Array[],
  inFlight: number,
): Promise<number> {
  const headers = { "content-type": "application/json", "x-trackio-write-token": s.writeToken ?? "" };
  let next = 0;
  const sender = async (): Promise<void> => {
    while (next < bodies.length) {
      const body = bodies[next++];
      const res = await pool.request({ method: "POST", path: `${s.basePath}api/bulk_log`, body, headers });
      const text = await res.body.text();
      if (res.statusCode !== 200) throw new Error(`bulk_log answered ${res.statusCode}: ${text.slice(0, 300)}`);
      // wire-floor.ts's GAP_MS: the thread idle between requests, as behind a slow server.
      if (process.env.GAP_MS) await new Promise((r) => setTimeout(r, Number(process.env.GAP_MS)));
    }
  };
  const t0 = performance.now();
  await Promise.all(Array.from({ length: inFlight }, sender));
  return performance.now() - t0;
}
