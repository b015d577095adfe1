// `npx tsx bench/client-vs-ceiling.ts [rounds]`: the real client against the server's
// one-at-a-time ceiling, alternating, on one real server: 200,000 W1 records each, every one
// into a fresh project. SHORT_IDS=1 gives the ceiling's entries a shorter run id and log ids
// than the client's (as bench/ceiling.ts had them until 2026-12-01), to see what that was worth.

import { startTrackio } from "../scripts/trackio-server.js";
import { Client } from "../src/index.js";
import { randomHex } from "../src/options.js";
import { testSettings } from "../test/support/transport.js";
import { postBodies, w1Bodies, workerLikePool } from "./bodies.js";
import { WORKLOADS } from "./workloads.js";

const N = 200_000;
const SHORT = process.env.SHORT_IDS === "1";
const server = await startTrackio();
const url = new URL(server.writeUrl);

async function ceiling(round: number): Promise<number> {
  const s = testSettings(url.origin, {
    basePath: url.pathname,
    project: `ceil-${round}`,
    run: "run",
    runId: SHORT ? `ceil-${round}-run` : randomHex(16),
    clientId: SHORT ? `c${round}` : randomHex(8),
    configJson: "null",
    writeToken: url.searchParams.get("write_token"),
  });
  const bodies = w1Bodies(s, N, 8192);
  const pool = workerLikePool(s);
  const ms = await postBodies(pool, s, bodies, 1);
  await pool.close();
  return N / (ms / 1000);
}

async function client(round: number): Promise<number> {
  const c = new Client({
    baseUrl: server.writeUrl,
    project: `ours-${round}`,
    run: "run",
    quiet: true,
    systemMetrics: false,
    spoolDir: false,
    handleSignals: false,
  });
  c.log(WORKLOADS.w1.make(0, 0), 0);
  await c.flush();
  const t0 = performance.now();
  for (let i = 1; i <= N; i++) c.log(WORKLOADS.w1.make(i, 0), i);
  await c.close();
  return N / ((performance.now() - t0) / 1000);
}

try {
  for (let r = 0; r < Number(process.argv[2] ?? 3); r++) {
    const ceil = await ceiling(r);
    const ours = await client(r);
    process.stdout.write(
      `round ${r}: ceiling ${ceil.toFixed(0)}, client ${ours.toFixed(0)} records/s (${((100 * ours) / ceil).toFixed(0)}%)\n`,
    );
  }
} finally {
  await server.stop();
}
