// Artifact versions the server could not take, kept in the spool until it can:
// `<spool>/artifacts/<id>.json` (the version to commit, as artifact_log takes it) beside
// `<spool>/artifacts/<id>/<digest>` (its blobs). The blobs are written first and the .json
// last, by rename, so a .json names a complete entry; replay removes the .json first.

import { copyFileSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { type ArtifactSpec, sha256File } from "./artifacts.js";
import { listJsonEntries } from "./spool.js";

export interface SpooledArtifact {
  /** The entry's .json. */
  meta: string;
  /** The directory of its blobs. */
  blobs: string;
}

function artifactsDir(spoolDir: string): string {
  return join(spoolDir, "artifacts");
}

/** Keep a version for a later commit; returns the entry's .json. Throws if a file changed since it was hashed. */
export async function spoolArtifact(
  spoolDir: string,
  id: string,
  spec: ArtifactSpec,
  sources: ReadonlyMap<string, string>,
): Promise<string> {
  const dir = artifactsDir(spoolDir);
  const blobs = join(dir, id);
  mkdirSync(blobs, { recursive: true });
  try {
    for (const [digest, path] of sources) {
      const target = join(blobs, digest);
      copyFileSync(path, target);
      // Checked on the copy: what is kept is exactly what was hashed.
      if ((await sha256File(target)).digest !== digest) {
        throw new Error(`${path} changed after it was hashed`);
      }
    }
    const meta = join(dir, `${id}.json`);
    const tmp = join(dir, `.${id}.json.${process.pid}.tmp`);
    writeFileSync(tmp, JSON.stringify({ v: 1, ...spec }));
    renameSync(tmp, meta);
    return meta;
  } catch (err) {
    rmSync(blobs, { recursive: true, force: true });
    throw err;
  }
}

/** Every complete spooled version under `spoolDir`, in the order they were kept. */
export function listSpooledArtifacts(spoolDir: string): SpooledArtifact[] {
  const dir = artifactsDir(spoolDir);
  return listJsonEntries(dir)
    .sort()
    .map((n) => ({ meta: join(dir, n), blobs: join(dir, n.slice(0, -5)) }));
}

/** The version and its blobs' paths; "gone" if a concurrent replay took it, "corrupt" if unreadable. */
export function readSpooledArtifact(
  entry: SpooledArtifact,
):
  | { kind: "ok"; spec: ArtifactSpec; blobs: Map<string, string> }
  | { kind: "gone" }
  | { kind: "corrupt"; reason: string } {
  let text: string;
  try {
    text = readFileSync(entry.meta, "utf8");
  } catch (err) {
    if ((err as { code?: unknown }).code === "ENOENT") return { kind: "gone" };
    return { kind: "corrupt", reason: `${entry.meta} cannot be read (${(err as Error).message})` };
  }
  try {
    const spec = JSON.parse(text) as ArtifactSpec & { v?: number };
    if (!Array.isArray(spec?.manifest) || typeof spec.name !== "string") throw new Error("fields missing");
    delete spec.v;
    const blobs = new Map(spec.manifest.map((e) => [e.digest, join(entry.blobs, e.digest)] as const));
    return { kind: "ok", spec, blobs };
  } catch (err) {
    return { kind: "corrupt", reason: `${entry.meta} is not a spooled artifact (${(err as Error).message})` };
  }
}

export function removeSpooledArtifact(entry: SpooledArtifact): void {
  rmSync(entry.meta, { force: true });
  rmSync(entry.blobs, { recursive: true, force: true });
}
