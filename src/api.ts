// Reading back what a Trackio server stores, as Trackio's Python `trackio.Api()` does, but
// through the server (Trackio 0.43 down to the Gradio-based 0.23, local or a Space) rather than from local
// SQLite files. Runs on the caller's thread: reads are plain promises, no worker involved.

import { canonicalProjectName, resolveOptions } from "./options.js";
import { Reader, restoreValue, rowOf, type StoredValue, sinceText, UNSUPPORTED } from "./reader.js";
import { InvalidArgError, NotFoundError, StatusError } from "./shared/errors.js";
import { count } from "./shared/plural.js";
import type { ServerSettings } from "./shared/protocol.js";

export type { StoredValue } from "./reader.js";

export interface ApiOptions {
  /** Trackio server URL, or a Space id (`user/space`). Env `TRACKIO_SERVER_URL`, default `http://127.0.0.1:7860`. */
  baseUrl?: string;
  /** Sent when given (the URL's `write_token`, or env `TRACKIO_WRITE_TOKEN`); reads do not need it. */
  writeToken?: string;
  /** A Hugging Face token, sent only to `*.hf.space` hosts (a private Space needs one). Env `HF_TOKEN`. */
  hfToken?: string;
  /** Per-request timeout in ms. Env `TRACKIO_TIMEOUT_MS`, default 5000. */
  timeoutMs?: number;
  /** How long a read is retried (server unreachable, 429, 5xx) before it fails, in ms, default 30000. */
  retryDeadlineMs?: number;
}

/** One row of a run's metrics: its step, its timestamp, and the values logged with it. */
export type MetricRow = { step: number; timestamp: string } & { [key: string]: StoredValue };

/** One sample of a run's system metrics (they have no step). */
export type SystemMetricRow = { timestamp: string } & { [key: string]: StoredValue };

export type AlertLevel = "info" | "warn" | "error";

/** An alert as the server stores it, newest first in every list. */
export interface Alert {
  timestamp: string;
  run: string;
  title: string;
  text: string | null;
  level: AlertLevel;
  step: number | null;
}

export interface AlertFilter {
  /** Only alerts of this level. */
  level?: AlertLevel;
  /** Only alerts raised after this time (a Date, or a timestamp as Trackio stores them). */
  since?: string | Date;
}

/** A read API for a Trackio server: projects, runs, their configs, metrics and alerts. */
export class Api {
  readonly #reader: Reader;

  constructor(options: ApiOptions = {}) {
    if (typeof options !== "object" || options === null) throw new InvalidArgError("Api options must be an object");
    const { baseUrl, writeToken, hfToken, timeoutMs, retryDeadlineMs } = options;
    const o = resolveOptions({ baseUrl, writeToken, hfToken, timeoutMs, retryDeadlineMs, localFallback: false });
    const settings: ServerSettings = {
      origin: o.origin,
      basePath: o.basePath,
      displayUrl: o.displayUrl,
      writeToken: o.writeToken,
      hfToken: o.hfToken,
      timeoutMs: o.timeoutMs,
      retryDeadlineMs: o.retryDeadlineMs,
    };
    this.#reader = new Reader(settings);
  }

  /** The server's URL, without credentials. */
  get url(): string {
    return this.#reader.displayUrl;
  }

  /** The names of the server's projects, sorted (as stored: only letters, digits, `-` and `_`). */
  async projects(): Promise<string[]> {
    return this.#reader.call<string[]>("get_all_projects", {});
  }

  /** The runs of a project, oldest first. Rejects with NotFoundError if there is no such project. */
  async runs(project: string): Promise<Run[]> {
    checkProject(project);
    const records = await this.#runRecords(project);
    if (records.length === 0) {
      await this.#assertProject(project);
      return [];
    }
    const configs = await this.#reader.optional<Record<string, Record<string, unknown>>>("get_run_configs", {
      project,
    });
    const runs: Run[] = [];
    for (const record of records) {
      let config: Record<string, unknown> | null;
      if (configs === UNSUPPORTED) {
        // Servers without get_run_configs (0.24.0 and the Gradio ones have none): one summary
        // per run, found by id (0.23 ignores run_id and finds it by name).
        config = (
          await this.#reader.call<{ config: Record<string, unknown> | null }>("get_run_summary", {
            project,
            run: record.name,
            run_id: record.id,
          })
        ).config;
      } else {
        config = configs[record.id] ?? configs[record.name] ?? null;
      }
      runs.push(new Run(this.#reader, project, record.name, record.id, record.createdAt, config ?? {}));
    }
    return runs;
  }

  /**
   * The alerts of a project (of one run with `run`, a run name), newest first. Rejects with
   * NotFoundError if there is no such project.
   */
  async alerts(project: string, filter: AlertFilter & { run?: string } = {}): Promise<Alert[]> {
    checkProject(project);
    if (typeof filter !== "object" || filter === null) throw new InvalidArgError("alerts(): filter must be an object");
    if (filter.run !== undefined && (typeof filter.run !== "string" || filter.run === "")) {
      throw new InvalidArgError("alerts(): run must be a non-empty string (a run name)");
    }
    const alerts = await readAlerts(this.#reader, project, { run: filter.run ?? null }, filter);
    if (alerts.length === 0) await this.#assertProject(project);
    return alerts;
  }

  /** Release the connections to the server. Later calls reject with ClosedError. */
  async close(): Promise<void> {
    await this.#reader.close();
  }

  async #runRecords(project: string): Promise<{ id: string; name: string; createdAt: string | null }[]> {
    let records: unknown[];
    try {
      records = await this.#reader.call<unknown[]>("get_runs_for_project", { project });
    } catch (err) {
      // Some Trackio versions answer a project without a database with a 500 "not found".
      if (err instanceof StatusError && /not found/i.test(err.message)) return [];
      throw err;
    }
    return records.map((r) => {
      // Trackio ≤ 0.23 lists run names only: a run is known by its name there.
      if (typeof r === "string") return { id: r, name: r, createdAt: null };
      const { id, name, created_at } = r as { id: string | null; name: string; created_at: string | null };
      return { id: id ?? name, name, createdAt: created_at ?? null };
    });
  }

  async #assertProject(project: string): Promise<void> {
    const projects = await this.projects();
    if (!projects.includes(canonicalProjectName(project))) {
      throw new NotFoundError(
        `project ${JSON.stringify(project)} does not exist on ${this.url} (it has ${projects.length === 0 ? "no projects" : `${count(projects.length, "project")}: ${projects.slice(0, 10).join(", ")}${projects.length > 10 ? ", …" : ""}`})`,
        "",
      );
    }
  }
}

/** A run as the server stores it; its rows are read when asked for. */
export class Run {
  readonly #reader: Reader;
  readonly project: string;
  readonly name: string;
  /** The run's identity on the server (its name on Trackio ≤ 0.23, which has no run ids). */
  readonly id: string;
  /** When its first row was logged, as the server stores times; null on Trackio ≤ 0.23. */
  readonly createdAt: string | null;
  /** The run's config without the keys Trackio adds (those starting with `_`). */
  readonly config: Record<string, StoredValue>;
  /** The run's group (`group` of `trackio.init`), or null. */
  readonly group: string | null;

  /** @internal made by Api.runs() */
  constructor(
    reader: Reader,
    project: string,
    name: string,
    id: string,
    createdAt: string | null,
    stored: Record<string, unknown>,
  ) {
    this.#reader = reader;
    this.project = project;
    this.name = name;
    this.id = id;
    this.createdAt = createdAt;
    const config: Record<string, StoredValue> = {};
    for (const [key, value] of Object.entries(stored)) {
      if (!key.startsWith("_")) Object.defineProperty(config, key, { value: restoreValue(value), enumerable: true });
    }
    this.config = config;
    this.group = typeof stored._Group === "string" ? stored._Group : null;
  }

  /**
   * Every metrics row of the run, in step order (rows of one step in the order they were
   * stored). Servers without `query_project` (Trackio ≤ 0.23) return at most the 1500 rows
   * their `get_logs` samples, with a TRACKIO_PARTIAL_READ warning when rows were left out.
   */
  async metrics(): Promise<MetricRow[]> {
    const rows = await this.#reader.allRows(this.project, "metrics", this.id, "step");
    if (rows !== UNSUPPORTED) {
      return rows.map(
        (r) =>
          rowOf({ step: Number(r.step), timestamp: String(r.timestamp) }, JSON.parse(String(r.metrics))) as MetricRow,
      );
    }
    const logs = await this.#reader.call<Record<string, unknown>[]>("get_logs", this.#identity());
    const sampled = logs
      .map((l) => rowOf({ step: Number(l.step), timestamp: String(l.timestamp) }, l) as MetricRow)
      .sort((a, b) => a.step - b.step);
    const summary = await this.#reader.call<{ num_logs?: number }>("get_run_summary", this.#identity());
    const stored = Number(summary.num_logs ?? 0);
    if (stored > sampled.length) {
      process.emitWarning(
        `${this.#reader.displayUrl} (Trackio ${this.#reader.serverVersion ?? "≤ 0.23"}) has no query_project, and its get_logs returned ${sampled.length} of the ${stored} rows of run ${JSON.stringify(this.name)} (a sample); upgrade the server (pip install -U trackio) to read them all`,
        { code: "TRACKIO_PARTIAL_READ" },
      );
    }
    return sampled;
  }

  /** Every system metrics sample of the run, oldest first (`systemMetrics` option of Client, or Python's). */
  async systemMetrics(): Promise<SystemMetricRow[]> {
    const rows = await this.#reader.allRows(this.project, "system_metrics", this.id, "timestamp");
    if (rows !== UNSUPPORTED) {
      return rows.map(
        (r) => rowOf({ timestamp: String(r.timestamp) }, JSON.parse(String(r.metrics))) as SystemMetricRow,
      );
    }
    const logs = await this.#reader.call<Record<string, unknown>[]>("get_system_logs", this.#identity());
    return logs.map((l) => rowOf({ timestamp: String(l.timestamp) }, l) as SystemMetricRow);
  }

  /** The run's alerts, newest first. */
  async alerts(filter: AlertFilter = {}): Promise<Alert[]> {
    if (typeof filter !== "object" || filter === null) throw new InvalidArgError("alerts(): filter must be an object");
    return readAlerts(this.#reader, this.project, this.#identity(), filter);
  }

  #identity(): { project: string; run: string; run_id: string } {
    // Trackio ≤ 0.23 reads the name and ignores run_id; later versions use the id.
    return { project: this.project, run: this.name, run_id: this.id };
  }
}

async function readAlerts(
  reader: Reader,
  project: string,
  identity: { run: string | null; run_id?: string },
  filter: AlertFilter,
): Promise<Alert[]> {
  const { level, since } = filter;
  if (level !== undefined && level !== "info" && level !== "warn" && level !== "error") {
    throw new InvalidArgError(`alerts(): level must be "info", "warn" or "error", got ${JSON.stringify(level)}`);
  }
  if (
    since !== undefined &&
    !(since instanceof Date && !Number.isNaN(since.getTime())) &&
    !(typeof since === "string" && since !== "")
  ) {
    throw new InvalidArgError("alerts(): since must be a valid Date or a timestamp string");
  }
  return reader.call<Alert[]>("get_alerts", {
    ...identity,
    project,
    level: level ?? null,
    since: since === undefined ? null : sinceText(since),
  });
}

function checkProject(project: unknown): asserts project is string {
  if (typeof project !== "string" || project === "") {
    throw new InvalidArgError(`project must be a non-empty string, got ${JSON.stringify(project)}`);
  }
}
