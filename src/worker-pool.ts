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
//
// A thread that dies before it loaded the worker module (a bundle without the worker file, a
// wrong `workerFile`, a worker bundle missing a dependency) is not a crash to recover from:
// piscina would start one replacement, which fails the same way, and then leave the tasks
// waiting on no thread at all (a process awaiting close() then ends with Node's exit code 13
// for an unsettled top-level await). So the pool counts thread deaths against loads (the
// worker module bumps POOL_CHANNEL_OPENS as it loads): a death not matched by a load fails the
// pool for good, destroys it, and tells its clients (onFailure), each of which keeps its own
// ring on disk from the main thread (src/rescue.ts).

import { statSync } from "node:fs";
import { resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { BroadcastChannel, type Worker } from "node:worker_threads";
import { Piscina } from "piscina";
import { randomHex } from "./options.js";
import { WorkerError } from "./shared/errors.js";
import {
  type ChannelMessage,
  POOL_CHANNEL_OPENS,
  POOL_FIRST_GONE,
  type WorkerAttachment,
  type WorkerBoot,
} from "./shared/protocol.js";

/**
 * How long attaching waits for a starting thread to open its channel, once per pool: a thread
 * loads in well under a second; one that never opens it failed to load, and its error reaches
 * the clients (this wait then only delays the second client's first log() once).
 */
const CHANNEL_WAIT_MS = 5000;

// A thread loads in tens of milliseconds (seconds on a loaded machine, or through a
// TypeScript loader). One that has not after this long is stuck in its module's evaluation
// (a workerFile that runs an app's own main loop, say): its records are kept on disk instead
// of waiting in a flush() that would never settle.
const LOAD_DEADLINE_MS = 20_000;

/** Where the worker entry is, and whether the `workerFile` option said so. */
export interface WorkerFile {
  /** A path or URL; null when it cannot be known (a CommonJS bundle has no import.meta.url). */
  file: string | null;
  explicit: boolean;
}

/** The `workerFile` option, or the worker entry next to this module (in dist/, or in the sources under tsx). */
export function workerFileFor(option: string | URL | undefined): WorkerFile {
  if (option !== undefined) return { file: option.toString(), explicit: true };
  // A CommonJS bundle (esbuild --format=cjs) replaces import.meta with an empty object.
  const here: unknown = import.meta.url;
  if (typeof here !== "string") return { file: null, explicit: false };
  const ext = here.endsWith(".ts") ? "ts" : "js";
  return { file: new URL(`../worker/index.${ext}`, here).href, explicit: false };
}

/** The file a path or file: URL names; null for another kind of URL (data:, …). */
function localPath(file: string): string | null {
  if (file.startsWith("file:")) return fileURLToPath(file);
  return /^[a-z][a-z0-9+.-]+:/i.test(file) ? null : resolve(file);
}

/** Why the worker file cannot be loaded, when that can be told without starting a thread. */
function missingFile(where: WorkerFile): string | null {
  if (where.file === null) {
    return "trackio cannot locate its worker entry here (import.meta.url is not available, as in a CommonJS bundle)";
  }
  const path = localPath(where.file);
  if (path === null) return null;
  try {
    statSync(path);
    return null;
  } catch (err) {
    const code = (err as { code?: string }).code;
    return code === "ENOENT" ? "there is no such file" : `it cannot be read (${code ?? String(err)})`;
  }
}

function failureMessage(where: WorkerFile, reason: string): string {
  const origin = where.explicit
    ? "the path given as the workerFile option"
    : "trackio's default, next to its own code: the workerFile option is not set";
  const tried = where.file === null ? "" : ` ${localPath(where.file) ?? where.file} (${origin})`;
  return `trackio's worker thread could not load${tried}: ${reason}. If your app bundles trackio, bundle its worker entry \`trackio/worker\` as a file of its own, pass that file's path or URL as the workerFile option, and put piscina's thread bootstrap \`worker.js\` beside the bundle (see "Bundlers" in trackio's README)`;
}

export class WorkerPool {
  /** null when no thread could be started at all (see `failure`). */
  readonly pool: Piscina | null;
  /** Set once the worker module cannot be loaded; the pool is then destroyed for good. */
  failure: WorkerError | null = null;
  readonly #failureListeners = new Set<() => void>();
  readonly #where: WorkerFile;
  readonly #watched = new WeakSet<Worker>();
  /** The last thread's error (or exit code) before it went: the cause of a failure. */
  #lastDeath: unknown = null;
  #deaths = 0;
  readonly #channel: BroadcastChannel;
  readonly #ctl: Int32Array;
  readonly #clients = new Map<number, WorkerAttachment>();
  readonly #firstKey: number;
  readonly #onEmpty: () => void;
  #destroyed = false;
  #waited = false;

  constructor(where: WorkerFile, first: WorkerAttachment, onEmpty: () => void) {
    this.#where = where;
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
    const missing = missingFile(where);
    if (missing !== null) {
      this.pool = null;
      this.#fail(missing, null);
      return;
    }
    this.pool = new Piscina({
      filename: where.file as string,
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
    this.pool.on("workerDestroy", () => this.#threadGone());
    this.#watchThreads();
    const deadline = setTimeout(() => {
      if (this.failure === null && !this.#destroyed && Atomics.load(this.#ctl, POOL_CHANNEL_OPENS) === 0) {
        this.#fail(`no thread loaded it within ${LOAD_DEADLINE_MS / 1000} s`, this.#lastDeath);
      }
    }, LOAD_DEADLINE_MS);
    deadline.unref();
  }

  /**
   * Call `listener` once the pool fails (in a microtask; soon if it has failed already).
   * Returns the unsubscription, for a client that closes before: a shared pool may outlive it
   * by far, and must not keep it (and its ring) reachable.
   */
  onFailure(listener: () => void): () => void {
    if (this.failure !== null) {
      queueMicrotask(listener);
      return () => {};
    }
    this.#failureListeners.add(listener);
    return () => this.#failureListeners.delete(listener);
  }

  // Keep each thread's last words: piscina reports a thread's death (workerDestroy) from its
  // own 'error' or 'exit' listener, without the error; these run before piscina's.
  #watchThreads(): void {
    for (const thread of this.pool?.threads ?? []) {
      if (this.#watched.has(thread)) continue;
      this.#watched.add(thread);
      thread.prependListener("error", (err) => {
        this.#lastDeath = err;
      });
      thread.prependListener("exit", (code) => {
        this.#lastDeath ??= `the thread exited with code ${code}`;
      });
    }
  }

  #threadGone(): void {
    if (this.#destroyed) return;
    this.#deaths++;
    if (Atomics.load(this.#ctl, POOL_CHANNEL_OPENS) >= this.#deaths) {
      // A crash after loading: piscina starts a replacement right after this event.
      this.#lastDeath = null;
      queueMicrotask(() => this.#watchThreads());
      return;
    }
    const death = this.#lastDeath;
    const reason =
      death instanceof Error
        ? `${(death as { code?: string }).code ?? death.name}: ${death.message}`
        : String(death ?? "the thread ended before loading it");
    this.#fail(reason, death);
  }

  /**
   * A task failed. If no thread ever loaded the worker module and piscina says the file has no
   * task function, the file is some other module (a wrong workerFile): the pool fails, as for
   * a file that does not load.
   */
  taskFailed(err: unknown): void {
    if (this.failure !== null || Atomics.load(this.#ctl, POOL_CHANNEL_OPENS) > 0) return;
    const message = err instanceof Error ? err.message : String(err);
    if (message.startsWith("No handler function exported from")) {
      this.#fail(`it is not trackio's worker entry (${message})`, err);
    }
  }

  /**
   * The process is exiting and the event loop will not turn again, so a thread's death could
   * not be seen: whether a thread has loaded the worker module, waiting (synchronously, at most
   * `ms`) for the first to do so. If none does, the pool fails as if its thread had died.
   */
  loadedWithin(ms: number): boolean {
    if (this.failure !== null) return false;
    if (Atomics.load(this.#ctl, POOL_CHANNEL_OPENS) > 0) return true;
    Atomics.wait(this.#ctl, POOL_CHANNEL_OPENS, 0, ms);
    if (Atomics.load(this.#ctl, POOL_CHANNEL_OPENS) > 0) return true;
    this.#fail(`no thread loaded it within ${Math.round(ms)} ms of the process exiting`, this.#lastDeath);
    return false;
  }

  // Called from within piscina's handling of the dead thread: destroying the pool now (rather
  // than after it) keeps piscina from starting a replacement. Not awaited: a thread that went
  // by 'exit' has already emitted it, so piscina's wait for it would never end.
  #fail(reason: string, cause: unknown): void {
    this.failure = new WorkerError(failureMessage(this.#where, reason), cause == null ? undefined : { cause });
    // A thread still loading when the exit hook gave up on it (loadedWithin) then leaves the
    // first client's ring to the main thread (see worker/index.ts). One that checked a moment
    // before may read it too: the server ignores the log_ids it then gets twice.
    Atomics.store(this.#ctl, POOL_FIRST_GONE, 1);
    this.#destroyed = true;
    this.#channel.close();
    // A pool without a thread was never shared (see workerFor).
    if (this.pool !== null) {
      this.#onEmpty();
      void this.pool.destroy().catch(() => {});
    }
    // Not from within piscina's handling of the thread's death.
    for (const listener of this.#failureListeners) queueMicrotask(listener);
    this.#failureListeners.clear();
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
    if (!this.#clients.delete(key) || this.failure !== null) return;
    if (key === this.#firstKey) Atomics.store(this.#ctl, POOL_FIRST_GONE, 1);
    if (this.#clients.size > 0) {
      this.#post({ op: "detach", key });
      return;
    }
    this.#destroyed = true;
    this.#onEmpty();
    this.#channel.close();
    await this.pool?.destroy();
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
  workerFile: string | URL | undefined,
  client: WorkerAttachment,
  share: boolean,
): { pool: WorkerPool; created: boolean } {
  const where = workerFileFor(workerFile);
  const key = where.file ?? "";
  const existing = share ? shared.get(key) : undefined;
  if (existing !== undefined) {
    existing.attach(client);
    return { pool: existing, created: false };
  }
  const pool: WorkerPool = new WorkerPool(where, client, () => {
    if (shared.get(key) === pool) shared.delete(key);
  });
  if (share && pool.failure === null) shared.set(key, pool);
  return { pool, created: true };
}
