// Turning ring records into the JSON body of one `bulk_log` request. The entries are built
// as text: the project/run prefix and every quoted key name are made once, not per record.

import type { WorkerSettings } from "../src/options.js";

/**
 * Keys that Trackio's read API puts into every row (or that its Python client reserves) are
 * renamed to `__<key>`, as the Python client does, so they cannot shadow `step` or `timestamp`.
 */
const RESERVED = new Set(["project", "run", "timestamp", "step", "time", "metrics"]);
const RESERVED_IN_TEXT = /"(?:project|run|timestamp|step|time|metrics|__[^"]*)"\s*:/;

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

export class BatchBuilder {
  readonly #prefix: string;
  readonly #logIdPrefix: string;
  readonly #configJson: string;
  #parts: string[] = [];
  bytes = 0;

  constructor(s: WorkerSettings) {
    this.#prefix = `{"project":${JSON.stringify(s.project)},"run":${JSON.stringify(s.run)},"run_id":${JSON.stringify(s.runId)},"metrics":`;
    this.#logIdPrefix = `${s.clientId}-`;
    this.#configJson = s.configJson;
  }

  get count(): number {
    return this.#parts.length;
  }

  /**
   * Add one entry. The log_id is the client's id and the record's sequence number: unique
   * per project, free to make on the hot path, and the same on every retry. The first record
   * of the run carries the config, so a retry of that batch carries it too.
   */
  add(metricsJson: string, step: number, seq: number): void {
    let entry = `${this.#prefix}${metricsJson},"step":${step},"log_id":"${this.#logIdPrefix}${seq}"`;
    if (seq === 0) entry += `,"config":${this.#configJson}`;
    entry += "}";
    this.#parts.push(entry);
    this.bytes += entry.length;
  }

  /** The request body, with named arguments only (Trackio's positional binding is broken). */
  body(hfTokenJson: string): string {
    return `{"kwargs":{"logs":[${this.#parts.join(",")}],"hf_token":${hfTokenJson}}}`;
  }

  reset(): void {
    this.#parts = [];
    this.bytes = 0;
  }
}
