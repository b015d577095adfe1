// Resuming a run, as Trackio's `trackio.init(resume=…)` does: find the newest run with the
// name, reuse its id, and continue the automatic step after its last one. This is the one
// place the main thread talks to the server, once, before the first record.

import { Transport } from "./io/transport.js";
import { InvalidArgError, StatusError } from "./shared/errors.js";
import type { WorkerSettings } from "./shared/protocol.js";

export type ResumeMode = "never" | "allow" | "must";

export interface ResolvedRun {
  runId: string | null;
  nextStep: number;
}

async function read<T>(transport: Transport, name: string, kwargs: Record<string, unknown>): Promise<T> {
  const text = await transport.call(name, JSON.stringify({ kwargs }));
  return (JSON.parse(text) as { data: T }).data;
}

/** The id and next step of the run to log to; null id means "a new run". */
export async function resolveRun(settings: WorkerSettings, mode: ResumeMode): Promise<ResolvedRun> {
  const transport = new Transport(settings, { onRequest() {}, onRetry() {} });
  try {
    let runs: { id: string; name: string; created_at: string }[];
    try {
      runs = await read(transport, "get_runs_for_project", { project: settings.project });
    } catch (err) {
      // A project that has never been written to is answered with a 500 "not found".
      if (!(err instanceof StatusError && /not found/i.test(err.message))) throw err;
      runs = [];
    }
    const existing = runs.filter((r) => r.name === settings.run).at(-1);
    const where = `run ${JSON.stringify(settings.run)} in project ${JSON.stringify(settings.project)}`;
    if (existing === undefined) {
      if (mode === "must")
        throw new InvalidArgError(`resume: "must" but there is no ${where} on ${settings.displayUrl}`);
      return { runId: null, nextStep: 0 };
    }
    if (mode === "never") {
      throw new InvalidArgError(
        `resume: "never" but ${where} already exists on ${settings.displayUrl}; choose another run name, or resume: "allow"`,
      );
    }
    const summary = await read<{ last_step: number | null }>(transport, "get_run_summary", {
      project: settings.project,
      run: null,
      run_id: existing.id,
    });
    return { runId: existing.id, nextStep: summary.last_step === null ? 0 : summary.last_step + 1 };
  } finally {
    await transport.close();
  }
}
