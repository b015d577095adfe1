// Turning child results into the printed tables, the target verdicts and the JSON file.

import { readFileSync } from "node:fs";
import { cpus, totalmem } from "node:os";
import type { Peers } from "./peers.js";
import type { ChildResult, ChildSpec, ClientKind, TargetKind, WorkloadName } from "./types.js";
import { WORKLOADS } from "./workloads.js";

export interface Machine {
  node: string;
  cpu: string;
  cores: number;
  memGB: number;
  platform: string;
  commit: string | null;
  date: string;
}

/** HEAD's commit, read from .git without running git. */
function commit(): string | null {
  try {
    const git = new URL("../.git/", import.meta.url);
    const head = readFileSync(new URL("HEAD", git), "utf8").trim();
    if (!head.startsWith("ref: ")) return head;
    const ref = head.slice(5);
    try {
      return readFileSync(new URL(ref, git), "utf8").trim();
    } catch {
      const packed = readFileSync(new URL("packed-refs", git), "utf8");
      return (
        packed
          .split("\n")
          .find((l) => l.endsWith(` ${ref}`))
          ?.split(" ")[0] ?? null
      );
    }
  } catch {
    return null;
  }
}

export function machine(): Machine {
  return {
    node: process.version,
    cpu: cpus()[0]?.model.trim() ?? "unknown",
    cores: cpus().length,
    memGB: Math.round(totalmem() / 2 ** 30),
    platform: `${process.platform}-${process.arch}`,
    commit: commit(),
    date: new Date().toISOString(),
  };
}

type Get = (r: ChildResult, floor: ChildResult | undefined) => number | null;

interface Row {
  label: string;
  get: Get;
  digits: number;
  /** The floor column makes no sense for this row. */
  noFloor?: boolean;
  /** Only for loops that yield (workload 3). */
  yielding?: boolean;
}

/** Per-step wall time of the uninstrumented blocks (awaits included), against the floor's. */
export const blockSlowdown: Get = (r, f) => (f === undefined ? null : (r.blockMeanNs / f.blockMeanNs - 1) * 100);
/** Per-step wall time of the whole loop, half of it with per-call timers, against the floor's. */
export const wallSlowdown: Get = (r, f) =>
  f === undefined ? null : (r.loopMs / r.spec.n / (f.loopMs / f.spec.n) - 1) * 100;
const cpuSlowdown: Get = (r, f) =>
  f === undefined ? null : (r.loopMainCpuMs / r.spec.n / (f.loopMainCpuMs / f.spec.n) - 1) * 100;

const netMean: Get = (r, f) => (f === undefined ? null : r.blockMeanNs - f.blockMeanNs);

const ROWS: Row[] = [
  { label: "log() p50 (ns)", get: (r) => r.latency.p50, digits: 0 },
  { label: "log() p90 (ns)", get: (r) => r.latency.p90, digits: 0 },
  { label: "log() p99 (ns)", get: (r) => r.latency.p99, digits: 0 },
  { label: "log() p99.9 (ns)", get: (r) => r.latency.p999, digits: 0 },
  { label: "log() max (µs)", get: (r) => r.latency.max / 1000, digits: 1 },
  { label: "calls taking ≥ 10 µs (%)", get: (r) => r.latency.over10us, digits: 3 },
  { label: "step mean, block-timed (ns)", get: (r) => r.blockMeanNs, digits: 0 },
  { label: "log() mean, net of floor (ns)", get: netMean, digits: 0, noFloor: true },
  {
    label: "log() calls/s, net (M)",
    get: (r, f) => {
      const ns = netMean(r, f);
      return ns === null || ns <= 0 ? null : 1e3 / ns;
    },
    digits: 2,
    noFloor: true,
  },
  { label: "loop steps/s (M)", get: (r) => r.stepsPerSec / 1e6, digits: 2 },
  { label: "first log() call (µs)", get: (r) => r.firstCallUs, digits: 0 },
  { label: "loop wall time (ms)", get: (r) => r.loopMs, digits: 0 },
  { label: "slowdown vs floor, untimed blocks (%)", get: blockSlowdown, digits: 1, noFloor: true, yielding: true },
  { label: "slowdown vs floor, whole loop (%)", get: wallSlowdown, digits: 1, noFloor: true, yielding: true },
  { label: "main-thread CPU vs floor (%)", get: cpuSlowdown, digits: 1, noFloor: true, yielding: true },
  { label: "main-thread CPU, loop (ms)", get: (r) => r.loopMainCpuMs, digits: 0 },
  { label: "main-thread CPU, loop+close (ms)", get: (r) => r.mainCpuMs, digits: 0 },
  { label: "process CPU, loop+close (ms)", get: (r) => r.processCpuMs, digits: 0 },
  { label: "worker thread CPU, loop+close (ms)", get: (r) => r.workerCpuMs ?? null, digits: 0, noFloor: true },
  {
    label: "worker thread CPU per record (ns)",
    get: (r) => (r.workerCpuMs === null || r.workerCpuMs === undefined ? null : (r.workerCpuMs * 1e6) / (r.spec.n - 1)),
    digits: 0,
    noFloor: true,
  },
  { label: "event-loop delay p99 (ms)", get: (r) => r.eld.p99, digits: 1 },
  { label: "event-loop delay max (ms)", get: (r) => r.eld.max, digits: 1 },
  { label: "acked during the loop (records)", get: (r) => r.ackedDuringLoop, digits: 0, noFloor: true },
  {
    label: "stored during the loop (records)",
    get: (r) => (r.storedAtLoopEnd === null ? null : r.storedAtLoopEnd - (r.storedBeforeLoop ?? 0)),
    digits: 0,
    noFloor: true,
  },
  { label: "loop end → close() done (ms)", get: (r) => (r.spec.client === "floor" ? null : r.drainMs), digits: 0 },
  { label: "stored/s, loop start → close()", get: (r) => r.storedPerSec || null, digits: 0, noFloor: true },
  {
    label: "records via main-thread overflow",
    get: (r) => (r.spec.client === "worker" ? (r.clientStats?.overflowed ?? null) : null),
    digits: 0,
    noFloor: true,
  },
  { label: "rows verified after close()", get: (r) => r.verifiedRows, digits: 0, noFloor: true },
  { label: "target's CPU meanwhile (ms)", get: (r) => r.targetCpuMs ?? null, digits: 0, noFloor: true },
  { label: "peak RSS (MB)", get: (r) => r.peakRssMB, digits: 0 },
  { label: "peak main heap (MB)", get: (r) => r.peakHeapMB, digits: 1 },
];

function fmt(v: number | null, digits: number): string {
  if (v === null || !Number.isFinite(v)) return "—";
  return v.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

function ratio(a: number | null, b: number | null): string {
  if (a === null || b === null || !Number.isFinite(a) || !Number.isFinite(b)) return "—";
  if (b === 0) return a === 0 ? "—" : "∞";
  const q = a / b;
  return q >= 100 ? q.toFixed(0) : q >= 10 ? q.toFixed(1) : q.toFixed(2);
}

const WIDTHS = [32, 12, 12, 12, 14];

function line(cells: string[]): string {
  return cells.map((c, i) => (i === 0 ? c.padEnd(WIDTHS[i]) : c.padStart(WIDTHS[i]))).join("");
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 === 1 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

/** The first result of (workload, target, client): of a repeated group, its first run. */
function find(results: ChildResult[], w: WorkloadName, t: TargetKind | null, c: ClientKind): ChildResult | undefined {
  return results.find((r) => r.spec.workload === w && (t === null || r.spec.target === t) && r.spec.client === c);
}

function groupTable(results: ChildResult[], w: WorkloadName, t: TargetKind): string {
  const worker = find(results, w, t, "worker");
  const inline = find(results, w, t, "inline");
  const floor = find(results, w, null, "floor");
  const n = (worker ?? inline)?.spec.n ?? 0;
  const where = t === "trackio" ? "real Trackio server" : "discarding HTTP sink";
  const floorNote =
    floor !== undefined && floor.spec.n !== n ? ` (floor n=${floor.spec.n.toLocaleString("en-US")})` : "";
  const out = [
    `\n${w.toUpperCase()} ${WORKLOADS[w].title} → ${where}, n=${n.toLocaleString("en-US")}${floorNote}`,
    line(["", "worker", "inline", "floor", "worker/inline"]),
  ];
  for (const row of ROWS) {
    if (row.yielding && WORKLOADS[w].yieldEvery === 0) continue;
    const a = worker === undefined ? null : row.get(worker, floor);
    const b = inline === undefined ? null : row.get(inline, floor);
    const f = floor === undefined || row.noFloor ? null : row.get(floor, undefined);
    out.push(line([row.label, fmt(a, row.digits), fmt(b, row.digits), fmt(f, row.digits), ratio(a, b)]));
  }
  return out.join("\n");
}

export interface Verdict {
  target: string;
  met: boolean | null;
  detail: string;
}

function verdicts(results: ChildResult[]): Verdict[] {
  const out: Verdict[] = [];
  const ns = (v: number) => `${v.toFixed(0)} ns`;
  for (const t of ["trackio", "sink"] as const) {
    const w = find(results, "w1", t, "worker");
    if (w === undefined) continue;
    out.push({
      target: `W1/${t}: worker log() p50 ≤ 150 ns`,
      met: w.latency.p50 <= 150,
      detail: `p50 ${ns(w.latency.p50)}`,
    });
    out.push({
      target: `W1/${t}: worker log() p99 ≤ 1 µs`,
      met: w.latency.p99 <= 1000,
      detail: `p99 ${ns(w.latency.p99)}`,
    });
  }
  for (const r of results) {
    if (r.spec.client !== "worker") continue;
    const i = find(results, r.spec.workload, r.spec.target, "inline");
    if (i === undefined) continue;
    const q = i.latency.p99 / Math.max(1, r.latency.p99);
    out.push({
      target: `${r.spec.workload.toUpperCase()}/${r.spec.target}: worker p99 ≥ 10× lower than inline`,
      met: q >= 10,
      detail: `${ns(r.latency.p99)} vs ${ns(i.latency.p99)} (${q.toFixed(1)}×); p99.9 ${ns(r.latency.p999)} vs ${ns(i.latency.p999)}`,
    });
  }
  for (const t of ["trackio", "sink"] as const) {
    const w = find(results, "w1", t, "worker");
    if (w?.workerCpuMs === null || w?.workerCpuMs === undefined) continue;
    const perRecord = (w.workerCpuMs * 1e6) / (w.spec.n - 1);
    out.push({
      target: `W1/${t}: worker thread CPU per 4-metric record ≤ 500 ns`,
      met: perRecord <= 500,
      detail: `${perRecord.toFixed(0)} ns (${w.workerCpuMs.toFixed(0)} ms for ${w.spec.n - 1} records)`,
    });
  }
  const slowdownGoals: [WorkloadName, number][] = [
    ["w3", 10],
    ["w5", 2],
    ["w6", 0.5],
  ];
  for (const [w, goal] of slowdownGoals) {
    for (const t of ["trackio", "sink"] as const) {
      for (const c of ["worker", "inline"] as const) {
        // Each run against the floor of the same run (a repeated group has one per run).
        const runs = results
          .filter((r) => r.spec.workload === w && r.spec.target === t && r.spec.client === c)
          .map((r) => ({
            r,
            f: results.find((x) => x.spec.workload === w && x.spec.client === "floor" && x.spec.rep === r.spec.rep),
          }))
          .filter((x): x is { r: ChildResult; f: ChildResult } => x.f !== undefined);
        if (runs.length === 0) continue;
        const slow = runs.map(({ r, f }) => blockSlowdown(r, f) as number);
        const wall = runs.map(({ r, f }) => wallSlowdown(r, f) as number);
        const mid = median(slow);
        const each =
          runs.length === 1
            ? ""
            : ` (median of ${runs.length} runs, each beside its own floor: ${slow.map((x) => x.toFixed(1)).join(", ")}%)`;
        out.push({
          target: `${w.toUpperCase()}/${t}: ${c} slows the loop ≤ ${goal}% vs floor`,
          met: mid <= goal,
          detail: `${mid.toFixed(1)}%${each} (untimed blocks; whole loop incl. per-call timers ${median(wall).toFixed(1)}%)`,
        });
      }
    }
  }
  for (const r of results) {
    if (r.spec.target !== "trackio" || r.spec.client === "floor" || WORKLOADS[r.spec.workload].yieldEvery > 0) continue;
    // Acknowledged by the server before the loop ended: exact, read from the client at that
    // instant; the server's own count is read a few ms later and shown beside it.
    const acked = r.ackedDuringLoop ?? 0;
    const stored = (r.storedAtLoopEnd ?? 0) - (r.storedBeforeLoop ?? 0);
    const want = r.spec.client === "worker" ? acked > 0 : stored === 0;
    out.push({
      target: `${r.spec.workload.toUpperCase()}/trackio: ${r.spec.client} ${r.spec.client === "worker" ? "has records stored" : "has none stored"} before the hot loop ends`,
      met: want,
      detail: `${acked} of ${r.spec.n - 1} loop records acknowledged when the ${r.loopMs.toFixed(0)} ms loop ended; the server counted ${stored} ${r.probeMs.toFixed(0)} ms later`,
    });
  }
  for (const r of results) {
    if (r.spec.client === "floor") continue;
    if (r.verifiedRows !== r.spec.n || r.errors > 0) {
      out.push({
        target: `${r.spec.workload}/${r.spec.target}/${r.spec.client}: every record stored exactly once`,
        met: false,
        detail: `${r.verifiedRows} rows (${r.verifiedDistinctLogIds} distinct log_ids) of ${r.spec.n}, ${r.errors} errors`,
      });
    }
  }
  return out;
}

/** The peers' table: ours beside the server's ceiling, Trackio's Python client and eight ranks. */
function peersTable(results: ChildResult[], peers: Peers): { text: string; verdicts: Verdict[] } {
  const ours = find(results, "w1", "trackio", "worker");
  const ceiling = peers.ceiling?.recordsPerSec ?? null;
  const share = (v: number | null) => (v === null || ceiling === null ? "—" : `${((v / ceiling) * 100).toFixed(0)}%`);
  const lines = [
    `\nPeers, measured in this run against the same Trackio server${peers.python === null ? "" : ` (Python: trackio ${peers.python.version})`}`,
  ];
  const out: Verdict[] = [];
  if (peers.ceiling !== null) {
    const c = peers.ceiling;
    lines.push(
      `  server ingest ceiling: ${fmt(c.recordsPerSec, 0)} records/s (${fmt(c.records, 0)} W1 records pre-built into ${c.requests} bulk_log bodies of ${c.bytesPerRecord === undefined ? "?" : fmt(c.bytesPerRecord, 0)} bytes a record, each pass into a fresh project named as long as the client's: two requests in flight ${fmt(c.twoInFlightPerSec, 0)}, one at a time ${fmt(c.oneAtATimePerSec, 0)})`,
    );
  }
  const py = peers.python;
  if (py !== null) {
    const pyPerSec = py.n / ((py.loop_ms + py.finish_ms) / 1000);
    lines.push(
      line(["  W1, 4 numeric metrics", "ours", "Python", "", "Python/ours"]),
      line(["  steps", fmt(ours?.spec.n ?? null, 0), fmt(py.n, 0), "", ""]),
      line([
        "  log() mean per call (ns)",
        fmt(ours?.blockMeanNs ?? null, 0),
        fmt(py.mean_ns, 0),
        "",
        ratio(py.mean_ns, ours?.blockMeanNs ?? null),
      ]),
      line([
        "  loop wall time (ms)",
        fmt(ours?.loopMs ?? null, 0),
        fmt(py.loop_ms, 0),
        "",
        ratio(py.loop_ms, ours?.loopMs ?? null),
      ]),
      line([
        "  loop end → all stored (ms)",
        fmt(ours?.drainMs ?? null, 0),
        fmt(py.finish_ms, 0),
        "",
        ratio(py.finish_ms, ours?.drainMs ?? null),
      ]),
      line([
        "  stored/s, loop start → all stored",
        fmt(ours?.storedPerSec ?? null, 0),
        fmt(pyPerSec, 0),
        "",
        ratio(pyPerSec, ours?.storedPerSec ?? null),
      ]),
      line(["  … as a share of the ceiling", share(ours?.storedPerSec ?? null), share(pyPerSec), "", ""]),
      line(["  rows verified", fmt(ours?.verifiedRows ?? null, 0), fmt(py.verifiedRows, 0), "", ""]),
    );
  }
  if (ceiling !== null && ours !== undefined) {
    const q = ours.storedPerSec / ceiling;
    out.push({
      target: "W1/trackio: one process stores ≥ 95% of the server's ceiling (loop start → close())",
      met: q >= 0.95,
      detail: `${fmt(ours.storedPerSec, 0)} of ${fmt(ceiling, 0)} records/s (${(q * 100).toFixed(0)}%)`,
    });
  }
  const rk = peers.ranks;
  if (rk !== null) {
    const means = rk.ranks.map((r) => r.blockMeanNs);
    const p99s = rk.ranks.map((r) => r.latency.p99);
    const n = rk.ranks.reduce((a, r) => a + r.spec.n - 1, 0);
    lines.push(
      `  ${rk.ranks.length} ranks at once (W1, ${fmt(rk.ranks[0]?.spec.n ?? null, 0)} steps each, one project, a run each): ${fmt(rk.recordsPerSec, 0)} records/s in total (${share(rk.recordsPerSec)} of the ceiling), ${fmt(n, 0)} records in ${fmt(rk.windowMs, 0)} ms, ${fmt(rk.verifiedRows, 0)} rows verified`,
      `    per process: log() mean ${fmt(Math.min(...means), 0)}–${fmt(Math.max(...means), 0)} ns, p99 ${fmt(Math.min(...p99s), 0)}–${fmt(Math.max(...p99s), 0)} ns`,
    );
    if (ceiling !== null) {
      const q = rk.recordsPerSec / ceiling;
      out.push({
        target: `${rk.ranks.length} ranks store ≥ 80% of the server's ceiling together`,
        met: q >= 0.8,
        detail: `${fmt(rk.recordsPerSec, 0)} of ${fmt(ceiling, 0)} records/s (${(q * 100).toFixed(0)}%)`,
      });
    }
    const expected = rk.ranks.reduce((a, r) => a + r.spec.n, 0);
    if (rk.verifiedRows !== expected) {
      out.push({
        target: `${rk.ranks.length} ranks: every record stored exactly once`,
        met: false,
        detail: `${rk.verifiedRows} rows of ${expected}`,
      });
    }
  }
  for (const f of peers.failures) lines.push(`  [FAILED] ${f}`);
  return { text: lines.join("\n"), verdicts: out };
}

export function report(
  results: ChildResult[],
  failures: { spec: ChildSpec; message: string }[],
  meta: { mode: string; totalSec: number; workIters: number; otherCpuPct: number | null; client: "built" | "tsx" },
  peers: Peers | null = null,
) {
  const m = machine();
  const groups: [WorkloadName, TargetKind][] = [];
  for (const r of results) {
    if (r.spec.client === "floor") continue;
    if (!groups.some(([w, t]) => w === r.spec.workload && t === r.spec.target))
      groups.push([r.spec.workload, r.spec.target]);
  }
  const overhead = results.map((r) => r.timerOverheadNs).sort((a, b) => a - b);
  const header = [
    `trackio bench (${meta.mode}) — ${m.cpu}, ${m.cores} cores, ${m.memGB} GB, Node ${m.node}, ${m.platform};` +
      ` client ${meta.client === "built" ? "built by tsc, as users run it" : "run from its sources under tsx"}`,
    `commit ${m.commit ?? "unknown"}, ${m.date}, took ${meta.totalSec.toFixed(1)} s;` +
      ` other processes used ${meta.otherCpuPct === null ? "?" : meta.otherCpuPct.toFixed(0)}% of the machine meanwhile`,
    `Per-call latency: every other block of 1000 calls timed call by call; the timer pair's own cost` +
      ` (median ${overhead[overhead.length >> 1]?.toFixed(0)} ns) is subtracted.` +
      ` Means: the other blocks, timed per 1000 calls. spin(${meta.workIters}) ≈ 1 µs of work in W3.`,
  ];
  const tables = groups.map(([w, t]) => groupTable(results, w, t));
  const peerPart = peers === null ? null : peersTable(results, peers);
  if (peerPart !== null) tables.push(peerPart.text);
  const v = [...verdicts(results), ...(peerPart?.verdicts ?? [])];
  const targets = [
    "\nTargets",
    ...v.map((x) => `  [${x.met === null ? "?" : x.met ? "met" : "MISSED"}] ${x.target}: ${x.detail}`),
  ];
  if (v.some((x) => x.met === false)) {
    targets.push("  Where a target is missed, `npm run bench -- --profile` shows what log() spends its time on.");
  }
  const failed = failures.map(
    (f) => `  [FAILED] ${f.spec.workload}/${f.spec.target}/${f.spec.client}: ${f.message.split("\n")[0]}`,
  );
  const text = `${[...header, ...tables, ...targets, ...failed].join("\n")}\n`;
  const ratios: Record<string, Record<string, number | null>> = {};
  for (const [w, t] of groups) {
    const a = find(results, w, t, "worker");
    const b = find(results, w, t, "inline");
    const f = find(results, w, null, "floor");
    if (a === undefined || b === undefined) continue;
    const entry: Record<string, number | null> = {};
    for (const row of ROWS) {
      const x = row.get(a, f);
      const y = row.get(b, f);
      entry[row.label] = x === null || y === null || y === 0 ? null : x / y;
    }
    ratios[`${w}/${t}`] = entry;
  }
  const markdown = `${summaryMarkdown(results, groups, m, meta)}${peerPart === null ? "" : `\n\`\`\`${peerPart.text}\n\`\`\`\n`}`;
  return {
    text,
    markdown,
    json: { machine: m, ...meta, results, failures, peers, ratiosWorkerOverInline: ratios, targets: v },
  };
}

/** One line per (workload, target): the headline figures, worker vs inline, for the README. */
function summaryMarkdown(
  results: ChildResult[],
  groups: [WorkloadName, TargetKind][],
  m: Machine,
  meta: { mode: string; totalSec: number; client: "built" | "tsx" },
): string {
  const cell = (r: ChildResult | undefined, f: ChildResult | undefined, row: string, digits = 0) => {
    const def = ROWS.find((x) => x.label === row);
    return r === undefined || def === undefined ? "—" : fmt(def.get(r, f), digits);
  };
  const pair = (a: ChildResult | undefined, b: ChildResult | undefined, f: ChildResult | undefined, row: string) =>
    `${cell(a, f, row)} / ${cell(b, f, row)}`;
  const lines = [
    `${meta.mode} run, ${m.date.slice(0, 10)}, ${m.cpu} (${m.cores} vCPUs), Node ${m.node}, commit ${m.commit?.slice(0, 7) ?? "?"}, client ${meta.client === "built" ? "built" : "under tsx"}; worker / inline`,
    "",
    "| workload → target | n | log() p50 ns | p99 ns | p99.9 ns | mean ns, net | main CPU ms | acked during loop | loop end → all stored ms | stored/s | peak RSS MB |",
    "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|",
  ];
  for (const [w, t] of groups) {
    const a = find(results, w, t, "worker");
    const b = find(results, w, t, "inline");
    const f = find(results, w, null, "floor");
    lines.push(
      `| ${w.toUpperCase()} ${WORKLOADS[w].title} → ${t} | ${((a ?? b)?.spec.n ?? 0).toLocaleString("en-US")} | ` +
        [
          "log() p50 (ns)",
          "log() p99 (ns)",
          "log() p99.9 (ns)",
          "log() mean, net of floor (ns)",
          "main-thread CPU, loop+close (ms)",
          "acked during the loop (records)",
          "loop end → close() done (ms)",
          "stored/s, loop start → close()",
          "peak RSS (MB)",
        ]
          .map((row) => pair(a, b, f, row))
          .join(" | ") +
        " |",
    );
  }
  return `${lines.join("\n")}\n`;
}
