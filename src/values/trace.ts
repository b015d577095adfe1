// Agent traces, as Trackio 0.43's Python `trackio.Trace` (trackio/trace.py) makes them:
// OpenAI-style messages, trace metadata and execution spans, sent as
// `{"_type":"trackio.trace","messages","metadata","spans"}`. The server moves such a value
// (a metric's value, or each item of a list of them) out of the metrics row into its `traces`
// table (sqlite_storage._split_trace_metrics), and the dashboard's trace inspector reads it
// back through `get_traces`.
//
// Python checks only that messages and spans are lists of dicts. The fields the inspector and
// Trackio's CLI compute with (kind, parent, times, duration, status, model, usage, cost) are
// also checked here, in the constructor, so that a trace the inspector would show without its
// tree, latency or tokens is refused where it was made. What the fields hold beyond that
// (content, input, output, metadata) is checked by log() like any value.

import { InvalidArgError } from "../shared/errors.js";

export type TraceSpanKind = "span" | "generation" | "tool";

/** A tool call of an assistant message, as OpenAI's chat API writes it. */
export interface TraceToolCall {
  id?: string;
  type?: string;
  function?: { name: string; arguments?: string };
  [key: string]: unknown;
}

/** An OpenAI-style chat message: `{ role: "user", content: "…" }`. */
export interface TraceMessage {
  role: "system" | "developer" | "user" | "assistant" | "tool" | (string & {});
  content?: unknown;
  name?: string;
  /** An assistant's tool calls; the dashboard pairs them with `tool` messages when there are no spans. */
  tool_calls?: TraceToolCall[];
  /** In a `tool` message: the id of the call it answers. */
  tool_call_id?: string;
  [key: string]: unknown;
}

/** Token counts of a generation. */
export interface TraceUsage {
  input_tokens?: number;
  output_tokens?: number;
  total_tokens?: number;
  [key: string]: unknown;
}

/** One operation of a trace: a model generation, a tool call, or any other step. */
export interface TraceSpan {
  id: string;
  name: string;
  kind: TraceSpanKind;
  /** The enclosing span's id; none (or null) for a root. */
  parent_id?: string | null;
  /** ISO 8601 text, or a Date (stored as its ISO text). */
  start_time?: string | Date;
  end_time?: string | Date;
  duration_ms?: number;
  /** The dashboard knows "success", "error" and "failed". */
  status?: "success" | "error" | (string & {});
  error?: unknown;
  input?: unknown;
  output?: unknown;
  model?: string;
  usage?: TraceUsage;
  cost_usd?: number;
  metadata?: Record<string, unknown>;
  [key: string]: unknown;
}

export interface TraceInit {
  messages: readonly TraceMessage[];
  /** Trace-level metadata, e.g. `session_id`; `status`, `duration_ms`, `latency_ms` and `cost_usd` are the dashboard's fallbacks when spans do not give them. */
  metadata?: Record<string, unknown> | null;
  spans?: readonly TraceSpan[] | null;
}

const KINDS: readonly string[] = ["span", "generation", "tool"];
const TOKEN_FIELDS = ["input_tokens", "output_tokens", "total_tokens"] as const;
/** camelCase spellings a TypeScript user may reach for; Trackio's CLI and search read only the snake_case ones. */
const SNAKE: Record<string, string> = {
  parentId: "parent_id",
  startTime: "start_time",
  endTime: "end_time",
  durationMs: "duration_ms",
  costUsd: "cost_usd",
  toolCalls: "tool_calls",
  toolCallId: "tool_call_id",
};
// What Python's datetime.fromisoformat (Trackio's CLI) and the dashboard's Date both read.
const ISO_TIME = /^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?$/i;

function fail(path: string, what: string): never {
  throw new InvalidArgError(`Trace: ${path} ${what}`);
}

function isPlain(value: unknown): value is Record<string, unknown> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/**
 * A shallow copy of a plain object (as Python's `dict(span)`), without keys set to
 * `undefined` (a TypeScript optional field left out), reading each property once.
 */
function copy(value: unknown, path: string, what: string, snakeCase = false): Record<string, unknown> {
  if (!isPlain(value)) fail(path, `must be ${what}, got ${describe(value)}`);
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(value)) {
    let v: unknown;
    try {
      v = value[key];
    } catch (err) {
      throw new InvalidArgError(
        `Trace: reading ${path}.${key} threw: ${err instanceof Error ? err.message : String(err)}`,
        { cause: err },
      );
    }
    if (v === undefined) continue;
    if (snakeCase && Object.hasOwn(SNAKE, key)) fail(`${path}.${key}`, `is spelled ${SNAKE[key]} in a Trackio trace`);
    // A key such as "__proto__" stays a key, as in Python's dict.
    Object.defineProperty(out, key, { value: v, enumerable: true, writable: true, configurable: true });
  }
  return out;
}

function describe(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  if (typeof value === "string") return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value);
  if (typeof value === "object") return `an instance of ${Object.getPrototypeOf(value)?.constructor?.name ?? "?"}`;
  return `${typeof value} ${String(value)}`;
}

function list(value: unknown, path: string): readonly unknown[] {
  if (!Array.isArray(value)) fail(path, `must be an array, got ${describe(value)}`);
  return value;
}

function optString(o: Record<string, unknown>, key: string, path: string): void {
  const v = o[key];
  if (v !== undefined && typeof v !== "string") fail(`${path}.${key}`, `must be a string, got ${describe(v)}`);
}

function optAmount(o: Record<string, unknown>, key: string, path: string, integer = false): void {
  const v = o[key];
  if (v === undefined) return;
  const ok = typeof v === "number" && (integer ? Number.isSafeInteger(v) : Number.isFinite(v)) && v >= 0;
  if (!ok)
    fail(`${path}.${key}`, `must be a non-negative ${integer ? "integer" : "finite number"}, got ${describe(v)}`);
}

function optTime(o: Record<string, unknown>, key: string, path: string): void {
  const v = o[key];
  if (v === undefined) return;
  if (v instanceof Date) {
    if (Number.isNaN(v.getTime())) fail(`${path}.${key}`, "is an invalid Date");
    o[key] = v.toISOString();
  } else if (typeof v !== "string" || !ISO_TIME.test(v) || Number.isNaN(Date.parse(v))) {
    fail(`${path}.${key}`, `must be a Date or ISO 8601 text such as "2026-01-02T03:04:05.678Z", got ${describe(v)}`);
  }
}

function message(value: unknown, path: string): Record<string, unknown> {
  const m = copy(value, path, "a message object ({ role, content })", true);
  if (typeof m.role !== "string" || m.role === "")
    fail(`${path}.role`, `must be a non-empty string, got ${describe(m.role)}`);
  optString(m, "name", path);
  optString(m, "tool_call_id", path);
  if (m.tool_calls !== undefined) {
    m.tool_calls = list(m.tool_calls, `${path}.tool_calls`).map((c, i) =>
      copy(c, `${path}.tool_calls[${i}]`, "a tool call object"),
    );
  }
  return m;
}

function span(value: unknown, path: string): Record<string, unknown> {
  const s = copy(value, path, "a span object ({ id, name, kind })", true);
  if (typeof s.id !== "string" || s.id === "") fail(`${path}.id`, `must be a non-empty string, got ${describe(s.id)}`);
  if (typeof s.name !== "string") fail(`${path}.name`, `must be a string, got ${describe(s.name)}`);
  if (typeof s.kind !== "string" || !KINDS.includes(s.kind))
    fail(`${path}.kind`, `must be "span", "generation" or "tool", got ${describe(s.kind)}`);
  if (s.parent_id !== null) optString(s, "parent_id", path);
  optTime(s, "start_time", path);
  optTime(s, "end_time", path);
  optAmount(s, "duration_ms", path);
  optString(s, "status", path);
  optString(s, "model", path);
  optAmount(s, "cost_usd", path);
  if (s.usage !== undefined) {
    const usage = copy(s.usage, `${path}.usage`, "an object of token counts");
    for (const k of TOKEN_FIELDS) optAmount(usage, k, `${path}.usage`, true);
    s.usage = usage;
  }
  if (s.metadata !== undefined) s.metadata = copy(s.metadata, `${path}.metadata`, "a plain object");
  return s;
}

/**
 * A conversational or agent trace, shown in the dashboard's Traces tab: the messages, and
 * optionally the spans that produced them (generations, tool calls, other steps), with their
 * latency, status, model, token usage and cost. Logged like any value.
 *
 * ```ts
 * client.log({
 *   agent: new Trace({
 *     messages: [
 *       { role: "user", content: "Weather in Paris?" },
 *       { role: "assistant", content: "Rainy, 14 °C." },
 *     ],
 *     spans: [{ id: "1", name: "chat", kind: "generation", model: "gpt-4o", usage: { input_tokens: 12, output_tokens: 5 } }],
 *   }),
 * });
 * ```
 */
export class Trace {
  readonly messages: TraceMessage[];
  readonly metadata: Record<string, unknown>;
  readonly spans: TraceSpan[];

  constructor(init: TraceInit) {
    if (!isPlain(init)) fail("the argument", `must be { messages, metadata?, spans? }, got ${describe(init)}`);
    const { messages, metadata, spans } = init;
    this.messages = list(messages, "messages").map((m, i) => message(m, `messages[${i}]`)) as TraceMessage[];
    if (metadata === undefined || metadata === null) this.metadata = {};
    else {
      const md = copy(metadata, "metadata", "a plain object");
      optString(md, "status", "metadata");
      for (const k of ["duration_ms", "latency_ms", "cost_usd"]) optAmount(md, k, "metadata");
      this.metadata = md;
    }
    this.spans =
      spans === undefined || spans === null
        ? []
        : (list(spans, "spans").map((s, i) => span(s, `spans[${i}]`)) as TraceSpan[]);
  }

  toJSON(): {
    _type: "trackio.trace";
    messages: TraceMessage[];
    metadata: Record<string, unknown>;
    spans: TraceSpan[];
  } {
    return { _type: "trackio.trace", messages: this.messages, metadata: this.metadata, spans: this.spans };
  }
}
