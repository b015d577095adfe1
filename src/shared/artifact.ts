// Artifacts as Trackio 0.43 stores them (trackio/artifact.py, cas.py, server.py): the job the
// main thread hands the worker, the version record the server answers, and the name, alias
// and path rules both sides check (cas.validate_artifact_name / validate_aliases /
// validate_logical_path), so that a bad argument fails at the call, not at the server.

import { InvalidArgError } from "./errors.js";

/** One file of a version: its path inside the artifact, sha256 (64 lowercase hex) and size. */
export interface ManifestEntry {
  path: string;
  digest: string;
  size: number;
}

/** What `logArtifact()` sends the worker: the files found at the call, in Python's order. */
export interface ArtifactJob {
  project: string;
  name: string;
  type: string;
  description: string | null;
  metadata: Record<string, unknown> | null;
  aliases: string[];
  files: { path: string; logical: string }[];
}

/** The server's version record (`artifact_log`, `get_artifact_manifest`). */
export interface ArtifactRecord {
  artifact_id: number;
  version_id: number;
  version: number;
  name: string;
  type: string;
  description: string | null;
  metadata: Record<string, unknown> | null;
  manifest: ManifestEntry[];
  manifest_digest: string;
  size_bytes: number;
  aliases: string[];
  created_at: string;
  producer_run_id: string | null;
  producer_run_name: string | null;
}

const NAME = /^[A-Za-z0-9._-]+$/;
const VERSION_SPEC = /^v\d+$/;

export function checkArtifactName(name: unknown, call: string): string {
  if (typeof name !== "string" || !NAME.test(name)) {
    throw new InvalidArgError(
      `${call}: artifact name ${JSON.stringify(name)} must match ^[A-Za-z0-9._-]+$ (letters, digits, dot, underscore, hyphen)`,
    );
  }
  return name;
}

export function checkAliases(aliases: unknown, call: string): string[] {
  if (aliases === undefined || aliases === null) return [];
  if (!Array.isArray(aliases)) throw new InvalidArgError(`${call}: aliases must be an array of strings`);
  for (const alias of aliases) {
    if (typeof alias !== "string" || !NAME.test(alias)) {
      throw new InvalidArgError(`${call}: alias ${JSON.stringify(alias)} must match ^[A-Za-z0-9._-]+$`);
    }
    if (VERSION_SPEC.test(alias)) {
      throw new InvalidArgError(`${call}: alias ${JSON.stringify(alias)} is reserved for version pointers (vN)`);
    }
  }
  return [...aliases];
}

/** A manifest path: relative, `/`-separated, no empty, `.` or `..` segment, no backslash or NUL. */
export function checkLogicalPath(logical: string, call: string): string {
  const bad = (why: string) => new InvalidArgError(`${call}: invalid artifact path ${JSON.stringify(logical)}: ${why}`);
  if (logical === "") throw bad("must be non-empty");
  if (logical.includes("\\") || logical.includes("\0")) throw bad("backslashes and NUL are not allowed");
  if (logical.startsWith("/") || /^[A-Za-z]:/.test(logical)) throw bad("must be relative");
  if (logical.split("/").some((p) => p === "" || p === "." || p === "..")) {
    throw bad("'.', '..' and empty segments are not allowed");
  }
  return logical;
}

/** `"name"`, `"name:v3"` or `"name:alias"` → the name and the version or alias (null: latest). */
export function parseArtifactSpec(spec: unknown, call: string): { name: string; spec: string | null } {
  if (typeof spec !== "string") throw new InvalidArgError(`${call}: pass an artifact name, "name:vN" or "name:alias"`);
  const colon = spec.indexOf(":");
  if (colon < 0) return { name: checkArtifactName(spec, call), spec: null };
  const rest = spec.slice(colon + 1);
  if (rest === "") {
    throw new InvalidArgError(`${call}: ${JSON.stringify(spec)} has an empty version or alias after ':'`);
  }
  return { name: checkArtifactName(spec.slice(0, colon), call), spec: rest };
}
