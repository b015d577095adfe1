// The public facade. Everything log() does happens on the caller's thread in well under a
// microsecond: check the arguments, encode the record into the shared ring, publish it.
// Batching, HTTP, retries and waiting live in the worker (worker/).

import { EventEmitter } from "node:events";
import { alertLine } from "./alert-line.js";
import { type AlertOptions, checkTime, MAX_RECORD_SHARE, noProject, notPlainMetrics, shown } from "./arguments.js";
import { type Artifact, ArtifactCalls, type LogArtifactOptions } from "./artifact.js";
import { Connection } from "./connection.js";
import { type ExitParticipant, registerExit, unregisterExit } from "./exit.js";
import {
  type ClientOptions,
  canonicalProjectName,
  checkConfigKey,
  generateRunName,
  parseServerUrl,
  type ResolvedOptions,
  resolveOptions,
} from "./options.js";
import { Producer, warmOverflowPath } from "./producer.js";
import { isTty, ProgressLine } from "./progress-line.js";
import { type ResolvedRun, resolveRun } from "./resume.js";
import { workerSettings } from "./settings.js";
import { KIND_ALERT, KIND_CONFIG } from "./shared/codec.js";
import { ClosedError, fromWire, InvalidArgError, toWire, type WireError } from "./shared/errors.js";
import { count } from "./shared/plural.js";
import type { WorkerSettings, WorkerTaskResult } from "./shared/protocol.js";
import { CTL_STATE, CTL_TROUBLE, createRing } from "./shared/ring.js";
import {
  type ClientStats,
  closingLine,
  keptAtExitLine,
  publishMainThreadStats,
  readStats,
  summaryLine,
} from "./stats.js";
import { checkWellFormed, isPlainObject, metricsToJson } from "./values/json.js";
import type { Metrics } from "./values/types.js";

export type { AlertOptions } from "./arguments.js";
export type { ClientOptions } from "./options.js";
export type { ClientStats, MediaStats } from "./stats.js";

const KEY_TABLE_BYTES = 256 * 1024;

const STATE_NEW = 0;
const STATE_RUNNING = 1;
const STATE_CLOSED = 2;

export class Client extends EventEmitter implements ExitParticipant {
  #opts: ResolvedOptions;
  #state = STATE_NEW;
  #settings: WorkerSettings | null = null;
  #nextStep = 0;
  #producer: Producer | null = null;
  #connection: Connection | null = null;
  /** Records from log() and alert() (config changes take a sequence number but are not counted). */
  #logged = 0;
  #warnedClosed = false;
  #closing: Promise<void> | null = null;
  #exitFlush: Promise<void> | null = null;
  #stopMainStats: (() => void) | null = null;
  #resumed: ResolvedRun | null = null;
  #keptShown = false;

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
      this.#resumed = await resolveRun(workerSettings(o, o.project, o.run), o.resume);
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
    const p = this.#producer as Producer;
    const time = timestamp === undefined ? p.now() : checkTime(timestamp);
    if (!p.numeric(metrics, s, time)) p.json(metrics, s, time);
    this.#logged++;
    if (s >= this.#nextStep) this.#nextStep = s + 1;
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
    const p = this.#producer as Producer;
    const byteLength = p.checkedLength(payload, "alert()");
    const alertStep = step ?? Math.max(this.#nextStep - 1, 0);
    p.record(KIND_ALERT, alertStep, Date.now(), payload, byteLength);
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
      checkConfigKey(key, "config()");
      merged[key] = value;
    }
    const text = metricsToJson(merged, "config()");
    // Checked before it becomes the run's config: a refused one must leave the old in place.
    const p = this.#state === STATE_RUNNING ? (this.#producer as Producer) : null;
    const byteLength = p?.checkedLength(text, "config()") ?? 0;
    this.#opts = { ...this.#opts, configJson: text };
    p?.record(KIND_CONFIG, 0, Date.now(), text, byteLength);
  }

  /**
   * Resolves once every record logged before the call is stored by the server; rejects with
   * the first delivery error since the previous flush.
   */
  async flush(): Promise<void> {
    if (this.#state !== STATE_RUNNING) return this.#closing ?? undefined;
    // The target counts records still waiting in the overflow too: the worker sends without
    // waiting for full batches while they move into the ring.
    const connection = this.#connection as Connection;
    const task = connection.task("flush", (this.#producer as Producer).seq | 0);
    await connection.drainOverflow();
    const result = await task;
    if (!result.ok) throw fromWire(result.error);
  }

  /** Log a file, or every file under a directory, as a new artifact version; resolves to it as stored. */
  logArtifact(pathOrDir: string, options?: LogArtifactOptions): Promise<Artifact> {
    return this.#artifacts().log(pathOrDir, options);
  }

  /** An artifact version by `name`, `name:vN` or `name:alias`, with this run as its consumer. */
  useArtifact(spec: string): Promise<Artifact> {
    return this.#artifacts().use(spec);
  }

  #artifacts(): ArtifactCalls {
    if (this.#state === STATE_CLOSED) throw new ClosedError("logArtifact() and useArtifact() need an open client");
    if (this.#state !== STATE_RUNNING) this.#start();
    return new ArtifactCalls(this.#connection as Connection, this.#settings as WorkerSettings);
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
    let result: WorkerTaskResult;
    const started = performance.now();
    const progress = this.#opts.quiet
      ? null
      : new ProgressLine(process.stderr, isTty(process.stderr), () =>
          closingLine(this.stats(), this.run, performance.now() - started),
        ).start();
    try {
      Atomics.store((this.#producer as Producer).views.ctl, CTL_STATE, 1);
      const connection = this.#connection as Connection;
      const task = connection.task("close", (this.#producer as Producer).seq | 0);
      await connection.drainOverflow();
      result = await task;
    } catch (err) {
      result = { ok: false, error: toWire(err) };
    } finally {
      progress?.stop();
      this.#stopMainStats?.();
      unregisterExit(this);
      await (this.#connection as Connection).release();
    }
    if (!this.#opts.quiet) {
      process.stderr.write(`${summaryLine(this.stats(), this.#settings as WorkerSettings, this.dashboardUrl)}\n`);
    }
    if (!result.ok) throw fromWire(result.error);
  }

  stats(): ClientStats {
    const p = this.#producer;
    return readStats(p?.views ?? null, p?.overflow ?? null, {
      logged: this.#logged,
      mediaLogged: p?.mediaLogged ?? 0,
      seq: p?.seq ?? 0,
      workerCpuNs: this.#connection?.workerCpuNs ?? null,
    });
  }

  /**
   * Test hook (not public API): terminate the worker thread as a crash would. piscina starts a
   * replacement, which resumes from the ring's released position.
   */
  async [Symbol.for("trackio.terminateWorker")](): Promise<void> {
    await Promise.all((this.#connection?.threads ?? []).map((t) => t.terminate()));
  }

  /** Test hook (not public API): the ids of the worker threads serving this client. */
  [Symbol.for("trackio.workerThreadIds")](): number[] {
    return (this.#connection?.threads ?? []).map((t) => t.threadId);
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
    const settings = workerSettings(o, o.project, run);
    if (this.#resumed !== null) {
      if (this.#resumed.runId !== null) settings.runId = this.#resumed.runId;
      this.#nextStep = this.#resumed.nextStep;
    }
    warmOverflowPath();
    const layout = createRing(o.ringBytes, KEY_TABLE_BYTES);
    const producer = new Producer(layout, {
      maxRecordBytes: Math.floor(o.ringBytes / MAX_RECORD_SHARE),
      maxOverflowBytes: o.maxOverflowBytes,
      overflowTimeoutMs: o.overflowTimeoutMs,
      clockBase: settings.clockBase,
      mediaPrefix: `${canonicalProjectName(settings.project)}/${settings.run}/`,
    });
    this.#connection = new Connection({
      workerFile: o.workerFile,
      sharedWorker: o.sharedWorker,
      settings,
      layout,
      producer,
      report: (error) => this.#report(error),
      running: () => this.#state === STATE_RUNNING,
    });
    this.#settings = settings;
    this.#producer = producer;
    this.#state = STATE_RUNNING;
    registerExit(this);
    if (o.systemMetricsMs > 0) this.#stopMainStats = publishMainThreadStats(producer.views.ctl, o.systemMetricsMs);
    return true;
  }

  #report(error: WireError): void {
    if (this.listenerCount("error") > 0) this.emit("error", fromWire(error));
  }

  /** @internal exit.ts */
  get handlesSignals(): boolean {
    return this.#opts.handleSignals;
  }

  /** @internal exit.ts */
  onBeforeExit(): void {
    if (this.#state !== STATE_RUNNING || this.#exitFlush !== null || !(this.#producer as Producer).hasPending()) return;
    if ((this.#connection as Connection).failed) {
      (this.#connection as Connection).rescueNow();
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
    const start = performance.now();
    const deadline = start + this.#opts.exitTimeoutMs;
    const keepAt = deadline - Math.min(1000, this.#opts.exitTimeoutMs / 2);
    // A thread that has not loaded yet is given until keepAt; one that cannot load, none.
    const connection = this.#connection as Connection;
    if (!connection.loadedWithin(keepAt - start)) {
      process.stderr.write(`trackio: run "${this.run}": ${connection.rescued().message}\n`);
      return;
    }
    const producer = this.#producer as Producer;
    const troubled = Atomics.load(producer.views.ctl, CTL_TROUBLE) !== 0;
    const left = producer.waitAtExit(keepAt, deadline, troubled);
    if (left > 0)
      process.stderr.write(`trackio: exiting with ${count(left, "record")} neither delivered nor kept on disk\n`);
    // Once: a signal someone else listens for is followed by the 'exit' event.
    const kept = this.#keptShown ? null : keptAtExitLine(this.stats(), this.#settings as WorkerSettings);
    this.#keptShown ||= kept !== null;
    if (kept !== null) process.stderr.write(`${kept}\n`);
  }
}
