// npm run bench [-- --quick] [-- --profile] [-- --stalls [--repeat k] [--compare <git ref>] [--pause-server]] [-- --child-flags "<node flags>"] [-- --tsx]
// Narrowing, for investigation: --only w1,w3,peers  --target trackio,sink  --client worker,inline,floor
// --n <steps> (every group)  --warmup <steps>  --warm-values <n>  --runs <k> (of W5 and W6; 3 in a full run, 1 in quick)
// The peers (the server's ceiling, Trackio's Python client, eight ranks) run after the
// groups, unless --only leaves out "peers".
// Starts a real Trackio server and a discarding sink, runs every (workload, target, client)
// in a child process of its own, prints the tables and writes bench/results/<date>-<mode>.json.
// --profile instead runs workload 1 with the worker client under --cpu-prof and prints the
// main thread's self time per function. --stalls runs W1 for 300,000 steps with per-block
// evidence of what the slow blocks are (bench/stalls.ts).
// The children run the client as users do, built by tsc into .cache/trackio-bench first
// (bench/build.ts); --tsx runs it from its TypeScript sources under tsx instead.

import { spawn } from "node:child_process";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { cpus } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { startTrackio, type TrackioServer } from "../scripts/trackio-server.js";
import { buildClient } from "./build.js";
import { cpuSnapshot, otherProcessCpuMs, processCpuNs } from "./measure.js";
import { type Peers, runCeiling, runPython, runRanks } from "./peers.js";
import { runProfile } from "./profile.js";
import { machine, report } from "./report.js";
import { startSink } from "./sink.js";
import { runStalls } from "./stalls.js";
import type { StallsResult } from "./stalls-child.js";
import type { ChildResult, ChildSpec, ClientKind, TargetKind, WorkloadName } from "./types.js";
import { calibrateSpin } from "./workloads.js";

interface Group {
  workload: WorkloadName;
  target: TargetKind;
  clients: ClientKind[];
  n: number;
  /** Which round of a repeated group (see SLOWDOWN_RUNS); undefined for a group that runs once. */
  rep?: number;
}

/**
 * The loop-slowdown groups (W5, W6) run this many times in a full run, each time floor then
 * clients, so that every run has a floor beside it; the verdicts take the median. One run
 * swung by about a point from the next, more than W6's goal of 0.5%.
 */
const SLOWDOWN_RUNS = 3;
const SLOWDOWN = new Set<WorkloadName>(["w5", "w6"]);

/** The plan with the slowdown groups repeated `runs` times, after the others, run by run. */
function withRuns(plan: Group[], runs: number): Group[] {
  const once = plan.filter((g) => !SLOWDOWN.has(g.workload));
  const repeated = plan.filter((g) => SLOWDOWN.has(g.workload));
  const out = [...once];
  for (let rep = 1; rep <= runs; rep++) for (const g of repeated) out.push({ ...g, rep });
  return out;
}

const FULL: Group[] = [
  { workload: "w1", target: "sink", clients: ["floor", "worker", "inline"], n: 1_000_000 },
  { workload: "w1", target: "trackio", clients: ["worker", "inline"], n: 200_000 },
  { workload: "w2", target: "trackio", clients: ["floor", "worker", "inline"], n: 50_000 },
  { workload: "w3", target: "trackio", clients: ["floor", "worker", "inline"], n: 200_000 },
  { workload: "w3", target: "sink", clients: ["worker", "inline"], n: 200_000 },
  { workload: "w4", target: "trackio", clients: ["floor", "worker", "inline"], n: 100_000 },
  { workload: "w5", target: "trackio", clients: ["floor", "worker", "inline"], n: 200_000 },
  { workload: "w6", target: "trackio", clients: ["floor", "worker", "inline"], n: 30_000 },
  // The same loops with nothing beside them but the client: the Trackio rows also carry the
  // server's own work on the loop's two cores (bench/README, "What runs against what").
  { workload: "w5", target: "sink", clients: ["worker", "inline"], n: 200_000 },
  { workload: "w6", target: "sink", clients: ["worker", "inline"], n: 30_000 },
];

/** The peers (bench/peers.ts): ceiling records, Python client steps, eight ranks × steps. */
const PEERS_FULL = { ceiling: 200_000, python: 200_000, ranks: 8, rankSteps: 50_000 };
const PEERS_QUICK = { ceiling: 40_000, python: 30_000, ranks: 8, rankSteps: 10_000 };

const QUICK: Group[] = [
  { workload: "w1", target: "sink", clients: ["floor", "worker", "inline"], n: 100_000 },
  { workload: "w1", target: "trackio", clients: ["worker", "inline"], n: 30_000 },
  { workload: "w2", target: "trackio", clients: ["floor", "worker", "inline"], n: 10_000 },
  { workload: "w3", target: "trackio", clients: ["floor", "worker", "inline"], n: 20_000 },
  { workload: "w4", target: "trackio", clients: ["floor", "worker", "inline"], n: 10_000 },
  { workload: "w5", target: "trackio", clients: ["floor", "worker", "inline"], n: 20_000 },
  { workload: "w6", target: "trackio", clients: ["floor", "worker", "inline"], n: 3_000 },
];

const ROOT = fileURLToPath(new URL("..", import.meta.url));
/** A child that takes longer is killed and reported as failed; the others still run. */
const CHILD_TIMEOUT_MS = Number(process.env.BENCH_CHILD_TIMEOUT_MS ?? 90_000);

function runChild<R = ChildResult>(
  spec: ChildSpec,
  extraNodeArgs: string[] = [],
  script = "bench/child.ts",
): Promise<R> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      ["--import", "tsx", "--expose-gc", ...extraNodeArgs, script, JSON.stringify(spec)],
      { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] },
    );
    let out = "";
    let err = "";
    child.stdout.on("data", (c: Buffer) => (out += c.toString()));
    child.stderr.on("data", (c: Buffer) => (err += c.toString()));
    const timer = setTimeout(() => {
      err += `\n(killed after ${CHILD_TIMEOUT_MS} ms)`;
      child.kill("SIGKILL");
    }, CHILD_TIMEOUT_MS);
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      const line = out.split("\n").find((l) => l.startsWith("BENCH_RESULT "));
      // With BENCH_VERBOSE, the child's own output too (e.g. V8's --trace-deopt through --child-flags).
      if (process.env.BENCH_VERBOSE) process.stderr.write(out.replace(/^BENCH_RESULT .*\n?/m, "") + err);
      if (line !== undefined) resolve(JSON.parse(line.slice("BENCH_RESULT ".length)) as R);
      else reject(new Error(`${label(spec)} failed (${signal ?? `exit ${code}`}):\n${out}${err}`));
    });
  });
}

async function runPeers(
  server: TrackioServer,
  sizes: typeof PEERS_FULL,
  specFor: (g: Group, client: ClientKind, tag: string) => ChildSpec,
): Promise<Peers> {
  const peers: Peers = { ceiling: null, python: null, ranks: null, failures: [] };
  const step = async <T>(name: string, run: () => Promise<T>): Promise<T | null> => {
    const t = performance.now();
    try {
      const r = await run();
      process.stderr.write(`  ${name.padEnd(30)} ${((performance.now() - t) / 1000).toFixed(1)} s\n`);
      return r;
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      peers.failures.push(`${name}: ${message.split("\n")[0]}`);
      process.stderr.write(`  ${name.padEnd(30)} FAILED:\n${message}\n`);
      return null;
    }
  };
  // The ceiling's projects are named as long as the measured W1 client's ("worker" → "ceil-a"),
  // under its run name: project, run, run id and log ids make up ~40% of a W1 entry's bytes.
  const measured = specFor({ workload: "w1", target: "trackio", clients: [], n: 0 }, "worker", "");
  const project = `${measured.project}-peers`;
  const ceilingProjects: [string, string] = [
    measured.project.replace(/worker$/, "ceil-a"),
    measured.project.replace(/worker$/, "ceil-b"),
  ];
  peers.ceiling = await step("server ingest ceiling", () =>
    runCeiling(server, ceilingProjects, measured.run ?? "bench", sizes.ceiling),
  );
  peers.python = await step("Trackio's Python client", () =>
    runPython(server, `${project}-python`, sizes.python, Math.min(5000, sizes.python)),
  );
  const rankSpec = specFor({ workload: "w1", target: "trackio", clients: [], n: sizes.rankSteps }, "worker", "-ranks");
  peers.ranks = await step(`${sizes.ranks} ranks at once`, () =>
    runRanks({ ...rankSpec, warmup: Math.min(rankSpec.warmup, 5000), warmValues: 0 }, sizes.ranks, runChild),
  );
  return peers;
}

function label(s: ChildSpec): string {
  return `${s.workload}/${s.target}/${s.client}${s.rep === undefined ? "" : ` #${s.rep}`}`;
}

function parseArgs(argv: string[]) {
  const quick = argv.includes("--quick");
  const profile = argv.includes("--profile");
  const stalls = argv.includes("--stalls");
  const value = (flag: string): string | null => {
    const at = argv.indexOf(flag);
    return at >= 0 ? (argv[at + 1] ?? "") : null;
  };
  const list = (flag: string) => {
    const v = value(flag);
    return v === null ? null : new Set(v.split(","));
  };
  const num = (flag: string) => {
    const v = value(flag);
    return v === null ? null : Number(v);
  };
  return {
    quick,
    profile,
    stalls,
    repeat: num("--repeat"),
    compare: value("--compare"),
    pauseServer: argv.includes("--pause-server"),
    tsx: argv.includes("--tsx"),
    childFlags: (value("--child-flags") ?? "").split(" ").filter((f) => f !== ""),
    only: list("--only"),
    targets: list("--target"),
    clients: list("--client"),
    n: num("--n"),
    warmup: num("--warmup"),
    warmValues: num("--warm-values"),
    runs: num("--runs"),
  };
}

async function main(): Promise<void> {
  const started = performance.now();
  const args = parseArgs(process.argv.slice(2));
  const mode = args.stalls ? "stalls" : args.quick ? "quick" : "full";
  const plan = withRuns(
    (args.quick ? QUICK : FULL)
      .filter((g) => (args.only === null || args.only.has(g.workload)) && (args.targets?.has(g.target) ?? true))
      .map((g) => ({
        ...g,
        n: args.n ?? g.n,
        clients: g.clients.filter((c) => args.clients?.has(c) ?? true),
      })),
    args.runs ?? (args.quick ? 1 : SLOWDOWN_RUNS),
  );
  const buildDir = join(ROOT, ".cache", "trackio-bench");
  const clientModule = args.tsx ? undefined : buildClient(ROOT, ROOT, buildDir);
  const workIters = calibrateSpin(1000);
  const stamp = new Date().toISOString().replace(/[:.]/g, "-");
  const sink = await startSink();
  let server: TrackioServer | null = null;
  try {
    server = await startTrackio();
    const base = {
      warmup: args.warmup ?? (args.quick ? 5_000 : 20_000),
      warmValues: args.warmValues ?? (args.quick ? 400_000 : 4_000_000),
      workIters,
      sinkUrl: sink.writeUrl,
    };
    const specFor = (g: Group, client: ClientKind, tag = ""): ChildSpec => ({
      ...base,
      client,
      settleMs: 50,
      workload: g.workload,
      target: g.target,
      n: g.n,
      writeUrl: g.target === "trackio" ? (server as TrackioServer).writeUrl : sink.writeUrl,
      readUrl: g.target === "trackio" ? (server as TrackioServer).url : sink.url,
      project:
        `bench-${stamp}-${g.workload}-${g.target}-${client}${g.rep === undefined ? "" : `-r${g.rep}`}${tag}`.replace(
          /[^A-Za-z0-9_-]/g,
          "-",
        ),
      clientModule,
      rep: g.rep,
    });

    if (args.profile) {
      const profSpec = (workload: WorkloadName, target: TargetKind, n: number) =>
        specFor({ workload, target, n, clients: [] }, "worker", "-prof");
      const built = clientModule ?? buildClient(ROOT, ROOT, buildDir);
      await runProfile(ROOT, (s, a) => runChild(s, a), profSpec, stamp, { module: built, dir: buildDir });
      return;
    }

    if (args.stalls) {
      const trackio = server;
      await runStalls({
        root: ROOT,
        compare: args.compare,
        clientModule,
        pauseServer: args.pauseServer,
        repeat: args.repeat ?? 1,
        targets: [...(args.targets ?? ["trackio"])] as TargetKind[],
        specFor: (target, tag) => ({
          ...specFor({ workload: "w1", target, n: args.n ?? 300_000, clients: [] }, "worker", tag),
          serverPid: target === "trackio" ? trackio.pid : undefined,
        }),
        runChild: (s) => runChild<StallsResult>(s, args.childFlags, "bench/stalls-child.ts"),
        outFile: new URL(`results/${stamp}-stalls.json`, import.meta.url),
      });
      return;
    }

    const results: ChildResult[] = [];
    const failures: { spec: ChildSpec; message: string }[] = [];
    const snap0 = cpuSnapshot();
    const server0 = otherProcessCpuMs(server.pid) ?? 0;
    process.stderr.write(
      `bench (${mode}): ${machine().cpu}, ${cpus().length} cores, Node ${process.version}; spin(${workIters}) ≈ 1 µs\n`,
    );
    const runsStarted = performance.now();
    for (const g of plan) {
      for (const client of g.clients) {
        const t = performance.now();
        const targetCpu = () =>
          g.target === "trackio" ? otherProcessCpuMs((server as TrackioServer).pid) : processCpuNs() / 1e6;
        const cpu0 = targetCpu();
        const spec = specFor(g, client);
        let note: string;
        try {
          const r = await runChild(spec, args.childFlags);
          const cpu1 = targetCpu();
          r.targetCpuMs = client === "floor" || cpu0 === null || cpu1 === null ? null : cpu1 - cpu0;
          results.push(r);
          note = "";
        } catch (err) {
          const message = err instanceof Error ? err.message : String(err);
          failures.push({ spec, message });
          note = `  FAILED:\n${message}`;
        }
        process.stderr.write(
          `  ${label(spec).padEnd(20)} n=${g.n.toLocaleString("en-US").padStart(9)}  ${((performance.now() - t) / 1000).toFixed(1)} s${note}\n`,
        );
      }
    }
    const peers =
      args.only === null || args.only.has("peers")
        ? await runPeers(server, args.quick ? PEERS_QUICK : PEERS_FULL, (g, c, tag) => specFor(g, c, tag))
        : null;
    const totalSec = (performance.now() - started) / 1000;
    // Other processes' share of the machine while the children ran: the noise indicator.
    const snap1 = cpuSnapshot();
    const serverMs = (otherProcessCpuMs(server.pid) ?? 0) - server0;
    const runMs = (performance.now() - runsStarted) * cpus().length;
    const otherCpuPct =
      snap0 === null || snap1 === null
        ? null
        : (Math.max(0, snap1.busyMs - snap0.busyMs - (snap1.ownMs - snap0.ownMs) - serverMs) / runMs) * 100;
    const { text, markdown, json } = report(
      results,
      failures,
      { mode, totalSec, workIters, otherCpuPct, client: args.tsx ? "tsx" : "built" },
      peers,
    );
    process.stdout.write(text);
    mkdirSync(new URL("results/", import.meta.url), { recursive: true });
    const file = new URL(`results/${stamp}-${mode}.json`, import.meta.url);
    writeFileSync(file, `${JSON.stringify(json, null, 2)}\n`);
    writeFileSync(new URL(`results/${stamp}-${mode}.md`, import.meta.url), markdown);
    process.stdout.write(`\nwrote ${fileURLToPath(file)} (${totalSec.toFixed(1)} s)\n`);
  } finally {
    await sink.stop();
    if (server !== null) {
      await server.stop();
      rmSync(server.dataDir, { recursive: true, force: true });
    }
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
