// One worker thread for all the clients of a process (several runs, several projects), each
// with its own ring, unless a client asks for a thread of its own (`sharedWorker: false`).
// A thread costs a V8 isolate (about 10 MB and tens of ms to start); a flusher within one
// costs a ring and a few timers.
//
// How a ring reaches the thread matters for a loop that never yields: piscina dispatches
// tasks from a microtask, so a task posted during such a loop waits for it. So the first
// client's ring goes in `workerData` (the thread starts on it as it loads), and later rings
// go over a BroadcastChannel, which delivers to the worker's thread without the main thread's
// event loop turning. The worker opens that channel as it loads and counts the opening in a
// shared word, which a client that attaches waits for (once, bounded) so that its message
// cannot arrive before the channel exists. A replacement thread (after a crash) says hello on
// the channel and is sent every live client again.

import { BroadcastChannel } from "node:worker_threads";
import { Piscina } from "piscina";
import { randomHex } from "./options.js";
import type { ChannelMessage, WorkerAttachment, WorkerBoot } from "./tasks.js";

/** pool control words */
const POOL_CHANNEL_OPENS = 0; // channels the worker threads opened so far
const POOL_FIRST_GONE = 1; // 1 once the client in workerData has closed: replacements skip it
/**
 * How long attaching waits for a starting thread to open its channel, once per pool: a thread
 * loads in well under a second; one that never opens it failed to load, and its error reaches
 * the clients (this wait then only delays the second client's first log() once).
 */
const CHANNEL_WAIT_MS = 5000;

export class WorkerPool {
  readonly pool: Piscina;
  readonly #channel: BroadcastChannel;
  readonly #ctl: Int32Array;
  readonly #clients = new Map<number, WorkerAttachment>();
  readonly #firstKey: number;
  readonly #onEmpty: () => void;
  #destroyed = false;
  #waited = false;

  constructor(file: string, first: WorkerAttachment, onEmpty: () => void) {
    const channelName = `trackio:${process.pid}:${randomHex(8)}`;
    const ctlBuffer = new SharedArrayBuffer(16);
    this.#ctl = new Int32Array(ctlBuffer);
    this.#firstKey = first.key;
    this.#onEmpty = onEmpty;
    this.#clients.set(first.key, first);
    this.#channel = new BroadcastChannel(channelName);
    this.#channel.unref();
    this.#channel.onmessage = (event) => {
      if ((event as { data: ChannelMessage }).data.op !== "hello") return;
      for (const client of this.#clients.values()) this.#post({ op: "attach", ...client });
    };
    this.pool = new Piscina({
      filename: file,
      minThreads: 1,
      maxThreads: 1,
      idleTimeout: Number.POSITIVE_INFINITY,
      // The worker runs its own loop between tasks (timers, sockets): piscina must not park
      // its thread in Atomics.wait while no task runs.
      atomics: "disabled",
      // flush and close tasks wait on the loops; several per client may be outstanding.
      concurrentTasksPerWorker: 1024,
      workerData: { first, channel: channelName, ctl: ctlBuffer } satisfies WorkerBoot,
    });
    // Each client listens for the thread's errors and replacements.
    this.pool.setMaxListeners(0);
    // Clients report the thread's errors while they run; this keeps one that comes after the
    // last client left (piscina's late answer to a task cut short by destroy()) from becoming
    // an uncaught 'error'.
    this.pool.on("error", () => {});
  }

  get clients(): number {
    return this.#clients.size;
  }

  /** Hand another client's ring to the thread. */
  attach(client: WorkerAttachment): void {
    this.#clients.set(client.key, client);
    // Only while the first thread is still loading (a client made right after another). If
    // the wait runs out, the thread's hello (once the main thread's loop turns) sends the ring.
    if (!this.#waited && Atomics.load(this.#ctl, POOL_CHANNEL_OPENS) === 0) {
      this.#waited = true;
      Atomics.wait(this.#ctl, POOL_CHANNEL_OPENS, 0, CHANNEL_WAIT_MS);
    }
    this.#post({ op: "attach", ...client });
  }

  /** The client closed: the thread drops its flusher; the last one out stops the thread. */
  async release(key: number): Promise<void> {
    if (!this.#clients.delete(key)) return;
    if (key === this.#firstKey) Atomics.store(this.#ctl, POOL_FIRST_GONE, 1);
    if (this.#clients.size > 0) {
      this.#post({ op: "detach", key });
      return;
    }
    this.#destroyed = true;
    this.#onEmpty();
    this.#channel.close();
    await this.pool.destroy();
  }

  #post(message: ChannelMessage): void {
    if (!this.#destroyed) this.#channel.postMessage(message);
  }
}

const shared = new Map<string, WorkerPool>();

/**
 * The thread for a new client: the process's shared one for `file` (started if need be), or
 * one of its own. Returns whether the pool is new (its `workerCreate` event is still to come).
 */
export function workerFor(
  file: string,
  client: WorkerAttachment,
  share: boolean,
): { pool: WorkerPool; created: boolean } {
  const existing = share ? shared.get(file) : undefined;
  if (existing !== undefined) {
    existing.attach(client);
    return { pool: existing, created: false };
  }
  const pool = new WorkerPool(file, client, () => {
    if (shared.get(file) === pool) shared.delete(file);
  });
  if (share) shared.set(file, pool);
  return { pool, created: true };
}
