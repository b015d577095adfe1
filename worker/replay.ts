// Sending spooled fragments to the server they were meant for. Used by the worker while a
// run goes on (once the server answers again) and at the start of the next client with the
// same spool directory, and by `trackio sync`. A fragment is deleted only after the server
// acknowledged every line of it; a replay that stops half-way is safe to repeat because the
// server ignores log_ids it already has.

import { renameSync } from "node:fs";
import { AuthError, NoEndpointError, NotFoundError, TrackioError } from "../src/errors.js";
import { bulkBody, chunkLines, groupByEndpoint, KIND_PREFIX, RESEND_PREFIX } from "./batch.js";
import { listSpooledMedia, readSpooledMedia, removeSpooledMedia, type SpooledMedia } from "./media.js";
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
    if (!isPermanentRefusal(error)) return { kind: "failed", error };
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

function isPermanentRefusal(error: unknown): error is TrackioError {
  return (
    error instanceof TrackioError && !(error instanceof AuthError) && (error as { status?: number }).status === 400
  );
}

/**
 * Upload one spooled media file (`records` counts files). As for fragments, a file the server
 * refuses for good is set aside (its .json renamed `*.rejected`), not retried forever.
 */
export async function replayMedia(entry: SpooledMedia, transport: Transport): Promise<ReplayOutcome> {
  const spooled = readSpooledMedia(entry);
  if (spooled.kind === "gone") return { kind: "gone" };
  if (spooled.kind === "corrupt") return setAside(entry, new TrackioError(spooled.reason));
  try {
    await transport.uploadMedia(spooled.target, spooled.file);
  } catch (error) {
    const refused = isPermanentMediaRefusal(error) || error instanceof NoEndpointError;
    if (!refused) return { kind: "failed", error };
    return setAside(entry, error as TrackioError);
  }
  removeSpooledMedia(entry);
  return { kind: "sent", records: 1 };
}

// A file the server will never take (or that cannot be read back) is set aside for a person
// to inspect: its .json renamed `*.rejected`, so that it no longer blocks the files after it.
function setAside(entry: SpooledMedia, error: TrackioError): ReplayOutcome {
  try {
    renameSync(entry.meta, `${entry.meta}.rejected`);
  } catch {
    // gone meanwhile
  }
  return { kind: "rejected", records: 1, error };
}

// For a file, every 4xx but auth (401, 403: fix the token and sync again), 408 and 429 is the
// same answer next time: 400 (refused entry), 404 (no upload route), 413 (too large for a
// proxy), 415, 422.
function isPermanentMediaRefusal(error: unknown): boolean {
  if (!(error instanceof TrackioError) || error instanceof AuthError) return false;
  const status = (error as { status?: number }).status;
  if (error instanceof NotFoundError) return true;
  return status !== undefined && status >= 400 && status < 500 && status !== 408 && status !== 429;
}

/**
 * Replay every fragment under `dir`, oldest first, then every spooled media file, stopping
 * at the first that fails.
 */
export async function replayDir(
  dir: string,
  transport: Transport,
  onProgress: (done: ReplayProgress, total: number) => void = () => {},
): Promise<{ sent: ReplayProgress; rejected: ReplayProgress; media: MediaProgress; error: unknown }> {
  const fragments = listFragments(dir);
  const sent = { fragments: 0, records: 0 };
  const rejected = { fragments: 0, records: 0 };
  const media = { sent: 0, rejected: 0 };
  for (const path of fragments) {
    const outcome = await replayFragment(path, transport);
    if (outcome.kind === "failed") return { sent, rejected, media, error: outcome.error };
    if (outcome.kind === "sent") {
      sent.fragments++;
      sent.records += outcome.records;
    } else if (outcome.kind === "rejected") {
      rejected.fragments++;
      rejected.records += outcome.records;
    }
    onProgress(sent, fragments.length);
  }
  for (const entry of listSpooledMedia(dir)) {
    const outcome = await replayMedia(entry, transport);
    if (outcome.kind === "failed") return { sent, rejected, media, error: outcome.error };
    if (outcome.kind === "sent") media.sent++;
    else if (outcome.kind === "rejected") media.rejected++;
  }
  return { sent, rejected, media, error: null };
}

export interface MediaProgress {
  sent: number;
  rejected: number;
}
