// Durable storage for records the worker could not deliver, in Trackio's own inbox format
// (trackio/fragments.py, version 1): one JSON record per line, one directory per writer
// (process), each file written under a temporary name and renamed into place, so a reader
// never sees half a fragment. The same files serve two readers:
// - the spool (a cache directory per server): this client replays them over HTTP later;
// - the inbox ($TRACKIO_DIR/inbox): a Trackio server on this machine imports them itself,
//   with the original timestamps.
// Fragments are written synchronously: the worker calls this at exit deadlines, when there
// is no later turn of the event loop to wait for.

import { randomBytes } from "node:crypto";
import { mkdirSync, readdirSync, readFileSync, renameSync, rmdirSync, unlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";

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
    const writerDir = join(this.dir, this.writerId);
    mkdirSync(writerDir, { recursive: true });
    const name = `${String(this.#seq++).padStart(8, "0")}.jsonl`;
    const final = join(writerDir, name);
    const tmp = join(writerDir, `.${name}.${process.pid}.tmp`);
    writeFileSync(tmp, `${lines.join("\n")}\n`);
    renameSync(tmp, final);
    return final;
  }
}

/** Every complete fragment under `dir`, oldest writer sequence first within each writer. */
export function listFragments(dir: string): string[] {
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
    for (const n of names.sort()) if (n.endsWith(".jsonl")) out.push(join(dir, w, n));
  }
  return out;
}

/** The lines of a fragment, or null if another process consumed it meanwhile. */
export function readFragment(path: string): string[] | null {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch {
    return null;
  }
  return text.split("\n").filter((line) => line.trim() !== "");
}

export function removeFragment(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    // already removed by a concurrent replay: fine, the server ignores duplicates anyway
  }
  try {
    rmdirSync(join(path, ".."));
  } catch {
    // the writer directory still holds fragments
  }
}
