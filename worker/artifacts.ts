// The artifact tasks: logArtifact()'s uploads and commit, useArtifact()'s look-up and lineage,
// over the client's own transport (its retries, its server). Like every task they answer with
// a result, never a throw. A version the server never got is reported to the call that logged
// it, which rejects: nothing is lost silently.

import { deliverArtifact, fetchArtifactRecord, logArtifactUse } from "../src/io/artifacts.js";
import type { Transport } from "../src/io/transport.js";
import { HttpError, NotFoundError, toWire } from "../src/shared/errors.js";
import type { ArtifactTask, WorkerSettings, WorkerTaskResult } from "../src/shared/protocol.js";

export async function artifactTask(
  task: ArtifactTask,
  transport: Transport,
  settings: WorkerSettings,
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
    if (task.op === "artifact") return { ok: true, artifact: await deliverArtifact(transport, task.job, run) };
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
