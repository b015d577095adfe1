// An artifact's bytes on their way to and from the server, as Trackio's Python client moves
// them (trackio/run.py log_artifact, artifact.py download): sha256 every file, ask the server
// which blobs it lacks (`check_artifact_blobs`), upload those (`api/upload`, then
// `bulk_upload_artifact_blob`, where the server checks the digest), then commit the version
// (`artifact_log`, which dedupes identical manifests, so a retry stores nothing twice).
// Downloads read `GET artifact_blob/<project>/<digest>` and check the digest before the file
// takes its name.

import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { mkdir, readFile, rename, rm, stat, writeFile } from "node:fs/promises";
import { dirname } from "node:path";
import type { ArtifactJob, ArtifactRecord, ManifestEntry } from "../shared/artifact.js";
import { HttpError, InvalidArgError, StatusError } from "../shared/errors.js";
import type { Transport } from "./transport.js";

export async function sha256File(path: string): Promise<{ digest: string; size: number }> {
  const hash = createHash("sha256");
  let size = 0;
  for await (const chunk of createReadStream(path)) {
    hash.update(chunk as Buffer);
    size += (chunk as Buffer).length;
  }
  return { digest: hash.digest("hex"), size };
}

function data<T>(text: string): T {
  return (JSON.parse(text) as { data: T }).data;
}

/** What `artifact_log` is given (beside `hf_token`): the version to commit, files hashed. */
export interface ArtifactSpec {
  project: string;
  name: string;
  type: string;
  description: string | null;
  metadata: Record<string, unknown> | null;
  manifest: ManifestEntry[];
  aliases: string[];
  run_name: string;
  run_id: string;
}

/** Hash the job's files: the version to commit, and where each blob's bytes are. */
export async function hashArtifact(
  job: ArtifactJob,
  run: { run: string; runId: string },
): Promise<{ spec: ArtifactSpec; blobs: Map<string, string> }> {
  const manifest: ManifestEntry[] = [];
  const blobs = new Map<string, string>();
  for (const file of job.files) {
    const { digest, size } = await sha256File(file.path);
    manifest.push({ path: file.logical, digest, size });
    blobs.set(digest, file.path);
  }
  const { project, name, type, description, metadata, aliases } = job;
  return {
    spec: { project, name, type, description, metadata, manifest, aliases, run_name: run.run, run_id: run.runId },
    blobs,
  };
}

/** The bytes of `path`, checked against `digest` (a file rewritten since it was hashed is refused). */
export async function blobBytes(path: string, digest: string): Promise<Buffer> {
  const bytes = await readFile(path);
  if (createHash("sha256").update(bytes).digest("hex") !== digest) {
    throw new InvalidArgError(`logArtifact(): ${path} changed after it was hashed; log the artifact again`);
  }
  return bytes;
}

/** Upload the blobs the server lacks and commit the version; resolves to the server's record. */
export async function sendArtifact(
  transport: Transport,
  spec: ArtifactSpec,
  blobs: ReadonlyMap<string, string>,
): Promise<ArtifactRecord> {
  const hf = transport.hfTokenJson;
  const digests = [...blobs.keys()];
  const present = new Set(
    data<{ present: string[] }>(
      await transport.call(
        "check_artifact_blobs",
        `{"kwargs":{"project":${JSON.stringify(spec.project)},"digests":${JSON.stringify(digests)},"hf_token":${hf}}}`,
      ),
    ).present,
  );
  for (const [digest, path] of blobs) {
    if (!present.has(digest)) await transport.uploadArtifactBlob(spec.project, digest, await blobBytes(path, digest));
  }
  const body = `{"kwargs":${JSON.stringify(spec).slice(0, -1)},"hf_token":${hf}}}`;
  return data<ArtifactRecord>(await transport.call("artifact_log", body));
}

/** A version's record by name and version or alias (null: latest), or null when there is none. */
export async function fetchArtifactRecord(
  transport: Transport,
  project: string,
  name: string,
  spec: string | null,
): Promise<ArtifactRecord | null> {
  const kwargs = { project, name, spec };
  return data<ArtifactRecord | null>(await transport.call("get_artifact_manifest", JSON.stringify({ kwargs })));
}

/** Record `run` as a consumer of the version (`log_artifact_use`), as Python's use_artifact does. */
export async function logArtifactUse(
  transport: Transport,
  project: string,
  versionId: number,
  run: { run: string; runId: string },
): Promise<void> {
  const kwargs = { project, version_id: versionId, run_name: run.run, run_id: run.runId };
  await transport.call(
    "log_artifact_use",
    `{"kwargs":${JSON.stringify(kwargs).slice(0, -1)},"hf_token":${transport.hfTokenJson}}}`,
  );
}

/**
 * Write one manifest entry under `dest`, from `url` (the server's blob), unless a file of the
 * same size and digest is there already. The bytes are checked against the digest before the
 * file takes its name.
 */
export async function materializeBlob(
  url: string,
  entry: ManifestEntry,
  dest: string,
  timeoutMs: number,
): Promise<void> {
  try {
    if ((await stat(dest)).size === entry.size && (await sha256File(dest)).digest === entry.digest) return;
  } catch {
    // absent: fetched below
  }
  let res: Response;
  try {
    res = await fetch(url, { signal: AbortSignal.timeout(Math.max(timeoutMs, 30_000)) });
  } catch (err) {
    throw new HttpError(`GET ${url}: ${(err as Error).message}`);
  }
  const bytes = new Uint8Array(await res.arrayBuffer());
  if (res.status !== 200) {
    throw new StatusError(`GET ${url} answered HTTP ${res.status}`, res.status, Buffer.from(bytes).toString("utf8"));
  }
  const got = createHash("sha256").update(bytes).digest("hex");
  if (got !== entry.digest) {
    throw new StatusError(`GET ${url}: the bytes hash to ${got}, not ${entry.digest}`, res.status, "");
  }
  await mkdir(dirname(dest), { recursive: true });
  const partial = `${dest}.partial.${process.pid}.${Date.now()}`;
  try {
    await writeFile(partial, bytes);
    await rename(partial, dest);
  } catch (err) {
    await rm(partial, { force: true });
    throw err;
  }
}
