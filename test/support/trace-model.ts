// Traces for the property tests: a generator of Trace arguments (good and bad), what the
// Trace constructor must refuse, worked out without the client's code, and the comparison of
// the `traces` rows the server stored for the Node client and for Trackio's Python client.

import fc from "fast-check";
import type { TrackioServer } from "../../scripts/trackio-server.js";
import { Trace } from "../../src/index.js";
import { doubleArb, jsonValueArb, keyArb, objectOf, stringArb } from "./arbitraries.js";
import { canonicalJson } from "./lossless-json.js";
import { type CaseRuns, readRows } from "./property-harness.js";
import { sqlString } from "./read-api.js";
import { ConstructionRefused, describeValue } from "./value-model.js";

const KINDS = ["span", "generation", "tool"];
const ISO = /^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?$/i;

function plain(v: unknown): v is Record<string, unknown> {
  if (typeof v !== "object" || v === null || Array.isArray(v)) return false;
  const p = Object.getPrototypeOf(v);
  return p === Object.prototype || p === null;
}

function timeReason(v: unknown): string | null {
  if (v === undefined) return null;
  if (v instanceof Date) return Number.isNaN(v.getTime()) ? "an invalid Date" : null;
  return typeof v === "string" && ISO.test(v) && !Number.isNaN(Date.parse(v)) ? null : "not a time";
}

const amount = (v: unknown, integer = false) =>
  v === undefined || (typeof v === "number" && (integer ? Number.isSafeInteger(v) : Number.isFinite(v)) && v >= 0);
const optString = (v: unknown) => v === undefined || typeof v === "string";

/** Why `new Trace(init)` must throw ERR_TRACKIO_INVALID_ARG, or null. */
export function traceRefusal(init: { messages: unknown; metadata?: unknown; spans?: unknown }): string | null {
  const { messages, metadata, spans } = init;
  if (!Array.isArray(messages)) return "messages is not an array";
  for (const [i, m] of messages.entries()) {
    if (!plain(m)) return `messages[${i}] is not a plain object`;
    if (typeof m.role !== "string" || m.role === "") return `messages[${i}].role`;
    if (!optString(m.name) || !optString(m.tool_call_id)) return `messages[${i}] name or tool_call_id`;
    if (m.tool_calls !== undefined && !(Array.isArray(m.tool_calls) && m.tool_calls.every(plain)))
      return `messages[${i}].tool_calls`;
  }
  if (metadata !== undefined && metadata !== null) {
    if (!plain(metadata)) return "metadata is not a plain object";
    if (!optString(metadata.status)) return "metadata.status";
    if (!amount(metadata.duration_ms) || !amount(metadata.latency_ms) || !amount(metadata.cost_usd))
      return "a metadata amount";
  }
  if (spans === undefined || spans === null) return null;
  if (!Array.isArray(spans)) return "spans is not an array";
  for (const [i, s] of spans.entries()) {
    if (!plain(s)) return `spans[${i}] is not a plain object`;
    if (typeof s.id !== "string" || s.id === "") return `spans[${i}].id`;
    if (typeof s.name !== "string") return `spans[${i}].name`;
    if (typeof s.kind !== "string" || !KINDS.includes(s.kind)) return `spans[${i}].kind`;
    if (s.parent_id !== null && !optString(s.parent_id)) return `spans[${i}].parent_id`;
    const t = timeReason(s.start_time) ?? timeReason(s.end_time);
    if (t !== null) return `spans[${i}] time: ${t}`;
    if (!amount(s.duration_ms) || !amount(s.cost_usd)) return `spans[${i}] amount`;
    if (!optString(s.status) || !optString(s.model)) return `spans[${i}] status or model`;
    if (s.usage !== undefined) {
      if (!plain(s.usage)) return `spans[${i}].usage`;
      for (const k of ["input_tokens", "output_tokens", "total_tokens"])
        if (!amount(s.usage[k], true)) return `spans[${i}].usage.${k}`;
    }
    if (s.metadata !== undefined && !plain(s.metadata)) return `spans[${i}].metadata`;
  }
  return null;
}

/** Traces made by the constructor and what the model said of each argument. */
const verdicts = new WeakMap<object, string | null>();

/** `new Trace(init)`, or what it threw; the model's verdict is kept for traceProblems(). */
export function traceOf(init: { messages: unknown; metadata?: unknown; spans?: unknown }): Trace | ConstructionRefused {
  const expected = traceRefusal(init);
  const call = `new Trace(${describeValue(init)})`;
  let made: Trace | ConstructionRefused;
  try {
    made = new Trace(init as never);
    Object.defineProperty(made, fc.toStringMethod, { value: () => call });
  } catch (err) {
    made = new ConstructionRefused(call, err);
  }
  verdicts.set(made, expected);
  return made;
}

/** The Traces and refused constructions of a record (top level and in lists), for the books. */
export function tracesIn(record: object): (Trace | ConstructionRefused)[] {
  const out: (Trace | ConstructionRefused)[] = [];
  for (const d of Object.values(Object.getOwnPropertyDescriptors(record))) {
    for (const v of Array.isArray(d.value) ? d.value : [d.value])
      if (v instanceof Trace || v instanceof ConstructionRefused) out.push(v);
  }
  return out;
}

/** A constructor that refused what the model accepts, or accepted what it refuses. */
export function constructorProblems(record: object, step: number): string[] {
  const problems: string[] = [];
  for (const t of tracesIn(record)) {
    if (!verdicts.has(t)) continue;
    const why = verdicts.get(t) ?? null;
    if (t instanceof Trace && why !== null) problems.push(`step ${step}: ${String(t)} was accepted, but ${why}`);
    if (t instanceof ConstructionRefused && why === null)
      problems.push(`step ${step}: ${t.call} was refused (${String(t.error)}), but it is a valid trace`);
  }
  return problems;
}

const TRACE_SQL = (runId: string) =>
  `SELECT step, key, trace_index, messages, metadata, spans, log_id FROM traces WHERE run_id = ${sqlString(runId)} ORDER BY id`;

/**
 * The `traces` rows of both runs: one per Trace of an accepted record, stored as Python's
 * client stores the same Trace (messages, metadata and spans compared with numbers by their
 * literal text), under the record's log_id.
 */
export async function compareTraceRows(
  server: TrackioServer,
  records: unknown[],
  runs: CaseRuns,
  storable: (i: number) => boolean,
): Promise<{ problems: string[]; stored: number; expected: number }> {
  const problems: string[] = [];
  const js = await readRows(server, runs.js.project, TRACE_SQL(runs.js.runId));
  const py = runs.py.runId === null ? [] : await readRows(server, runs.py.project, TRACE_SQL(runs.py.runId));
  const where = (r: Record<string, unknown>) => `${r.step}/${r.key}/${r.trace_index ?? "-"}`;
  const pyAt = new Map(py.map((r) => [where(r), r]));
  let expected = 0;
  for (const i of runs.accepted) expected += tracesIn(records[i] as object).length;
  if (js.length !== expected)
    problems.push(`traces: ${js.length} rows stored for ${expected} Traces in the records log() accepted`);
  const seen = new Set<string>();
  for (const row of js) {
    const at = where(row);
    if (seen.has(at)) problems.push(`traces: ${at} stored twice`);
    seen.add(at);
    if (!/-\d+$/.test(String(row.log_id))) problems.push(`traces: ${at} has log_id ${String(row.log_id)}`);
    const step = Number(row.step);
    if (!storable(step)) continue;
    const other = pyAt.get(at);
    if (other === undefined) {
      problems.push(`traces: ${at} stored (${String(row.messages).slice(0, 200)}), but Python stored no such trace`);
      continue;
    }
    for (const col of ["messages", "metadata", "spans"]) {
      const a = canonicalJson(String(row[col]));
      const b = canonicalJson(String(other[col]));
      if (a !== b) problems.push(`traces: ${at} ${col} stored ${a.slice(0, 400)}; Python stored ${b.slice(0, 400)}`);
    }
  }
  for (const row of py) {
    if (!seen.has(where(row))) problems.push(`traces: Python stored ${where(row)}, the Node client did not`);
  }
  return { problems, stored: js.length, expected };
}

// Generators. Each field is mostly good and now and then bad, so that a case holds stored
// traces and refused ones.

const bad = <T, U>(good: fc.Arbitrary<T>, wrong: fc.Arbitrary<U>) =>
  fc.oneof({ arbitrary: good, weight: 100 }, { arbitrary: wrong, weight: 1 });

/** Mostly text the server stores, now and then any string (lone surrogates included). */
const textArb = fc.oneof(
  { arbitrary: fc.string({ unit: "grapheme", maxLength: 10 }), weight: 20 },
  { arbitrary: stringArb, weight: 1 },
);

const timeArb: fc.Arbitrary<unknown> = bad(
  fc.oneof(
    fc.date({ min: new Date("1970-01-01T00:00:00Z"), max: new Date("2100-01-01T00:00:00Z"), noInvalidDate: true }),
    fc.constantFrom(
      "2026-01-02T03:04:05Z",
      "2026-01-02T03:04:05.123456+00:00",
      "2026-01-02 03:04",
      "2026-01-02T03:04:05.5-05:30",
    ),
  ),
  fc.constantFrom("yesterday", "2026-13-45T00:00:00Z", 1767323045000, new Date(Number.NaN), "", null),
);

const amountArb = bad(
  fc.oneof(fc.integer({ min: 0, max: 100_000 }), fc.double({ min: 0, max: 1e6, noNaN: true })),
  doubleArb,
);
const tokensArb = bad(fc.integer({ min: 0, max: 1_000_000 }), fc.oneof(doubleArb, fc.constant("12")));

/** Content: mostly JSON the server stores, now and then any value of the other property tests. */
const contentArb = fc.oneof(
  { arbitrary: fc.jsonValue({ maxDepth: 2 }), weight: 12 },
  { arbitrary: jsonValueArb, weight: 1 },
);

const toolCallArb = fc.record({
  id: textArb,
  type: fc.constant("function"),
  function: fc.record({ name: textArb, arguments: textArb }),
});

const messageArb: fc.Arbitrary<unknown> = bad(
  fc.record(
    {
      role: bad(fc.constantFrom("system", "user", "assistant", "tool"), fc.constantFrom("", 1, null)),
      content: fc.oneof(textArb, fc.constant(null), contentArb),
      name: bad(textArb, fc.constant(3)),
      tool_calls: bad(fc.array(toolCallArb, { maxLength: 2 }), fc.constantFrom({}, ["call"])),
      tool_call_id: bad(textArb, fc.constant(false)),
    },
    { requiredKeys: ["role"] },
  ),
  fc.constantFrom(["user", "hi"], "hi", null),
);

const jsonObjectArb = fc
  .array(fc.tuple(fc.oneof({ arbitrary: textArb, weight: 12 }, { arbitrary: keyArb, weight: 1 }), contentArb), {
    maxLength: 3,
  })
  .map(objectOf);

const spanArb: fc.Arbitrary<unknown> = fc.record(
  {
    id: bad(fc.constantFrom("s1", "s2", "s3", "a-b/c"), fc.constantFrom("", 7, undefined)),
    name: bad(textArb, fc.constant(null)),
    kind: bad(fc.constantFrom("span", "generation", "tool"), fc.constantFrom("llm", "SPAN", 0)),
    parent_id: bad(fc.constantFrom(null, "s1", "s2", "nowhere"), fc.constant(1)),
    start_time: timeArb,
    end_time: timeArb,
    duration_ms: amountArb,
    status: bad(fc.constantFrom("success", "error", "failed", "running"), fc.constant(true)),
    error: contentArb,
    input: contentArb,
    output: contentArb,
    model: bad(textArb, fc.constant(4)),
    usage: bad(
      fc.record({ input_tokens: tokensArb, output_tokens: tokensArb, total_tokens: tokensArb }, { requiredKeys: [] }),
      fc.constantFrom([], "none"),
    ),
    cost_usd: amountArb,
    metadata: bad(jsonObjectArb, fc.constantFrom("x", [1])),
  },
  { requiredKeys: ["id", "name", "kind"] },
);

const traceMetadataArb: fc.Arbitrary<unknown> = fc.oneof(
  { arbitrary: fc.constantFrom(undefined, null), weight: 4 },
  { arbitrary: jsonObjectArb, weight: 8 },
  {
    arbitrary: fc.record(
      { session_id: textArb, status: bad(textArb, fc.constant(0)), latency_ms: amountArb, cost_usd: amountArb },
      { requiredKeys: [] },
    ),
    weight: 8,
  },
  { arbitrary: fc.constantFrom("meta", [1]), weight: 1 },
);

/** A Trace made from generated arguments, or what its constructor threw. */
export const traceArb = fc
  .record(
    {
      messages: bad(fc.array(messageArb, { maxLength: 4 }), fc.constantFrom("hi", null, {})),
      metadata: traceMetadataArb,
      spans: fc.oneof(
        { arbitrary: fc.array(spanArb, { maxLength: 4 }), weight: 20 },
        { arbitrary: fc.constantFrom(undefined, null, {}, "spans"), weight: 1 },
      ),
    },
    { requiredKeys: ["messages"] },
  )
  .map((init) => traceOf(init));

/** A record with Traces where the server takes them (a metric's value, a list), and now and then elsewhere. */
export const traceRecordArb = fc
  .array(
    fc.tuple(
      fc.oneof(
        { arbitrary: fc.constantFrom("agent", "trace", "eval/chat"), weight: 3 },
        { arbitrary: keyArb, weight: 1 },
      ),
      fc.oneof(
        { arbitrary: traceArb, weight: 6 },
        { arbitrary: fc.array(traceArb, { minLength: 1, maxLength: 3 }), weight: 2 },
        { arbitrary: doubleArb, weight: 2 },
        { arbitrary: jsonValueArb, weight: 1 },
        { arbitrary: traceArb.map((t) => objectOf([["inner", t]])), weight: 1 },
        { arbitrary: traceArb.map((t) => [t, 1]), weight: 1 },
      ),
    ),
    { minLength: 1, maxLength: 3 },
  )
  .map(objectOf);
