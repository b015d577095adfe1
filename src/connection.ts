// One client's link to its worker thread: the (possibly shared) piscina pool, the port the
// worker posts errors and warnings on, flush/close tasks and their retries when a thread
// dies, and, when the thread cannot load at all, the main-thread rescue that keeps this
// client's records on disk instead (rescue.ts).

import { MessageChannel, type MessagePort, receiveMessageOnPort } from "node:worker_threads";
import type { Piscina } from "piscina";
import type { Producer } from "./producer.js";
import { Rescue } from "./rescue.js";
import { toWire, type WireError, WorkerError } from "./shared/errors.js";
import type { ArtifactTask, WorkerMessage, WorkerSettings, WorkerTask, WorkerTaskResult } from "./shared/protocol.js";
import type { RingLayout } from "./shared/ring.js";
import { type WorkerPool, workerFor } from "./worker-pool.js";

/** How often a client whose worker could not load checks whether to keep records on disk. */
const RESCUE_TICK_MS = 1000;

/** Tells the clients of a shared worker thread apart. */
let nextClientKey = 1;

export interface ConnectionOptions {
  workerFile: string | URL | undefined;
  sharedWorker: boolean;
  settings: WorkerSettings;
  layout: RingLayout;
  producer: Producer;
  /** A background error for the client's 'error' listeners. */
  report(error: WireError): void;
  /** Whether the client still takes records (a rescue timer is only needed then). */
  running(): boolean;
}

export class Connection {
  readonly #o: ConnectionOptions;
  readonly #key = nextClientKey++;
  readonly #artifactTasks = new Set<Promise<WorkerTaskResult>>();
  readonly #workerPool: WorkerPool;
  readonly #unlisten: () => void;
  #events: MessagePort | null = null;
  /** The worker thread's CPU time at its last answer to flush() or close(). */
  workerCpuNs: number | null = null;
  /** Set once the worker thread could not load: keeps this client's records on disk instead. */
  #rescue: Rescue | null = null;
  #rescueTimer: ReturnType<typeof setInterval> | null = null;
  /** close() has let go of the worker thread. */
  #released = false;

  constructor(options: ConnectionOptions) {
    this.#o = options;
    const { pool: workerPool, created } = workerFor(
      options.workerFile,
      { key: this.#key, settings: options.settings, layout: options.layout },
      options.sharedWorker,
    );
    this.#workerPool = workerPool;
    const pool = workerPool.pool;
    // A worker that dies is replaced by piscina; the new one starts again from the ring's
    // released position. Until then its death must not become an uncaught 'error'.
    const onError = (err: unknown) => this.#poolError(err);
    // Each worker, the first and any replacement, gets this client's event port once it is up.
    const onWorker = () => this.#attachEvents(pool as Piscina);
    const onGone = () => options.producer.clockLost();
    pool?.on("error", onError);
    pool?.on("workerCreate", onWorker);
    pool?.on("workerDestroy", onGone);
    const offFailure = workerPool.onFailure(() => this.#onWorkerFailed());
    this.#unlisten = () => {
      pool?.off("error", onError);
      pool?.off("workerCreate", onWorker);
      pool?.off("workerDestroy", onGone);
      offFailure();
    };
    // A thread that is up already has announced itself before this client listened.
    if (!created && pool !== null) this.#attachEvents(pool);
  }

  /** Whether the worker thread could not load (the records are kept on disk instead). */
  get failed(): boolean {
    return this.#workerPool.failure != null;
  }

  /** The worker's flush or close task for every record below `target`. */
  task(op: "flush" | "close", target: number): Promise<WorkerTaskResult> {
    // close() lets the artifact calls still running finish first (they use the same worker).
    if (op === "close" && this.#artifactTasks.size > 0) {
      return Promise.allSettled(this.#artifactTasks).then(() => this.#runTask({ op, key: this.#key, target }));
    }
    return this.#runTask({ op, key: this.#key, target });
  }

  /** An artifact task, with the same retries on a dead thread as flush and close. */
  artifactTask(task: ArtifactTask): Promise<WorkerTaskResult> {
    const running = this.#runTask({ ...task, key: this.#key });
    this.#artifactTasks.add(running);
    void running.finally(() => this.#artifactTasks.delete(running));
    return running;
  }

  // The worker's task function never throws, so a rejected task means its thread died. piscina
  // starts a replacement that resumes from the ring: give it the same task (a few times at most).
  // A thread that could not load at all is not replaced: the records are kept on disk instead.
  async #runTask(task: WorkerTask): Promise<WorkerTaskResult> {
    const workerPool = this.#workerPool;
    for (let attempt = 1; ; attempt++) {
      if (workerPool.pool === null || workerPool.failure !== null) return { ok: false, error: toWire(this.rescued()) };
      try {
        const result = (await workerPool.pool.run(task)) as WorkerTaskResult;
        if (typeof result.cpuNs === "number") this.workerCpuNs = result.cpuNs;
        return result;
      } catch (err) {
        workerPool.taskFailed(err);
        if (attempt >= 3 && workerPool.failure === null) return { ok: false, error: toWire(err) };
      }
    }
  }

  /** Move the overflow into the ring for the worker, or onto disk when there is no worker. */
  async drainOverflow(): Promise<void> {
    if (this.failed) {
      this.rescueNow();
      return;
    }
    await this.#o.producer.drainOverflow();
  }

  /** Whether a thread has loaded, or does within `ms` (false at once when it cannot). */
  loadedWithin(ms: number): boolean {
    return this.#workerPool.loadedWithin(ms);
  }

  /** Let go of the worker thread (the last client of a shared pool stops it). */
  async release(): Promise<void> {
    if (this.#rescueTimer !== null) clearInterval(this.#rescueTimer);
    this.#closeEvents();
    this.#unlisten();
    this.#released = true;
    await this.#workerPool.release(this.#key);
  }

  /** The pool's threads (test hooks). */
  get threads(): readonly { threadId: number; terminate(): Promise<number> }[] {
    return this.#workerPool.pool?.threads ?? [];
  }

  // Worker → main messages (background errors) come over a port of their own, unref'd so
  // that listening for errors never keeps the process alive.
  #attachEvents(pool: Piscina): void {
    this.#events?.close();
    const { port1, port2 } = new MessageChannel();
    port1.on("message", (msg: WorkerMessage) => this.#onEvent(msg));
    port1.unref();
    this.#events = port1;
    pool
      .run({ op: "events", key: this.#key, port: port2 } satisfies WorkerTask, { transferList: [port2] })
      .catch((err: unknown) => this.#poolError(err));
  }

  #onEvent(msg: WorkerMessage): void {
    if (msg.type === "error") this.#o.report(msg.error);
    else process.emitWarning(msg.message, { code: msg.code });
  }

  // Dispatch what the worker posted but the port has not delivered yet, then close the port:
  // a warning or error sent just before the worker's last answer must not be dropped.
  #closeEvents(): void {
    const port = this.#events;
    if (port === null) return;
    for (let m = receiveMessageOnPort(port); m !== undefined; m = receiveMessageOnPort(port)) {
      this.#onEvent(m.message as WorkerMessage);
    }
    port.close();
  }

  // A thread's death: a crash (piscina replaces the thread) or, when it never loaded, the
  // pool's failure, which #onWorkerFailed reports instead.
  #poolError(err: unknown): void {
    this.#workerPool.taskFailed(err);
    if (this.#workerPool.failure == null) this.#o.report(toWire(err));
  }

  // The worker thread could not load (see worker-pool.ts): this client's records are kept on
  // disk by the main thread (rescue.ts), right away, then by a timer while more arrive, and
  // at flush(), close() and exit. A close() under way reports it too (and rejects with it).
  #onWorkerFailed(): void {
    this.#o.producer.clockLost();
    if (this.#released) return;
    this.#o.report(toWire(this.rescued()));
    if (!this.#o.running()) return;
    const rescue = this.#rescue as Rescue;
    const overflow = this.#o.producer.overflow;
    this.#rescueTimer = setInterval(() => {
      if (rescue.due(overflow)) this.rescueNow();
    }, RESCUE_TICK_MS);
    this.#rescueTimer.unref();
  }

  /** Keep what waits in the ring and the overflow on disk (once the worker is known not to load). */
  rescueNow(): void {
    if (this.#rescue === null) {
      if (this.#workerPool.failure == null) return;
      this.#rescue = new Rescue(this.#o.settings, this.#o.producer.views, {
        error: (err) => this.#o.report(toWire(err)),
        warning: (message, code) => process.emitWarning(message, { code }),
      });
    }
    this.#rescue.drain(this.#o.producer.overflow);
    this.#o.producer.overflowTaken();
  }

  /** Keep what is pending on disk; the error flush(), close() and the exit hook report. */
  rescued(): WorkerError {
    this.rescueNow();
    const failure = this.#workerPool.failure as WorkerError;
    return new WorkerError(`${failure.message}. ${(this.#rescue as Rescue).describe()}`, { cause: failure.cause });
  }
}
