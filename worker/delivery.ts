// Where a batch ends up. In order of preference:
//   1. the server acknowledged it                          -> counted `sent`
//   2. no server is configured and none answers            -> the local Trackio inbox
//      (trackio show imports it)                              counted `inboxed`
//   3. the server could not take it (down, retries spent,  -> a spool fragment, replayed
//      auth refused …)                                        when the server answers again
//                                                             (`trackio sync` after an auth
//                                                             failure), counted `spooled` /
//                                                             `replayed`
//   4. the server refused a record on its own while it     -> a quarantine file in the spool,
//      accepted the others (isolate.ts)                       counted `quarantined`
//   5. the spool is off or the disk refuses               -> counted `failed`
// Every failure is reported (the first of an outage as an 'error' event, each to the next
// flush()), and nothing leaves the ring before one of these has happened to it.

import { listSpooledArtifacts } from "../src/io/artifact-spool.js";
import { OutBatch, type Part, recordCount } from "../src/io/bodies.js";
import {
  afterFailure,
  type Controls,
  rejectionMessage,
  remember,
  type SetAsideIn,
  type Settled,
  setAsideLines,
} from "../src/io/isolate.js";
import { listSpooledMedia, type MediaJob } from "../src/io/media-files.js";
import { type FragmentReplay, replayFragment } from "../src/io/replay.js";
import { FragmentWriter, listFragments } from "../src/io/spool.js";
import { keptBy, retryPlan, syncCommand } from "../src/io/sync-hint.js";
import { isConnectionRefused, type Transport } from "../src/io/transport.js";
import { RejectedError, SpoolError, StatusError, TrackioError, toWire, type WireError } from "../src/shared/errors.js";
import { count } from "../src/shared/plural.js";
import type { WarningCode, WorkerSettings } from "../src/shared/protocol.js";
import {
  COUNTER_FAILED,
  COUNTER_INBOXED,
  COUNTER_QUARANTINED,
  COUNTER_REPLAYED,
  COUNTER_SENT,
  COUNTER_SPOOLED,
} from "../src/shared/ring.js";
import { Health } from "./health.js";
import { MediaDelivery } from "./media-delivery.js";
import { type Kept, keptReport, Sending, sentAfterKept } from "./sending.js";

export interface DeliveryEvents {
  error(error: WireError): void;
  warning(message: string, code: WarningCode): void;
  /** Sends started failing (true), or the server took something again (false). */
  trouble?(troubled: boolean): void;
}

export class Delivery {
  readonly #s: WorkerSettings;
  readonly #transport: Transport;
  readonly #counters: BigInt64Array;
  readonly #events: DeliveryEvents;
  readonly #spool: FragmentWriter | null;
  #inbox: FragmentWriter | null = null;
  readonly #health: Health;
  readonly #media: MediaDelivery;
  #unreported: WireError | null = null;

  constructor(settings: WorkerSettings, transport: Transport, counters: BigInt64Array, events: DeliveryEvents) {
    this.#s = settings;
    this.#transport = transport;
    this.#counters = counters;
    this.#events = events;
    this.#spool = settings.spoolDir === null ? null : new FragmentWriter(settings.spoolDir);
    this.#health = new Health({
      probing: settings.inboxDir !== null,
      spoolOn: settings.spoolDir !== null,
      // Fragments left by an earlier process (or an earlier client) for this server.
      spoolPending:
        settings.spoolDir !== null &&
        (listFragments(settings.spoolDir).length > 0 ||
          listSpooledMedia(settings.spoolDir).length > 0 ||
          listSpooledArtifacts(settings.spoolDir).length > 0),
      retryDeadlineMs: settings.retryDeadlineMs,
      onTrouble: events.trouble,
    });
    this.#media = new MediaDelivery({
      settings,
      transport,
      counters,
      health: this.#health,
      spoolOn: this.#spool !== null,
      inboxActive: () => this.#inbox !== null,
      switchToInbox: () => this.#switchToInbox(),
      raise: (error) => this.#raiseWire(error),
      report: (error, what) => this.#report(error, what),
    });
  }

  /**
   * Send a batch; on failure keep it on disk. Never throws. `closing` gives a down server one
   * more try before the client goes away, so that records are not left in the spool of a
   * server that has just come back. `sending` follows the batch's parts for keepInFlight.
   */
  async deliver(batch: OutBatch | string[], closing = false, sending = new Sending()): Promise<void> {
    const out = Array.isArray(batch) ? OutBatch.of(batch) : batch;
    if (this.#inbox !== null) {
      this.#toInbox(out.lines());
      return;
    }
    if (closing) this.#health.lastTryAtClose();
    // Metrics, then system metrics, then alerts: each kind has its own endpoint. A part's
    // lines are made as text only when something other than a plain send needs them.
    const parts = out.parts();
    sending.parts = parts;
    try {
      for (let i = 0; i < parts.length; i++) {
        sending.at = i;
        if (await this.#deliverPart(parts, i, sending)) return;
      }
    } finally {
      // Settled or kept: nothing of it is left for keepInFlight.
      sending.at = parts.length;
    }
  }

  /** Deliver `parts[i]`; true when the parts after it are taken care of already. */
  async #deliverPart(parts: readonly Part[], i: number, sending: Sending): Promise<boolean> {
    const part = parts[i];
    const { endpoint } = part;
    if (this.#health.believedDown()) {
      this.#fail(part.lines(), this.#health.downReason);
      return false;
    }
    try {
      await this.#transport.call(endpoint.api, part.body(this.#transport.hfTokenJson), this.#health.probing);
      this.#health.probing = false;
      remember(this.#controls, endpoint, [part.last()]);
      if (sending.kept === null) this.#add(COUNTER_SENT, part.records);
      else sentAfterKept(sending.kept, this.#counters);
      this.#health.recovered();
    } catch (err) {
      // Kept by an exit deadline while it ran: its lines stay where they were kept.
      if (sending.kept !== null) {
        this.#reportKept(sending.kept, err);
        return true;
      }
      if (this.#health.probing && isConnectionRefused(err)) {
        this.#switchToInbox();
        for (const p of parts.slice(i)) this.#toInbox(p.lines());
        return true;
      }
      const result = await afterFailure(this.#transport, endpoint, part.lines(), err, this.#controls);
      if (sending.kept === null) this.#settled(result);
      else this.#reportKept(sending.kept, err);
    }
    // The parts after a kept one were kept with the rest of the ring.
    return sending.kept !== null;
  }

  /**
   * An exit deadline while `sending` is delivered: keep the lines of the part in flight on
   * disk now, in a fragment of their own, so that if its request succeeds after all,
   * deliver() removes that fragment and counts them sent rather than kept. Returns the lines
   * of the parts not yet started, for the caller to keep with the rest. Never throws.
   */
  keepInFlight(sending: Sending): string[] {
    const { parts, at } = sending;
    if (sending.kept !== null || at >= parts.length) return [];
    const lines = parts[at].lines();
    // Reported once the request has failed, if it does, with what failed it.
    sending.kept = this.#inbox !== null ? this.#toInbox(lines) : this.#toSpool(lines);
    return parts.slice(at + 1).flatMap((p) => p.lines());
  }

  /**
   * What a send that failed came to: the part the server took is sent, what it refused on
   * its own is set aside, and the rest (an outage) goes to the spool as before.
   */
  #settled(result: Settled): void {
    if (result.sent.length > 0) {
      this.#health.probing = false;
      this.#count(COUNTER_SENT, result.sent);
      this.#health.recovered();
    }
    this.#setAside(result);
    if (result.waiting.length > 0) {
      // A server that answers but has accepted nothing yet to compare with is not believed
      // down: the next batch goes straight to it, and its success replays these (#recovered).
      if (result.why !== "unproven") this.#health.sendFailed(result.error);
      // It answered all the same: a later refused connection is an outage, not "no server here".
      else this.#health.probing = false;
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
    let where: SetAsideIn;
    // Records set aside while replaying the spool were counted `spooled` when they were kept.
    let counter: number | null = keptIn === null ? COUNTER_QUARANTINED : null;
    // Beside a spooled fragment, which may hold other runs' records too: the whole directory.
    if (keptIn !== null) where = { file: keptIn, sync: { ...keptBy(this.#s), project: undefined, run: undefined } };
    else {
      try {
        if (this.#spool === null) throw new Error("the spool is off (spoolDir: false)");
        where = { file: this.#spool.quarantine(lines), sync: keptBy(this.#s) };
      } catch (err) {
        counter = COUNTER_FAILED;
        where = { lost: err instanceof Error ? err.message : String(err) };
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
    this.#add(counter, recordCount(lines));
  }

  #add(counter: number, n: number): void {
    if (n > 0) Atomics.add(this.#counters, counter, BigInt(n));
  }

  readonly #controls: Controls = new Map();

  /**
   * Store the files of media values: on the server, in the local media directory (local
   * mode), or in the spool. Never throws. Stops early once `abandoned()` says an exit
   * deadline kept these files on disk already.
   */
  deliverMedia(jobs: MediaJob[], closing: boolean, abandoned: () => boolean): Promise<void> {
    return this.#media.deliver(jobs, closing, abandoned);
  }

  /** Keep media files on disk right now, synchronously (exit deadline). Never throws. */
  keepMediaNow(jobs: readonly MediaJob[]): void {
    this.#media.keepNow(jobs);
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

  /** Keep lines on disk right now, synchronously (exit deadline). Never throws. */
  keepNow(lines: string[]): void {
    if (lines.length === 0) return;
    if (this.#inbox !== null) this.#toInbox(lines);
    else this.#fail(lines, new TrackioError("the process is exiting before the server acknowledged these records"));
  }

  /** Something other than records or media went to the spool (an artifact version). */
  spooledElsewhere(): void {
    this.#health.spooled();
  }

  /** The first failure since the last call, for flush() to reject with. */
  takeUnreported(): WireError | null {
    const e = this.#unreported;
    this.#unreported = null;
    return e;
  }

  /** Whether spooled fragments wait and it is time to try them (again). */
  replayDue(now: number, closing: boolean): boolean {
    return this.#inbox === null && this.#health.replayDue(now, closing);
  }

  /**
   * Replay the oldest spooled fragment. Never throws. A fragment the server refused without
   * accepting anything else waits until the ones after it were tried: their acknowledged
   * lines are what proves the server takes records, and the refused ones are set aside then.
   */
  async replayOne(): Promise<void> {
    const dir = this.#s.spoolDir as string;
    const path = listFragments(dir).find((p) => !this.#deferred.has(p) && !this.#stuck.has(p));
    if (path === undefined) {
      if (this.#deferred.size === 0) await this.#media.replayOne(dir);
      else if (this.#lastUnproven) this.#replayFailed(null);
      // The fragments after the deferred ones went through: now they can be told apart.
      else this.#deferred.clear();
      return;
    }
    const outcome = await replayFragment(path, this.#transport, this.#controls);
    if (outcome.records > 0) {
      Atomics.add(this.#counters, COUNTER_REPLAYED, BigInt(outcome.records));
      this.#health.recovered();
    }
    this.#reportReplay(path, outcome);
    if (outcome.kind === "stuck") {
      // Reported once; left for a later process (or `trackio sync`) once it can be handled.
      this.#stuck.add(path);
      const error = toWire(outcome.error);
      // The whole directory: the fragment may hold other runs' records too.
      const all = syncCommand({ ...keptBy(this.#s), project: undefined, run: undefined });
      error.message = `${error.message}; this client skips it (it stays in the spool: fix it, then \`${all}\`)`;
      this.#raiseWire(error);
    }
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
  /** Fragments that cannot be read, removed or rewritten: not taken again by this process. */
  readonly #stuck = new Set<string>();
  #lastUnproven = false;

  #replayFailed(error: unknown): void {
    this.#deferred.clear();
    this.#lastUnproven = false;
    this.#health.replayFailed(error);
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
    if (outcome.kind === "failed" && outcome.error instanceof SpoolError)
      this.#report(toWire(outcome.error), `${path} is kept as it is`);
  }

  #fail(lines: string[], err: unknown): void {
    this.#reportKept(this.#toSpool(lines), err);
  }

  /** Write lines to the spool, counted `spooled`, or count them `failed` when it cannot. Reports nothing. */
  #toSpool(lines: string[]): Kept {
    try {
      if (this.#spool === null) throw new Error("the spool is off (spoolDir: false)");
      const path = this.#spool.write(lines);
      this.#count(COUNTER_SPOOLED, lines);
      this.#health.spooled();
      return { lines, counter: COUNTER_SPOOLED, path, spoolError: null, reported: false };
    } catch (spoolErr) {
      this.#count(COUNTER_FAILED, lines);
      return { lines, counter: COUNTER_FAILED, path: null, spoolError: spoolErr, reported: false };
    }
  }

  /** Report lines that could not be sent (`err`): where they are kept, or that they are lost. */
  #reportKept(kept: Kept, err: unknown): void {
    if (kept.reported) return;
    kept.reported = true;
    const { error, where } = keptReport(kept, err, this.#s);
    this.#report(error, where);
  }

  #report(error: WireError, what: string): void {
    error.message = `${error.message} (${what})`;
    if (this.#unreported === null) this.#unreported = error;
    // One 'error' event per outage, not one per batch while the server stays down.
    if (this.#health.outage()) this.#events.error(error);
  }

  /**
   * A request failed and is retried. The first such failure since the server last took
   * something is a warning, so that a server that does not answer is not met with silence
   * for the whole retry deadline; later attempts of the same outage say nothing.
   */
  attemptFailed(err: unknown): void {
    // A 500 is retried a few times only, then split (isolate.ts): no outage to announce.
    if (err instanceof StatusError && err.status === 500) return;
    if (!this.#health.firstFailedAttempt()) return;
    const what = err instanceof Error ? err.message : String(err);
    this.#events.warning(`${what}; ${retryPlan(this.#s)}`, "TRACKIO_RETRYING");
  }

  #switchToInbox(): void {
    const dir = this.#s.inboxDir as string;
    this.#inbox = new FragmentWriter(dir);
    this.#events.warning(
      `no Trackio server answers at ${this.#s.displayUrl}; writing records to the local Trackio inbox ${dir}, which \`trackio show\` imports`,
      "TRACKIO_LOCAL_INBOX",
    );
  }

  #toInbox(lines: string[]): Kept {
    try {
      const path = (this.#inbox as FragmentWriter).write(lines);
      this.#count(COUNTER_INBOXED, lines);
      return { lines, counter: COUNTER_INBOXED, path, spoolError: null, reported: true };
    } catch (err) {
      this.#count(COUNTER_FAILED, lines);
      this.#report(toWire(err), `${count(lines.length, "record")} lost: the inbox could not be written`);
      return { lines, counter: COUNTER_FAILED, path: null, spoolError: err, reported: true };
    }
  }
}
