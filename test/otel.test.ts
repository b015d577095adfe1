// trackio/otel without a server: spans made with OpenTelemetry's own SDK, exported through
// TrackioSpanExporter into a recording stand-in for the Client. One trace per root span, the
// GenAI conventions in each of their forms, late and unfinished spans, failures, and a
// seeded property: whatever the forest and the order spans end in, every span is in exactly
// one trace. test/agent-otel.test.ts runs the bridge against the real server.

import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { type Attributes, context, ROOT_CONTEXT, type Span, SpanStatusCode, trace } from "@opentelemetry/api";
import { BasicTracerProvider, SimpleSpanProcessor } from "@opentelemetry/sdk-trace-base";
import fc from "fast-check";
import { InvalidArgError, Trace } from "../src/index.js";
import { type TraceLogger, TrackioSpanExporter, type TrackioSpanExporterOptions } from "../src/otel.js";

// The property tests' seed (test/support/property-runner.ts, not imported: it reaches the server helpers).
const propertySeed = Number(process.env.TRACKIO_PROPERTY_SEED || 20261130);

interface Logged {
  metrics: Record<string, unknown>;
  step: number | undefined;
  timestamp: number | Date | undefined;
}

class Recorder implements TraceLogger {
  readonly logged: Logged[] = [];
  flushed = 0;
  fail: Error | null = null;
  log(metrics: Record<string, unknown>, step?: number, timestamp?: number | Date): void {
    if (this.fail !== null) throw this.fail;
    this.logged.push({ metrics, step, timestamp });
  }
  async flush(): Promise<void> {
    this.flushed++;
  }
  /** The logged traces, as the server would be sent them. */
  traces(key = "trace"): ReturnType<Trace["toJSON"]>[] {
    return this.logged.map((l) => {
      const t = l.metrics[key];
      assert.ok(t instanceof Trace, `a Trace under ${key}`);
      return JSON.parse(JSON.stringify(t)) as ReturnType<Trace["toJSON"]>;
    });
  }
}

function setup(options: TrackioSpanExporterOptions = {}) {
  const recorder = new Recorder();
  const exporter = new TrackioSpanExporter(recorder, options);
  const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
  const tracer = provider.getTracer("test");
  const start = (name: string, attributes: Attributes = {}, parent?: Span) =>
    tracer.startSpan(
      name,
      { attributes },
      parent === undefined ? ROOT_CONTEXT : trace.setSpan(context.active(), parent),
    );
  return { recorder, exporter, provider, start };
}

describe("TrackioSpanExporter: one trace per root span", () => {
  test("children wait for their root; the tree is logged once, with parents, kinds, model, usage, times and status", async () => {
    const { recorder, provider, start } = setup();
    const root = start("invoke_agent weather-bot", {
      "gen_ai.operation.name": "invoke_agent",
      "gen_ai.agent.name": "weather-bot",
    });
    const gen = start(
      "chat fake-model",
      {
        "gen_ai.operation.name": "chat",
        "gen_ai.request.model": "fake-model",
        "gen_ai.response.model": "fake-model-2026",
        "gen_ai.usage.input_tokens": 12,
        "gen_ai.usage.output_tokens": 5,
        "gen_ai.usage.cost": 0.0003,
        "gen_ai.request.temperature": 0.2,
        "gen_ai.input.messages": JSON.stringify([
          { role: "user", parts: [{ type: "text", content: "Weather in Paris?" }] },
        ]),
        "gen_ai.output.messages": JSON.stringify([
          {
            role: "assistant",
            parts: [{ type: "tool_call", id: "call_1", name: "weather", arguments: { city: "Paris" } }],
            finish_reason: "tool_call",
          },
        ]),
      },
      root,
    );
    gen.end();
    const tool = start(
      "execute_tool weather",
      {
        "gen_ai.operation.name": "execute_tool",
        "gen_ai.tool.name": "weather",
        "gen_ai.tool.call.id": "call_1",
        "gen_ai.tool.call.arguments": '{"city":"Paris"}',
        "gen_ai.tool.call.result": '{"sky":"rainy","celsius":14}',
      },
      root,
    );
    tool.end();
    await provider.forceFlush();
    assert.equal(recorder.logged.length, 0, "nothing is logged before the root ends");
    root.end();
    await provider.forceFlush();
    assert.equal(recorder.logged.length, 1);
    const [t] = recorder.traces();
    const rootId = root.spanContext().spanId;
    assert.equal(t.metadata.otel_trace_id, root.spanContext().traceId);
    assert.deepEqual(
      t.spans.map((s) => [s.name, s.kind, s.parent_id ?? null, s.status]),
      [
        ["invoke_agent weather-bot", "span", null, "success"],
        ["chat fake-model", "generation", rootId, "success"],
        ["weather", "tool", rootId, "success"],
      ],
    );
    const g = t.spans[1];
    assert.equal(g.id, gen.spanContext().spanId);
    assert.equal(g.model, "fake-model-2026");
    assert.deepEqual(g.usage, { input_tokens: 12, output_tokens: 5 });
    assert.equal(g.cost_usd, 0.0003);
    assert.deepEqual(g.metadata, { "gen_ai.request.temperature": 0.2 });
    assert.deepEqual(g.input, [{ role: "user", content: "Weather in Paris?" }]);
    assert.deepEqual(g.output, [
      {
        role: "assistant",
        content: null,
        tool_calls: [{ id: "call_1", type: "function", function: { name: "weather", arguments: '{"city":"Paris"}' } }],
        finish_reason: "tool_call",
      },
    ]);
    assert.match(String(g.start_time), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);
    assert.ok(typeof g.duration_ms === "number" && g.duration_ms >= 0);
    assert.deepEqual(t.spans[2].input, { city: "Paris" });
    assert.deepEqual(t.spans[2].output, { sky: "rainy", celsius: 14 });
    // No messages on the root: the last model call's conversation.
    assert.deepEqual(t.messages, [...(g.input as unknown[]), ...(g.output as unknown[])]);
    // The record's time is the root's start.
    const [s, ns] = (root as unknown as { startTime: [number, number] }).startTime;
    assert.equal(recorder.logged[0].timestamp, Math.floor(s * 1000 + ns / 1e6));
    assert.equal(recorder.logged[0].step, undefined);
  });

  test("two roots of one trace id (remote parents) are two traces; a lone span is a trace of one span", async () => {
    const { recorder, provider, start } = setup({ key: "agent", step: () => 41 });
    const remote = trace.setSpanContext(ROOT_CONTEXT, {
      traceId: "0af7651916cd43dd8448eb211c80319c",
      spanId: "b7ad6b7169203331",
      traceFlags: 1,
      isRemote: true,
    });
    const tracer = provider.getTracer("test");
    const a = tracer.startSpan("handler a", {}, remote);
    const b = tracer.startSpan("handler b", {}, remote);
    b.end();
    a.end();
    start("lone").end();
    await provider.forceFlush();
    const traces = recorder.traces("agent");
    assert.deepEqual(
      traces.map((t) => [t.spans.map((s) => s.name), t.spans[0].parent_id, t.metadata.otel_trace_id]),
      [
        [["handler b"], null, "0af7651916cd43dd8448eb211c80319c"],
        [["handler a"], null, "0af7651916cd43dd8448eb211c80319c"],
        [["lone"], null, traces[2].metadata.otel_trace_id],
      ],
    );
    assert.deepEqual(
      recorder.logged.map((l) => l.step),
      [41, 41, 41],
    );
  });

  test("an error status is the span's status and error; a span ending after its root is a late trace of its own", async () => {
    const { recorder, provider, start } = setup();
    const root = start("agent");
    const late = start("background", {}, root);
    const failing = start("chat", { "gen_ai.operation.name": "chat", "error.type": "RateLimit" }, root);
    failing.recordException(new Error("429 from model"));
    failing.setStatus({ code: SpanStatusCode.ERROR, message: "rate limited" });
    failing.end();
    root.end();
    late.end();
    await provider.forceFlush();
    const [first, second] = recorder.traces();
    assert.deepEqual(
      first.spans.map((s) => [s.name, s.status, s.error ?? null]),
      [
        ["agent", "success", null],
        ["chat", "error", "rate limited"],
      ],
    );
    assert.equal(first.spans[1].metadata?.["error.type"], "RateLimit");
    assert.deepEqual(
      second.spans.map((s) => [s.name, s.parent_id]),
      [["background", null]],
    );
    assert.equal(second.metadata.late, true);
    assert.equal(second.metadata.parent_span_id, root.spanContext().spanId);
  });

  test("shutdown() logs trees whose root never ended as incomplete, then flushes; export() after it fails", async () => {
    const { recorder, exporter, provider, start } = setup();
    const root = start("never ends");
    const child = start("child", {}, root);
    start("grandchild", {}, child).end();
    child.end();
    await provider.forceFlush();
    assert.equal(recorder.logged.length, 0);
    await exporter.shutdown();
    const [t] = recorder.traces();
    assert.deepEqual(
      t.spans.map((s) => [s.name, s.parent_id === null ? null : "parent"]),
      [
        ["child", null],
        ["grandchild", "parent"],
      ],
    );
    assert.equal(t.metadata.incomplete, true);
    assert.ok(recorder.flushed >= 1);
    const result = await new Promise<{ code: number; error?: Error }>((resolve) => exporter.export([], resolve));
    assert.equal(result.code, 1);
    assert.equal((result.error as Error & { code?: string }).code, "ERR_TRACKIO_CLOSED");
  });

  test("past maxPendingSpans, the oldest open tree is logged as incomplete", async () => {
    const { recorder, provider, start } = setup({ maxPendingSpans: 3 });
    const r1 = start("r1");
    for (let i = 0; i < 3; i++) start(`c${i}`, {}, r1).end();
    await provider.forceFlush();
    assert.equal(recorder.logged.length, 0);
    const r2 = start("r2");
    start("d0", {}, r2).end();
    await provider.forceFlush();
    const [t] = recorder.traces();
    assert.equal(recorder.logged.length, 1, "r2's tree stays open");
    assert.deepEqual(t.spans.map((s) => s.name).sort(), ["c0", "c1", "c2"]);
    assert.equal(t.metadata.incomplete, true);
    assert.equal(t.metadata.otel_trace_id, r1.spanContext().traceId);
  });

  test("a trace log() refuses: the export fails, and a TRACKIO_OTEL_EXPORT warning says so", async () => {
    const { recorder, exporter } = setup();
    recorder.fail = new InvalidArgError("log(): record too large");
    const { provider, start } = (() => {
      const p = new BasicTracerProvider();
      return { provider: p, start: (n: string) => p.getTracer("t").startSpan(n) };
    })();
    const span = start("big");
    span.end();
    const warned = new Promise<Error>((resolve) => process.once("warning", resolve));
    const result = await new Promise<{ code: number; error?: Error }>((resolve) =>
      exporter.export([span as never], resolve),
    );
    assert.equal(result.code, 1);
    assert.match(String(result.error?.message), /record too large/);
    const w = (await warned) as Error & { code?: string };
    assert.equal(w.code, "TRACKIO_OTEL_EXPORT");
    assert.match(w.message, /was not logged: log\(\): record too large/);
    await provider.shutdown();
  });

  test("bad options are refused at the constructor", () => {
    const r = new Recorder();
    assert.throws(() => new TrackioSpanExporter(r, { key: "" }), InvalidArgError);
    assert.throws(() => new TrackioSpanExporter(r, { step: -1 }), InvalidArgError);
    assert.throws(() => new TrackioSpanExporter(r, { maxPendingSpans: 0 }), InvalidArgError);
  });
});

describe("TrackioSpanExporter: the books balance", () => {
  test("any forest, spans ending in any order, maxPendingSpans small or large: every span is in exactly one trace, under its own id", async () => {
    // Span i's parent is one of the spans before it, or none; spans end in a generated order.
    const forestArb = fc
      .array(fc.option(fc.nat(), { nil: null, freq: 3 }), { minLength: 1, maxLength: 25 })
      .chain((parents) =>
        fc.record({
          parents: fc.constant(parents.map((p, i) => (p === null || i === 0 ? null : p % i))),
          order: fc.shuffledSubarray([...parents.keys()], { minLength: parents.length, maxLength: parents.length }),
          maxPendingSpans: fc.constantFrom(2, 5, 10_000),
        }),
      );
    let spans = 0;
    let traces = 0;
    await fc.assert(
      fc.asyncProperty(forestArb, async ({ parents, order, maxPendingSpans }) => {
        const { recorder, exporter, provider, start } = setup({ maxPendingSpans });
        const made: Span[] = [];
        for (const [i, p] of parents.entries()) made.push(start(`s${i}`, {}, p === null ? undefined : made[p]));
        for (const i of order) made[i].end();
        await provider.forceFlush();
        await exporter.shutdown();
        const logged = recorder.traces().flatMap((t) => t.spans.map((s) => s.id));
        assert.deepEqual(logged.sort(), made.map((s) => s.spanContext().spanId).sort());
        // Within a trace a span's parent, when given, is a span of the same trace.
        for (const t of recorder.traces()) {
          const ids = new Set(t.spans.map((s) => s.id));
          for (const s of t.spans) if (s.parent_id != null) assert.ok(ids.has(s.parent_id));
        }
        spans += made.length;
        traces += recorder.logged.length;
      }),
      { seed: propertySeed, numRuns: 100 },
    );
    process.stdout.write(
      `exporter books: ${spans} spans in ${traces} traces, none lost or twice; seed ${propertySeed}\n`,
    );
  });
});

describe("TrackioSpanExporter: the GenAI conventions' older forms", () => {
  async function oneSpan(attributes: Attributes, events: [string, Attributes][] = []) {
    const { recorder, provider, start } = setup();
    const s = start("chat", attributes);
    for (const [name, a] of events) s.addEvent(name, a);
    s.end();
    await provider.forceFlush();
    const [t] = recorder.traces();
    return t;
  }

  test("system instructions and gen_ai.prompt / gen_ai.completion as OpenAI-style JSON", async () => {
    const t = await oneSpan({
      "gen_ai.request.model": "m",
      "gen_ai.system_instructions": JSON.stringify([{ type: "text", content: "Be brief." }]),
      "gen_ai.prompt": JSON.stringify([{ role: "user", content: "hi" }]),
      "gen_ai.completion": "hello",
      "gen_ai.usage.prompt_tokens": 3,
      "gen_ai.usage.completion_tokens": 1,
    });
    assert.equal(t.spans[0].kind, "generation");
    assert.deepEqual(t.messages, [
      { role: "system", content: "Be brief." },
      { role: "user", content: "hi" },
      { role: "assistant", content: "hello" },
    ]);
    assert.deepEqual(t.spans[0].usage, { input_tokens: 3, output_tokens: 1 });
    assert.equal(t.spans[0].metadata, undefined);
  });

  test("indexed gen_ai.prompt.N.role / content", async () => {
    const t = await oneSpan({
      "gen_ai.operation.name": "text_completion",
      "gen_ai.prompt.1.role": "user",
      "gen_ai.prompt.1.content": "second",
      "gen_ai.prompt.0.role": "system",
      "gen_ai.prompt.0.content": "first",
      "gen_ai.completion.0.content": "answer",
    });
    assert.deepEqual(t.messages, [
      { role: "system", content: "first" },
      { role: "user", content: "second" },
      { role: "assistant", content: "answer" },
    ]);
  });

  test("message events and gen_ai.choice", async () => {
    const t = await oneSpan({ "gen_ai.operation.name": "chat" }, [
      ["gen_ai.system.message", { content: "sys" }],
      ["gen_ai.user.message", { content: "q" }],
      ["gen_ai.tool.message", { content: "42", id: "call_9" }],
      ["gen_ai.choice", { message: JSON.stringify({ content: "a" }), finish_reason: "stop" }],
    ]);
    assert.deepEqual(t.messages, [
      { role: "system", content: "sys" },
      { role: "user", content: "q" },
      { role: "tool", content: "42", tool_call_id: "call_9" },
      { role: "assistant", content: "a", finish_reason: "stop" },
    ]);
  });

  test("tool-call responses become tool messages; strings that are not well-formed are repaired", async () => {
    const t = await oneSpan({
      "gen_ai.operation.name": "chat",
      "gen_ai.input.messages": JSON.stringify([
        { role: "tool", parts: [{ type: "tool_call_response", id: " call_1", result: "rainy" }] },
      ]),
      "note\ud800": "a\udc00b",
    });
    assert.deepEqual(t.messages, [{ role: "tool", tool_call_id: "call_1", content: "rainy" }]);
    assert.deepEqual(t.spans[0].metadata, { "note\ufffd": "a\ufffdb" });
    const { recorder, provider, start } = setup();
    const span = start("tool\ud800");
    span.setStatus({ code: SpanStatusCode.ERROR, message: "bad \udc00" });
    span.end();
    await provider.forceFlush();
    const [{ spans }] = recorder.traces();
    assert.deepEqual([spans[0].name, spans[0].error], ["tool\ufffd", "bad \ufffd"]);
  });
});
