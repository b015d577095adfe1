// The lines of a batch on their way to the server: which endpoint each kind goes to, the
// `bulk_*` request body around them, and a taken batch. Metric lines (nearly all of them)
// arrive here already written as one request body of bytes (batch.ts); their text as lines
// is made only when a line is needed on its own: to spool a batch, to split a refused one
// (isolate.ts), or to drop it into a local inbox.

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
    this.records = text.filter(countsAsRecord).length;
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
 * Metric lines written as a `bulk_log` body: `buf` holds bodyHead, then the lines separated
 * by commas up to `end`; `starts` is where each line begins.
 */
export class BytesPart implements Part {
  readonly endpoint = ENDPOINTS[0];
  #buf: Uint8Array | null;
  #tail = "";
  #lines: string[] | null = null;

  constructor(
    buf: Uint8Array,
    readonly starts: readonly number[],
    readonly end: number,
    readonly records: number,
  ) {
    this.#buf = buf;
  }

  get count(): number {
    return this.starts.length;
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

  line(i: number): string {
    const buf = this.#bytes();
    const end = i + 1 < this.starts.length ? this.starts[i + 1] - 1 : this.end;
    return Buffer.from(buf.buffer, buf.byteOffset + this.starts[i], end - this.starts[i]).toString("utf8");
  }

  /** Hand the buffer over for reuse; the part cannot be read afterwards (lines made already stay). */
  detach(): Uint8Array | null {
    const buf = this.#buf;
    this.#buf = null;
    return buf;
  }

  lines(): string[] {
    this.#lines ??= this.starts.map((_, i) => this.line(i));
    return this.#lines;
  }

  last(): string {
    return this.line(this.starts.length - 1);
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
