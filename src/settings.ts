// The worker's settings for one run, from the client's resolved options: what crosses to the
// worker thread (and what resume's look-up and the artifact calls need of the server).

import { checkProjectName, type ResolvedOptions, randomHex } from "./options.js";
import { spoolDirFor } from "./paths.js";
import type { WorkerSettings } from "./shared/protocol.js";

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
