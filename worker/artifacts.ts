// The artifact tasks: logArtifact()'s uploads and commit, useArtifact()'s look-up and lineage,
// over the client's own transport (its retries, its server). Like every task they answer with
// a result, never a throw. A version the server could not take (down past the retry deadline)
// is kept in the spool, committed when the server answers again or by `npx trackio sync`, and
// the call rejects saying so; with the spool off it rejects, and nothing is stored.

import { spoolArtifact } from "../src/io/artifact-spool.js";
import { fetchArtifactRecord, hashArtifact, logArtifactUse, sendArtifact } from "../src/io/artifacts.js";
import { keptBy, syncCommand } from "../src/io/sync-hint.js";
import { isTransient, type Transport } from "../src/io/transport.js";
import type { ArtifactJob, ArtifactRecord } from "../src/shared/artifact.js";
import { fromWire, HttpError, NotFoundError, toWire } from "../src/shared/errors.js";
import type { ArtifactTask, WorkerSettings, WorkerTaskResult } from "../src/shared/protocol.js";

export async function artifactTask(
  task: ArtifactTask,
  transport: Transport,
  settings: WorkerSettings,
  onSpooled: () => void,
): Promise<WorkerTaskResult> {
  const run = { run: settings.run, runId: settings.runId };
  try {
    // No server configured and none answering: the client writes records to the local inbox,
    // which has no place for artifacts. Say so now rather than after the retry deadline.
    if (settings.inboxDir !== null && !(await transport.probe())) {
      throw new HttpError(
        `${task.op === "artifact" ? "logArtifact" : "useArtifact"}(): artifacts need a running Trackio server and none answers at ${settings.displayUrl} (records go to the local inbox, artifacts cannot); start one with \`trackio show\` or pass baseUrl`,
      );
    }
    if (task.op === "artifact")
      return { ok: true, artifact: await logArtifact(task.job, transport, settings, onSpooled) };
    const record = await fetchArtifactRecord(transport, task.project, task.name, task.spec);
    if (record === null) {
      const spec = task.spec === null ? task.name : `${task.name}:${task.spec}`;
      throw new NotFoundError(
        `useArtifact(): artifact ${JSON.stringify(spec)} not found in project ${JSON.stringify(task.project)}`,
        "null",
      );
    }
    await logArtifactUse(transport, task.project, record.version_id, run);
    return { ok: true, artifact: record };
  } catch (err) {
    return { ok: false, error: toWire(err) };
  }
}

let spooledSeq = 0;

async function logArtifact(
  job: ArtifactJob,
  transport: Transport,
  settings: WorkerSettings,
  onSpooled: () => void,
): Promise<ArtifactRecord> {
  const { spec, blobs } = await hashArtifact(job, { run: settings.run, runId: settings.runId });
  try {
    return await sendArtifact(transport, spec, blobs);
  } catch (err) {
    if (settings.spoolDir === null || !isTransient(err)) throw err;
    const id = `${settings.clientId}-${Date.now()}-${String(spooledSeq++).padStart(6, "0")}`;
    let where: string;
    try {
      // The whole command for this spool and server, without --project/--run: sync's filters
      // pass spooled artifacts by.
      const sync = syncCommand({ ...keptBy(settings), project: undefined, run: undefined });
      where = `kept in ${await spoolArtifact(settings.spoolDir, id, spec, blobs)}; it is logged when the server answers again, or with \`${sync}\``;
      onSpooled();
    } catch (spoolErr) {
      where = `not kept: ${spoolErr instanceof Error ? spoolErr.message : String(spoolErr)}`;
    }
    // The same error, typed as it was, telling where the version went.
    const wire = toWire(err);
    throw fromWire({ ...wire, message: `${wire.message}; artifact ${spec.name} ${where}` });
  }
}
