// What a client hands its worker thread: the resolved options, frozen for one project and run
// at the first log() (or at ready(), to look the run up).

import { checkProjectName, type ResolvedOptions, randomHex } from "./options.js";
import { spoolDirFor } from "./paths.js";
import type { WorkerSettings } from "./shared/protocol.js";

/** A new run id unless `o.runId` names one, a new client id, and this server's spool directory. */
export function workerSettings(o: ResolvedOptions, project: string, run: string): WorkerSettings {
  checkProjectName(project);
  return {
    origin: o.origin,
    basePath: o.basePath,
    displayUrl: o.displayUrl,
    project,
    run,
    runId: o.runId ?? randomHex(16),
    clientId: randomHex(8),
    writeToken: o.writeToken,
    hfToken: o.hfToken,
    timeoutMs: o.timeoutMs,
    maxBatch: o.maxBatch,
    flushIntervalMs: o.flushIntervalMs,
    maxRecordsPerRequest: o.maxRecordsPerRequest,
    retryDeadlineMs: o.retryDeadlineMs,
    spoolDir: o.spoolRoot === null ? null : spoolDirFor(o.spoolRoot, o.displayUrl),
    inboxDir: o.fallbackInbox,
    systemMetricsMs: o.systemMetricsMs,
    clockBase: Date.now(),
    configJson: o.configJson,
    webhookUrl: o.webhookUrl,
    webhookMinLevel: o.webhookMinLevel,
  };
}
