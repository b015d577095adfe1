// What stats() reports and the line close() prints: the worker's counters in shared memory,
// the main thread's own counts, and the figures the main thread publishes for the worker's
// system-metrics sampler.

import { monitorEventLoopDelay } from "node:perf_hooks";
import { takeStock, totals } from "./cli-spool.js";
import { keptBy, syncCommand } from "./io/sync-hint.js";
import type { Overflow } from "./overflow.js";
import { count } from "./shared/plural.js";
import type { WorkerSettings } from "./shared/protocol.js";
import {
  COUNTER_FAILED,
  COUNTER_INBOXED,
  COUNTER_MEDIA_FAILED,
  COUNTER_MEDIA_REPLAYED,
  COUNTER_MEDIA_SPOOLED,
  COUNTER_MEDIA_UPLOADED,
  COUNTER_MEDIA_WRITTEN,
  COUNTER_QUARANTINED,
  COUNTER_REPLAYED,
  COUNTER_REQUESTS,
  COUNTER_RETRIED,
  COUNTER_SENT,
  COUNTER_SPOOLED,
  CTL_DONE_SEQ,
  CTL_MAIN_HEAP_KB,
  CTL_MAIN_LOOP_MAX_US,
  CTL_MAIN_LOOP_P99_US,
  type RingViews,
} from "./shared/ring.js";

/** Counters from `client.stats()`. */
export interface ClientStats {
  /** Records accepted by log(). */
  logged: number;
  /** Records the server acknowledged. */
  sent: number;
  /** Records logged whose fate (sent, spooled, inboxed, failed) is not settled yet. */
  pending: number;
  /** Retried requests. */
  retried: number;
  /** Records the server could not take, kept in the spool for a later replay. */
  spooled: number;
  /** Spooled records (from this or an earlier process) the server has since acknowledged. */
  replayed: number;
  /** Records written to the local Trackio inbox because no server answered. */
  inboxed: number;
  /** Records lost: undeliverable with the spool off or unwritable (each reported as an error). */
  failed: number;
  /**
   * Records the server refused on their own while it accepted the others (each reported as an
   * ERR_TRACKIO_REJECTED error), set aside in a `*.quarantined.jsonl` file of the spool.
   */
  quarantined: number;
  /** HTTP requests made to the server (including retries). */
  requests: number;
  /** Records that waited on the main thread because the ring was full. */
  overflowed: number;
  /** Records waiting on the main thread right now. */
  overflowPending: number;
  /** Highest number of bytes held on the main thread at once. */
  overflowPeakBytes: number;
  /** Time log() spent blocked because the overflow was full, in ms. */
  blockedMs: number;
  /** log() calls refused with ERR_TRACKIO_OVERFLOW. */
  rejected: number;
  /** Files of Image, Audio, Video and Html values (not counted as records above). */
  media: MediaStats;
  /**
   * CPU time the worker thread had used when it last answered flush() or close(), in ms (null
   * before that, or where the platform does not say; Linux does). A thread shared by several
   * clients counts for all of them.
   */
  workerCpuMs: number | null;
}

export interface MediaStats {
  /** Files referenced by logged records. */
  logged: number;
  /** Files the server stored. */
  uploaded: number;
  /** Files kept in the spool for a later upload. */
  spooled: number;
  /** Spooled files (from this or an earlier process) the server has since stored. */
  replayed: number;
  /** Files written into the local Trackio media directory (local mode). */
  written: number;
  /** Files neither uploaded nor kept (each reported as an error). */
  failed: number;
}

/** What the main thread counts itself. */
export interface OwnCounts {
  /** Records from log() and alert() (config changes take a sequence number but are not counted). */
  logged: number;
  mediaLogged: number;
  /** The next sequence number: every record queued so far. */
  seq: number;
  /** The worker thread's CPU time at its last answer to flush() or close(). */
  workerCpuNs: number | null;
}

/** stats(): zeros before the client started (no ring yet). */
export function readStats(views: RingViews | null, overflow: Overflow | null, own: OwnCounts): ClientStats {
  if (views === null || overflow === null) {
    return {
      logged: 0,
      sent: 0,
      pending: 0,
      retried: 0,
      spooled: 0,
      replayed: 0,
      inboxed: 0,
      failed: 0,
      quarantined: 0,
      requests: 0,
      overflowed: 0,
      overflowPending: 0,
      overflowPeakBytes: 0,
      blockedMs: 0,
      rejected: 0,
      media: { logged: 0, uploaded: 0, spooled: 0, replayed: 0, written: 0, failed: 0 },
      workerCpuMs: null,
    };
  }
  const c = views.counters;
  const counter = (i: number) => Number(Atomics.load(c, i));
  const sent = counter(COUNTER_SENT);
  const spooled = counter(COUNTER_SPOOLED);
  const inboxed = counter(COUNTER_INBOXED);
  const failed = counter(COUNTER_FAILED);
  return {
    logged: own.logged,
    sent,
    // Records not yet settled one way or another, config changes included.
    pending: ((own.seq | 0) - Atomics.load(views.ctl, CTL_DONE_SEQ)) | 0,
    retried: counter(COUNTER_RETRIED),
    spooled,
    replayed: counter(COUNTER_REPLAYED),
    inboxed,
    failed,
    quarantined: counter(COUNTER_QUARANTINED),
    requests: Number(Atomics.load(c, COUNTER_REQUESTS)),
    overflowed: overflow.overflowed,
    overflowPending: overflow.records,
    overflowPeakBytes: overflow.peakBytes,
    blockedMs: overflow.blockedMs,
    rejected: overflow.rejected,
    media: {
      logged: own.mediaLogged,
      uploaded: counter(COUNTER_MEDIA_UPLOADED),
      spooled: counter(COUNTER_MEDIA_SPOOLED),
      replayed: counter(COUNTER_MEDIA_REPLAYED),
      written: counter(COUNTER_MEDIA_WRITTEN),
      failed: counter(COUNTER_MEDIA_FAILED),
    },
    workerCpuMs: own.workerCpuNs === null ? null : own.workerCpuNs / 1e6,
  };
}

/** The line close() prints: where the records went and where to look at them. */
export function summaryLine(st: ClientStats, s: WorkerSettings, dashboardUrl: string): string {
  const parts = [`${count(st.sent, "record")} sent`];
  if (st.spooled > 0) parts.push(`${st.spooled} kept in the spool (send them with \`${syncCommand(keptBy(s))}\`)`);
  if (st.inboxed > 0) parts.push(`${st.inboxed} written to the local inbox ${s.inboxDir}`);
  if (st.quarantined > 0)
    parts.push(`${st.quarantined} refused by the server and set aside in ${s.spoolDir} (*.quarantined.jsonl)`);
  if (st.failed > 0) parts.push(`${st.failed} lost`);
  const m = st.media;
  if (m.logged > 0) {
    const files = [`${m.uploaded + m.written} stored`];
    if (m.spooled > 0) files.push(`${m.spooled} spooled`);
    if (m.failed > 0) files.push(`${m.failed} lost`);
    parts.push(`media files: ${files.join(", ")}`);
  }
  return `trackio: run "${s.run}": ${parts.join(", ")}; dashboard: ${dashboardUrl}`;
}

/** close()'s progress line while it waits for the worker: what is sent, kept and still to go. */
export function closingLine(st: ClientStats, run: string | undefined, elapsedMs: number): string {
  const parts = [`${count(st.sent, "record")} sent`];
  if (st.spooled > 0) parts.push(`${st.spooled} kept in the spool`);
  if (st.replayed > 0) parts.push(`${st.replayed} sent from the spool`);
  parts.push(`${Math.max(0, st.pending)} to go`);
  return `trackio: closing run "${run}": ${parts.join(", ")} (${Math.round(elapsedMs / 1000)} s)`;
}

/**
 * The line a process that ends without close() prints while this client's records wait in the
 * spool (kept by the exit deadline, or earlier in an outage): how many, counted on disk, and
 * the command that sends them. Null when it kept nothing, or nothing of it is left.
 */
export function keptAtExitLine(st: ClientStats, s: WorkerSettings): string | null {
  if (s.spoolDir === null || st.spooled + st.media.spooled === 0) return null;
  const t = totals(takeStock(s.spoolDir, { project: s.project, run: s.run }).flatMap((d) => d.runs));
  if (t.records + t.media === 0) return null;
  const what = [count(t.records, "record"), ...(t.media > 0 ? [count(t.media, "media file")] : [])].join(" and ");
  return `trackio: run "${s.run}": ${what} kept in the spool; send them with \`${syncCommand(keptBy(s))}\``;
}

/**
 * Keep the main thread's heap size and event-loop delay in the ring's control words for the
 * worker's system-metrics sampler. The timer is unref'd: it never keeps the process alive.
 */
export function publishMainThreadStats(ctl: Int32Array, intervalMs: number): () => void {
  const delay = monitorEventLoopDelay({ resolution: 10 });
  delay.enable();
  const timer = setInterval(
    () => {
      Atomics.store(ctl, CTL_MAIN_HEAP_KB, Math.round(process.memoryUsage().heapUsed / 1024));
      Atomics.store(ctl, CTL_MAIN_LOOP_P99_US, Math.min(2 ** 31 - 1, Math.round(delay.percentile(99) / 1000)));
      Atomics.store(ctl, CTL_MAIN_LOOP_MAX_US, Math.min(2 ** 31 - 1, Math.round(delay.max / 1000)));
      delay.reset();
    },
    Math.max(50, Math.floor(intervalMs / 2)),
  );
  timer.unref();
  return () => {
    clearInterval(timer);
    delay.disable();
  };
}
