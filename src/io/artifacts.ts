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

/** Upload what the server lacks and commit the version; resolves to the server's record. */
export async function deliverArtifact(
  transport: Transport,
  job: ArtifactJob,
  run: { run: string; runId: string },
): Promise<ArtifactRecord> {
  const manifest: ManifestEntry[] = [];
  const source = new Map<string, string>();
  for (const file of job.files) {
    const { digest, size } = await sha256File(file.path);
    manifest.push({ path: file.logical, digest, size });
    source.set(digest, file.path);
  }
  const hf = transport.hfTokenJson;
  const digests = [...source.keys()];
  const present = new Set(
    data<{ present: string[] }>(
      await transport.call(
        "check_artifact_blobs",
        `{"kwargs":{"project":${JSON.stringify(job.project)},"digests":${JSON.stringify(digests)},"hf_token":${hf}}}`,
      ),
    ).present,
  );
  for (const [digest, path] of source) {
    if (present.has(digest)) continue;
    const bytes = await readFile(path);
    // A file rewritten since it was hashed would be refused by the server's digest check.
    if (createHash("sha256").update(bytes).digest("hex") !== digest) {
      throw new InvalidArgError(`logArtifact(): ${path} changed while it was being uploaded; log the artifact again`);
    }
    await transport.uploadArtifactBlob(job.project, digest, bytes);
  }
  const kwargs = {
    project: job.project,
    name: job.name,
    type: job.type,
    description: job.description,
    metadata: job.metadata,
    manifest,
    aliases: job.aliases,
    run_name: run.run,
    run_id: run.runId,
  };
  const body = `{"kwargs":${JSON.stringify(kwargs).slice(0, -1)},"hf_token":${hf}}}`;
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
