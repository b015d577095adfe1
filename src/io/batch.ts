// Turning ring records into the JSON body of one `bulk_log` request. The entries are built
// as text: the project/run prefix and every quoted key name are made once, not per record.

import type { MediaDesc } from "../shared/codec.js";
import type { WorkerSettings } from "../shared/protocol.js";
import type { MediaJob } from "./media-files.js";

/**
 * Keys that Trackio's read API puts into every row (or that its Python client reserves) are
 * renamed to `__<key>`, as the Python client does, so they cannot shadow `step` or `timestamp`.
 */
const RESERVED = new Set(["project", "run", "timestamp", "step", "time", "metrics"]);
const RESERVED_IN_TEXT = /"(?:project|run|timestamp|step|time|metrics|__(?:[^"\\]|\\.)*)"\s*:/;

export function safeKey(key: string): string {
  return RESERVED.has(key) || key.startsWith("__") ? `__${key}` : key;
}

/**
 * Rename reserved top-level keys of a metrics object given as JSON text, in the text itself:
 * re-parsing and re-stringifying would undo how the main thread wrote its numbers (`-0.0`,
 * `1e20` as a float; see codec.ts numberJson). The text is what JSON.stringify or the exact
 * writer made, so a reserved name appears unescaped, and a key at depth 1 is a string that
 * follows `{` or `,` there.
 */
export function renameReservedKeys(text: string, onRename: (from: string) => void): string {
  if (!RESERVED_IN_TEXT.test(text)) return text;
  let out = "";
  let copied = 0;
  let depth = 0;
  let expectKey = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22 /* " */) {
      const start = i;
      for (i++; text.charCodeAt(i) !== 0x22; i++) if (text.charCodeAt(i) === 0x5c /* \ */) i++;
      if (depth === 1 && expectKey) {
        const key = JSON.parse(text.slice(start, i + 1)) as string;
        if (safeKey(key) !== key) {
          onRename(key);
          out += `${text.slice(copied, start + 1)}__`;
          copied = start + 1;
        }
      }
      expectKey = false;
    } else if (c === 0x7b /* { */ || c === 0x5b /* [ */) {
      depth++;
      expectKey = c === 0x7b && depth === 1;
    } else if (c === 0x7d /* } */ || c === 0x5d /* ] */) {
      depth--;
    } else if (c === 0x2c /* , */) {
      expectKey = depth === 1;
    }
  }
  return copied === 0 ? text : out + text.slice(copied);
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
/**
 * A metrics line sent again only to carry a changed config: same log_id as the original, so
 * the server stores no second row, while the config it carries replaces the run's.
 */
export const RESEND_PREFIX = '{"v":1,"kind":"metric","resend":true,';

export const KIND_PREFIX = {
  metric: '{"v":1,"kind":"metric",',
  system: '{"v":1,"kind":"system_metric",',
  alert: '{"v":1,"kind":"alert",',
} as const;

export class BatchBuilder {
  readonly #run: string;
  readonly #idPrefix: string;
  #configJson: string;
  #configSent = false;
  #last: { metricsJson: string; step: number; time: number; seq: number } | null = null;
  #hasConfig = false;
  #lines: string[] = [];
  #media: MediaJob[] = [];
  bytes = 0;
  /** Ring records behind the current lines (a config record makes none; a resend line has none). */
  records = 0;

  constructor(s: WorkerSettings) {
    this.#run = `"project":${JSON.stringify(s.project)},"run":${JSON.stringify(s.run)},"run_id":${JSON.stringify(s.runId)}`;
    this.#idPrefix = `${s.clientId}-`;
    this.#configJson = s.configJson;
  }

  get count(): number {
    return this.#lines.length;
  }

  /**
   * Add one metrics entry. The log_id is the client's id and the record's sequence number:
   * unique per project, free to make on the hot path, and the same on every retry. The first
   * metrics entry this worker builds carries the run's config (Trackio stores a config only
   * with a metrics row), so a retry of that batch carries it too.
   */
  add(metricsJson: string, step: number, time: number, seq: number): void {
    let config = "null";
    if (!this.#configSent) {
      this.#configSent = true;
      this.#hasConfig = true;
      config = this.#configJson;
    }
    this.#last = { metricsJson, step, time, seq };
    this.records++;
    this.#push(this.#metricLine(KIND_PREFIX.metric, metricsJson, step, time, seq, config));
  }

  /**
   * Whether the lines so far include one carrying a config. Trackio keeps only the first
   * config of a run within one request, so a changed config must start a new request.
   */
  get hasConfig(): boolean {
    return this.#hasConfig;
  }

  /** The run's config changed: the next metrics entry carries the new one. */
  setConfig(configJson: string): void {
    this.#configJson = configJson;
    this.#configSent = false;
    this.records++;
  }

  /**
   * If a changed config has no metrics entry to ride on yet, send the last entry again with
   * it (see RESEND_PREFIX). Returns whether a line was added.
   */
  addConfigResend(): boolean {
    if (this.#configSent || this.#last === null) return false;
    this.#configSent = true;
    this.#hasConfig = true;
    const { metricsJson, step, time, seq } = this.#last;
    this.#push(this.#metricLine(RESEND_PREFIX, metricsJson, step, time, seq, this.#configJson));
    return true;
  }

  #metricLine(prefix: string, metricsJson: string, step: number, time: number, seq: number, config: string): string {
    return `${prefix}${this.#run},"metrics":${metricsJson},"step":${step},"timestamp":"${this.#iso(time)}","config":${config},"log_id":"${this.#idPrefix}${seq}"}`;
  }

  // Records logged in the same millisecond share their timestamp text.
  #lastTime = Number.NaN;
  #lastIso = "";
  #iso(time: number): string {
    if (time !== this.#lastTime) {
      this.#lastTime = time;
      this.#lastIso = isoTimestamp(time);
    }
    return this.#lastIso;
  }

  /** Add one alert; `alertJson` is `{"title","text","level"}`. Its alert_id makes retries idempotent. */
  addAlert(alertJson: string, step: number, time: number, seq: number): void {
    const a = JSON.parse(alertJson) as { title: string; text: string | null; level: string };
    this.records++;
    this.#push(
      `${KIND_PREFIX.alert}${this.#run},"title":${JSON.stringify(a.title)},"text":${JSON.stringify(a.text)},"level":${JSON.stringify(a.level)},"step":${step},"timestamp":"${isoTimestamp(time)}","alert_id":"${this.#idPrefix}${seq}"}`,
    );
  }

  /** Add one system-metrics entry (sampled in the worker; no step, the timestamp is the x-axis). */
  addSystem(metricsJson: string, time: number, id: string): void {
    this.#push(
      `${KIND_PREFIX.system}${this.#run},"metrics":${metricsJson},"timestamp":"${isoTimestamp(time)}","log_id":"${this.#idPrefix}${id}"}`,
    );
  }

  /** Add the file of a media value; it is uploaded after the lines of the same batch. */
  addMedia(desc: MediaDesc, payload: Uint8Array | null, step: number, seq: number): void {
    this.records++;
    this.bytes += desc.n;
    this.#media.push({ id: `${this.#idPrefix}${seq}`, step, desc, payload });
  }

  /** Take the media files out (call before take(), which resets the counts). */
  takeMedia(): MediaJob[] {
    const media = this.#media;
    if (media.length > 0) this.#media = [];
    return media;
  }

  #push(line: string): void {
    this.#lines.push(line);
    this.bytes += line.length;
  }

  /** Take the lines out, leaving the builder empty (read `records` first). */
  take(): string[] {
    const lines = this.#lines;
    this.#lines = [];
    this.bytes = 0;
    this.records = 0;
    this.#hasConfig = false;
    return lines;
  }
}

/** The endpoint and argument name for each kind of line, in the order Trackio's client sends them. */
export const ENDPOINTS = [
  { prefix: KIND_PREFIX.metric, api: "bulk_log", arg: "logs" },
  { prefix: KIND_PREFIX.system, api: "bulk_log_system", arg: "logs" },
  { prefix: KIND_PREFIX.alert, api: "bulk_alert", arg: "alerts" },
] as const;

export type Endpoint = (typeof ENDPOINTS)[number];

/** Split lines by endpoint, keeping their order within each; lines of unknown kind go with metrics. */
export function groupByEndpoint(lines: readonly string[]): { endpoint: Endpoint; lines: string[] }[] {
  const groups = ENDPOINTS.map((endpoint) => ({ endpoint, lines: [] as string[] }));
  for (const line of lines) {
    const g = groups.find((x) => line.startsWith(x.endpoint.prefix)) ?? groups[kindIndex(line)];
    g.lines.push(line);
  }
  return groups.filter((g) => g.lines.length > 0);
}

// A line written by another tool (a quarantine line fixed by hand and re-saved by Python's
// json.dumps, say) has other separators than ours: its "kind" field says where it goes.
function kindIndex(line: string): number {
  try {
    const kind = (JSON.parse(line) as { kind?: unknown }).kind;
    const i = ENDPOINTS.findIndex((e) => e.prefix === `{"v":1,"kind":${JSON.stringify(kind)},`);
    return Math.max(i, 0);
  } catch {
    return 0;
  }
}

/** A `bulk_*` request body, with named arguments only (Trackio's positional binding is broken). */
export function bulkBody(endpoint: Endpoint, lines: readonly string[], hfTokenJson: string): string {
  return `{"kwargs":{"${endpoint.arg}":[${lines.join(",")}],"hf_token":${hfTokenJson}}}`;
}

/** A `bulk_log` request body. */
export function bulkLogBody(lines: readonly string[], hfTokenJson: string): string {
  return bulkBody(ENDPOINTS[0], lines, hfTokenJson);
}

/**
 * Split lines into requests of at most `max`, also ending a request before a line that
 * carries a config when the request already has one (Trackio keeps only the first config of
 * a run per request, and a later one must win).
 */
export function chunkLines(lines: readonly string[], max: number): string[][] {
  const chunks: string[][] = [];
  let current: string[] = [];
  let hasConfig = false;
  for (const line of lines) {
    const carries = line.includes('"config":{');
    if (current.length >= max || (carries && hasConfig)) {
      chunks.push(current);
      current = [];
      hasConfig = false;
    }
    current.push(line);
    hasConfig ||= carries;
  }
  if (current.length > 0) chunks.push(current);
  return chunks;
}
