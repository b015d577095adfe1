// What waits in a spool, read from disk without sending anything: for `trackio status`, and
// for the listing `trackio sync` prints before it sends. A spool root holds one directory per
// server (paths.ts spoolDirFor: `<host>-<hash of the URL>`); each holds one directory per
// writing process with its fragments and quarantine files, and `media/` with spooled files.

import { readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import { listSpooledArtifacts } from "./io/artifact-spool.js";
import { countsAsRecord, KIND_PREFIX } from "./io/bodies.js";
import { listSpooledMedia, type SpooledMedia } from "./io/media-files.js";
import { damage } from "./io/record-line.js";
import { listFragments, listQuarantined, readFragment } from "./io/spool.js";
import { spoolDirFor } from "./paths.js";

/** Which records a command is about: `--project` and `--run` (unset: all). */
export interface Selection {
  project?: string;
  run?: string;
}

export function selects(sel: Selection, project: unknown, run: unknown): boolean {
  if (typeof project !== "string" || typeof run !== "string") return sel.project === undefined && sel.run === undefined;
  return (sel.project === undefined || sel.project === project) && (sel.run === undefined || sel.run === run);
}

/** Whether a fragment line belongs to the selection. A line that is not JSON belongs to no project. */
export function lineSelected(sel: Selection, line: string): boolean {
  const r = parseLine(line);
  return r === null ? selects(sel, null, null) : selects(sel, r.project, r.run);
}

export function mediaSelected(sel: Selection, entry: SpooledMedia): boolean {
  const t = mediaTarget(entry);
  return selects(sel, t?.project, t?.run);
}

function parseLine(line: string): Record<string, unknown> | null {
  try {
    const r: unknown = JSON.parse(line);
    return typeof r === "object" && r !== null && !Array.isArray(r) ? (r as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

function mediaTarget(entry: SpooledMedia): { project?: unknown; run?: unknown } | null {
  try {
    return parseLine(readFileSync(entry.meta, "utf8"));
  } catch {
    return null;
  }
}

/** One run's share of a server directory. project and run are null for lines that name none. */
export interface RunStock {
  project: string | null;
  run: string | null;
  /** Logged records (metrics and alerts) waiting to be sent. */
  records: number;
  /** System-metric samples waiting to be sent. */
  system: number;
  media: number;
  /** Lines set aside in *.quarantined.jsonl files: never sent again, kept for a person. */
  quarantined: number;
  /** Waiting lines that are not records; sync sets them aside. */
  damaged: number;
  /** Timestamps of its lines (waiting and set aside), as the client wrote them (UTC). */
  oldest: string | null;
  newest: string | null;
}

export interface DirStock {
  path: string;
  /** Whether the directory was made for the URL a command was given (null: no URL given). */
  forUrl: boolean | null;
  /** Fragments holding selected lines. */
  fragments: string[];
  runs: RunStock[];
  /** Spooled artifact versions (whole versions: not split by run or selected). */
  artifacts: number;
}

/** Per-server directories under `root` that hold anything: the root itself when it is one. */
export function serverDirs(root: string): string[] {
  if (holdsSpool(root)) return [root];
  let names: string[];
  try {
    names = readdirSync(root).sort();
  } catch {
    return [];
  }
  return names.map((n) => join(root, n)).filter((d) => isDir(d) && holdsSpool(d));
}

function holdsSpool(dir: string): boolean {
  return (
    listFragments(dir).length > 0 ||
    listSpooledMedia(dir).length > 0 ||
    listSpooledArtifacts(dir).length > 0 ||
    listQuarantined(dir).length > 0
  );
}

function isDir(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

/** What waits under `root`, per server directory and run; `url` (a display URL) marks its directory. */
export function takeStock(root: string, sel: Selection = {}, url: string | null = null): DirStock[] {
  return serverDirs(root).map((path) => {
    const runs = new Map<string, RunStock>();
    const runOf = (r: Record<string, unknown> | null): RunStock | null => {
      const project = typeof r?.project === "string" ? r.project : null;
      const run = typeof r?.run === "string" ? r.run : null;
      if (!selects(sel, project, run)) return null;
      const key = JSON.stringify([project, run]);
      let stock = runs.get(key);
      if (stock === undefined) {
        stock = {
          project,
          run,
          records: 0,
          system: 0,
          media: 0,
          quarantined: 0,
          damaged: 0,
          oldest: null,
          newest: null,
        };
        runs.set(key, stock);
      }
      if (typeof r?.timestamp === "string") {
        if (stock.oldest === null || r.timestamp < stock.oldest) stock.oldest = r.timestamp;
        if (stock.newest === null || r.timestamp > stock.newest) stock.newest = r.timestamp;
      }
      return stock;
    };
    const fragments: string[] = [];
    for (const fragment of listFragments(path)) {
      let lines: string[];
      try {
        lines = readFragment(fragment) ?? [];
      } catch {
        // Unreadable: sync names it when it gets there; its records cannot be counted.
        lines = [];
      }
      // An empty (or unreadable) fragment is in every selection: sync removes it (or names it).
      let selected = lines.length === 0;
      for (const line of lines) {
        const stock = runOf(parseLine(line));
        if (stock === null) continue;
        selected = true;
        if (damage(line) !== null) stock.damaged++;
        else if (countsAsRecord(line)) stock.records++;
        else if (line.startsWith(KIND_PREFIX.system)) stock.system++;
      }
      if (selected) fragments.push(fragment);
    }
    for (const file of listQuarantined(path)) {
      for (const line of readQuietly(file)) {
        const stock = runOf(parseLine(line));
        if (stock !== null) stock.quarantined++;
      }
    }
    for (const entry of listSpooledMedia(path)) {
      const stock = runOf(mediaTarget(entry));
      if (stock !== null) stock.media++;
    }
    const forUrl = url === null ? null : spoolDirFor(dirname(path), url) === path;
    const sorted = [...runs.values()].sort((a, b) => order(a).localeCompare(order(b)));
    return { path, forUrl, fragments, runs: sorted, artifacts: listSpooledArtifacts(path).length };
  });
}

function order(r: RunStock): string {
  return `${r.project ?? "\uffff"}\u0000${r.run ?? ""}`;
}

/** The sum of some runs' counts. */
export function totals(runs: readonly RunStock[]): Omit<RunStock, "project" | "run" | "oldest" | "newest"> {
  const t = { records: 0, system: 0, media: 0, quarantined: 0, damaged: 0 };
  for (const r of runs) for (const k of Object.keys(t) as (keyof typeof t)[]) t[k] += r[k];
  return t;
}

function readQuietly(path: string): string[] {
  try {
    return readFragment(path) ?? [];
  } catch {
    return [];
  }
}
