// The figures `npm run bench` prints beside its own, each measured in the same run against
// the same server: the server's ingest ceiling, Trackio's own Python client, and eight
// processes logging at once (as a distributed training job launches them).

import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { SCRUBBED_ENV, type TrackioServer, venvPython } from "../scripts/trackio-server.js";
import { runRows } from "../test/support/read-api.js";
import type { CeilingResult } from "./ceiling.js";
import type { ChildResult, ChildSpec } from "./types.js";

const ROOT = fileURLToPath(new URL("..", import.meta.url));

export interface PythonResult {
  run_id: string;
  /** log() per call, blocks of 1,000 calls timed as a whole. */
  mean_ns: number;
  p50_block_ns: number;
  p99_block_ns: number;
  loop_ms: number;
  /** trackio.finish(): loop end until everything is stored. */
  finish_ms: number;
  version: string;
  n: number;
  /** Rows the server holds for the run afterwards. */
  verifiedRows: number;
}

export interface RanksResult {
  ranks: ChildResult[];
  /** All records over the window from the first loop's start to the last close(). */
  recordsPerSec: number;
  windowMs: number;
  verifiedRows: number;
}

export interface Peers {
  ceiling: CeilingResult | null;
  python: PythonResult | null;
  ranks: RanksResult | null;
  failures: string[];
}

/** Run a command, return the line of stdout starting with `tag`, parsed. */
function runTagged<T>(cmd: string, args: string[], tag: string, env: NodeJS.ProcessEnv, timeoutMs: number): Promise<T> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: ROOT, env, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    child.stdout.on("data", (c: Buffer) => (out += c.toString()));
    child.stderr.on("data", (c: Buffer) => (err += c.toString()));
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      const line = out.split("\n").find((l) => l.startsWith(`${tag} `));
      if (line !== undefined) resolve(JSON.parse(line.slice(tag.length + 1)) as T);
      else reject(new Error(`${args[args.length - 2] ?? cmd} failed (${signal ?? `exit ${code}`}):\n${out}${err}`));
    });
  });
}

/** `projects`: one a pass, named as long as the measured client's project; `run` its run name. */
export function runCeiling(
  server: TrackioServer,
  projects: [string, string],
  run: string,
  records: number,
): Promise<CeilingResult> {
  const spec = { writeUrl: server.writeUrl, projects, run, records };
  return runTagged(
    process.execPath,
    ["--import", "tsx", "bench/ceiling.ts", JSON.stringify(spec)],
    "BENCH_CEILING",
    process.env,
    120_000,
  );
}

export async function runPython(
  server: TrackioServer,
  project: string,
  n: number,
  warmup: number,
): Promise<PythonResult> {
  const env = { ...process.env };
  for (const key of SCRUBBED_ENV) delete env[key];
  const spec = { write_url: server.writeUrl, project, run: "python", n, warmup };
  const r = await runTagged<Omit<PythonResult, "n" | "verifiedRows">>(
    venvPython(),
    ["bench/python_peer.py", JSON.stringify(spec)],
    "BENCH_PY",
    env,
    300_000,
  );
  const rows = await runRows(server.url, project, r.run_id);
  return { ...r, n, verifiedRows: rows.rows };
}

/**
 * `ranks` children at once, each a W1 loop of `n` records into its own run of one project,
 * their timed loops starting together (startAt); aggregate records/s over the window from
 * the first loop's start to the last close().
 */
export async function runRanks(
  base: ChildSpec,
  ranks: number,
  runChild: (spec: ChildSpec) => Promise<ChildResult>,
): Promise<RanksResult> {
  // Each child boots, warms up against the sink and settles first; 8 s covers that on 2 cores.
  const startAt = Date.now() + 8000;
  const results = await Promise.all(
    Array.from({ length: ranks }, (_, k) => runChild({ ...base, run: `rank-${k}`, startAt })),
  );
  const start = Math.min(...results.map((r) => r.loopStartEpochMs));
  const end = Math.max(...results.map((r) => r.closedEpochMs));
  let verifiedRows = 0;
  for (const r of results) verifiedRows += r.verifiedRows ?? 0;
  // Step 0 of each child is stored before its loop starts (see child.ts); the window holds the rest.
  const total = results.reduce((a, r) => a + r.spec.n - 1, 0);
  return { ranks: results, recordsPerSec: total / ((end - start) / 1000), windowMs: end - start, verifiedRows };
}
