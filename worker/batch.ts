// Turning ring records into the JSON body of one `bulk_log` request. The entries are built
// as text: the project/run prefix and every quoted key name are made once, not per record.

import type { WorkerSettings } from "../src/options.js";

/**
 * Keys that Trackio's read API puts into every row (or that its Python client reserves) are
 * renamed to `__<key>`, as the Python client does, so they cannot shadow `step` or `timestamp`.
 */
const RESERVED = new Set(["project", "run", "timestamp", "step", "time", "metrics"]);
const RESERVED_IN_TEXT = /"(?:project|run|timestamp|step|time|metrics|__(?:[^"\\]|\\.)*)"\s*:/;

export function safeKey(key: string): string {
  return RESERVED.has(key) || key.startsWith("__") ? `__${key}` : key;
}

/** Rename reserved top-level keys of a metrics object given as JSON text. */
export function renameReservedKeys(text: string, onRename: (from: string) => void): string {
  if (!RESERVED_IN_TEXT.test(text)) return text;
  const parsed = JSON.parse(text) as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  let renamed = false;
  for (const [key, value] of Object.entries(parsed)) {
    const safe = safeKey(key);
    if (safe !== key) {
      renamed = true;
      onRename(key);
    }
    out[safe] = value;
  }
  return renamed ? JSON.stringify(out) : text;
}

/**
 * A time as Python's `datetime.isoformat()` writes it for UTC, which is how Trackio stores
 * timestamps and compares them (as strings): `2026-11-27T00:15:15.452000+00:00`, without the
 * fraction when it is zero.
 */
export function isoTimestamp(ms: number): string {
  let whole = Math.floor(ms);
  let micros = Math.round((ms - whole) * 1000);
  if (micros === 1000) {
    whole += 1;
    micros = 0;
  }
  const second = Math.floor(whole / 1000) * 1000;
  micros += (whole - second) * 1000;
  const base = new Date(second).toISOString().slice(0, 19);
  return micros === 0 ? `${base}+00:00` : `${base}.${String(micros).padStart(6, "0")}+00:00`;
}

/**
 * The entries of one request, kept as text. Each entry is a complete inbox fragment record
 * (`{"v":1,"kind":"metric",…}`): the HTTP API reads the fields it knows and ignores the
 * rest, so the very same lines can be sent, spooled to disk, or dropped into a server's
 * inbox without re-encoding.
 */
export class BatchBuilder {
  readonly #prefix: string;
  readonly #logIdPrefix: string;
  readonly #configJson: string;
  #lines: string[] = [];
  bytes = 0;

  constructor(s: WorkerSettings) {
    this.#prefix = `{"v":1,"kind":"metric","project":${JSON.stringify(s.project)},"run":${JSON.stringify(s.run)},"run_id":${JSON.stringify(s.runId)},"metrics":`;
    this.#logIdPrefix = `${s.clientId}-`;
    this.#configJson = s.configJson;
  }

  get count(): number {
    return this.#lines.length;
  }

  /**
   * Add one entry. The log_id is the client's id and the record's sequence number: unique
   * per project, free to make on the hot path, and the same on every retry. The first record
   * of the run carries the config, so a retry of that batch carries it too.
   */
  add(metricsJson: string, step: number, time: number, seq: number): void {
    const config = seq === 0 ? this.#configJson : "null";
    const line = `${this.#prefix}${metricsJson},"step":${step},"timestamp":"${isoTimestamp(time)}","config":${config},"log_id":"${this.#logIdPrefix}${seq}"}`;
    this.#lines.push(line);
    this.bytes += line.length;
  }

  /** Take the lines out, leaving the builder empty. */
  take(): string[] {
    const lines = this.#lines;
    this.#lines = [];
    this.bytes = 0;
    return lines;
  }
}

/** A `bulk_log` request body, with named arguments only (Trackio's positional binding is broken). */
export function bulkLogBody(lines: readonly string[], hfTokenJson: string): string {
  return `{"kwargs":{"logs":[${lines.join(",")}],"hf_token":${hfTokenJson}}}`;
}
