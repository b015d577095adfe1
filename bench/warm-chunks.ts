// `npx tsx bench/warm-chunks.ts [chunks] [records]`: what the worker costs a W1 record from a
// cold start on. One client, in a fresh process, logs `chunks` chunks of `records` W1 records
// (default 6 × 200,000) into the bench's sink (in a process of its own), each chunk as fast
// as log() takes them and then flushed; per chunk, the worker thread's CPU per record (from
// its flush result) and its page faults. The bench warms the worker up before it measures
// (README, Method: `--warm-values`); this shows what that warm-up takes away.

import { readFileSync } from "node:fs";
import { Client } from "../src/index.js";
import { startSinkProcess } from "./sink.js";
import { findWorkerTid, ownThreads } from "./stalls-evidence.js";
import { WORKLOADS } from "./workloads.js";

const CHUNKS = Number(process.argv[2] ?? 6);
const RECORDS = Number(process.argv[3] ?? 200_000);

/** Minor page faults of thread `tid` of this process. */
function minorFaults(tid: number): number {
  const stat = readFileSync(`/proc/self/task/${tid}/stat`, "latin1");
  return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[7]);
}

async function main(): Promise<void> {
  const sink = await startSinkProcess();
  const w1 = WORKLOADS.w1;
  const before = ownThreads();
  const client = new Client({ baseUrl: sink.writeUrl, project: `warm-chunks-${Date.now().toString(36)}`, run: "r" });
  const cpuMs = () => client.stats().workerCpuMs ?? Number.NaN;
  try {
    client.log(w1.make(0, 0), 0);
    await client.flush();
    const worker = findWorkerTid(before);
    if (worker === null) throw new Error("no worker thread found");
    let cpu = cpuMs();
    let faults = minorFaults(worker);
    let step = 1;
    for (let chunk = 0; chunk < CHUNKS; chunk++) {
      for (let i = 0; i < RECORDS; i++, step++) client.log(w1.make(step, 0), step);
      await client.flush();
      const cpuNow = cpuMs();
      const faultsNow = minorFaults(worker);
      process.stdout.write(
        `chunk ${chunk}: worker CPU ${(((cpuNow - cpu) * 1e6) / RECORDS).toFixed(0)} ns a record, ${faultsNow - faults} page faults\n`,
      );
      cpu = cpuNow;
      faults = faultsNow;
    }
  } finally {
    await client.close();
    sink.stop();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`warm-chunks: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
