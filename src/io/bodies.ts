// The lines of a batch on their way to the server: which endpoint each kind goes to, the
// `bulk_*` request body around them, and a taken batch. Metric entries (nearly all of them)
// arrive here already written as one request body of bytes (batch.ts), holding only the
// fields Trackio's `bulk_log` reads; their full text as inbox-fragment lines is made only
// when a line is needed on its own: to spool a batch, to split a refused one (isolate.ts),
// or to drop it into a local inbox.

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

/** The endpoint and argument name for each kind of line, in the order Trackio's client sends them. */
export const ENDPOINTS = [
  { prefix: KIND_PREFIX.metric, api: "bulk_log", arg: "logs" },
  { prefix: KIND_PREFIX.system, api: "bulk_log_system", arg: "logs" },
  { prefix: KIND_PREFIX.alert, api: "bulk_alert", arg: "alerts" },
] as const;

export type Endpoint = (typeof ENDPOINTS)[number];

/** Whether a line counts as a logged record (system metrics are sampled, a resend repeats one). */
export function countsAsRecord(line: string): boolean {
  return !line.startsWith(KIND_PREFIX.system) && !line.startsWith(RESEND_PREFIX);
}

/** How many of `lines` count as records (see countsAsRecord). */
export function recordCount(lines: readonly string[]): number {
  let n = 0;
  for (const line of lines) if (countsAsRecord(line)) n++;
  return n;
}

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

/** The start of a `bulk_*` request body, up to its first line. */
export function bodyHead(endpoint: Endpoint): string {
  return `{"kwargs":{"${endpoint.arg}":[`;
}

/** The end of a `bulk_*` request body, after its last line. */
export function bodyTail(hfTokenJson: string): string {
  return `],"hf_token":${hfTokenJson}}}`;
}

/** A `bulk_*` request body, with named arguments only (Trackio's positional binding is broken). */
export function bulkBody(endpoint: Endpoint, lines: readonly string[], hfTokenJson: string): string {
  return `${bodyHead(endpoint)}${lines.join(",")}${bodyTail(hfTokenJson)}`;
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

/** The lines of one endpoint in a batch: one request when all goes well. */
export interface Part {
  readonly endpoint: Endpoint;
  /** Lines that count as records (see countsAsRecord). */
  readonly records: number;
  /** The request body. */
  body(hfTokenJson: string): string | Uint8Array;
  lines(): string[];
  /** The last line (what the server accepted last, for isolate.ts's controls). */
  last(): string;
}

class TextPart implements Part {
  readonly records: number;
  constructor(
    readonly endpoint: Endpoint,
    readonly text: string[],
  ) {
    this.records = recordCount(text);
  }
  body(hfTokenJson: string): string {
    return bulkBody(this.endpoint, this.text, hfTokenJson);
  }
  lines(): string[] {
    return this.text;
  }
  last(): string {
    return this.text[this.text.length - 1];
  }
}

/**
 * Where each metric entry of a `bulk_log` body begins, and what its fragment line has that
 * the entry lacks: the record's time (the line's timestamp), whether the entry is a config
 * resend, and where the line's timestamp goes. Grown with the entries, by doubling: nothing
 * is allocated per entry.
 */
export class MetricEntries {
  count = 0;
  starts: Int32Array;
  /** Where each entry's step ends: its line has the timestamp (and `"config":null`) there. */
  stepEnds: Int32Array;
  times: Float64Array;
  /** The entries that are config resends (RESEND_PREFIX), in order; rare. */
  resends: number[] = [];

  constructor(capacity = 1024) {
    this.starts = new Int32Array(capacity);
    this.stepEnds = new Int32Array(capacity);
    this.times = new Float64Array(capacity);
  }

  /** A new entry at `start`. */
  open(start: number): void {
    const n = this.count;
    if (n === this.starts.length) {
      this.starts = grown(this.starts, new Int32Array(2 * n));
      this.stepEnds = grown(this.stepEnds, new Int32Array(2 * n));
      this.times = grown(this.times, new Float64Array(2 * n));
    }
    this.starts[n] = start;
    this.count = n + 1;
  }

  /** The entry opened last: its step ends at `stepEnd`, its record's time is `time`. */
  close(stepEnd: number, time: number): void {
    this.stepEnds[this.count - 1] = stepEnd;
    this.times[this.count - 1] = time;
  }

  markResend(): void {
    this.resends.push(this.count - 1);
  }

  /** Empty again, for another batch (see BatchBuilder.recycle). */
  clear(): void {
    this.count = 0;
    this.resends = [];
  }
}

function grown<T extends Int32Array | Float64Array>(from: T, to: T): T {
  to.set(from);
  return to;
}

const CONFIG_FIELD = ',"config":';

/**
 * Metric entries written as a `bulk_log` body: `buf` holds bodyHead, then the entries
 * separated by commas up to `end`. Each entry is `{"project","run","run_id","metrics","step"`,
 * its `"config"` when it carries one that is not null, and `"log_id"}`: what Trackio's
 * `bulk_log` reads (it stamps metric rows itself on the HTTP path). Its fragment line, the
 * same fields plus `v`, `kind`, `resend`, `timestamp` and `config`, is made from it on demand.
 */
export class BytesPart implements Part {
  readonly endpoint = ENDPOINTS[0];
  #buf: Uint8Array | null;
  #tail = "";
  #lines: string[] | null = null;
  /** Entries (the builder reuses `entries` once the part is detached). */
  readonly count: number;

  constructor(
    buf: Uint8Array,
    readonly entries: MetricEntries,
    readonly end: number,
    readonly records: number,
  ) {
    this.#buf = buf;
    this.count = entries.count;
  }

  #bytes(): Uint8Array {
    if (this.#buf === null) throw new Error("BytesPart: used after its buffer was recycled");
    return this.#buf;
  }

  body(hfTokenJson: string): Uint8Array {
    let buf = this.#bytes();
    const tail = bodyTail(hfTokenJson);
    if (tail !== this.#tail) {
      if (buf.length < this.end + tail.length) {
        const bigger = new Uint8Array(this.end + tail.length);
        bigger.set(buf.subarray(0, this.end));
        this.#buf = buf = bigger;
      }
      Buffer.from(buf.buffer, buf.byteOffset, buf.length).write(tail, this.end, "latin1");
      this.#tail = tail;
    }
    return buf.subarray(0, this.end + tail.length);
  }

  #text(from: number, to: number): string {
    const buf = this.#bytes();
    return Buffer.from(buf.buffer, buf.byteOffset + from, to - from).toString("utf8");
  }

  /** Where entry `i` ends (its separating comma, or the end of the last). */
  #entryEnd(i: number): number {
    return i + 1 < this.count ? this.entries.starts[i + 1] - 1 : this.end;
  }

  /** Entry `i` as it is in the body. */
  entry(i: number): string {
    return this.#text(this.entries.starts[i], this.#entryEnd(i));
  }

  /** Entry `i` as an inbox-fragment line; `timestamp` is isoTimestamp of its time. */
  line(i: number, timestamp = isoTimestamp(this.entries.times[i])): string {
    const e = this.entries;
    // Without its opening brace, up to the step's end; then the config (if any) and log_id.
    const head = this.#text(e.starts[i] + 1, e.stepEnds[i]);
    const rest = this.#text(e.stepEnds[i], this.#entryEnd(i));
    const prefix = e.resends.includes(i) ? RESEND_PREFIX : KIND_PREFIX.metric;
    const config = rest.startsWith(CONFIG_FIELD) ? "" : `${CONFIG_FIELD}null`;
    return `${prefix}${head},"timestamp":"${timestamp}"${config}${rest}`;
  }

  /**
   * Hand the buffer and the entries over for reuse; the part cannot be read afterwards (lines
   * made already stay).
   */
  detach(): { buf: Uint8Array; entries: MetricEntries } | null {
    const buf = this.#buf;
    this.#buf = null;
    return buf === null ? null : { buf, entries: this.entries };
  }

  lines(): string[] {
    if (this.#lines !== null) return this.#lines;
    const lines: string[] = [];
    // Records logged in the same millisecond share their timestamp's text.
    let time = Number.NaN;
    let timestamp = "";
    for (let i = 0; i < this.count; i++) {
      if (this.entries.times[i] !== time) {
        time = this.entries.times[i];
        timestamp = isoTimestamp(time);
      }
      lines.push(this.line(i, timestamp));
    }
    this.#lines = lines;
    return lines;
  }

  last(): string {
    return this.line(this.count - 1);
  }
}

/**
 * A batch taken from the builder: its metric lines as bytes, its other lines (alerts, system
 * metrics) as text, each with its place among all the lines.
 */
export class OutBatch {
  constructor(
    readonly metrics: BytesPart | null,
    /** Other lines, each after `at` metric lines. */
    readonly others: readonly { at: number; line: string }[],
  ) {}

  /** A batch of lines already made (system metrics, tests). */
  static of(lines: readonly string[]): OutBatch {
    return new OutBatch(
      null,
      lines.map((line) => ({ at: 0, line })),
    );
  }

  get count(): number {
    return (this.metrics?.count ?? 0) + this.others.length;
  }

  /** One part per endpoint, metrics first, as Trackio's client sends them. */
  parts(): Part[] {
    const parts: Part[] = [];
    if (this.metrics !== null && this.metrics.count > 0) parts.push(this.metrics);
    for (const g of groupByEndpoint(this.others.map((o) => o.line))) parts.push(new TextPart(g.endpoint, g.lines));
    return parts;
  }

  /** Every line as text, in the order they were added. */
  lines(): string[] {
    const metrics = this.metrics?.lines() ?? [];
    if (this.others.length === 0) return metrics;
    const out: string[] = [];
    let m = 0;
    for (const o of this.others) {
      while (m < o.at) out.push(metrics[m++]);
      out.push(o.line);
    }
    while (m < metrics.length) out.push(metrics[m++]);
    return out;
  }
}
