// Sending spooled fragments to the server they were meant for. Used by the worker while a
// run goes on (once the server answers again) and at the start of the next client with the
// same spool directory, and by `trackio sync`. A fragment is deleted only after the server
// acknowledged every line of it; a replay that stops half-way is safe to repeat because the
// server ignores log_ids it already has.

import { renameSync } from "node:fs";
import { AuthError, TrackioError } from "../src/errors.js";
import { bulkBody, chunkLines, groupByEndpoint, KIND_PREFIX, RESEND_PREFIX } from "./batch.js";
import { listFragments, readFragment, removeFragment } from "./spool.js";
import type { Transport } from "./transport.js";

/** Lines per request when replaying, as Trackio's own `trackio sync` chunks (500). */
export const REPLAY_CHUNK = 500;

export interface ReplayProgress {
  fragments: number;
  records: number;
}

export type ReplayOutcome =
  | { kind: "sent"; records: number }
  | { kind: "gone" } // consumed by another process meanwhile
  | { kind: "rejected"; records: number; error: TrackioError } // set aside as *.rejected
  | { kind: "failed"; error: unknown }; // kept for a later try

/**
 * Send one fragment in chunks. A permanent refusal of its content (an HTTP 400 other than an
 * auth failure) would fail the same way forever, so the fragment is renamed `*.rejected`:
 * kept for a person to inspect, no longer replayed.
 */
export async function replayFragment(path: string, transport: Transport): Promise<ReplayOutcome> {
  const lines = readFragment(path);
  if (lines === null) return { kind: "gone" };
  try {
    for (const { endpoint, lines: part } of groupByEndpoint(lines)) {
      for (const chunk of chunkLines(part, REPLAY_CHUNK)) {
        await transport.call(endpoint.api, bulkBody(endpoint, chunk, transport.hfTokenJson));
      }
    }
  } catch (error) {
    const permanent =
      error instanceof TrackioError && !(error instanceof AuthError) && (error as { status?: number }).status === 400;
    if (!permanent) return { kind: "failed", error };
    try {
      renameSync(path, `${path}.rejected`);
    } catch {
      // gone meanwhile
    }
    return { kind: "rejected", records: lines.length, error };
  }
  removeFragment(path);
  return {
    kind: "sent",
    records: lines.filter((l) => !l.startsWith(KIND_PREFIX.system) && !l.startsWith(RESEND_PREFIX)).length,
  };
}

/** Replay every fragment under `dir`, oldest first, stopping at the first that fails. */
export async function replayDir(
  dir: string,
  transport: Transport,
  onProgress: (done: ReplayProgress, total: number) => void = () => {},
): Promise<{ sent: ReplayProgress; rejected: ReplayProgress; error: unknown }> {
  const fragments = listFragments(dir);
  const sent = { fragments: 0, records: 0 };
  const rejected = { fragments: 0, records: 0 };
  for (const path of fragments) {
    const outcome = await replayFragment(path, transport);
    if (outcome.kind === "failed") return { sent, rejected, error: outcome.error };
    if (outcome.kind === "sent") {
      sent.fragments++;
      sent.records += outcome.records;
    } else if (outcome.kind === "rejected") {
      rejected.fragments++;
      rejected.records += outcome.records;
    }
    onProgress(sent, fragments.length);
  }
  return { sent, rejected, error: null };
}
