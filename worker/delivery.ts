// Where a batch ends up. In order of preference:
//   1. the server acknowledged it                          -> counted `sent`
//   2. no server is configured and none answers            -> the local Trackio inbox
//      (trackio show imports it)                              counted `inboxed`
//   3. the server could not take it (down, retries spent,  -> a spool fragment, replayed
//      auth refused …)                                        when the server answers again,
//                                                             counted `spooled` / `replayed`
//   4. the server refused a record on its own while it     -> a quarantine file in the spool,
//      accepted the others (isolate.ts)                       counted `quarantined`
//   5. the spool is off or the disk refuses               -> counted `failed`
// Every failure is reported (the first of an outage as an 'error' event, each to the next
// flush()), and nothing leaves the ring before one of these has happened to it.

import { join } from "node:path";
import { bulkBody, groupByEndpoint } from "../src/io/batch.js";
import {
  afterFailure,
  type Controls,
  rejectionMessage,
  remember,
  type Settled,
  setAsideLines,
} from "../src/io/isolate.js";
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
import { countsAsRecord } from "../src/io/record-line.js";
import { type FragmentReplay, replayFragment, replayMedia } from "../src/io/replay.js";
import { FragmentWriter, listFragments } from "../src/io/spool.js";
import { isTransient, type Transport } from "../src/io/transport.js";
import { HttpError, RejectedError, SpoolError, TrackioError, toWire, type WireError } from "../src/shared/errors.js";
import type { WorkerSettings } from "../src/shared/protocol.js";
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
  COUNTER_SENT,
  COUNTER_SPOOLED,
} from "../src/shared/ring.js";

/** The longest wait before a down server is tried again (by replaying the spool). */
const MAX_PROBE_INTERVAL_MS = 15_000;

export interface DeliveryEvents {
  error(error: WireError): void;
  warning(message: string): void;
}

export class Delivery {
  readonly #s: WorkerSettings;
  readonly #transport: Transport;
  readonly #counters: BigInt64Array;
  readonly #events: DeliveryEvents;
  readonly #spool: FragmentWriter | null;
  #inbox: FragmentWriter | null = null;
  /** True until the first request got an answer: a refused connection then means "no server". */
  #probing: boolean;
  #outage = false;
  #unreported: WireError | null = null;
  #spoolPending: boolean;
  #nextReplayAt = 0;
  // While the server is down (a batch exhausted its retries), new batches go straight to the
  // spool instead of each waiting out a timeout; replaying the spool is what probes the server
  // again, and its first success ends the outage.
  #downUntil = 0;
  readonly #probeInterval: number;

  constructor(settings: WorkerSettings, transport: Transport, counters: BigInt64Array, events: DeliveryEvents) {
    this.#s = settings;
    this.#transport = transport;
    this.#counters = counters;
    this.#events = events;
    this.#spool = settings.spoolDir === null ? null : new FragmentWriter(settings.spoolDir);
    this.#probing = settings.inboxDir !== null;
    // Fragments left by an earlier process (or an earlier client) for this server.
    this.#spoolPending =
      settings.spoolDir !== null &&
      (listFragments(settings.spoolDir).length > 0 || listSpooledMedia(settings.spoolDir).length > 0);
    this.#probeInterval = Math.min(MAX_PROBE_INTERVAL_MS, Math.max(1000, settings.retryDeadlineMs));
  }

  /**
   * Send a batch; on failure keep it on disk. Never throws. `closing` gives a down server one
   * more try before the client goes away, so that records are not left in the spool of a
   * server that has just come back.
   */
  async deliver(lines: string[], closing = false): Promise<void> {
    if (this.#inbox !== null) {
      this.#toInbox(lines);
      return;
    }
    if (closing) this.#lastTryAtClose();
    // Metrics, then system metrics, then alerts: each kind has its own endpoint.
    const groups = groupByEndpoint(lines);
    for (let i = 0; i < groups.length; i++) {
      const { endpoint, lines: part } = groups[i];
      if (this.#believedDown()) {
        this.#fail(part, this.#downReason);
        continue;
      }
      try {
        await this.#transport.call(endpoint.api, bulkBody(endpoint, part, this.#transport.hfTokenJson), this.#probing);
        this.#probing = false;
        remember(this.#controls, endpoint, part);
        this.#count(COUNTER_SENT, part);
        this.#recovered();
      } catch (err) {
        if (this.#probing && isRefused(err)) {
          this.#switchToInbox();
          for (const g of groups.slice(i)) this.#toInbox(g.lines);
          return;
        }
        this.#settled(await afterFailure(this.#transport, endpoint, part, err, this.#controls));
      }
    }
  }

  /**
   * What a send that failed came to: the part the server took is sent, what it refused on
   * its own is set aside, and the rest (an outage) goes to the spool as before.
   */
  #settled(result: Settled): void {
    if (result.sent.length > 0) {
      this.#probing = false;
      this.#count(COUNTER_SENT, result.sent);
      this.#recovered();
    }
    this.#setAside(result);
    if (result.waiting.length > 0) {
      // A server that answers but has accepted nothing yet to compare with is not believed
      // down: the next batch goes straight to it, and its success replays these (#recovered).
      if (result.why !== "unproven") this.#sendFailed(result.error);
      this.#fail(result.waiting, result.error);
    }
  }

  /**
   * Keep what the server refused (and damaged spool lines) in a quarantine file and report
   * it; with no spool to keep it in, it is lost and counted failed.
   */
  #setAside(
    result: Pick<Settled, "refused" | "configs">,
    damaged: readonly { line: string; reason: string }[] = [],
    keptIn: string | null = null,
  ): void {
    const lines = setAsideLines(result, damaged);
    if (lines.length === 0) return;
    let where: string;
    // Records set aside while replaying the spool were counted `spooled` when they were kept.
    let counter: number | null = keptIn === null ? COUNTER_QUARANTINED : null;
    if (keptIn !== null) where = `set aside in ${keptIn}`;
    else {
      try {
        if (this.#spool === null) throw new Error("the spool is off (spoolDir: false)");
        where = `set aside in ${this.#spool.quarantine(lines)}`;
      } catch (err) {
        counter = COUNTER_FAILED;
        where = `lost: ${err instanceof Error ? err.message : String(err)}`;
      }
    }
    // A record stored without its refused config is counted sent; its line is kept for the config.
    if (counter !== null) this.#count(counter, [...result.refused.map((r) => r.line), ...damaged.map((d) => d.line)]);
    this.#raiseWire(toWire(new RejectedError(rejectionMessage(result, damaged, where))));
  }

  // System metrics are sampled by the worker, not logged by the user, and a config resend
  // repeats a record: they travel, spool and replay like records, but the record counters
  // leave them out.
  #count(counter: number, lines: readonly string[]): void {
    let n = 0;
    for (const line of lines) if (countsAsRecord(line)) n++;
    if (n > 0) Atomics.add(this.#counters, counter, BigInt(n));
  }

  #downReason: unknown = null;
  readonly #controls: Controls = new Map();
  #triedAtClose = false;

  // A closing client gives a server it believes down one more try (the first send of close()).
  #lastTryAtClose(): void {
    if (this.#triedAtClose) return;
    this.#triedAtClose = true;
    this.#downUntil = 0;
  }

  /** While true, what would be sent goes straight to the spool. */
  #believedDown(): boolean {
    return this.#spool !== null && performance.now() < this.#downUntil;
  }

  // A send (records or a file) failed for good: if the server seems gone, stop trying it until
  // the next probe.
  #sendFailed(err: unknown): void {
    this.#probing = false;
    if (isTransient(err)) {
      this.#downUntil = performance.now() + this.#probeInterval;
      this.#downReason = err;
    }
  }

  // Something went to the spool: replay it after a probe interval (or with what waits there).
  #spooled(): void {
    if (!this.#spoolPending) this.#nextReplayAt = performance.now() + this.#probeInterval;
    this.#spoolPending = true;
  }

  #recovered(): void {
    this.#downUntil = 0;
    if (this.#outage) {
      this.#outage = false;
      this.#nextReplayAt = 0;
    }
  }

  /**
   * Store the files of media values: on the server, in the local media directory (local
   * mode), or in the spool. Never throws. Stops early once `abandoned()` says an exit
   * deadline kept these files on disk already.
   */
  async deliverMedia(jobs: MediaJob[], closing: boolean, abandoned: () => boolean): Promise<void> {
    if (closing) this.#lastTryAtClose();
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
    if (this.#inbox !== null) {
      this.#toMediaDir(target, file);
      return;
    }
    if (this.#believedDown()) {
      this.#failMedia(job.id, target, file, this.#downReason);
      return;
    }
    try {
      await this.#transport.uploadMedia(target, file, this.#probing);
      this.#probing = false;
      Atomics.add(this.#counters, COUNTER_MEDIA_UPLOADED, 1n);
      this.#recovered();
    } catch (err) {
      if (this.#probing && isRefused(err)) {
        this.#switchToInbox();
        this.#toMediaDir(target, file);
        return;
      }
      this.#sendFailed(err);
      this.#failMedia(job.id, target, file, err);
    }
  }

  /** Keep media files on disk right now, synchronously (exit deadline). Never throws. */
  keepMediaNow(jobs: readonly MediaJob[]): void {
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
      if (this.#inbox !== null) this.#toMediaDir(target, file);
      else {
        const why = new TrackioError("the process is exiting before the server stored this media file");
        this.#failMedia(job.id, target, file, why);
      }
    }
  }

  #target(job: MediaJob): MediaTarget {
    const s = this.#s;
    return { project: s.project, run: s.run, run_id: s.runId, step: job.step, file_path: job.desc.file };
  }

  // The user's file is gone or unreadable: nothing can be kept, so this is a loss to report
  // (not an outage: later uploads go on as before).
  #unreadable(job: MediaJob, err: unknown): void {
    Atomics.add(this.#counters, COUNTER_MEDIA_FAILED, 1n);
    const detail = err instanceof Error ? err.message : String(err);
    this.#raise(
      new TrackioError(`the ${job.desc.type} file for ${job.desc.file} could not be made: ${detail}`, { cause: err }),
    );
  }

  // Stored, but perhaps not what was logged (see media.ts changedSince).
  #warnChanged(message: string): void {
    this.#raise(new TrackioError(message));
  }

  // A problem with one file, not an outage: an 'error' event each time, and the next flush()
  // rejects with the first.
  #raise(err: TrackioError): void {
    this.#raiseWire(toWire(err));
  }

  #raiseWire(error: WireError): void {
    if (this.#unreported === null) this.#unreported = error;
    this.#events.error(error);
  }

  #failMedia(id: string, target: MediaTarget, file: MediaFile, err: unknown): void {
    let where: string;
    try {
      if (this.#spool === null) throw new Error("the spool is off (spoolDir: false)");
      const path = spoolMedia(this.#s.spoolDir as string, id, target, file);
      Atomics.add(this.#counters, COUNTER_MEDIA_SPOOLED, 1n);
      this.#spooled();
      where = `media file ${target.file_path} kept in ${path}; it is uploaded when the server answers again, or with \`npx trackio sync\``;
    } catch (spoolErr) {
      Atomics.add(this.#counters, COUNTER_MEDIA_FAILED, 1n);
      where = `media file ${target.file_path} lost: ${spoolErr instanceof Error ? spoolErr.message : String(spoolErr)}`;
    }
    this.#report(toWire(err), where);
  }

  #toMediaDir(target: MediaTarget, file: MediaFile): void {
    try {
      writeToMediaDir(join(this.#s.inboxDir as string, "..", "media"), target, file);
      Atomics.add(this.#counters, COUNTER_MEDIA_WRITTEN, 1n);
    } catch (err) {
      Atomics.add(this.#counters, COUNTER_MEDIA_FAILED, 1n);
      this.#report(
        toWire(err),
        `media file ${target.file_path} lost: the Trackio media directory could not be written`,
      );
    }
  }

  /** Keep lines on disk right now, synchronously (exit deadline). Never throws. */
  keepNow(lines: string[]): void {
    if (lines.length === 0) return;
    if (this.#inbox !== null) this.#toInbox(lines);
    else this.#fail(lines, new TrackioError("the process is exiting before the server acknowledged these records"));
  }

  /** The first failure since the last call, for flush() to reject with. */
  takeUnreported(): WireError | null {
    const e = this.#unreported;
    this.#unreported = null;
    return e;
  }

  /**
   * Whether spooled fragments wait and it is time to try them (again). A closing client
   * replays only while the server answers; it does not wait out an outage.
   */
  replayDue(now: number, closing: boolean): boolean {
    if (!this.#spoolPending || this.#inbox !== null) return false;
    if (closing && this.#outage) {
      // One probe before going away (a single attempt while the transport is unhealthy): the
      // server may have come back since the last failure.
      if (this.#triedAtClose) return false;
      this.#triedAtClose = true;
      return true;
    }
    return now >= this.#nextReplayAt;
  }

  /**
   * Replay the oldest spooled fragment. Never throws. A fragment the server refused without
   * accepting anything else waits until the ones after it were tried: their acknowledged
   * lines are what proves the server takes records, and the refused ones are set aside then.
   */
  async replayOne(): Promise<void> {
    const dir = this.#s.spoolDir as string;
    const path = listFragments(dir).find((p) => !this.#deferred.has(p));
    if (path === undefined) {
      if (this.#deferred.size === 0) await this.#replayOneMedia(dir);
      else if (this.#lastUnproven) this.#replayFailed(null);
      // The fragments after the deferred ones went through: now they can be told apart.
      else this.#deferred.clear();
      return;
    }
    const outcome = await replayFragment(path, this.#transport, this.#controls);
    if (outcome.records > 0) {
      Atomics.add(this.#counters, COUNTER_REPLAYED, BigInt(outcome.records));
      this.#recovered();
    }
    this.#reportReplay(path, outcome);
    if (outcome.kind !== "failed") {
      this.#lastUnproven = false;
      return;
    }
    // Two in a row with nothing accepted: the server refuses everything, as in an outage.
    if (outcome.why === "unproven" && !this.#lastUnproven) {
      this.#lastUnproven = true;
      this.#deferred.add(path);
      return;
    }
    this.#replayFailed(outcome.error);
  }

  #deferred = new Set<string>();
  #lastUnproven = false;

  #replayFailed(error: unknown): void {
    this.#deferred.clear();
    this.#lastUnproven = false;
    this.#nextReplayAt = performance.now() + this.#probeInterval;
    if (isTransient(error)) this.#downUntil = this.#nextReplayAt;
  }

  #reportReplay(path: string, outcome: FragmentReplay): void {
    if (outcome.empty) {
      this.#raise(
        new TrackioError(
          `the spooled fragment ${path} was empty (0 records: it was cut short, e.g. by a power cut before the disk wrote it); removed`,
        ),
      );
    }
    if (outcome.quarantinedIn !== null) this.#setAside(outcome, outcome.damaged, outcome.quarantinedIn);
    // Lines to set aside could not be written: the fragment stays whole until they can.
    if (outcome.error instanceof SpoolError) this.#report(toWire(outcome.error), `${path} is kept as it is`);
  }

  // Media files go after every fragment, so that the records referencing them are stored first.
  async #replayOneMedia(dir: string): Promise<void> {
    const [entry] = listSpooledMedia(dir);
    if (entry === undefined) {
      this.#spoolPending = false;
      return;
    }
    const outcome = await replayMedia(entry, this.#transport);
    if (outcome.kind === "sent") {
      Atomics.add(this.#counters, COUNTER_MEDIA_REPLAYED, 1n);
      this.#recovered();
    } else if (outcome.kind === "rejected") {
      // One file, not an outage: the next entries are replayed as usual.
      const error = toWire(outcome.error);
      error.message = `${error.message} (set aside as ${entry.meta}.rejected)`;
      this.#raiseWire(error);
    } else if (outcome.kind === "failed") {
      this.#nextReplayAt = performance.now() + this.#probeInterval;
      if (isTransient(outcome.error)) this.#downUntil = this.#nextReplayAt;
    }
  }

  #fail(lines: string[], err: unknown): void {
    const n = lines.length;
    let error = toWire(err);
    let where: string;
    try {
      if (this.#spool === null) throw new Error("the spool is off (spoolDir: false)");
      const path = this.#spool.write(lines);
      this.#count(COUNTER_SPOOLED, lines);
      this.#spooled();
      where = `${n} records kept in ${path}; they are sent when the server answers again, or with \`npx trackio sync\``;
    } catch (spoolErr) {
      this.#count(COUNTER_FAILED, lines);
      if (spoolErr instanceof SpoolError) {
        // The spool is what failed the user: its error leads, the send failure is context.
        where = `${n} records lost; they could not be sent: ${error.message}`;
        error = toWire(spoolErr);
      } else where = `${n} records lost: ${spoolErr instanceof Error ? spoolErr.message : String(spoolErr)}`;
    }
    this.#report(error, where);
  }

  #report(error: WireError, what: string): void {
    error.message = `${error.message} (${what})`;
    if (this.#unreported === null) this.#unreported = error;
    // One 'error' event per outage, not one per batch while the server stays down.
    if (!this.#outage) this.#events.error(error);
    this.#outage = true;
  }

  #switchToInbox(): void {
    const dir = this.#s.inboxDir as string;
    this.#inbox = new FragmentWriter(dir);
    this.#events.warning(
      `no Trackio server answers at ${this.#s.displayUrl}; writing records to the local Trackio inbox ${dir}, which \`trackio show\` imports`,
    );
  }

  #toInbox(lines: string[]): void {
    try {
      (this.#inbox as FragmentWriter).write(lines);
      this.#count(COUNTER_INBOXED, lines);
    } catch (err) {
      this.#count(COUNTER_FAILED, lines);
      this.#report(toWire(err), `${lines.length} records lost: the inbox could not be written`);
    }
  }
}

function isRefused(err: unknown): boolean {
  if (!(err instanceof HttpError)) return false;
  const cause = (err as { cause?: { code?: unknown } }).cause;
  return cause?.code === "ECONNREFUSED";
}
