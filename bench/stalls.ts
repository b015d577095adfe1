// `npm run bench -- --stalls [--repeat k] [--n steps] [--target trackio,sink]`: what the
// log() stalls are. W1 with the real client for 300,000 steps in a loop that never yields,
// with the default 16 MiB ring and with a 1 MiB one that overflows, each block of 1,000 calls
// timed (bench/stalls-child.ts). For every block over 2 ms and the 10 slowest, the evidence
// around it, and the cause it points to: the main thread waiting for a CPU (preempted), a GC
// pause, log() blocked on a full overflow, or extra time on the CPU (with its page faults).

import { spawnSync } from "node:child_process";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { cpus } from "node:os";
import { buildClient } from "./build.js";
import type { StallsBlock, StallsResult } from "./stalls-child.js";
import { F } from "./stalls-evidence.js";
import type { ChildSpec, TargetKind } from "./types.js";

const SLOW_MS = 2;
const SLOWEST = 10;
const RINGS: { ringBytes: number | undefined; label: string }[] = [
  { ringBytes: undefined, label: "16 MiB ring" },
  { ringBytes: 1 << 20, label: "1 MiB ring" },
];

export type Cause = "preempted" | "GC" | "overflow full" | "on-CPU";

/**
 * ms the main thread spent on a CPU in a block. A loop that never yields is on a CPU, waiting
 * for one, or asleep in log() on a full overflow; the wait is exact (the kernel adds it up when
 * the thread runs again), while schedstat's run time lags by up to a scheduler tick. The
 * evidence window also holds the snapshot after the block, hence the clamp.
 */
export function onCpuMs(b: StallsBlock): number {
  return Math.max(0, b.ms - Math.min(b.ms, b.d[F.mainWaitNs] / 1e6) - b.d[F.blockedMs]);
}

/** The cause a block's evidence points to: whichever of the four accounts for the most ms. */
export function causeOf(b: StallsBlock, typicalOnCpuMs: number): { cause: Cause; ms: Record<Cause, number> } {
  const ms: Record<Cause, number> = {
    preempted: Math.min(b.ms, b.d[F.mainWaitNs] / 1e6),
    GC: b.gcMs,
    "overflow full": b.d[F.blockedMs],
    "on-CPU": Math.max(0, onCpuMs(b) - typicalOnCpuMs - b.gcMs),
  };
  let cause: Cause = "on-CPU";
  for (const c of Object.keys(ms) as Cause[]) if (ms[c] > ms[cause]) cause = c;
  return { cause, ms };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? 0 : s[s.length >> 1];
}

const f1 = (x: number) => x.toFixed(1);
const f2 = (x: number) => x.toFixed(2);

function blockRow(b: StallsBlock, index: number, typicalRunMs: number): string {
  const { cause } = causeOf(b, typicalRunMs);
  const gc = b.gcMs > 0 ? `${f2(b.gcMs)} ${[...new Set(b.gcKinds)].join("+")}` : "0";
  const cells = [
    String(index),
    f1(b.at),
    f2(b.ms),
    f2(onCpuMs(b)),
    f2(b.d[F.mainWaitNs] / 1e6),
    String(b.d[F.mainSlices]),
    `${b.d[F.invol]} / ${b.d[F.vol]}`,
    gc,
    String(b.d[F.minflt]),
    String(b.d[F.majflt]),
    String(b.d[F.overflowed]),
    f1(b.d[F.blockedMs]),
    f2(b.d[F.workerRunNs] / 1e6),
    f2(b.d[F.othersRunNs] / 1e6),
    f2(b.d[F.serverRunNs] / 1e6),
    cause,
  ];
  return `| ${cells.join(" | ")} |`;
}

const HEADER =
  "| block | at ms | wall ms | on CPU ms | waited for CPU ms | slices | process switches invol. / vol. | GC ms | minor faults | major faults | overflowed | blocked ms | worker CPU ms | our other threads ms | server CPU ms | cause |\n" +
  "| --: | --: | --: | --: | --: | --: | --: | --: | --: | --: | --: | --: | --: | --: | --: | --- |";

export interface StallsSummary {
  label: string;
  n: number;
  blocks: number;
  slow: number;
  byCause: Record<Cause, number>;
  p99Ns: number;
  p999Ns: number;
  maxBlockMs: number;
  medianBlockMs: number;
  waitedMs: number;
  gcMs: number;
  minflt: number;
  overflowed: number;
  workerCpuMs: number;
  serverCpuMs: number;
  verified: string;
}

export function summarize(label: string, r: StallsResult): { summary: StallsSummary; text: string } {
  const blocks = r.blocks;
  const typicalRunMs = median(blocks.map(onCpuMs));
  const byCause: Record<Cause, number> = { preempted: 0, GC: 0, "overflow full": 0, "on-CPU": 0 };
  const slow = blocks.map((b, i) => ({ b, i })).filter(({ b }) => b.ms > SLOW_MS);
  for (const { b } of slow) byCause[causeOf(b, typicalRunMs).cause]++;
  const slowest = blocks
    .map((b, i) => ({ b, i }))
    .sort((x, y) => y.b.ms - x.b.ms)
    .slice(0, SLOWEST);
  const shown = [...new Map([...slow, ...slowest].map((x) => [x.i, x])).values()].sort((x, y) => x.i - y.i);
  const sum = (f: number) => blocks.reduce((a, b) => a + b.d[f], 0);
  const summary: StallsSummary = {
    label,
    n: r.spec.n,
    blocks: blocks.length,
    slow: slow.length,
    byCause,
    p99Ns: r.latency.p99,
    p999Ns: r.latency.p999,
    maxBlockMs: Math.max(...blocks.map((b) => b.ms)),
    medianBlockMs: median(blocks.map((b) => b.ms)),
    waitedMs: sum(F.mainWaitNs) / 1e6,
    gcMs: blocks.reduce((a, b) => a + b.gcMs, 0),
    minflt: sum(F.minflt),
    overflowed: sum(F.overflowed),
    workerCpuMs: sum(F.workerRunNs) / 1e6,
    serverCpuMs: sum(F.serverRunNs) / 1e6,
    verified:
      r.verifiedRows === null
        ? "—"
        : `${r.verifiedRows.toLocaleString("en-US")} rows, ${r.verifiedDistinctLogIds?.toLocaleString("en-US")} log_ids`,
  };
  const during = (f: number) => slow.reduce((a, { b }) => a + b.d[f], 0) / 1e6;
  const causes = (Object.keys(byCause) as Cause[]).map((c) => `${c} ${byCause[c]}`).join(", ");
  const text = [
    `\n### ${label}: W1 → ${r.spec.target}, n=${r.spec.n.toLocaleString("en-US")}, loop ${f1(r.loopMs)} ms`,
    `blocks over ${SLOW_MS} ms: ${slow.length} of ${blocks.length} (${causes}); max block ${f2(summary.maxBlockMs)} ms, median ${f2(summary.medianBlockMs)} ms`,
    `log() per call (timed blocks): p99 ${r.latency.p99} ns, p99.9 ${r.latency.p999} ns, max ${f1(r.latency.max / 1000)} µs`,
    `over all blocks: main thread waited for a CPU ${f1(summary.waitedMs)} ms, GC ${f1(summary.gcMs)} ms in blocks (+${f1(r.gcOutsideMs)} between), ` +
      `${summary.minflt} minor faults, ${summary.overflowed.toLocaleString("en-US")} records overflowed, ` +
      `worker thread CPU ${f1(summary.workerCpuMs)} ms${r.workerTidFound ? "" : " (thread not found)"}, ` +
      `server CPU ${f1(summary.serverCpuMs)} ms (${r.serverThreads} threads)`,
    `in the blocks over ${SLOW_MS} ms: ${f1(slow.reduce((a, { b }) => a + b.ms, 0))} ms in all, the main thread waited for a CPU ${f1(during(F.mainWaitNs))} ms ` +
      `while the server ran ${f1(during(F.serverRunNs))} ms, the worker thread ${f1(during(F.workerRunNs))} ms and our other threads ${f1(during(F.othersRunNs))} ms`,
    `our other threads over the loop (ms, by tid; * = started with the client): ${r.otherThreadsMs
      .filter((t) => t.ms >= 0.05)
      .map((t) => `${t.tid}${t.startedWithClient ? "*" : ""} ${f1(t.ms)}`)
      .join(", ")}`,
    `typical block on the CPU ${f2(typicalRunMs)} ms; stored afterwards: ${summary.verified}; errors ${r.errors}`,
    `machine over the loop: CPUs busy ${f1(r.machine.busyMs)} ms (10 ms ticks) of ${f1(cpus().length * r.loopMs)}, this process ${f1(r.machine.ownMs)}, ` +
      `server ${f1(summary.serverCpuMs)}, so others ≈ ${f1(r.machine.busyMs - r.machine.ownMs - summary.serverCpuMs)}; ` +
      `some task waited for a CPU ${f1(r.machine.cpuWaitMs)} ms (PSI)`,
    "",
    HEADER,
    ...shown.map(({ b, i }) => blockRow(b, i, typicalRunMs)),
    "",
  ].join("\n");
  return { summary, text };
}

function summaryTable(rows: StallsSummary[]): string {
  const head =
    "| run | blocks > 2 ms | preempted | GC | overflow full | on-CPU | log() p99 ns | p99.9 ns | max block ms | median block ms | waited for CPU ms | GC ms | minor faults | overflowed | worker CPU ms | server CPU ms |\n" +
    "| --- | --: | --: | --: | --: | --: | --: | --: | --: | --: | --: | --: | --: | --: | --: | --: |";
  const body = rows.map((s) =>
    [
      s.label,
      `${s.slow} / ${s.blocks}`,
      s.byCause.preempted,
      s.byCause.GC,
      s.byCause["overflow full"],
      s.byCause["on-CPU"],
      s.p99Ns,
      s.p999Ns,
      f2(s.maxBlockMs),
      f2(s.medianBlockMs),
      f1(s.waitedMs),
      f1(s.gcMs),
      s.minflt,
      s.overflowed.toLocaleString("en-US"),
      f1(s.workerCpuMs),
      f1(s.serverCpuMs),
    ].join(" | "),
  );
  return [head, ...body.map((r) => `| ${r} |`)].join("\n");
}

/**
 * src/ and worker/ of `ref` under .cache/, for --compare: the client as it was, run by the same
 * bench code in the same sitting, built as this tree's is (unless `tsx`). Returns the module
 * the child imports.
 */
function extractClient(root: string, ref: string, tsx: boolean): string {
  const dir = `${root}.cache/stalls-${ref.replace(/[^A-Za-z0-9_.-]/g, "-")}/`;
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const files = ["src", "worker", "tsconfig.json", "tsconfig.build.json"];
  const archive = spawnSync("git", ["archive", ref, ...files], { cwd: root, maxBuffer: 1 << 28 });
  if (archive.status !== 0) throw new Error(`git archive ${ref}: ${archive.stderr.toString()}`);
  const tar = spawnSync("tar", ["-x", "-C", dir], { input: archive.stdout });
  if (tar.status !== 0) throw new Error(`tar: ${tar.stderr.toString()}`);
  return tsx ? `${dir}src/index.ts` : buildClient(root, dir, `${dir}build`);
}

export async function runStalls(opts: {
  root: string;
  repeat: number;
  targets: TargetKind[];
  /** A commit to run beside the working tree's client, alternating, in the same sitting. */
  compare: string | null;
  /** This tree's client as the children import it (its tsc build), or undefined for its sources under tsx. */
  clientModule: string | undefined;
  /** Also run each case with the server stopped (SIGSTOP) during the loop: the stalls without it. */
  pauseServer: boolean;
  specFor: (target: TargetKind, tag: string) => ChildSpec;
  runChild: (spec: ChildSpec) => Promise<StallsResult>;
  outFile: URL;
}): Promise<void> {
  const clients: { name: string; module: string | undefined }[] = [{ name: "", module: opts.clientModule }];
  if (opts.compare !== null) {
    const module = extractClient(opts.root, opts.compare, opts.clientModule === undefined);
    clients.unshift({ name: `${opts.compare} `, module });
    clients[1].name = "this tree ";
  }
  const summaries: StallsSummary[] = [];
  const results: StallsResult[] = [];
  for (let rep = 1; rep <= opts.repeat; rep++) {
    for (const target of opts.targets) {
      for (const ring of RINGS) {
        for (const [k, client] of clients.entries()) {
          for (const pause of opts.pauseServer && target === "trackio" ? [false, true] : [false]) {
            const label = `${client.name}${ring.label} → ${target}${pause ? " (server paused)" : ""} #${rep}`;
            const spec: ChildSpec = {
              ...opts.specFor(target, `-stalls-${ring.ringBytes ?? "16m"}-${rep}-${k}${pause ? "-p" : ""}`),
              ringBytes: ring.ringBytes,
              clientModule: client.module,
              pauseServer: pause,
            };
            const t = performance.now();
            const r = await opts.runChild(spec);
            process.stderr.write(`  ${label.padEnd(40)} ${((performance.now() - t) / 1000).toFixed(1)} s\n`);
            const { summary, text } = summarize(label, r);
            process.stdout.write(text);
            summaries.push(summary);
            results.push(r);
          }
        }
      }
    }
  }
  process.stdout.write(`\n## Summary\n\n${summaryTable(summaries)}\n`);
  writeFileSync(opts.outFile, `${JSON.stringify({ summaries, results })}\n`);
}
