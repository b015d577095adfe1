// Sending spooled fragments to the server they were meant for. Used by the worker while a
// run goes on (once the server answers again) and at the start of the next client with the
// same spool directory, and by `trackio sync`. Lines are settled one by one: acknowledged
// lines leave the fragment, lines the server refuses on their own (isolate.ts) and damaged
// lines go to the fragment's quarantine file, and what an outage interrupted stays for the
// next try; so a fragment never holds up the ones after it. Repeating a replay that stopped
// half-way is safe because the server ignores log_ids it already has.

import { renameSync } from "node:fs";
import { AuthError, InvalidArgError, NoEndpointError, NotFoundError, TrackioError } from "../shared/errors.js";
import {
  listSpooledArtifacts,
  readSpooledArtifact,
  removeSpooledArtifact,
  type SpooledArtifact,
} from "./artifact-spool.js";
import { sendArtifact } from "./artifacts.js";
import { chunkLines, groupByEndpoint, recordCount } from "./bodies.js";
import { type ConfigFate, type Controls, type Refusal, setAsideLines, settle } from "./isolate.js";
import { listSpooledMedia, readSpooledMedia, removeSpooledMedia, type SpooledMedia } from "./media-files.js";
import { damage } from "./record-line.js";
import { keepOnly, listFragments, quarantineBeside, readFragment, removeFragment } from "./spool.js";
import type { Transport } from "./transport.js";

/** Lines per request when replaying, as Trackio's own `trackio sync` chunks (500). */
export const REPLAY_CHUNK = 500;

export interface ReplayProgress {
  fragments: number;
  records: number;
}

/** What one replay of a fragment did. */
export interface FragmentReplay {
  /**
   * "done": nothing of it is left to send; "gone": consumed by another process meanwhile;
   * "failed": some lines wait; "stuck": the file cannot be read, removed or rewritten (see
   * `error`), so this replay must not take it again (its records wait, or were sent and would
   * be sent again).
   */
  kind: "done" | "gone" | "failed" | "stuck";
  /** Records (not system metrics, not config resends) the server acknowledged. */
  records: number;
  refused: Refusal[];
  configs: ConfigFate[];
  damaged: { line: string; reason: string }[];
  /** The quarantine file that received the refused and damaged lines. */
  quarantinedIn: string | null;
  /** The fragment held no line at all (it was removed). */
  empty: boolean;
  /** Why lines wait ("failed"). */
  error: unknown;
  /** "unproven": the server answers but accepted none of it, so later fragments may go first. */
  why: "down" | "unproven" | null;
  /** Lines a selection left out: they stay in the fragment, untouched. */
  left: number;
}

/** Which lines and media files a replay sends (`trackio sync --project/--run`); the rest stay. */
export interface ReplaySelection {
  line(line: string): boolean;
  media(entry: SpooledMedia): boolean;
}

export type ReplayOutcome =
  | { kind: "sent"; records: number }
  | { kind: "gone" } // consumed by another process meanwhile
  | { kind: "rejected"; records: number; error: TrackioError } // set aside as *.rejected
  | { kind: "failed"; error: unknown }; // kept for a later try

/**
 * Send one fragment in chunks of REPLAY_CHUNK, setting aside what the server refuses on its
 * own and what is not a record. `controls` carries lines the server accepted before (see
 * isolate.ts) from one fragment to the next. `onChunk` hears the records each request stored
 * (for a progress line).
 */
export async function replayFragment(
  path: string,
  transport: Transport,
  controls: Controls,
  select?: ReplaySelection["line"],
  onChunk?: (records: number) => void,
): Promise<FragmentReplay> {
  const result: FragmentReplay = {
    kind: "done",
    records: 0,
    refused: [],
    configs: [],
    damaged: [],
    quarantinedIn: null,
    empty: false,
    error: null,
    why: null,
    left: 0,
  };
  let all: string[] | null;
  try {
    all = readFragment(path);
  } catch (error) {
    return { ...result, kind: "stuck", error };
  }
  if (all === null) return { ...result, kind: "gone" };
  if (all.length === 0) {
    try {
      removeFragment(path);
    } catch (error) {
      return { ...result, kind: "stuck", error };
    }
    return { ...result, empty: true };
  }
  // Lines left out are written back with those that wait; a concurrent replay of the same
  // fragment can then only bring back lines already sent, which the server ignores.
  const lines = select === undefined ? all : all.filter(select);
  const others = select === undefined ? [] : all.filter((line) => !select(line));
  result.left = others.length;
  if (lines.length === 0) return result;
  const records: string[] = [];
  for (const line of lines) {
    const reason = damage(line);
    if (reason === null) records.push(line);
    else result.damaged.push({ line, reason });
  }
  const waiting: string[] = [];
  for (const { endpoint, lines: part } of groupByEndpoint(records)) {
    for (const chunk of chunkLines(part, REPLAY_CHUNK)) {
      if (result.error !== null) {
        waiting.push(...chunk);
        continue;
      }
      const settled = await settle(transport, endpoint, chunk, controls);
      const sent = recordCount(settled.sent);
      result.records += sent;
      onChunk?.(sent);
      result.refused.push(...settled.refused);
      result.configs.push(...settled.configs);
      if (settled.waiting.length > 0) {
        waiting.push(...settled.waiting);
        result.error = settled.error;
        result.why = settled.why;
      }
    }
  }
  const aside = setAsideLines(result, result.damaged);
  if (aside.length > 0) {
    try {
      result.quarantinedIn = quarantineBeside(path, aside);
    } catch (error) {
      // Nothing can be set aside: the fragment stays whole, to be replayed (and its lines
      // settled again) once the spool can be written.
      return { ...result, kind: "failed", refused: [], damaged: [], configs: [], error, why: "down" };
    }
  }
  try {
    if (waiting.length === 0 && others.length === 0) removeFragment(path);
    else keepOnly(path, [...waiting, ...others]);
  } catch (error) {
    // During an outage a fragment that stays whole is only replayed again later; otherwise
    // the same lines would be sent at once, again and again.
    if (waiting.length === 0) return { ...result, kind: "stuck", error };
  }
  if (waiting.length > 0) result.kind = "failed";
  return result;
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

/**
 * Commit one spooled artifact version (`records` counts versions): the blobs the server lacks,
 * then `artifact_log`, which stores an identical manifest once however often it is sent. A
 * version the server refuses for good is set aside as media files are.
 */
export async function replayArtifact(entry: SpooledArtifact, transport: Transport): Promise<ReplayOutcome> {
  const spooled = readSpooledArtifact(entry);
  if (spooled.kind === "gone") return { kind: "gone" };
  if (spooled.kind === "corrupt") return setAside(entry, new TrackioError(spooled.reason));
  try {
    await sendArtifact(transport, spooled.spec, spooled.blobs);
  } catch (error) {
    const refused =
      isPermanentMediaRefusal(error) || error instanceof NoEndpointError || error instanceof InvalidArgError;
    if (!refused) return { kind: "failed", error };
    return setAside(entry, error as TrackioError);
  }
  removeSpooledArtifact(entry);
  return { kind: "sent", records: 1 };
}

// A file the server will never take (or that cannot be read back) is set aside for a person
// to inspect: its .json renamed `*.rejected`, so that it no longer blocks the files after it.
function setAside(entry: { meta: string }, error: TrackioError): ReplayOutcome {
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

/** What a replay of a whole spool directory did. */
export interface DirReplay {
  sent: ReplayProgress;
  /** Fragments that had lines set aside, with what (each also reported through `onFragment`). */
  setAside: { refused: number; damaged: number; configsLost: number; emptyFragments: number };
  /** Fragments that could not be read, removed or rewritten (each reported through `onFragment`). */
  stuck: number;
  media: MediaProgress;
  /** Spooled artifact versions committed or set aside. */
  artifacts: MediaProgress;
  error: unknown;
}

/**
 * Replay every fragment under `dir`, oldest first, then every spooled media file. An outage
 * stops it; a fragment the server refused without accepting anything else is tried again
 * after the others (whose acknowledged lines then prove the server takes records).
 */
export async function replayDir(
  dir: string,
  transport: Transport,
  onFragment: (path: string, outcome: FragmentReplay) => void = () => {},
  controls: Controls = new Map(),
  select?: ReplaySelection,
  onChunk?: (records: number) => void,
): Promise<DirReplay> {
  const out: DirReplay = {
    sent: { fragments: 0, records: 0 },
    setAside: { refused: 0, damaged: 0, configsLost: 0, emptyFragments: 0 },
    stuck: 0,
    media: { sent: 0, rejected: 0 },
    artifacts: { sent: 0, rejected: 0 },
    error: null,
  };
  let queue = listFragments(dir);
  let unprovenInARow = 0;
  for (let pass = 0; pass < 2 && queue.length > 0; pass++) {
    const later: string[] = [];
    for (const path of queue) {
      if (out.error !== null) break;
      const outcome = await replayFragment(path, transport, controls, select?.line, onChunk);
      out.sent.records += outcome.records;
      out.setAside.refused += outcome.refused.length;
      out.setAside.damaged += outcome.damaged.length;
      out.setAside.configsLost += outcome.configs.filter((c) => !c.kept).length;
      if (outcome.empty) out.setAside.emptyFragments++;
      if (outcome.kind === "done") out.sent.fragments++;
      if (outcome.kind === "stuck") out.stuck++;
      onFragment(path, outcome);
      if (outcome.kind !== "failed") {
        unprovenInARow = 0;
        continue;
      }
      // Two in a row with nothing accepted: the server refuses everything (an outage).
      if (outcome.why === "unproven" && pass === 0 && ++unprovenInARow < 2) later.push(path);
      else out.error = outcome.error;
    }
    queue = out.error === null ? later : [];
  }
  if (out.error !== null) return out;
  for (const entry of listSpooledMedia(dir)) {
    if (select !== undefined && !select.media(entry)) continue;
    const outcome = await replayMedia(entry, transport);
    if (outcome.kind === "failed") return { ...out, error: outcome.error };
    if (outcome.kind === "sent") out.media.sent++;
    else if (outcome.kind === "rejected") out.media.rejected++;
  }
  // Versions go whole, whichever run logged them (a selection picks records and media).
  if (select !== undefined) return out;
  for (const entry of listSpooledArtifacts(dir)) {
    const outcome = await replayArtifact(entry, transport);
    if (outcome.kind === "failed") return { ...out, error: outcome.error };
    if (outcome.kind === "sent") out.artifacts.sent++;
    else if (outcome.kind === "rejected") out.artifacts.rejected++;
  }
  return out;
}

export interface MediaProgress {
  sent: number;
  rejected: number;
}
