// What the worker believes about its server between requests: whether a first answer is
// still awaited (a refused connection then means "no server here": the local inbox), whether
// an outage is going on (one 'error' event per outage, not per batch), whether the server is
// believed down (new batches go straight to the spool instead of each waiting out a timeout),
// and when the spool is to be replayed, which is what probes the server again.

import { isTransient } from "../src/io/transport.js";

/** The longest wait before a down server is tried again (by replaying the spool). */
const MAX_PROBE_INTERVAL_MS = 15_000;

export class Health {
  /** True until the first request got an answer. */
  probing: boolean;
  /** Why the server is believed down (the error new batches are spooled with). */
  downReason: unknown = null;
  readonly #spoolOn: boolean;
  readonly #probeInterval: number;
  #outage = false;
  #spoolPending: boolean;
  #nextReplayAt = 0;
  #downUntil = 0;
  #triedAtClose = false;
  /** A failed attempt was reported since the server last took something. */
  #attemptReported = false;
  /** Sends have failed since the server last took something (told to onTrouble on each change). */
  #troubled = false;
  readonly #onTrouble: (troubled: boolean) => void;

  constructor(opts: {
    probing: boolean;
    spoolOn: boolean;
    spoolPending: boolean;
    retryDeadlineMs: number;
    /** Told when sends start failing and when the server takes something again. */
    onTrouble?: (troubled: boolean) => void;
  }) {
    this.#onTrouble = opts.onTrouble ?? (() => {});
    this.probing = opts.probing;
    this.#spoolOn = opts.spoolOn;
    this.#spoolPending = opts.spoolPending;
    this.#probeInterval = Math.min(MAX_PROBE_INTERVAL_MS, Math.max(1000, opts.retryDeadlineMs));
  }

  /** A closing client gives a server it believes down one more try (the first send of close()). */
  lastTryAtClose(): void {
    if (this.#triedAtClose) return;
    this.#triedAtClose = true;
    this.#downUntil = 0;
  }

  /** While true, what would be sent goes straight to the spool. */
  believedDown(): boolean {
    return this.#spoolOn && performance.now() < this.#downUntil;
  }

  /** A send (records or a file) failed for good: if the server seems gone, stop trying it until the next probe. */
  sendFailed(err: unknown): void {
    this.probing = false;
    if (isTransient(err)) {
      this.#downUntil = performance.now() + this.#probeInterval;
      this.downReason = err;
      this.#setTroubled(true);
    }
  }

  /** Something went to the spool: replay it after a probe interval (or with what waits there). */
  spooled(): void {
    if (!this.#spoolPending) this.#nextReplayAt = performance.now() + this.#probeInterval;
    this.#spoolPending = true;
  }

  /** Nothing is left in the spool. */
  spoolEmpty(): void {
    this.#spoolPending = false;
  }

  /** The server took something: the outage (if any) is over, and the spool is replayed at once. */
  recovered(): void {
    this.#downUntil = 0;
    this.#setTroubled(false);
    this.#attemptReported = false;
    if (this.#outage) {
      this.#outage = false;
      this.#nextReplayAt = 0;
    }
  }

  /** A replay failed: try again after a probe interval, and treat the server as down meanwhile if it is. */
  replayFailed(error: unknown): void {
    this.#nextReplayAt = performance.now() + this.#probeInterval;
    if (isTransient(error)) this.#downUntil = this.#nextReplayAt;
  }

  /** An attempt failed and is retried: whether it is the first since the server last took something. */
  firstFailedAttempt(): boolean {
    const first = !this.#attemptReported;
    this.#attemptReported = true;
    this.#setTroubled(true);
    return first;
  }

  #setTroubled(troubled: boolean): void {
    if (this.#troubled === troubled) return;
    this.#troubled = troubled;
    this.#onTrouble(troubled);
  }

  /** A failure to report: returns whether it starts an outage (and so deserves an 'error' event). */
  outage(): boolean {
    const first = !this.#outage;
    this.#outage = true;
    return first;
  }

  /**
   * Whether spooled fragments wait and it is time to try them (again). A closing client
   * replays only while the server answers; it does not wait out an outage.
   */
  replayDue(now: number, closing: boolean): boolean {
    if (!this.#spoolPending) return false;
    if (closing && this.#outage) {
      // One probe before going away (a single attempt while the transport is unhealthy): the
      // server may have come back since the last failure.
      if (this.#triedAtClose) return false;
      this.#triedAtClose = true;
      return true;
    }
    return now >= this.#nextReplayAt;
  }
}
