// The worker's loop: read records from the ring, batch them, send each batch, then release
// its bytes. It runs from the moment the worker module loads, independent of piscina tasks
// and of the main thread's event loop, so it delivers while the main thread spins in a loop
// that never yields. Tasks (flush, close) only wait on it.

import type { MessagePort } from "node:worker_threads";
import {
  jsonMetricsText,
  KeyTableReader,
  KIND_NUMERIC,
  numericMetricsJson,
  type RecordView,
  readRecord,
} from "../src/codec.js";
import { toWire, type WireError } from "../src/errors.js";
import type { WorkerSettings } from "../src/options.js";
import {
  COUNTER_FAILED,
  COUNTER_REQUESTS,
  COUNTER_RETRIED,
  COUNTER_SENT,
  CTL_DONE_SEQ,
  CTL_FLUSH_SEQ,
  CTL_KEYS_LEN,
  CTL_STATE,
  CTL_W,
  CTL_WAKE_AT,
  type RingLayout,
  RingReader,
  RingViews,
} from "../src/ring.js";
import type { WorkerMessage, WorkerTaskResult } from "../src/tasks.js";
import { BatchBuilder, renameReservedKeys, safeKey } from "./batch.js";
import { Transport } from "./transport.js";

/** Longest sleep with nothing to do; the loop also wakes on every notify. */
const IDLE_MS = 1000;
/** A request body larger than this is sent even if fewer than maxRecordsPerRequest records. */
const MAX_BODY_CHARS = 8 * 1024 * 1024;
/** Events kept for the main thread until its port is attached. */
const MAX_QUEUED_EVENTS = 100;

function diff(a: number, b: number): number {
  return (a - b) | 0;
}

export class Flusher {
  readonly #s: WorkerSettings;
  readonly #views: RingViews;
  readonly #reader: RingReader;
  readonly #keys: KeyTableReader;
  readonly #keyJson: string[] = [];
  readonly #batch: BatchBuilder;
  readonly #transport: Transport;
  readonly #record: RecordView = { size: 0, kind: 0, step: 0, time: 0, seq: 0 };
  #firstReadAt = 0;
  /** Records acknowledged or given up on (mirrors CTL_DONE_SEQ). */
  #done: number;
  /** Every record below this must be sent without waiting for a full batch. */
  #flushTarget: number;
  #closing = false;
  #stopped: Promise<void> | null = null;
  #waiters: { target: number; resolve: () => void }[] = [];
  #unreported: WireError | null = null;
  #port: MessagePort | null = null;
  #queued: WorkerMessage[] = [];
  #warnedKeys = new Set<string>();

  constructor(settings: WorkerSettings, layout: RingLayout) {
    this.#s = settings;
    this.#views = new RingViews(layout);
    this.#reader = new RingReader(this.#views);
    this.#keys = new KeyTableReader(this.#views.keys, this.#views.ctl, CTL_KEYS_LEN);
    this.#batch = new BatchBuilder(settings);
    const counters = this.#views.counters;
    this.#transport = new Transport(settings, {
      onRequest: () => Atomics.add(counters, COUNTER_REQUESTS, 1n),
      onRetry: () => Atomics.add(counters, COUNTER_RETRIED, 1n),
    });
    this.#done = Atomics.load(this.#views.ctl, CTL_DONE_SEQ);
    this.#flushTarget = this.#done;
  }

  start(): void {
    this.#stopped = this.#loop().catch((err: unknown) => {
      // A bug, not a delivery failure: report it, and keep the records in the ring for a
      // restarted loop rather than lose them.
      this.#emit({ type: "error", error: toWire(err) });
      this.#stopped = null;
      setTimeout(() => this.start(), 1000);
    });
  }

  attach(port: MessagePort): void {
    this.#port = port;
    for (const msg of this.#queued) port.postMessage(msg);
    this.#queued = [];
  }

  /** Resolves once every record below `target` is done; reports the first unreported failure. */
  async flush(target: number): Promise<WorkerTaskResult> {
    if (diff(target, this.#flushTarget) > 0) this.#flushTarget = target;
    this.#wake();
    await this.#until(target);
    return this.#result();
  }

  async close(target: number): Promise<WorkerTaskResult> {
    this.#closing = true;
    const result = await this.flush(target);
    this.#wake();
    await this.#stopped;
    await this.#transport.close();
    return result;
  }

  #result(): WorkerTaskResult {
    const error = this.#unreported;
    this.#unreported = null;
    return error === null ? { ok: true } : { ok: false, error };
  }

  #until(target: number): Promise<void> {
    if (diff(this.#done, target) >= 0) return Promise.resolve();
    return new Promise((resolve) => this.#waiters.push({ target, resolve }));
  }

  async #loop(): Promise<void> {
    const ctl = this.#views.ctl;
    for (;;) {
      this.#read();
      const n = this.#batch.count;
      if (n > 0 && this.#due(n)) {
        await this.#send();
        continue;
      }
      const closing = this.#closing || Atomics.load(ctl, CTL_STATE) !== 0;
      if (closing && n === 0 && this.#reader.drained() && this.#waiters.length === 0) return;
      await this.#sleep(n);
    }
  }

  #due(n: number): boolean {
    if (n >= this.#s.maxBatch || n >= this.#s.maxRecordsPerRequest || this.#batch.bytes >= MAX_BODY_CHARS) return true;
    if (performance.now() - this.#firstReadAt >= this.#s.flushIntervalMs) return true;
    if (this.#closing) return true;
    const exitTarget = Atomics.load(this.#views.ctl, CTL_FLUSH_SEQ);
    if (diff(exitTarget, this.#flushTarget) > 0) this.#flushTarget = exitTarget;
    return diff(this.#flushTarget, this.#done) > 0;
  }

  #read(): void {
    const v = this.#views;
    const batch = this.#batch;
    const rec = this.#record;
    while (batch.count < this.#s.maxRecordsPerRequest && batch.bytes < MAX_BODY_CHARS) {
      const off = this.#reader.next();
      if (off < 0) return;
      readRecord(v, off, rec);
      let metrics: string;
      if (rec.kind === KIND_NUMERIC) {
        // The producer wrote every key of this record to the table before publishing it.
        if (this.#keys.refresh() > this.#keyJson.length) this.#syncKeys();
        metrics = numericMetricsJson(v, off, this.#keyJson);
      } else {
        metrics = renameReservedKeys(jsonMetricsText(v, off), (key) => this.#warnRenamed(key));
      }
      if (batch.count === 0) this.#firstReadAt = performance.now();
      batch.add(metrics, rec.step, rec.seq);
      this.#reader.advance(rec.size);
    }
  }

  #syncKeys(): void {
    const names = this.#keys.names;
    for (let i = this.#keyJson.length; i < names.length; i++) {
      const safe = safeKey(names[i]);
      if (safe !== names[i]) this.#warnRenamed(names[i]);
      this.#keyJson.push(JSON.stringify(safe));
    }
  }

  #warnRenamed(key: string): void {
    if (this.#warnedKeys.has(key)) return;
    this.#warnedKeys.add(key);
    this.#emit({
      type: "warning",
      message: `metric name ${JSON.stringify(key)} is reserved by Trackio; it is stored as ${JSON.stringify(`__${key}`)}`,
    });
  }

  async #send(): Promise<void> {
    const n = this.#batch.count;
    const endPos = this.#reader.pos;
    const counters = this.#views.counters;
    try {
      await this.#transport.call("bulk_log", this.#batch.body(this.#transport.hfTokenJson));
      Atomics.add(counters, COUNTER_SENT, BigInt(n));
    } catch (err) {
      Atomics.add(counters, COUNTER_FAILED, BigInt(n));
      const error = toWire(err);
      error.message = `${n} records not delivered: ${error.message}`;
      if (this.#unreported === null) this.#unreported = error;
      this.#emit({ type: "error", error });
    }
    this.#batch.reset();
    this.#done = (this.#done + n) | 0;
    this.#reader.release(endPos, n);
    this.#waiters = this.#waiters.filter((w) => {
      if (diff(this.#done, w.target) < 0) return true;
      w.resolve();
      return false;
    });
  }

  async #sleep(n: number): Promise<void> {
    const ctl = this.#views.ctl;
    const timeout = n > 0 ? Math.max(0, this.#firstReadAt + this.#s.flushIntervalMs - performance.now()) : IDLE_MS;
    // Ask the producer for a notify when the first record arrives (idle) or when a full
    // batch is waiting; records in between cost the producer one load and nothing more.
    const target = this.#done + (n === 0 ? 1 : this.#s.maxBatch);
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
