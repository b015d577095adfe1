// The main thread's stand-in for a worker thread that could not load (see worker-pool.ts):
// it keeps what a client's ring holds in the spool, in the very lines, fragments and media
// files the worker would have written there, so that `npx trackio sync` (or the next client
// for the same server) delivers them. Synchronous, because the exit hook calls it when the
// event loop will not turn again. The worker's own decoder, batch builder, fragment writer
// and media spool do the work; only the counting is done here.

import { BatchBuilder } from "./io/batch.js";
import { RESEND_PREFIX } from "./io/bodies.js";
import { RecordDecoder } from "./io/decoder.js";
import { type MediaFile, type MediaJob, materializeSync, spoolMedia } from "./io/media-files.js";
import { FragmentWriter } from "./io/spool.js";
import { keptBy, syncCommand } from "./io/sync-hint.js";
import type { Overflow } from "./overflow.js";
import { SpoolError, TrackioError } from "./shared/errors.js";
import { count } from "./shared/plural.js";
import type { WorkerSettings } from "./shared/protocol.js";
import {
  COUNTER_FAILED,
  COUNTER_MEDIA_FAILED,
  COUNTER_MEDIA_SPOOLED,
  COUNTER_SPOOLED,
  CTL_R,
  CTL_W,
  RingReader,
  type RingViews,
} from "./shared/ring.js";

/** Characters of lines per fragment at most, as the worker bounds one request's body. */
const MAX_FRAGMENT_CHARS = 8 * 1024 * 1024;
/**
 * Records logged after the failure wait in the ring at most this long before a timer keeps
 * them, unless the ring fills first: fragments of a few seconds' records rather than one per
 * record of a slow run, and little to lose to a SIGKILL.
 */
const MAX_WAIT_MS = 5000;

export interface RescueEvents {
  /** A problem keeping records or files (the spool off or unwritable, a media file unreadable). */
  error(err: TrackioError): void;
  warning(message: string, code: "TRACKIO_RESERVED_KEY"): void;
}

export class Rescue {
  readonly #s: WorkerSettings;
  readonly #views: RingViews;
  readonly #reader: RingReader;
  readonly #decoder: RecordDecoder;
  readonly #batch: BatchBuilder;
  readonly #spool: FragmentWriter | null;
  readonly #events: RescueEvents;
  /** Records (metrics rows and alerts) kept in the spool so far, and lost. */
  kept = 0;
  lost = 0;
  mediaKept = 0;
  mediaLost = 0;
  /** Why the spool could not take records, the first time. */
  #lostBecause: string | null = null;
  /** performance.now() of the last drain. */
  drainedAt = 0;

  constructor(settings: WorkerSettings, views: RingViews, events: RescueEvents) {
    this.#s = settings;
    this.#views = views;
    this.#events = events;
    // The reader starts where the worker released last: a thread that loaded, crashed and
    // whose replacement could not load may have sent some of what follows; the server
    // ignores those log_ids when the spool is replayed.
    this.#reader = new RingReader(views);
    this.#decoder = new RecordDecoder(views, this.#reader, (message) =>
      events.warning(message, "TRACKIO_RESERVED_KEY"),
    );
    this.#batch = new BatchBuilder(settings);
    this.#spool = settings.spoolDir === null ? null : new FragmentWriter(settings.spoolDir);
  }

  /** Bytes of records waiting in the ring. */
  get ringBytes(): number {
    const ctl = this.#views.ctl;
    return (Atomics.load(ctl, CTL_W) - Atomics.load(ctl, CTL_R)) | 0;
  }

  /** Whether a timer tick should drain: the ring a quarter full, the overflow in use, or records waiting long enough. */
  due(overflow: Overflow): boolean {
    const bytes = this.ringBytes;
    if (bytes >= this.#views.capacity / 4 || !overflow.empty) return true;
    return bytes > 0 && performance.now() - this.drainedAt >= MAX_WAIT_MS;
  }

  /** Keep everything the ring and the overflow hold, emptying both. Never throws. */
  drain(overflow: Overflow): void {
    this.#drainRing();
    while (!overflow.moveToRing(Number.POSITIVE_INFINITY)) this.#drainRing();
    this.#drainRing();
    this.drainedAt = performance.now();
  }

  // One fragment per batch, as the worker spools a batch; the ring records behind each are
  // released once their lines and files are kept (or counted lost), which settles them for
  // stats().pending and makes room for the overflow.
  #drainRing(): void {
    const batch = this.#batch;
    for (;;) {
      this.#decoder.readInto(batch, this.#s.maxRecordsPerRequest, MAX_FRAGMENT_CHARS);
      if (batch.records === 0) return;
      batch.addConfigResend();
      const records = batch.records;
      const media = batch.takeMedia();
      this.#keepLines(batch.take());
      this.#keepMedia(media);
      this.#reader.release(this.#reader.pos, records);
    }
  }

  #keepLines(lines: string[]): void {
    // A resend line repeats a record only to carry a changed config: not a record of its own.
    let n = 0;
    for (const line of lines) if (!line.startsWith(RESEND_PREFIX)) n++;
    if (lines.length === 0) return;
    try {
      if (this.#spool === null) throw new Error(SPOOL_OFF);
      this.#spool.write(lines);
      this.kept += n;
      Atomics.add(this.#views.counters, COUNTER_SPOOLED, BigInt(n));
    } catch (err) {
      this.lost += n;
      Atomics.add(this.#views.counters, COUNTER_FAILED, BigInt(n));
      this.#spoolFailed(err);
    }
  }

  #keepMedia(jobs: readonly MediaJob[]): void {
    const s = this.#s;
    for (const job of jobs) {
      let file: MediaFile;
      try {
        file = materializeSync(job);
      } catch (err) {
        // The user's file is gone or unreadable: a loss of its own, reported as the worker does.
        this.#mediaLost(
          new TrackioError(`the ${job.desc.type} file for ${job.desc.file} could not be made: ${message(err)}`),
        );
        continue;
      }
      try {
        if (s.spoolDir === null) throw new Error(SPOOL_OFF);
        const target = { project: s.project, run: s.run, run_id: s.runId, step: job.step, file_path: job.desc.file };
        spoolMedia(s.spoolDir, job.id, target, file);
        this.mediaKept++;
        Atomics.add(this.#views.counters, COUNTER_MEDIA_SPOOLED, 1n);
      } catch (err) {
        this.#mediaLost(null);
        this.#spoolFailed(err);
      }
    }
  }

  #mediaLost(report: TrackioError | null): void {
    this.mediaLost++;
    Atomics.add(this.#views.counters, COUNTER_MEDIA_FAILED, 1n);
    if (report !== null) this.#events.error(report);
  }

  // Reported once, as the worker reports one outage once: the counts say how many followed.
  #spoolFailed(err: unknown): void {
    if (this.#lostBecause !== null) return;
    this.#lostBecause = message(err);
    this.#events.error(new SpoolError(`records cannot be kept in the spool: ${this.#lostBecause}`, { cause: err }));
  }

  /** Where the records went, for messages: "12 records kept in <dir> …". */
  describe(): string {
    const parts: string[] = [];
    if (this.#s.spoolDir !== null) {
      parts.push(
        `${count(this.kept, "record")} kept in ${this.#s.spoolDir}; send them with \`${syncCommand(keptBy(this.#s))}\``,
      );
    }
    if (this.mediaKept > 0) parts.push(`${count(this.mediaKept, "media file")} kept there too`);
    if (this.lost > 0) parts.push(`${count(this.lost, "record")} lost (${this.#lostBecause})`);
    if (this.mediaLost > 0) parts.push(`${count(this.mediaLost, "media file")} lost (each reported)`);
    return parts.join("; ");
  }
}

const SPOOL_OFF = "the spool is off (spoolDir: false)";

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
