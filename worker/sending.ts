// A batch on its way to the server when the process exits. At an exit deadline the main
// thread stops waiting for HTTP and the worker keeps on disk whatever the server has not
// acknowledged (flusher.ts #keepEverything), the request in flight included, which may still
// succeed before the thread ends. Its lines are kept in a fragment of their own, so that
// delivery can then remove that copy and count the records sent, not kept: stats() counts
// each record once, and the spool holds no needless copy. They are reported (an 'error'
// event, the next flush()) only if the request fails.

import { type Part, recordCount } from "../src/io/bodies.js";
import { removeFragment } from "../src/io/spool.js";
import { keptBy, whoSends } from "../src/io/sync-hint.js";
import { SpoolError, toWire, type WireError } from "../src/shared/errors.js";
import { count } from "../src/shared/plural.js";
import type { WorkerSettings } from "../src/shared/protocol.js";
import { COUNTER_SENT } from "../src/shared/ring.js";

/** Lines kept on disk, where, and under which counter they were counted. */
export interface Kept {
  lines: string[];
  /** COUNTER_SPOOLED or COUNTER_INBOXED; COUNTER_FAILED when nothing could be written. */
  counter: number;
  /** The fragment written; null when none was. */
  path: string | null;
  /** Why nothing was written (the spool is off, or the disk refused). */
  spoolError: unknown;
  /** Whether they were reported (an 'error' event, the next flush()) or need no report. */
  reported: boolean;
}

/** Where deliver() is in a batch: which part's request runs, and where its lines were kept. */
export class Sending {
  parts: readonly Part[] = [];
  /** The part whose request runs: those before it are settled, those after it not started. */
  at = 0;
  /** Set by an exit deadline while the request of `parts[at]` ran. */
  kept: Kept | null = null;
}

/**
 * The request of lines an exit deadline kept succeeded after all: remove their copy and
 * count them sent instead. A copy that cannot be removed stays, counted as kept (replaying it
 * adds nothing on the server, and nothing is lost).
 */
export function sentAfterKept(kept: Kept, counters: BigInt64Array): void {
  if (kept.path !== null) {
    try {
      removeFragment(kept.path);
    } catch {
      return;
    }
  }
  const n = recordCount(kept.lines);
  // Out of the kept counter first: a reader never sees these records in two places.
  Atomics.sub(counters, kept.counter, BigInt(n));
  Atomics.add(counters, COUNTER_SENT, BigInt(n));
}

/** The error to report for lines that could not be sent (`err`): where they are kept, or that they are lost. */
export function keptReport(kept: Kept, err: unknown, s: WorkerSettings): { error: WireError; where: string } {
  const n = kept.lines.length;
  const { path, spoolError } = kept;
  if (path !== null) {
    return { error: toWire(err), where: `${count(n, "record")} kept in ${path}; ${whoSends(err, keptBy(s), n === 1)}` };
  }
  if (spoolError instanceof SpoolError) {
    // The spool is what failed the user: its error leads, the send failure is context.
    const why = toWire(err).message;
    return {
      error: toWire(spoolError),
      where: `${count(n, "record")} lost; ${n === 1 ? "it" : "they"} could not be sent: ${why}`,
    };
  }
  const why = spoolError instanceof Error ? spoolError.message : String(spoolError);
  return { error: toWire(err), where: `${count(n, "record")} lost: ${why}` };
}
