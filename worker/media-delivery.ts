// The files of media values (Image, Audio, Video, Html) on their way to the server: uploaded
// after the records that reference them, written into the local Trackio media directory in
// local mode, or kept in the spool's media/ folder, with the same outage rules as records
// (health.ts) and counted apart from them.

import { join } from "node:path";
import { listSpooledArtifacts, type SpooledArtifact } from "../src/io/artifact-spool.js";
import {
  listSpooledMedia,
  type MediaFile,
  type MediaJob,
  type MediaTarget,
  materialize,
  materializeSync,
  spoolMedia,
  writeToMediaDir,
} from "../src/io/media-files.js";
import { replayArtifact, replayMedia } from "../src/io/replay.js";
import { keptBy, whoSends } from "../src/io/sync-hint.js";
import { isConnectionRefused, type Transport } from "../src/io/transport.js";
import { TrackioError, toWire, type WireError } from "../src/shared/errors.js";
import type { WorkerSettings } from "../src/shared/protocol.js";
import {
  COUNTER_MEDIA_FAILED,
  COUNTER_MEDIA_REPLAYED,
  COUNTER_MEDIA_SPOOLED,
  COUNTER_MEDIA_UPLOADED,
  COUNTER_MEDIA_WRITTEN,
} from "../src/shared/ring.js";
import type { Health } from "./health.js";

/** What the files share with the records' delivery (delivery.ts). */
export interface MediaContext {
  readonly settings: WorkerSettings;
  readonly transport: Transport;
  readonly counters: BigInt64Array;
  readonly health: Health;
  readonly spoolOn: boolean;
  /** Whether no server answered and the local inbox is used instead. */
  inboxActive(): boolean;
  switchToInbox(): void;
  /** A problem with one file: an 'error' event each time, and the next flush() rejects with the first. */
  raise(error: WireError): void;
  /** A failure that may be an outage: one 'error' event per outage. */
  report(error: WireError, what: string): void;
}

export class MediaDelivery {
  readonly #c: MediaContext;
  readonly #settled = new Set<string>();

  constructor(context: MediaContext) {
    this.#c = context;
  }

  /**
   * Store the files of media values: on the server, in the local media directory (local
   * mode), or in the spool. Never throws. Stops early once `abandoned()` says an exit
   * deadline kept these files on disk already.
   */
  async deliver(jobs: MediaJob[], closing: boolean, abandoned: () => boolean): Promise<void> {
    if (closing) this.#c.health.lastTryAtClose();
    // A job leaves `jobs` once settled, so that an exit deadline keeps only the others.
    while (jobs.length > 0 && !abandoned()) {
      await this.#deliverOne(jobs[0]);
      jobs.shift();
    }
  }

  async #deliverOne(job: MediaJob): Promise<void> {
    let file: MediaFile;
    try {
      file = await materialize(job);
    } catch (err) {
      this.#unreadable(job, err);
      return;
    }
    if (file.changed !== undefined) this.#warnChanged(file.changed);
    const target = this.#target(job);
    if (this.#c.inboxActive()) {
      this.#toMediaDir(target, file);
      return;
    }
    if (this.#c.health.believedDown()) {
      this.#failMedia(job.id, target, file, this.#c.health.downReason);
      return;
    }
    try {
      await this.#c.transport.uploadMedia(target, file, this.#c.health.probing);
      this.#c.health.probing = false;
      Atomics.add(this.#c.counters, COUNTER_MEDIA_UPLOADED, 1n);
      this.#c.health.recovered();
    } catch (err) {
      if (this.#c.health.probing && isConnectionRefused(err)) {
        this.#c.switchToInbox();
        this.#toMediaDir(target, file);
        return;
      }
      this.#c.health.sendFailed(err);
      this.#failMedia(job.id, target, file, err);
    }
  }

  /** Keep media files on disk right now, synchronously (exit deadline). Never throws. */
  keepNow(jobs: readonly MediaJob[]): void {
    for (const job of jobs) {
      let file: MediaFile;
      try {
        file = materializeSync(job);
      } catch (err) {
        this.#unreadable(job, err);
        continue;
      }
      if (file.changed !== undefined) this.#warnChanged(file.changed);
      const target = this.#target(job);
      if (this.#c.inboxActive()) this.#toMediaDir(target, file);
      else {
        const why = new TrackioError("the process is exiting before the server stored this media file");
        this.#failMedia(job.id, target, file, why);
      }
    }
  }

  #target(job: MediaJob): MediaTarget {
    const s = this.#c.settings;
    return { project: s.project, run: s.run, run_id: s.runId, step: job.step, file_path: job.desc.file };
  }

  // The user's file is gone or unreadable: nothing can be kept, so this is a loss to report
  // (not an outage: later uploads go on as before).
  #unreadable(job: MediaJob, err: unknown): void {
    Atomics.add(this.#c.counters, COUNTER_MEDIA_FAILED, 1n);
    const detail = err instanceof Error ? err.message : String(err);
    this.#c.raise(
      toWire(
        new TrackioError(`the ${job.desc.type} file for ${job.desc.file} could not be made: ${detail}`, { cause: err }),
      ),
    );
  }

  // Stored, but perhaps not what was logged (see src/io/media-files.ts changedSince).
  #warnChanged(message: string): void {
    this.#c.raise(toWire(new TrackioError(message)));
  }

  #failMedia(id: string, target: MediaTarget, file: MediaFile, err: unknown): void {
    let where: string;
    try {
      if (!this.#c.spoolOn) throw new Error("the spool is off (spoolDir: false)");
      const path = spoolMedia(this.#c.settings.spoolDir as string, id, target, file);
      Atomics.add(this.#c.counters, COUNTER_MEDIA_SPOOLED, 1n);
      this.#c.health.spooled();
      where = `media file ${target.file_path} kept in ${path}; ${whoSends(err, keptBy(this.#c.settings), true)}`;
    } catch (spoolErr) {
      Atomics.add(this.#c.counters, COUNTER_MEDIA_FAILED, 1n);
      where = `media file ${target.file_path} lost: ${spoolErr instanceof Error ? spoolErr.message : String(spoolErr)}`;
    }
    this.#c.report(toWire(err), where);
  }

  #toMediaDir(target: MediaTarget, file: MediaFile): void {
    try {
      writeToMediaDir(join(this.#c.settings.inboxDir as string, "..", "media"), target, file);
      Atomics.add(this.#c.counters, COUNTER_MEDIA_WRITTEN, 1n);
    } catch (err) {
      Atomics.add(this.#c.counters, COUNTER_MEDIA_FAILED, 1n);
      this.#c.report(
        toWire(err),
        `media file ${target.file_path} lost: the Trackio media directory could not be written`,
      );
    }
  }

  /**
   * Replay the oldest spooled file (after every fragment: the records referencing it go
   * first), then the spooled artifact versions.
   */
  async replayOne(dir: string): Promise<void> {
    // An entry this process has settled is not taken again, even if its files stay (one that
    // could not be removed or renamed would otherwise be sent at once, again and again).
    const media = listSpooledMedia(dir).find((e) => !this.#settled.has(e.meta));
    const entry = media ?? listSpooledArtifacts(dir).find((e) => !this.#settled.has(e.meta));
    if (entry === undefined) {
      this.#c.health.spoolEmpty();
      return;
    }
    const outcome =
      media !== undefined
        ? await replayMedia(media, this.#c.transport)
        : await replayArtifact(entry as SpooledArtifact, this.#c.transport);
    if (outcome.kind !== "failed") this.#settled.add(entry.meta);
    if (outcome.kind === "sent") {
      if (media !== undefined) Atomics.add(this.#c.counters, COUNTER_MEDIA_REPLAYED, 1n);
      this.#c.health.recovered();
    } else if (outcome.kind === "rejected") {
      // One file, not an outage: the next entries are replayed as usual.
      const error = toWire(outcome.error);
      error.message = `${error.message} (set aside as ${entry.meta}.rejected)`;
      this.#c.raise(error);
    } else if (outcome.kind === "failed") {
      this.#c.health.replayFailed(outcome.error);
    }
  }
}
