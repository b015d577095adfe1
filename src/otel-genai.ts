// One finished OpenTelemetry span as a span of a Trackio trace, reading the GenAI semantic
// conventions that agent SDKs emit (https://opentelemetry.io/docs/specs/semconv/gen-ai/): the
// operation (`gen_ai.operation.name`: `execute_tool` is a tool call, a model call is a
// generation), the model, token usage, and the messages in each of the forms the conventions
// have had: `gen_ai.input.messages` / `gen_ai.output.messages` (parts), the older
// `gen_ai.prompt` / `gen_ai.completion` (OpenAI-style JSON, or indexed `gen_ai.prompt.0.role`),
// and message events (`gen_ai.user.message`, `gen_ai.choice`, …). Messages become
// OpenAI-style, which is what Trackio's trace inspector shows. Attributes read here are not
// repeated in the span's metadata; every other attribute is kept there.
//
// Types only from @opentelemetry/*: this module runs without them installed.

import type { Attributes, AttributeValue, HrTime } from "@opentelemetry/api";
import type { ReadableSpan } from "@opentelemetry/sdk-trace-base";
import type { TraceMessage, TraceSpan, TraceSpanKind, TraceToolCall } from "./values/trace.js";

/** Operations that call a model (the conventions' well-known values, but for agents and tools). */
const MODEL_CALLS = new Set(["chat", "text_completion", "generate_content", "embeddings"]);
const NOT_MODEL_CALLS = new Set(["invoke_agent", "create_agent", "invoke_workflow", "execute_tool", "retrieval"]);
const STATUS_ERROR = 2;

/** A span of the trace, with what the trace's messages are made from. */
export interface MappedSpan {
  span: TraceSpan;
  /** The conversation this span saw and answered, when it records messages. */
  input: TraceMessage[] | null;
  output: TraceMessage[] | null;
  conversationId: string | null;
}

/** OpenTelemetry's [seconds, nanoseconds] as ISO 8601 text to the microsecond (Python's precision). */
export function isoTime([seconds, nanos]: HrTime): string {
  const base = new Date(seconds * 1000).toISOString(); // ….000Z: whole seconds
  return `${base.slice(0, -4)}${String(Math.floor(nanos / 1000)).padStart(6, "0")}Z`;
}

export function hrMs([seconds, nanos]: HrTime): number {
  return seconds * 1000 + nanos / 1e6;
}

/**
 * An attribute value as Trackio stores it: strings made well-formed (a lone surrogate would
 * make the server refuse the whole trace), missing array items as null.
 */
function plainValue(v: AttributeValue): unknown {
  if (typeof v === "string") return v.toWellFormed();
  if (Array.isArray(v)) return v.map((x) => (x === undefined || x === null ? null : plainValue(x)));
  return v;
}

/** JSON text from an attribute (the conventions record structured values as JSON strings), or the text itself. */
function parsed(v: unknown): unknown {
  if (typeof v !== "string") return v;
  const t = v.trim();
  if (!(t.startsWith("{") || t.startsWith("["))) return v;
  try {
    return wellFormed(JSON.parse(t));
  } catch {
    return v;
  }
}

function wellFormed(v: unknown): unknown {
  if (typeof v === "string") return v.toWellFormed();
  if (Array.isArray(v)) return v.map(wellFormed);
  if (typeof v === "object" && v !== null) {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v))
      Object.defineProperty(out, k.toWellFormed(), { value: wellFormed(x), enumerable: true, writable: true });
    return out;
  }
  return v;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function text(v: unknown): string {
  return typeof v === "string" ? v : JSON.stringify(v);
}

/**
 * A message of the current conventions (`{ role, parts: [{ type, … }] }`) as OpenAI-style
 * messages: text parts become the content, `tool_call` parts the tool calls, and each
 * `tool_call_response` a `tool` message of its own; other parts (images, reasoning) are kept
 * as content parts.
 */
function fromParts(m: Record<string, unknown>): TraceMessage[] {
  const role = typeof m.role === "string" && m.role !== "" ? m.role : "user";
  const texts: string[] = [];
  const others: unknown[] = [];
  const calls: TraceToolCall[] = [];
  const results: TraceMessage[] = [];
  for (const p of Array.isArray(m.parts) ? m.parts : []) {
    if (!isObject(p)) continue;
    if (p.type === "text" && typeof p.content === "string") texts.push(p.content);
    else if (p.type === "tool_call")
      calls.push({
        id: String(p.id ?? ""),
        type: "function",
        function: { name: String(p.name ?? "tool"), arguments: text(p.arguments ?? {}) },
      });
    else if (p.type === "tool_call_response")
      results.push({
        role: "tool",
        tool_call_id: String(p.id ?? "").trim(),
        content: text(p.response ?? p.result ?? ""),
      });
    else others.push(p);
  }
  const out: TraceMessage[] = [];
  if (texts.length > 0 || calls.length > 0 || others.length > 0 || results.length === 0) {
    const msg: TraceMessage = {
      role,
      content: others.length > 0 ? [...texts.map((t) => ({ type: "text", text: t })), ...others] : texts.join("\n"),
    };
    if (calls.length > 0) {
      msg.tool_calls = calls;
      if (texts.length === 0 && others.length === 0) msg.content = null;
    }
    if (typeof m.finish_reason === "string") msg.finish_reason = m.finish_reason;
    if (typeof m.name === "string") msg.name = m.name;
    out.push(msg);
  }
  return [...out, ...results];
}

/** Messages from an attribute in any of the conventions' forms, OpenAI-style. */
function messagesFrom(v: unknown, defaultRole: string): TraceMessage[] | null {
  const p = parsed(v);
  if (p === undefined || p === null || p === "") return null;
  if (typeof p === "string") return [{ role: defaultRole, content: p }];
  const list = Array.isArray(p) ? p : [p];
  const out: TraceMessage[] = [];
  for (const m of list) {
    if (!isObject(m)) out.push({ role: defaultRole, content: typeof m === "string" ? m : (m as never) });
    else if (Array.isArray(m.parts)) out.push(...fromParts(m));
    else {
      const msg = { ...m } as TraceMessage;
      if (typeof msg.role !== "string" || msg.role === "") msg.role = defaultRole;
      out.push(msg);
    }
  }
  return out;
}

/** `gen_ai.prompt.0.role`, `gen_ai.prompt.0.content`, … (OpenLLMetry's indexed form). */
function indexed(attrs: Attributes, prefix: string, used: Set<string>): TraceMessage[] | null {
  const byIndex = new Map<number, TraceMessage>();
  const re = new RegExp(`^${prefix.replaceAll(".", "\\.")}\\.(\\d+)\\.([a-z_]+)$`);
  for (const [k, v] of Object.entries(attrs)) {
    const m = re.exec(k);
    if (m === null || v === undefined) continue;
    used.add(k);
    const i = Number(m[1]);
    const msg = byIndex.get(i) ?? { role: prefix.endsWith("completion") ? "assistant" : "user" };
    msg[m[2]] = m[2] === "tool_calls" ? parsed(plainValue(v)) : plainValue(v);
    byIndex.set(i, msg);
  }
  if (byIndex.size === 0) return null;
  return [...byIndex.entries()].sort((a, b) => a[0] - b[0]).map(([, m]) => m);
}

/** `gen_ai.system_instructions`: a list of parts (or text), as one system message. */
function systemMessages(v: unknown): TraceMessage[] | undefined {
  const p = parsed(v);
  if (p === undefined || p === null || p === "") return undefined;
  if (Array.isArray(p)) return fromParts({ role: "system", parts: p });
  return [{ role: "system", content: typeof p === "string" ? p : (p as never) }];
}

const EVENT_ROLES: Record<string, string> = {
  "gen_ai.system.message": "system",
  "gen_ai.user.message": "user",
  "gen_ai.assistant.message": "assistant",
  "gen_ai.tool.message": "tool",
};

/** Messages recorded as span events (the conventions before messages moved to attributes). */
function fromEvents(span: ReadableSpan): { input: TraceMessage[] | null; output: TraceMessage[] | null } {
  const input: TraceMessage[] = [];
  const output: TraceMessage[] = [];
  for (const e of span.events) {
    const a = e.attributes ?? {};
    const get = (k: string) => (a[k] === undefined ? undefined : plainValue(a[k] as AttributeValue));
    if (e.name === "gen_ai.content.prompt") input.push(...(messagesFrom(get("gen_ai.prompt"), "user") ?? []));
    else if (e.name === "gen_ai.content.completion")
      output.push(...(messagesFrom(get("gen_ai.completion"), "assistant") ?? []));
    else if (e.name in EVENT_ROLES) {
      const msg: TraceMessage = {
        role: typeof get("role") === "string" ? (get("role") as string) : EVENT_ROLES[e.name],
      };
      msg.content = get("content") ?? null;
      if (get("tool_calls") !== undefined) msg.tool_calls = parsed(get("tool_calls")) as TraceToolCall[];
      if (e.name === "gen_ai.tool.message" && get("id") !== undefined) msg.tool_call_id = String(get("id"));
      input.push(msg);
    } else if (e.name === "gen_ai.choice") {
      const inner = parsed(get("message"));
      const msg: TraceMessage = isObject(inner)
        ? ({ role: "assistant", ...inner } as TraceMessage)
        : { role: "assistant", content: parsed(get("content") ?? null) };
      if (typeof get("finish_reason") === "string") msg.finish_reason = get("finish_reason");
      output.push(msg);
    }
  }
  return { input: input.length > 0 ? input : null, output: output.length > 0 ? output : null };
}

function kindOf(op: unknown, attrs: Attributes): TraceSpanKind {
  if (op === "execute_tool" || (op === undefined && attrs["gen_ai.tool.name"] !== undefined)) return "tool";
  if (typeof op === "string" && MODEL_CALLS.has(op)) return "generation";
  const hasModel = attrs["gen_ai.request.model"] !== undefined || attrs["gen_ai.response.model"] !== undefined;
  return hasModel && !(typeof op === "string" && NOT_MODEL_CALLS.has(op)) ? "generation" : "span";
}

const count = (v: unknown) => (typeof v === "number" && Number.isSafeInteger(v) && v >= 0 ? v : undefined);

/** A finished span as a Trackio trace span; `parentId` null makes it a root of the trace. */
export function mapSpan(s: ReadableSpan, parentId: string | null): MappedSpan {
  const attrs = s.attributes;
  const used = new Set<string>();
  const take = (k: string): unknown => {
    const v = attrs[k];
    if (v === undefined) return undefined;
    used.add(k);
    return plainValue(v);
  };
  const op = take("gen_ai.operation.name");
  const kind = kindOf(op, attrs);
  const span: TraceSpan = { id: s.spanContext().spanId, name: s.name.toWellFormed(), kind, parent_id: parentId };
  span.start_time = isoTime(s.startTime);
  span.end_time = isoTime(s.endTime);
  span.duration_ms = Math.max(0, hrMs(s.duration));
  if (s.status.code === STATUS_ERROR) {
    span.status = "error";
    const exception = s.events.find((e) => e.name === "exception")?.attributes?.["exception.message"];
    const why = s.status.message || attrs["error.type"] || exception || "error";
    span.error = plainValue(why);
  } else span.status = "success";

  const responseModel = take("gen_ai.response.model");
  const requestModel = take("gen_ai.request.model");
  const model = responseModel ?? requestModel;
  if (typeof model === "string") span.model = model;
  const usage: Record<string, number> = {};
  const inTok = count(take("gen_ai.usage.input_tokens") ?? take("gen_ai.usage.prompt_tokens"));
  const outTok = count(take("gen_ai.usage.output_tokens") ?? take("gen_ai.usage.completion_tokens"));
  const totalTok = count(take("gen_ai.usage.total_tokens") ?? take("llm.usage.total_tokens"));
  if (inTok !== undefined) usage.input_tokens = inTok;
  if (outTok !== undefined) usage.output_tokens = outTok;
  if (totalTok !== undefined) usage.total_tokens = totalTok;
  if (Object.keys(usage).length > 0) span.usage = usage;
  const cost = take("gen_ai.usage.cost");
  if (typeof cost === "number" && Number.isFinite(cost) && cost >= 0) span.cost_usd = cost;

  // The messages: attributes of the current conventions first, then the older forms.
  const events = fromEvents(s);
  const system = systemMessages(take("gen_ai.system_instructions"));
  let input =
    messagesFrom(take("gen_ai.input.messages"), "user") ??
    messagesFrom(take("gen_ai.prompt"), "user") ??
    indexed(attrs, "gen_ai.prompt", used) ??
    events.input;
  if (system !== undefined) input = [...system, ...(input ?? [])];
  const output =
    messagesFrom(take("gen_ai.output.messages"), "assistant") ??
    messagesFrom(take("gen_ai.completion"), "assistant") ??
    indexed(attrs, "gen_ai.completion", used) ??
    events.output;

  if (kind === "tool") {
    const name = take("gen_ai.tool.name");
    if (typeof name === "string" && span.name === `execute_tool ${name}`) span.name = name;
    const args = take("gen_ai.tool.call.arguments");
    const result = take("gen_ai.tool.call.result");
    if (args !== undefined) span.input = parsed(args);
    if (result !== undefined) span.output = parsed(result);
  } else {
    if (input !== null) span.input = input;
    if (output !== null) span.output = output;
  }
  const conversation = take("gen_ai.conversation.id");

  const metadata: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || used.has(k)) continue;
    Object.defineProperty(metadata, k.toWellFormed(), { value: plainValue(v), enumerable: true, writable: true });
  }
  if (Object.keys(metadata).length > 0) span.metadata = metadata;
  return {
    span,
    input: kind === "tool" ? null : input,
    output: kind === "tool" ? null : output,
    conversationId: typeof conversation === "string" ? conversation : null,
  };
}
