// `npm run bench -- --profile`: workload 1 with the worker client, without per-call timers,
// under --cpu-prof. The client is the tsc build in .cache/ (bench/build.ts; tsx emits one line
// per file, which would make line ticks useless), even with --tsx; the bench code itself
// runs under tsx. Prints, for the main thread's samples inside the loop, self time per
// function and the hottest source lines of the client; and the worker thread's self time.

import { mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join, relative } from "node:path";
import { pathToFileURL } from "node:url";
import type { ChildResult, ChildSpec, TargetKind, WorkloadName } from "./types.js";

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
  positionTicks?: { line: number; ticks: number }[];
}

interface CpuProfile {
  startTime: number;
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

const LOOP_FN = "loopBare";

function fileOf(url: string, root: string): string {
  return url.startsWith("file://") ? relative(root, new URL(url).pathname) : url || "(native)";
}

interface Summary {
  total: number;
  fns: [string, number][];
  /** url → line → ticks, for nodes counted. */
  lines: Map<string, Map<number, number>>;
}

/**
 * Self time per function; with `within`, only samples whose stack contains that function;
 * with `window` (monotonic µs, the profile's own clock), only samples taken inside it.
 */
function summarize(p: CpuProfile, root: string, within?: string, window?: [number, number]): Summary {
  const byId = new Map<number, ProfileNode>();
  const parent = new Map<number, number>();
  for (const n of p.nodes) {
    byId.set(n.id, n);
    for (const c of n.children ?? []) parent.set(c, n.id);
  }
  const inside = new Map<number, boolean>();
  const isInside = (id: number): boolean => {
    if (within === undefined) return true;
    const known = inside.get(id);
    if (known !== undefined) return known;
    const up = parent.get(id);
    const v = byId.get(id)?.callFrame.functionName === within || (up !== undefined && isInside(up));
    inside.set(id, v);
    return v;
  };
  const self = new Map<string, number>();
  let total = 0;
  let at = p.startTime;
  for (let i = 0; i < p.samples.length; i++) {
    const id = p.samples[i];
    at += p.timeDeltas[i] ?? 0;
    if (window !== undefined && (at < window[0] || at > window[1])) continue;
    if (!isInside(id)) continue;
    const { functionName, url } = (byId.get(id) as ProfileNode).callFrame;
    const name = `${functionName || "(anonymous)"}  ${fileOf(url, root)}`;
    const ms = (p.timeDeltas[i] ?? 0) / 1000;
    self.set(name, (self.get(name) ?? 0) + ms);
    total += ms;
  }
  const lines = new Map<string, Map<number, number>>();
  for (const n of p.nodes) {
    // Line ticks carry no times: only for a whole profile.
    if (n.positionTicks === undefined || !isInside(n.id) || window !== undefined) continue;
    const url = n.callFrame.url;
    const m = lines.get(url) ?? new Map<number, number>();
    lines.set(url, m);
    for (const t of n.positionTicks) m.set(t.line, (m.get(t.line) ?? 0) + t.ticks);
  }
  return { total, fns: [...self.entries()].sort((a, b) => b[1] - a[1]), lines };
}

function fnTable(title: string, s: Summary, top: number): string {
  const rows = s.fns.filter(([name]) => !name.startsWith("(idle)"));
  const busy = rows.reduce((a, [, ms]) => a + ms, 0);
  const out = [`${title}: ${busy.toFixed(0)} ms of samples`, "   self ms  self %  function"];
  for (const [name, ms] of rows.slice(0, top)) {
    out.push(`${ms.toFixed(1).padStart(10)} ${((ms / busy) * 100).toFixed(1).padStart(6)}%  ${name}`);
  }
  return out.join("\n");
}

/** The hottest lines of the built client's files, with their source text. */
function lineTable(s: Summary, buildDir: string, root: string, top: number): string {
  const rows: { where: string; ticks: number; text: string }[] = [];
  let all = 0;
  for (const [url, m] of s.lines) {
    for (const ticks of m.values()) all += ticks;
    if (!url.startsWith(pathToFileURL(buildDir).href)) continue;
    const source = readFileSync(new URL(url), "utf8").split("\n");
    for (const [line, ticks] of m) {
      rows.push({
        where: `${relative(buildDir, new URL(url).pathname)}:${line}`,
        ticks,
        text: source[line - 1]?.trim() ?? "",
      });
    }
  }
  rows.sort((a, b) => b.ticks - a.ticks);
  const out = [
    `hottest lines of the compiled client (${relative(root, buildDir)}), share of all in-loop ticks (${all})`,
  ];
  for (const r of rows.slice(0, top)) {
    out.push(`${((r.ticks / all) * 100).toFixed(1).padStart(6)}%  ${r.where.padEnd(22)} ${r.text.slice(0, 90)}`);
  }
  return out.join("\n");
}

export async function runProfile(
  root: string,
  runChild: (spec: ChildSpec, nodeArgs: string[]) => Promise<ChildResult>,
  specFor: (workload: WorkloadName, target: TargetKind, n: number) => ChildSpec,
  stamp: string,
  built: { module: string; dir: string },
): Promise<void> {
  const buildDir = built.dir;
  const clientModule = built.module;
  const configs: ChildSpec[] = [
    specFor("w1", "trackio", 200_000),
    specFor("w1", "sink", 1_000_000),
    specFor("w2", "trackio", 50_000),
    specFor("w4", "trackio", 100_000),
  ];
  const sections: string[] = [];
  for (const [i, spec] of configs.entries()) {
    const dir = join(root, "bench", "results", `profile-${stamp}-${i}`);
    mkdirSync(dir, { recursive: true });
    const r = await runChild({ ...spec, bare: true, clientModule, project: `${spec.project}-${i}` }, [
      "--cpu-prof",
      "--cpu-prof-dir",
      dir,
      "--cpu-prof-interval",
      "10",
    ]);
    sections.push(
      `=== ${spec.workload.toUpperCase()} worker → ${spec.target}, n=${spec.n.toLocaleString("en-US")}, no timers, profiler on: loop ${r.loopMs.toFixed(0)} ms` +
        ` (${((r.loopMs * 1e6) / spec.n).toFixed(0)} ns/step incl. profiler), stored during the loop ${(r.storedAtLoopEnd ?? 0) - (r.storedBeforeLoop ?? 0)};` +
        ` profiles in ${relative(root, dir)}`,
    );
    // One profile per thread: main, tsx's loader, the probe, and two client workers (the
    // warm-up client's and the measured one's, which has the most samples).
    let worker: Summary | null = null;
    let steady: Summary | null = null;
    for (const f of readdirSync(dir).filter((x) => x.endsWith(".cpuprofile"))) {
      const text = readFileSync(join(dir, f), "utf8");
      const p = JSON.parse(text) as CpuProfile;
      const inLoop = summarize(p, root, LOOP_FN);
      if (inLoop.total > 0) {
        sections.push(fnTable(`main thread, samples inside ${LOOP_FN}()`, inLoop, 15));
        sections.push(lineTable(inLoop, buildDir, root, 15));
      } else if (text.includes("flusher.js")) {
        const s = summarize(p, root);
        if (worker === null || s.total > worker.total) {
          worker = s;
          steady = summarize(p, root, undefined, [r.loopStartMonoUs, r.closedMonoUs]);
        }
      }
    }
    if (worker !== null) sections.push(fnTable("measured client's worker thread, whole run", worker, 12));
    if (steady !== null) sections.push(fnTable("… from loop start to close() done", steady, 25));
  }
  const text = `${sections.join("\n\n")}\n`;
  process.stdout.write(text);
  writeFileSync(join(root, "bench", "results", `profile-${stamp}.txt`), text);
}
