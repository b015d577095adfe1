// Durable storage for records the worker could not deliver, in Trackio's own inbox format
// (trackio/fragments.py, version 1): one JSON record per line, one directory per writer
// (process), each file written under a temporary name and renamed into place, so a reader
// never sees half a fragment. The same files serve two readers:
// - the spool (a cache directory per server): this client replays them over HTTP later;
// - the inbox ($TRACKIO_DIR/inbox): a Trackio server on this machine imports them itself,
//   with the original timestamps.
// Records the server refused on their own go to `*.quarantined.jsonl` files beside the
// fragments: same format, never replayed (listFragments skips them), kept for a person.
// Fragments are written synchronously: the worker calls this at exit deadlines, when there
// is no later turn of the event loop to wait for.

import { randomBytes } from "node:crypto";
import {
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmdirSync,
  statSync,
  unlinkSync,
  writeFileSync,
} from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import { SpoolError } from "../shared/errors.js";

/** The name ending of a file of records set aside (refused by the server, or damaged). */
export const QUARANTINE_SUFFIX = ".quarantined.jsonl";

/**
 * Create `dir` and its missing parents, one level at a time. Node 20's recursive mkdirSync
 * loops forever where mkdir answers ENOENT for a path whose parent exists (anything under
 * /proc), spinning the worker and keeping the process from ending; this walk makes at most
 * one attempt per path component and throws a SpoolError naming the directory instead.
 */
export function ensureDir(dir: string): void {
  const target = resolve(dir);
  const missing: string[] = [];
  for (let p = target; ; p = dirname(p)) {
    const kind = pathKind(p);
    if (kind === "dir") break;
    if (kind === "other") throw spoolError(target, `${p} exists and is not a directory`);
    missing.push(p);
    if (dirname(p) === p) break;
  }
  for (const p of missing.reverse()) {
    try {
      mkdirSync(p);
    } catch (err) {
      // Made by a concurrent writer meanwhile: fine, as long as it is a directory now.
      if ((err as NodeJS.ErrnoException).code === "EEXIST" && pathKind(p) === "dir") continue;
      throw spoolError(target, `mkdir ${p} failed: ${describe(err)}`, err);
    }
  }
}

function pathKind(p: string): "dir" | "other" | "missing" {
  try {
    return statSync(p).isDirectory() ? "dir" : "other";
  } catch {
    return "missing";
  }
}

function describe(err: unknown): string {
  const code = (err as { code?: unknown })?.code;
  const message = err instanceof Error ? err.message : String(err);
  return typeof code === "string" && !message.startsWith(code) ? `${code} (${message})` : message;
}

function spoolError(dir: string, detail: string, cause?: unknown): SpoolError {
  return new SpoolError(
    `the spool directory ${dir} cannot be created: ${detail}. Set spoolDir (or TRACKIO_SPOOL_DIR) to a writable directory, or spoolDir: false to keep nothing on disk`,
    cause === undefined ? undefined : { cause },
  );
}

export class FragmentWriter {
  readonly writerId: string;
  #seq = 0;

  constructor(
    readonly dir: string,
    writerId = randomBytes(8).toString("hex"),
  ) {
    this.writerId = writerId;
  }

  /** Write one fragment of JSON lines; returns its path. */
  write(lines: readonly string[]): string {
    return this.#write(lines, ".jsonl");
  }

  /** Set lines aside in a quarantine file (never replayed); returns its path. */
  quarantine(lines: readonly string[]): string {
    return this.#write(lines, QUARANTINE_SUFFIX);
  }

  #write(lines: readonly string[], suffix: string): string {
    const writerDir = join(this.dir, this.writerId);
    ensureDir(writerDir);
    const name = `${String(this.#seq++).padStart(8, "0")}${suffix}`;
    const final = join(writerDir, name);
    replaceFile(final, lines);
    return final;
  }
}

function isReplayable(name: string): boolean {
  return name.endsWith(".jsonl") && !name.endsWith(QUARANTINE_SUFFIX);
}

/** Every complete fragment under `dir`, oldest writer sequence first within each writer. */
export function listFragments(dir: string): string[] {
  return listFiles(dir, isReplayable);
}

/** Every quarantine file under `dir` (records set aside, waiting for a person). */
export function listQuarantined(dir: string): string[] {
  return listFiles(dir, (n) => n.endsWith(QUARANTINE_SUFFIX));
}

function listFiles(dir: string, keep: (name: string) => boolean): string[] {
  let writers: string[];
  try {
    writers = readdirSync(dir);
  } catch {
    return [];
  }
  const out: string[] = [];
  for (const w of writers.sort()) {
    let names: string[];
    try {
      names = readdirSync(join(dir, w));
    } catch {
      continue; // not a directory, or gone
    }
    for (const n of names.sort()) if (keep(n)) out.push(join(dir, w, n));
  }
  return out;
}

/**
 * The lines of a fragment, or null if another process consumed it meanwhile. A fragment that
 * exists but cannot be read (permissions, a directory, a dangling link) throws SpoolError:
 * taking it for consumed would have a replay pick it again at once, forever.
 */
export function readFragment(path: string): string[] | null {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    if (isMissing(err) && !isDanglingLink(path)) return null;
    throw new SpoolError(`${path} cannot be read: ${describe(err)}`, { cause: err });
  }
  return text.split("\n").filter((line) => line.trim() !== "");
}

/**
 * Delete a fragment whose lines were all settled. Throws SpoolError when it stays (a file
 * the user may read but not delete): replaying it again would send it again and again.
 */
export function removeFragment(path: string): void {
  try {
    unlinkSync(path);
  } catch (err) {
    // Already removed by a concurrent replay: fine, the server ignores duplicates anyway.
    if (!isMissing(err))
      throw new SpoolError(`${path} was sent but cannot be removed: ${describe(err)}`, { cause: err });
  }
  try {
    rmdirSync(join(path, ".."));
  } catch {
    // the writer directory still holds fragments
  }
}

/**
 * Add lines to the quarantine file beside a fragment (`00000003.jsonl` →
 * `00000003.quarantined.jsonl`), which a replay that stopped half-way may have begun.
 * Returns its path.
 */
export function quarantineBeside(fragment: string, lines: readonly string[]): string {
  const path = `${fragment.replace(/\.jsonl$/, "")}${QUARANTINE_SUFFIX}`;
  const before = readFragment(path) ?? [];
  replaceFile(path, [...before, ...lines]);
  return path;
}

/**
 * Rewrite a fragment to hold only `lines` (the rest was settled). Throws SpoolError when it
 * cannot be rewritten; it then stays whole (replaying its settled lines again adds nothing on
 * the server, but a replay must not take it again at once).
 */
export function keepOnly(fragment: string, lines: readonly string[]): void {
  replaceFile(fragment, lines);
}

function replaceFile(path: string, lines: readonly string[]): void {
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.tmp`);
  try {
    writeFileSync(tmp, `${lines.join("\n")}\n`);
    renameSync(tmp, path);
  } catch (err) {
    throw new SpoolError(`${path} cannot be written: ${describe(err)}`, { cause: err });
  }
}

function isMissing(err: unknown): boolean {
  return (err as { code?: unknown })?.code === "ENOENT";
}

/** readFileSync answers ENOENT for a link whose target is gone: the link itself is still there. */
export function isDanglingLink(path: string): boolean {
  try {
    return lstatSync(path).isSymbolicLink();
  } catch {
    return false;
  }
}

/** The complete `.json` entries of a spooled-file directory (media, artifacts), unsorted; none if it is absent. */
export function listJsonEntries(dir: string): string[] {
  try {
    return readdirSync(dir).filter((n) => n.endsWith(".json") && !n.startsWith("."));
  } catch {
    return [];
  }
}
