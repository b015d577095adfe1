// The public facade. Everything log() does happens on the caller's thread in well under a
// microsecond: check the arguments, encode the record into the shared ring, publish it.
// Batching, HTTP, retries and waiting live in the worker (worker/).

import { randomUUID } from "node:crypto";
import { EventEmitter } from "node:events";
import { MessageChannel, type MessagePort, receiveMessageOnPort } from "node:worker_threads";
import type { Piscina } from "piscina";
import { alertLine } from "./alert-line.js";
import {
  checkTime,
  MAX_RECORD_SHARE,
  noProject,
  notPlainMetrics,
  shown,
  tooLarge,
  tooLargeMetric,
} from "./arguments.js";
import { type ExitParticipant, registerExit, unregisterExit } from "./exit.js";
import {
  type ClientOptions,
  canonicalProjectName,
  checkProjectName,
  generateRunName,
  parseServerUrl,
  type ResolvedOptions,
  randomHex,
  resolveOptions,
} from "./options.js";
import { Overflow } from "./overflow.js";
import { spoolDirFor } from "./paths.js";
import { Rescue } from "./rescue.js";
import { type ResolvedRun, resolveRun } from "./resume.js";
import {
  jsonSize,
  KeyTableWriter,
  KIND_ALERT,
  KIND_CONFIG,
  KIND_JSON,
  type MediaDesc,
  mediaSize,
  numericSize,
  type Region,
  writeJson,
  writeMedia,
  writeNumeric,
} from "./shared/codec.js";
import { ClosedError, fromWire, InvalidArgError, toWire, type WireError, WorkerError } from "./shared/errors.js";
import type { WorkerMessage, WorkerSettings, WorkerTask, WorkerTaskResult } from "./shared/protocol.js";
import {
  CTL_CLOCK,
  CTL_DONE_SEQ,
  CTL_FLUSH_SEQ,
  CTL_KEYS_LEN,
  CTL_SPOOL_REQ,
  CTL_STATE,
  createRing,
  RingViews,
  RingWriter,
} from "./shared/ring.js";
import { type ClientStats, publishMainThreadStats, readStats, summaryLine } from "./stats.js";
import { bindFilePath, boundFilePath, type FileMedia } from "./values/file-media.js";
import { checkWellFormed, isPlainObject, metricsToJson } from "./values/json.js";
import type { Metrics } from "./values/types.js";
import { type WorkerPool, workerFor } from "./worker-pool.js";

export type { ClientOptions } from "./options.js";
export type { ClientStats, MediaStats } from "./stats.js";

/** What `client.alert()` takes. */
export interface AlertOptions {
  title: string;
  text?: string | null;
  level?: "info" | "warn" | "error";
  step?: number;
}

/** A media value of the record log() is encoding, ready to be written after it. */
interface PendingMedia {
  desc: string;
  descLength: number;
  payload: Uint8Array | null;
  size: number;
}

const KEY_TABLE_BYTES = 256 * 1024;
const INITIAL_SCRATCH = 64;

/** How often a client whose worker could not load checks whether to keep records on disk. */
const RESCUE_TICK_MS = 1000;

const STATE_NEW = 0;
const STATE_RUNNING = 1;
const STATE_CLOSED = 2;

/** Tells the clients of a shared worker thread apart. */
let nextClientKey = 1;

function signedDiff(a: number, b: number): number {
  return (a - b) | 0;
}

export class Client extends EventEmitter implements ExitParticipant {
  #opts: ResolvedOptions;
  #state = STATE_NEW;
  #settings: WorkerSettings | null = null;
  #views: RingViews | null = null;
  #writer: RingWriter | null = null;
  #keys: KeyTableWriter | null = null;
  #overflow: Overflow | null = null;
  #workerPool: WorkerPool | null = null;
  #workerKey = 0;
  #unlisten: (() => void) | null = null;
  #events: MessagePort | null = null;
  #maxRecordBytes = 0;
  #nextStep = 0;
  #seq = 0;
  /** Records from log() and alert() (config changes take a sequence number but are not counted). */
  #logged = 0;
  /** The worker thread's CPU time at its last answer to flush() or close(). */
  #workerCpuNs: number | null = null;
  #clockBase = 0;
  #overflowEmpty = true;
  #slowOff = 0;
  #values: Float64Array<ArrayBuffer> = new Float64Array(INITIAL_SCRATCH);
  #ids: Uint16Array<ArrayBuffer> = new Uint16Array(INITIAL_SCRATCH);
  #warnedClosed = false;
  #closing: Promise<void> | null = null;
  #exitFlush: Promise<void> | null = null;
  #stopMainStats: (() => void) | null = null;
  #resumed: ResolvedRun | null = null;
  /** `<canonical project>/<run>/`: where this run's media files go on the server. */
  #mediaPrefix = "";
  #mediaStep = 0;
  #mediaLogged = 0;
  readonly #media: FileMedia[] = [];
  readonly #mediaRecords: PendingMedia[] = [];
  readonly #onMedia = (media: FileMedia, key: string) => this.#addMedia(media, key);
  /** Set once the worker thread could not load: keeps this client's records on disk instead. */
  #rescue: Rescue | null = null;
  #rescueTimer: ReturnType<typeof setInterval> | null = null;
  /** close() has let go of the worker thread. */
  #released = false;

  constructor(options: ClientOptions = {}) {
    super();
    this.#opts = resolveOptions(options);
  }

  /**
   * A client that is ready to log: with `resume`, the run has been looked up on the server
   * (its id reused and the automatic step continued); the worker is started.
   */
  static async init(options: ClientOptions = {}): Promise<Client> {
    return new Client(options).ready();
  }

  /**
   * Resolve `resume` against the server and start the worker. Rejects with
   * ERR_TRACKIO_INVALID_ARG when `resume` is "must" and the run does not exist, or "never"
   * and it does. Without `resume` it only starts the worker early.
   */
  async ready(): Promise<this> {
    if (this.#state !== STATE_NEW) return this;
    const o = this.#opts;
    if (o.resume !== undefined) {
      if (o.project === undefined) throw noProject("ready()");
      if (o.run === undefined) throw new InvalidArgError(`resume: "${o.resume}" needs a run name`);
      this.#resumed = await resolveRun(this.#settingsFor(o.project, o.run), o.resume);
      if (this.#state !== STATE_NEW) return this;
    }
    this.#start();
    return this;
  }

  /** Use another server. Only before the first log(). */
  withBaseUrl(url: string): this {
    this.#assertNotStarted("withBaseUrl");
    const parsed = parseServerUrl(url);
    // A URL the user chose is never replaced by the local inbox.
    this.#opts = {
      ...this.#opts,
      ...parsed,
      writeToken: parsed.writeToken ?? this.#opts.writeToken,
      fallbackInbox: null,
    };
    return this;
  }

  /** Log to another project. Only before the first log(). */
  withProject(project: string): this {
    this.#assertNotStarted("withProject");
    if (typeof project !== "string" || project === "")
      throw new InvalidArgError("withProject() needs a non-empty string");
    checkWellFormed(project, "withProject()");
    this.#opts = { ...this.#opts, project };
    return this;
  }

  /** Log under another run name. Only before the first log(). */
  withRun(run: string): this {
    this.#assertNotStarted("withRun");
    if (typeof run !== "string" || run === "") throw new InvalidArgError("withRun() needs a non-empty string");
    checkWellFormed(run, "withRun()");
    this.#opts = { ...this.#opts, run };
    return this;
  }

  /** The project, once known. */
  get project(): string | undefined {
    return this.#settings?.project ?? this.#opts.project;
  }

  /** The run name (generated at the first log() when none was given). */
  get run(): string | undefined {
    return this.#settings?.run ?? this.#opts.run;
  }

  /** The run's identity on the server, fixed at the first log(). */
  get runId(): string | undefined {
    return this.#settings?.runId;
  }

  /**
   * The step the next `log()` without one gets: one past the highest step logged so far (0
   * first; a resumed run continues after the server's last).
   */
  get nextStep(): number {
    return this.#nextStep;
  }

  /** The server URL, without credentials. */
  get url(): string {
    return this.#opts.displayUrl;
  }

  /** The dashboard URL for this client's project. */
  get dashboardUrl(): string {
    const project = this.project;
    return project === undefined ? this.url : `${this.url}?project=${encodeURIComponent(project)}`;
  }

  /**
   * Queue one record. Synchronous, never waits on the network.
   * @param metrics metric name → value: numbers (NaN and ±Infinity included), strings, booleans, null, arrays, plain objects
   * @param step non-negative integer; default: one past the highest step logged so far (0 first)
   * @param timestamp when the values were observed (Date or ms since the epoch); default: now
   */
  log(metrics: Metrics, step?: number, timestamp?: number | Date): void {
    if (this.#state !== STATE_RUNNING && !this.#start()) return;
    // A Map, Set, Date or class instance would enumerate nothing (stored as an empty row) or
    // keys the user did not mean; an object made with Object.create(proto) would log
    // inherited keys. Only plain objects are metrics, on both encoding paths.
    const proto = typeof metrics === "object" && metrics !== null ? Object.getPrototypeOf(metrics) : undefined;
    if (proto !== Object.prototype && proto !== null) throw notPlainMetrics(metrics);
    let s: number;
    if (step === undefined) {
      s = this.#nextStep;
    } else {
      if (!Number.isSafeInteger(step) || step < 0) {
        throw new InvalidArgError(`log(): step must be a non-negative integer, got ${shown(step)}`);
      }
      s = step;
    }
    let time: number;
    if (timestamp === undefined) {
      const clock = Atomics.load((this.#views as RingViews).ctl, CTL_CLOCK);
      time = clock !== 0 ? this.#clockBase + clock - 1 : Date.now();
    } else {
      time = checkTime(timestamp);
    }

    // Numeric fast path: collect values and key ids in scratch arrays, then one copy.
    const keys = this.#keys as KeyTableWriter;
    let values = this.#values;
    let ids = this.#ids;
    let n = 0;
    for (const k in metrics) {
      let v: unknown;
      try {
        v = metrics[k];
      } catch (err) {
        throw new InvalidArgError(
          `log(): reading metric ${JSON.stringify(k)} threw: ${err instanceof Error ? err.message : String(err)}`,
          { cause: err },
        );
      }
      if (typeof v !== "number") {
        n = -1;
        break;
      }
      const id = keys.idAt(n, k);
      if (id < 0) {
        n = -1;
        break;
      }
      if (n === values.length) {
        values = this.#values = growF64(values);
        ids = this.#ids = growU16(ids);
      }
      values[n] = v;
      ids[n] = id;
      n++;
    }

    const writer = this.#writer as RingWriter;
    if (n >= 0) {
      const size = numericSize(n);
      let off = this.#overflowEmpty ? writer.reserve(size) : -1;
      if (off >= 0) {
        writeNumeric(writer.views, off, s, time, this.#seq, n, values, ids);
        writer.commit(size);
      } else {
        if (size > this.#maxRecordBytes) throw tooLarge(size, this.#maxRecordBytes);
        const region = this.#reserveSlow(size);
        off = this.#slowOff;
        writeNumeric(region, off, s, time, this.#seq, n, values, ids);
        this.#commitSlow(size, region);
      }
    } else {
      this.#mediaStep = s;
      try {
        const text = metricsToJson(metrics, "log()", this.#onMedia);
        const byteLength = this.#checkedLength(text, metrics);
        // The files first: if the ring and the overflow are full and this call throws
        // ERR_TRACKIO_OVERFLOW, the record is then not queued at all (at worst, files no
        // record references are stored), never queued with files that will not follow.
        if (this.#mediaRecords.length > 0) this.#writeMedia(s, time);
        this.#writeJsonRecord(KIND_JSON, s, time, text, byteLength);
      } finally {
        if (this.#media.length > 0) this.#unbindMedia();
      }
    }
    this.#seq++;
    this.#logged++;
    if (s >= this.#nextStep) this.#nextStep = s + 1;
  }

  // The UTF-8 length of a JSON-text record's text, once its size is known to fit (a record
  // larger than a quarter of the ring is refused rather than stall it). For a log() record,
  // the refusal names the metric that made it too large.
  #checkedLength(text: string, metrics?: Metrics): number {
    const byteLength = Buffer.byteLength(text);
    const size = jsonSize(byteLength);
    if (size > this.#maxRecordBytes) {
      if (metrics === undefined) throw tooLarge(size, this.#maxRecordBytes);
      throw tooLargeMetric(metrics, size, this.#maxRecordBytes);
    }
    return byteLength;
  }

  // A metrics (JSON), alert or config record, off the fast path, at the current sequence number.
  #writeJsonRecord(kind: number, step: number, time: number, text: string, byteLength: number): void {
    const size = jsonSize(byteLength);
    const region = this.#reserveSlow(size);
    writeJson(region, this.#slowOff, step, time, this.#seq, text, byteLength, kind);
    this.#commitSlow(size, region);
  }

  // A media value found while encoding a record: name its file (as Python names it, a uuid
  // under the run's step directory) and prepare the record that carries its bytes, checking
  // its size before anything of this log() call is written.
  #addMedia(media: FileMedia, key: string): void {
    if (boundFilePath(media) !== null) return; // the same object twice in one record: one file
    const file = `${this.#mediaPrefix}${this.#mediaStep}/${randomUUID()}.${media.ext}`;
    bindFilePath(media, file);
    this.#media.push(media);
    const source = media.source;
    const payload = source.src === "path" ? null : source.bytes;
    const desc: MediaDesc = { type: media.type, file, src: source.src, n: payload === null ? 0 : payload.length };
    if (source.src === "path") Object.assign(desc, { path: source.path, size: source.size, mtimeMs: source.mtimeMs });
    else if (source.src === "pixels")
      Object.assign(desc, { width: source.width, height: source.height, channels: source.channels });
    else if (source.src === "samples")
      Object.assign(desc, { sampleRate: source.sampleRate, channels: source.channels, dtype: source.dtype });
    if (media.type === "html") desc.inject = (media as FileMedia & { inject: boolean }).inject;
    const text = JSON.stringify(desc);
    const descLength = Buffer.byteLength(text);
    const size = mediaSize(descLength, desc.n);
    if (size > this.#maxRecordBytes) {
      throw tooLarge(
        size,
        this.#maxRecordBytes,
        `the ${media.constructor.name} in metric ${JSON.stringify(key)}, a record`,
        "pass a file path instead (the worker reads the file), or raise ringBytes",
      );
    }
    this.#mediaRecords.push({ desc: text, descLength, payload, size });
  }

  // Each file record takes a sequence number but is not a logged record. The worker still
  // sends the row before the files of the same batch, as Trackio's Python client does.
  #writeMedia(step: number, time: number): void {
    const records = this.#mediaRecords;
    for (let i = 0; i < records.length; i++) {
      const m = records[i];
      const region = this.#reserveSlow(m.size);
      writeMedia(region, this.#slowOff, step, time, this.#seq, m.desc, m.descLength, m.payload);
      this.#commitSlow(m.size, region);
      this.#seq++;
      this.#mediaLogged++;
    }
  }

  #unbindMedia(): void {
    for (const m of this.#media) bindFilePath(m, null);
    this.#media.length = 0;
    this.#mediaRecords.length = 0;
  }

  // Room for a record off the fast path: in the ring unless it is full or older records still
  // wait in the overflow (they must reach the worker first, to keep the order). The offset
  // goes to #slowOff, so that nothing is allocated per call.
  #reserveSlow(size: number): Region {
    const overflow = this.#overflow as Overflow;
    const writer = this.#writer as RingWriter;
    if (overflow.empty || overflow.moveToRing()) {
      const off = writer.reserve(size);
      if (off >= 0) {
        this.#slowOff = off;
        return writer.views;
      }
    }
    const region = overflow.reserve(size);
    this.#slowOff = overflow.reserveOffset;
    return region;
  }

  #commitSlow(size: number, region: Region): void {
    const overflow = this.#overflow as Overflow;
    if (region === (this.#writer as RingWriter).views) (this.#writer as RingWriter).commit(size);
    else overflow.commit(size);
    this.#overflowEmpty = overflow.empty;
  }

  /**
   * Raise an alert, shown in the dashboard's alerts panel (Trackio's `trackio.alert`).
   * Queued like a record: synchronous, never waits on the network.
   * @param alert.title short summary (required)
   * @param alert.text details
   * @param alert.level "info", "warn" (default) or "error"
   * @param alert.step default: the step of the latest record (0 before any)
   */
  alert(alert: AlertOptions): void {
    if (this.#state !== STATE_RUNNING && !this.#start()) return;
    if (typeof alert !== "object" || alert === null)
      throw new InvalidArgError("alert(): pass { title, text?, level? }");
    const { title, text, level = "warn", step } = alert;
    if (typeof title !== "string" || title === "")
      throw new InvalidArgError("alert(): title must be a non-empty string");
    if (text !== undefined && text !== null && typeof text !== "string") {
      throw new InvalidArgError("alert(): text must be a string");
    }
    checkWellFormed(title, "alert(): title");
    if (typeof text === "string") checkWellFormed(text, "alert(): text");
    if (level !== "info" && level !== "warn" && level !== "error") {
      throw new InvalidArgError(`alert(): level must be "info", "warn" or "error", got ${JSON.stringify(level)}`);
    }
    if (step !== undefined && (!Number.isSafeInteger(step) || step < 0)) {
      throw new InvalidArgError(`alert(): step must be a non-negative integer, got ${shown(step)}`);
    }
    const payload = JSON.stringify({ title, text: text ?? null, level });
    const byteLength = this.#checkedLength(payload);
    const alertStep = step ?? Math.max(this.#nextStep - 1, 0);
    this.#writeJsonRecord(KIND_ALERT, alertStep, Date.now(), payload, byteLength);
    this.#seq++;
    this.#logged++;
    if (!this.#opts.quiet) process.stderr.write(`${alertLine(level, title, text, alertStep)}\n`);
  }

  /**
   * Change the run's config (hyperparameters): `update` is merged into it, and the whole
   * config is stored with the run, replacing the previous one, as Trackio stores configs.
   * It travels with the next record (or, at the next send, with the latest one again).
   */
  config(update: Record<string, unknown>): void {
    if (typeof update !== "object" || update === null || !isPlainObject(update)) {
      throw new InvalidArgError("config(): pass a plain object");
    }
    const merged = { ...(JSON.parse(this.#opts.configJson) as Record<string, unknown>) };
    for (const [key, value] of Object.entries(update)) {
      if (key.startsWith("_")) {
        throw new InvalidArgError(`config(): key ${JSON.stringify(key)} starts with "_", which Trackio reserves`);
      }
      merged[key] = value;
    }
    const text = metricsToJson(merged, "config()");
    this.#opts = { ...this.#opts, configJson: text };
    if (this.#state !== STATE_RUNNING) return;
    this.#writeJsonRecord(KIND_CONFIG, 0, Date.now(), text, this.#checkedLength(text));
    this.#seq++;
  }

  /**
   * Resolves once every record logged before the call is stored by the server; rejects with
   * the first delivery error since the previous flush.
   */
  async flush(): Promise<void> {
    if (this.#state !== STATE_RUNNING) return this.#closing ?? undefined;
    // The target counts records still waiting in the overflow too: the worker sends without
    // waiting for full batches while they move into the ring.
    const task = this.#runTask({ op: "flush", key: this.#workerKey, target: this.#seq | 0 });
    await this.#drainOverflow();
    const result = await task;
    if (!result.ok) throw fromWire(result.error);
  }

  // The worker's task function never throws, so a rejected task means its thread died. piscina
  // starts a replacement that resumes from the ring: give it the same task (a few times at most).
  // A thread that could not load at all is not replaced: the records are kept on disk instead.
  async #runTask(task: WorkerTask): Promise<WorkerTaskResult> {
    const workerPool = this.#workerPool as WorkerPool;
    for (let attempt = 1; ; attempt++) {
      if (workerPool.pool === null || workerPool.failure !== null) return { ok: false, error: toWire(this.#rescued()) };
      try {
        const result = (await workerPool.pool.run(task)) as WorkerTaskResult;
        if (typeof result.cpuNs === "number") this.#workerCpuNs = result.cpuNs;
        return result;
      } catch (err) {
        workerPool.taskFailed(err);
        if (attempt >= 3 && workerPool.failure === null) return { ok: false, error: toWire(err) };
      }
    }
  }

  /** Flush, stop the worker, release the process. Later log() calls are ignored. */
  close(): Promise<void> {
    if (this.#closing === null) this.#closing = this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    const wasRunning = this.#state === STATE_RUNNING;
    this.#state = STATE_CLOSED;
    if (!wasRunning) return;
    const views = this.#views as RingViews;
    let result: WorkerTaskResult;
    try {
      Atomics.store(views.ctl, CTL_STATE, 1);
      const task = this.#runTask({ op: "close", key: this.#workerKey, target: this.#seq | 0 });
      await this.#drainOverflow();
      result = await task;
    } catch (err) {
      result = { ok: false, error: toWire(err) };
    } finally {
      this.#stopMainStats?.();
      if (this.#rescueTimer !== null) clearInterval(this.#rescueTimer);
      unregisterExit(this);
      this.#closeEvents();
      this.#unlisten?.();
      this.#released = true;
      await (this.#workerPool as WorkerPool).release(this.#workerKey);
    }
    if (!this.#opts.quiet) {
      const s = this.#settings;
      const where = { run: this.run, spoolDir: s?.spoolDir, inboxDir: s?.inboxDir, dashboardUrl: this.dashboardUrl };
      process.stderr.write(`${summaryLine(this.stats(), where)}\n`);
    }
    if (!result.ok) throw fromWire(result.error);
  }

  stats(): ClientStats {
    return readStats(this.#views, this.#overflow, {
      logged: this.#logged,
      mediaLogged: this.#mediaLogged,
      seq: this.#seq,
      workerCpuNs: this.#workerCpuNs,
    });
  }

  /**
   * Test hook (not public API): terminate the worker thread as a crash would. piscina starts a
   * replacement, which resumes from the ring's released position.
   */
  async [Symbol.for("trackio.terminateWorker")](): Promise<void> {
    await Promise.all((this.#workerPool?.pool?.threads ?? []).map((t) => t.terminate()));
  }

  /** Test hook (not public API): the ids of the worker threads serving this client. */
  [Symbol.for("trackio.workerThreadIds")](): number[] {
    return (this.#workerPool?.pool?.threads ?? []).map((t) => t.threadId);
  }

  #assertNotStarted(method: string): void {
    if (this.#state !== STATE_NEW) {
      throw new InvalidArgError(`${method}() must be called before the first log()`);
    }
  }

  // Freeze the options, allocate the ring and start the worker. Returns false when closed.
  #start(): boolean {
    if (this.#state === STATE_CLOSED) {
      if (!this.#warnedClosed) {
        this.#warnedClosed = true;
        process.emitWarning("log() called after close(); the record was ignored", { code: ClosedError.code });
      }
      return false;
    }
    const o = this.#opts;
    if (o.project === undefined) throw noProject("log()");
    if (o.resume !== undefined && this.#resumed === null) {
      throw new InvalidArgError(
        `resume: "${o.resume}" needs \`await client.ready()\` (or \`await Client.init()\`) before the first log()`,
      );
    }
    let run = o.run;
    if (run === undefined) {
      run = generateRunName();
      if (!o.quiet)
        process.stderr.write(`trackio: no run name given, logging to run "${run}" of project "${o.project}"\n`);
    }
    const settings = this.#settingsFor(o.project, run);
    if (this.#resumed !== null) {
      if (this.#resumed.runId !== null) settings.runId = this.#resumed.runId;
      this.#nextStep = this.#resumed.nextStep;
    }
    const layout = createRing(o.ringBytes, KEY_TABLE_BYTES);
    const views = new RingViews(layout);
    const writer = new RingWriter(views);
    const key = nextClientKey++;
    const { pool: workerPool, created } = workerFor(o.workerFile, { key, settings, layout }, o.sharedWorker);
    const pool = workerPool.pool;
    // A worker that dies is replaced by piscina; the new one starts again from the ring's
    // released position. Until then its death must not become an uncaught 'error'.
    const onError = (err: unknown) => this.#poolError(err);
    // Each worker, the first and any replacement, gets this client's event port once it is up.
    const onWorker = () => this.#attachEvents(pool as Piscina);
    pool?.on("error", onError);
    pool?.on("workerCreate", onWorker);
    const offFailure = workerPool.onFailure(() => this.#onWorkerFailed());
    this.#unlisten = () => {
      pool?.off("error", onError);
      pool?.off("workerCreate", onWorker);
      offFailure();
    };
    this.#workerKey = key;
    this.#workerPool = workerPool;
    // A thread that is up already has announced itself before this client listened.
    if (!created && pool !== null) this.#attachEvents(pool);
    this.#settings = settings;
    this.#mediaPrefix = `${canonicalProjectName(settings.project)}/${settings.run}/`;
    this.#clockBase = settings.clockBase;
    this.#views = views;
    this.#writer = writer;
    this.#keys = new KeyTableWriter(views.keys, views.ctl, CTL_KEYS_LEN);
    this.#overflow = new Overflow(writer, o.maxOverflowBytes, o.overflowTimeoutMs);
    this.#maxRecordBytes = Math.floor(o.ringBytes / MAX_RECORD_SHARE);
    this.#state = STATE_RUNNING;
    registerExit(this);
    if (o.systemMetricsMs > 0) this.#stopMainStats = publishMainThreadStats(views.ctl, o.systemMetricsMs);
    return true;
  }

  #settingsFor(project: string, run: string): WorkerSettings {
    checkProjectName(project);
    const o = this.#opts;
    return {
      origin: o.origin,
      basePath: o.basePath,
      displayUrl: o.displayUrl,
      project,
      run,
      runId: o.runId ?? randomHex(16),
      clientId: randomHex(8),
      writeToken: o.writeToken,
      hfToken: o.hfToken,
      timeoutMs: o.timeoutMs,
      maxBatch: o.maxBatch,
      flushIntervalMs: o.flushIntervalMs,
      maxRecordsPerRequest: o.maxRecordsPerRequest,
      retryDeadlineMs: o.retryDeadlineMs,
      spoolDir: o.spoolRoot === null ? null : spoolDirFor(o.spoolRoot, o.displayUrl),
      inboxDir: o.fallbackInbox,
      systemMetricsMs: o.systemMetricsMs,
      clockBase: Date.now(),
      configJson: o.configJson,
      webhookUrl: o.webhookUrl,
      webhookMinLevel: o.webhookMinLevel,
    };
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
      .run({ op: "events", key: this.#workerKey, port: port2 } satisfies WorkerTask, { transferList: [port2] })
      .catch((err: unknown) => this.#poolError(err));
  }

  #onEvent(msg: WorkerMessage): void {
    if (msg.type === "error") this.#report(msg.error);
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

  #report(error: WireError): void {
    if (this.listenerCount("error") > 0) this.emit("error", fromWire(error));
  }

  // A thread's death: a crash (piscina replaces the thread) or, when it never loaded, the
  // pool's failure, which #onWorkerFailed reports instead.
  #poolError(err: unknown): void {
    this.#workerPool?.taskFailed(err);
    if (this.#workerPool?.failure == null) this.#report(toWire(err));
  }

  // The worker thread could not load (see worker-pool.ts): this client's records are kept on
  // disk by the main thread (rescue.ts), right away, then by a timer while more arrive, and
  // at flush(), close() and exit. A close() under way reports it too (and rejects with it).
  #onWorkerFailed(): void {
    if (this.#released) return;
    this.#report(toWire(this.#rescued()));
    if (this.#state !== STATE_RUNNING) return;
    const rescue = this.#rescue as Rescue;
    const overflow = this.#overflow as Overflow;
    this.#rescueTimer = setInterval(() => {
      if (rescue.due(overflow)) this.#rescueNow();
    }, RESCUE_TICK_MS);
    this.#rescueTimer.unref();
  }

  #rescueNow(): void {
    if (this.#rescue === null) {
      const failure = this.#workerPool?.failure;
      if (failure == null) return;
      this.#rescue = new Rescue(this.#settings as WorkerSettings, this.#views as RingViews, {
        error: (err) => this.#report(toWire(err)),
        warning: (message, code) => process.emitWarning(message, { code }),
      });
    }
    this.#rescue.drain(this.#overflow as Overflow);
    this.#overflowEmpty = true;
  }

  /** Keep what is pending on disk; the error flush(), close() and the exit hook report. */
  #rescued(): WorkerError {
    this.#rescueNow();
    const failure = (this.#workerPool as WorkerPool).failure as WorkerError;
    return new WorkerError(`${failure.message}. ${(this.#rescue as Rescue).describe()}`, { cause: failure.cause });
  }

  async #drainOverflow(): Promise<void> {
    if (this.#workerPool?.failure != null) {
      this.#rescueNow();
      return;
    }
    const overflow = this.#overflow as Overflow;
    while (!overflow.moveToRing(Number.POSITIVE_INFINITY)) {
      await new Promise((resolve) => setTimeout(resolve, 1));
    }
    this.#overflowEmpty = true;
  }

  /** @internal exit.ts */
  get handlesSignals(): boolean {
    return this.#opts.handleSignals;
  }

  /** @internal exit.ts */
  onBeforeExit(): void {
    if (this.#state !== STATE_RUNNING || this.#exitFlush !== null || !this.#hasPending()) return;
    if (this.#workerPool?.failure != null) {
      this.#rescueNow();
      return;
    }
    this.#exitFlush = this.flush()
      .catch((err: unknown) => this.#report(toWire(err)))
      .finally(() => {
        this.#exitFlush = null;
      });
  }

  /**
   * @internal exit.ts. The process is ending and the event loop will not turn again: wait
   * synchronously while the worker sends; shortly before the deadline, have it keep on disk
   * whatever the server has not acknowledged, and wait for that.
   */
  onExit(): void {
    if (this.#state !== STATE_RUNNING) return;
    const views = this.#views as RingViews;
    const writer = this.#writer as RingWriter;
    const overflow = this.#overflow as Overflow;
    const start = performance.now();
    const deadline = start + this.#opts.exitTimeoutMs;
    const keepAt = deadline - Math.min(1000, this.#opts.exitTimeoutMs / 2);
    // A thread that has not loaded yet is given until keepAt; one that cannot load, none.
    if (!(this.#workerPool as WorkerPool).loadedWithin(keepAt - start)) {
      process.stderr.write(`trackio: run "${this.run}": ${this.#rescued().message}\n`);
      return;
    }
    while (!overflow.moveToRing(Number.POSITIVE_INFINITY) && performance.now() < keepAt) {
      writer.waitForSpace(20);
    }
    this.#overflowEmpty = overflow.empty;
    const target = writer.seq;
    Atomics.store(views.ctl, CTL_FLUSH_SEQ, target);
    writer.wake();
    let asked = false;
    for (;;) {
      const done = Atomics.load(views.ctl, CTL_DONE_SEQ);
      if (signedDiff(done, target) >= 0) break;
      const now = performance.now();
      if (!asked && now >= keepAt) {
        asked = true;
        Atomics.add(views.ctl, CTL_SPOOL_REQ, 1);
        Atomics.notify(views.ctl, CTL_SPOOL_REQ);
      }
      if (now >= deadline) break;
      Atomics.wait(views.ctl, CTL_DONE_SEQ, done, Math.min(deadline - now, asked ? 20 : keepAt - now, 50));
    }
    const left = signedDiff(target, Atomics.load(views.ctl, CTL_DONE_SEQ)) + overflow.records;
    if (left > 0) process.stderr.write(`trackio: exiting with ${left} records neither delivered nor kept on disk\n`);
  }

  #hasPending(): boolean {
    const views = this.#views as RingViews;
    const done = Atomics.load(views.ctl, CTL_DONE_SEQ);
    return signedDiff((this.#writer as RingWriter).seq, done) !== 0 || !(this.#overflow as Overflow).empty;
  }
}

function growF64(a: Float64Array): Float64Array<ArrayBuffer> {
  const b = new Float64Array(a.length * 2);
  b.set(a);
  return b;
}

function growU16(a: Uint16Array): Uint16Array<ArrayBuffer> {
  const b = new Uint16Array(a.length * 2);
  b.set(a);
  return b;
}
