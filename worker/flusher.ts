// The worker's loop: read records from the ring, batch them, deliver each batch, then
// release its bytes. It runs from the moment the worker module loads, independent of
// piscina tasks and of the main thread's event loop, so it delivers while the main thread
// spins in a loop that never yields. Tasks (flush, close) only wait on it.

import type { MessagePort } from "node:worker_threads";
import { BatchBuilder } from "../src/io/batch.js";
import type { OutBatch } from "../src/io/bodies.js";
import { RecordDecoder } from "../src/io/decoder.js";
import type { MediaJob } from "../src/io/media-files.js";
import { Transport } from "../src/io/transport.js";
import { KIND_CONFIG } from "../src/shared/codec.js";
import { toWire, type WireError } from "../src/shared/errors.js";
import type { WorkerMessage, WorkerSettings, WorkerTaskResult } from "../src/shared/protocol.js";
import {
  COUNTER_REQUESTS,
  COUNTER_RETRIED,
  CTL_DONE_SEQ,
  CTL_FLUSH_SEQ,
  CTL_R,
  CTL_SPOOL_REQ,
  CTL_STATE,
  CTL_TROUBLE,
  CTL_W,
  CTL_WAKE_AT,
  type RingLayout,
  RingReader,
  RingViews,
  seqDiff,
} from "../src/shared/ring.js";
import { LogClock } from "./clock.js";
import { Delivery } from "./delivery.js";
import { Sending } from "./sending.js";
import { SystemSampler, systemSampleJson } from "./system.js";
import { threadCpuNs } from "./thread-cpu.js";
import { Webhook } from "./webhook.js";

/** Longest sleep with nothing to do; the loop also wakes on every notify. */
const IDLE_MS = 1000;
/**
 * A request body larger than this (bytes) is sent even if fewer than maxRecordsPerRequest
 * records: the server's time for a request grows with its bytes, and so does the time to
 * upload it (the transport adds that to the request's timeout, at 1 Mbit/s).
 */
const MAX_BODY_BYTES = 2 * 1024 * 1024;
/**
 * The first batch after a quiet spell (nothing waiting when the loop last slept): a burst's
 * first 128 records are read and sent as soon as they are there, so a run shows up as it
 * starts, while a steady stream is sent every maxBatch records or flushIntervalMs.
 */
const FIRST_BATCH = 128;
/**
 * Records the read-ahead encodes between two turns of the event loop (~0.8 ms of W1 records):
 * the request it runs beside is written to the socket in one of those turns (see readAhead).
 */
const READ_AHEAD_SLICE = 2048;
/** Events kept for the main thread until its port is attached. */
const MAX_QUEUED_EVENTS = 100;

/** One turn of the event loop: resolves in its check phase. */
function turn(): Promise<void> {
  return new Promise<void>((resolve) => setImmediate(resolve));
}

/** A batch between the ring and its fate. */
interface InFlight {
  batch: OutBatch;
  media: MediaJob[];
  /** Ring records behind the lines. */
  records: number;
  endPos: number;
  /** Set when an exit deadline kept these records on disk while they were being delivered. */
  kept: boolean;
  /** Where delivery is in the batch, for the exit deadline. */
  sending: Sending;
}

export class Flusher {
  readonly #s: WorkerSettings;
  readonly #views: RingViews;
  readonly #reader: RingReader;
  readonly #decoder: RecordDecoder;
  readonly #batch: BatchBuilder;
  readonly #transport: Transport;
  readonly #delivery: Delivery;
  readonly #webhook: Webhook | null;
  #firstReadAt = 0;
  /** Nothing was waiting when the loop last slept: the next batch goes at FIRST_BATCH. */
  #quiet = true;
  /** Records delivered, kept or given up on (mirrors CTL_DONE_SEQ). */
  #done: number;
  /** Every record below this must be sent without waiting for a full batch. */
  #flushTarget: number;
  #closing = false;
  #stopped: Promise<void> | null = null;
  #inFlight: InFlight | null = null;
  #waiters: { target: number; resolve: () => void }[] = [];
  #port: MessagePort | null = null;
  #queued: WorkerMessage[] = [];
  #systemTimer: ReturnType<typeof setInterval> | null = null;
  readonly #clock: LogClock;
  /** Closed: its timers stopped, so that a shared thread can forget this client. */
  #finished = false;

  constructor(settings: WorkerSettings, layout: RingLayout) {
    this.#s = settings;
    this.#views = new RingViews(layout);
    this.#reader = new RingReader(this.#views);
    const webhook = settings.webhookUrl
      ? new Webhook(settings.webhookUrl, settings.webhookMinLevel ?? null, settings.project, settings.run, (message) =>
          this.#emit({ type: "warning", message, code: "TRACKIO_WEBHOOK" }),
        )
      : null;
    this.#webhook = webhook;
    this.#decoder = new RecordDecoder(
      this.#views,
      this.#reader,
      (message) => this.#emit({ type: "warning", message, code: "TRACKIO_RESERVED_KEY" }),
      webhook === null ? null : (alert, step, time) => webhook.post(alert, step, time),
    );
    this.#batch = new BatchBuilder(settings);
    this.#clock = new LogClock(this.#views.ctl, settings.clockBase);
    const counters = this.#views.counters;
    this.#transport = new Transport(settings, {
      onRequest: () => Atomics.add(counters, COUNTER_REQUESTS, 1n),
      onRetry: (error) => {
        Atomics.add(counters, COUNTER_RETRIED, 1n);
        this.#delivery.attemptFailed(error);
      },
    });
    this.#delivery = new Delivery(settings, this.#transport, counters, {
      error: (error) => this.#emit({ type: "error", error }),
      warning: (message, code) => this.#emit({ type: "warning", message, code }),
      trouble: (troubled) => Atomics.store(this.#views.ctl, CTL_TROUBLE, troubled ? 1 : 0),
    });
    this.#done = Atomics.load(this.#views.ctl, CTL_DONE_SEQ);
    this.#flushTarget = this.#done;
  }

  start(): void {
    if (this.#finished) return;
    this.#clock.listen();
    this.#stopped = this.#loop().catch((err: unknown) => {
      // A bug, not a delivery failure: report it, and keep the records in the ring for a
      // restarted loop rather than lose them.
      this.#emit({ type: "error", error: toWire(err) });
      this.#stopped = null;
      // Not once closed: nothing waits on the loop any more.
      if (!this.#finished) setTimeout(() => this.start(), 1000);
    });
    void this.#watchExitDeadline(Atomics.load(this.#views.ctl, CTL_SPOOL_REQ));
    if (this.#s.systemMetricsMs > 0) this.#startSystemMetrics();
  }

  // System samples go out on their own, one request per interval, beside the ring's batches.
  #startSystemMetrics(): void {
    const sampler = new SystemSampler(this.#views.ctl);
    const builder = new BatchBuilder(this.#s);
    let n = 0;
    let busy = false;
    this.#systemTimer = setInterval(async () => {
      if (busy) return;
      busy = true;
      try {
        const sample = await sampler.sample();
        builder.addSystem(systemSampleJson(sample), Date.now(), `s${n++}`);
        await this.#delivery.deliver(builder.takeBatch(), this.#closing);
      } catch (err) {
        this.#emit({ type: "error", error: toWire(err) });
      } finally {
        busy = false;
      }
    }, this.#s.systemMetricsMs);
    // The worker thread is unref'd as a whole; this timer only keeps the sampler going.
  }

  /** This client's transport and settings, for the artifact tasks (worker/artifacts.ts). */
  get transport(): Transport {
    return this.#transport;
  }

  get settings(): WorkerSettings {
    return this.#s;
  }

  /** An artifact version went to the spool: replay it as spooled records are. */
  artifactSpooled(): void {
    this.#delivery.spooledElsewhere();
  }

  attach(port: MessagePort): void {
    this.#port = port;
    for (const msg of this.#queued) port.postMessage(msg);
    this.#queued = [];
  }

  /** Resolves once every record below `target` is done; reports the first unreported failure. */
  async flush(target: number): Promise<WorkerTaskResult> {
    if (seqDiff(target, this.#flushTarget) > 0) this.#flushTarget = target;
    this.#wake();
    await this.#until(target);
    return this.#result();
  }

  async close(target: number): Promise<WorkerTaskResult> {
    this.#closing = true;
    if (this.#systemTimer !== null) clearInterval(this.#systemTimer);
    const result = await this.flush(target);
    this.#wake();
    await this.#stopped;
    await this.#webhook?.settled();
    await this.#transport.close();
    this.#clock.close();
    this.#finished = true;
    Atomics.notify(this.#views.ctl, CTL_SPOOL_REQ); // ends #watchExitDeadline
    // A failure while replaying the spool during close is reported too.
    return result.ok ? this.#result() : result;
  }

  #result(): WorkerTaskResult {
    const error: WireError | null = this.#delivery.takeUnreported();
    const cpuNs = threadCpuNs();
    return error === null ? { ok: true, cpuNs } : { ok: false, error, cpuNs };
  }

  #until(target: number): Promise<void> {
    if (seqDiff(this.#done, target) >= 0) return Promise.resolve();
    return new Promise((resolve) => this.#waiters.push({ target, resolve }));
  }

  async #loop(): Promise<void> {
    const ctl = this.#views.ctl;
    for (;;) {
      this.#read();
      const n = this.#batch.records;
      if (n > 0 && this.#due(n)) {
        await this.#send();
        continue;
      }
      const closing = this.#closing || Atomics.load(ctl, CTL_STATE) !== 0;
      if (n === 0 && this.#delivery.replayDue(performance.now(), closing)) {
        await this.#delivery.replayOne();
        continue;
      }
      if (closing && n === 0 && this.#reader.drained() && this.#waiters.length === 0) return;
      await this.#sleep(n);
    }
  }

  /** Records that make a batch due now. */
  #batchSize(): number {
    return this.#quiet ? Math.min(FIRST_BATCH, this.#s.maxBatch) : this.#s.maxBatch;
  }

  #due(n: number): boolean {
    if (n >= this.#batchSize() || n >= this.#s.maxRecordsPerRequest || this.#batch.bytes >= MAX_BODY_BYTES) return true;
    // The reader stopped at a changed config that needs a request of its own.
    if (this.#batch.hasConfig && !this.#reader.drained() && this.#configWaits()) return true;
    if (performance.now() - this.#firstReadAt >= this.#s.flushIntervalMs) return true;
    if (this.#closing) return true;
    // A ring more than half full means the producer may soon wait: send now.
    const v = this.#views;
    if (((Atomics.load(v.ctl, CTL_W) - Atomics.load(v.ctl, CTL_R)) | 0) > v.capacity >> 1) return true;
    const exitTarget = Atomics.load(this.#views.ctl, CTL_FLUSH_SEQ);
    if (seqDiff(exitTarget, this.#flushTarget) > 0) this.#flushTarget = exitTarget;
    return seqDiff(this.#flushTarget, this.#done) > 0;
  }

  /** Read from the ring into the batch, at most `slice` records more; returns how many. */
  #read(slice = Number.POSITIVE_INFINITY): number {
    const before = this.#batch.records;
    // After a quiet spell, no more than the first batch: a loop that logs faster than this
    // thread reads would otherwise keep it reading until the request is full.
    const max = this.#quiet ? Math.min(this.#batchSize(), this.#s.maxRecordsPerRequest) : this.#s.maxRecordsPerRequest;
    const read = this.#decoder.readInto(this.#batch, Math.min(max, before + slice), MAX_BODY_BYTES);
    if (before === 0 && read > 0) this.#firstReadAt = performance.now();
    return read;
  }

  #configWaits(): boolean {
    const off = this.#reader.next();
    return off >= 0 && this.#views.u8[off + 4] === KIND_CONFIG;
  }

  /** Take the batch out: its lines and media files, and the ring records behind them. */
  #takeBatch(): { batch: OutBatch; media: MediaJob[]; records: number } {
    this.#batch.addConfigResend();
    const records = this.#batch.records;
    const media = this.#batch.takeMedia();
    return { batch: this.#batch.takeBatch(), media, records };
  }

  async #send(): Promise<void> {
    this.#quiet = false;
    const { batch, media, records } = this.#takeBatch();
    const flight: InFlight = { batch, media, records, endPos: this.#reader.pos, kept: false, sending: new Sending() };
    this.#inFlight = flight;
    if (batch.count > 0) {
      let settled = false;
      const delivered = this.#delivery.deliver(batch, this.#closing, flight.sending).finally(() => {
        settled = true;
      });
      // Rejections are seen by the await below; this keeps one that comes while the next
      // batch is read from counting as unhandled.
      delivered.catch(() => {});
      await this.#readAhead(flight, () => settled);
      await delivered;
    }
    // After the records that reference them, as Trackio's Python client sends them.
    if (media.length > 0 && !flight.kept) await this.#delivery.deliverMedia(media, this.#closing, () => flight.kept);
    this.#inFlight = null;
    this.#batch.recycle(batch);
    // An exit deadline kept these lines while the request ran, and released them already.
    if (!flight.kept) this.#release(flight.endPos, records);
  }

  // While the server works on one request, write the next body, so that it can go out the
  // moment the answer comes instead of after the time it takes to encode (about 3 ms of a
  // ~130 ms request of 8,192 W1 records against Trackio). In slices, each after a turn of
  // the event loop: undici writes a request on a keep-alive socket from a setImmediate of
  // its own (it first lets the idle socket report a close), queued after this one, so one
  // read of the whole body here held the request back until the body was written, and the
  // server waited those 3 ms for every request. One turn more before the first slice lets
  // that immediate go first. Stops when the request settles: the loop reads the rest then.
  async #readAhead(flight: InFlight, settled: () => boolean): Promise<void> {
    await turn();
    for (;;) {
      await turn();
      if (this.#inFlight !== flight || flight.kept || settled()) return;
      let read: number;
      try {
        read = this.#read(READ_AHEAD_SLICE);
      } catch (err) {
        // The request in flight must still be seen through and released; the loop's own
        // read meets the same record next and reports it as a loop failure does.
        this.#emit({ type: "error", error: toWire(err) });
        return;
      }
      if (read < READ_AHEAD_SLICE) return;
    }
  }

  #release(pos: number, n: number): void {
    this.#done = (this.#done + n) | 0;
    this.#reader.release(pos, n);
    this.#waiters = this.#waiters.filter((w) => {
      if (seqDiff(this.#done, w.target) < 0) return true;
      w.resolve();
      return false;
    });
  }

  /**
   * The main thread is about to exit and will not wait for HTTP any longer: keep everything
   * not yet acknowledged (the request in flight, the batch, the rest of the ring) on disk,
   * synchronously. The lines of the request in flight go to a fragment of their own, which
   * delivery removes if that request succeeds after all (worker/sending.ts).
   */
  #keepEverything(): void {
    const lines: string[] = [];
    const media: MediaJob[] = [];
    let records = 0;
    const flight = this.#inFlight;
    if (flight !== null && !flight.kept) {
      flight.kept = true;
      lines.push(...this.#delivery.keepInFlight(flight.sending));
      media.push(...flight.media);
      records += flight.records;
    }
    for (;;) {
      this.#read();
      if (this.#batch.records === 0) break;
      const batch = this.#takeBatch();
      lines.push(...batch.batch.lines());
      media.push(...batch.media);
      records += batch.records;
    }
    this.#delivery.keepNow(lines);
    this.#delivery.keepMediaNow(media);
    if (records > 0) this.#release(this.#reader.pos, records);
  }

  async #watchExitDeadline(seen: number): Promise<void> {
    const ctl = this.#views.ctl;
    const wait = Atomics.waitAsync(ctl, CTL_SPOOL_REQ, seen);
    if (wait.async) await wait.value;
    // The process is exiting: from now on, what reaches the ring (the main thread moves its
    // overflow in as space frees) is kept on disk as it comes, until the thread ends.
    while (!this.#finished) {
      const published = Atomics.load(ctl, CTL_W);
      this.#keepEverything();
      const next = Atomics.waitAsync(ctl, CTL_W, published, 20);
      if (next.async) await next.value;
    }
  }

  async #sleep(n: number): Promise<void> {
    const ctl = this.#views.ctl;
    const timeout = n > 0 ? Math.max(0, this.#firstReadAt + this.#s.flushIntervalMs - performance.now()) : IDLE_MS;
    // Ask the producer for a notify when the first record arrives (idle) or when a full
    // batch is waiting; records in between cost the producer one load and nothing more.
    if (n === 0) this.#quiet = true;
    const target = this.#done + (n === 0 ? 1 : this.#batchSize());
    const wakeAt = (target + 1) | 0;
    Atomics.store(ctl, CTL_WAKE_AT, wakeAt === 0 ? 1 : wakeAt);
    const seen = Atomics.load(ctl, CTL_W);
    if (this.#reader.pos !== seen) {
      Atomics.store(ctl, CTL_WAKE_AT, 0);
      return;
    }
    const wait = Atomics.waitAsync(ctl, CTL_W, seen, timeout);
    if (wait.async) {
      // On Node 20 a pending waitAsync alone may not wake an idle event loop; a timer does.
      const timer = setTimeout(() => this.#wake(), timeout + 5);
      await wait.value;
      clearTimeout(timer);
    }
    Atomics.store(ctl, CTL_WAKE_AT, 0);
  }

  #wake(): void {
    Atomics.notify(this.#views.ctl, CTL_W);
  }

  #emit(msg: WorkerMessage): void {
    if (this.#port !== null) this.#port.postMessage(msg);
    else if (this.#queued.length < MAX_QUEUED_EVENTS) this.#queued.push(msg);
  }
}
