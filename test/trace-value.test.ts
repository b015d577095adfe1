// The Trace value without a server: what its constructor refuses (naming the field), what it
// keeps, and where log() takes one (a metric's value or a list of Traces, as Trackio's server
// splits them out of the metrics). test/trace.test.ts compares what the server stores with
// Trackio's Python client.

import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { Image, InvalidArgError, Trace, type TraceSpan } from "../src/index.js";
import { encodeValues, metricsToJson } from "../src/values/json.js";

const logJson = (metrics: object) => encodeValues(metrics, "log()", () => "file.png").text;

function refused(make: () => unknown, message: RegExp): void {
  assert.throws(make, (err: unknown) => {
    assert.ok(err instanceof InvalidArgError, `not an InvalidArgError: ${String(err)}`);
    assert.equal(err.code, "ERR_TRACKIO_INVALID_ARG");
    assert.match(err.message, message);
    return true;
  });
}

const span = (extra: Record<string, unknown> = {}): TraceSpan => ({
  id: "s1",
  name: "chat",
  kind: "generation",
  ...extra,
});

describe("new Trace()", () => {
  test("keeps messages, metadata and spans as given, with Dates as ISO text and undefined fields left out", () => {
    const messages = [
      { role: "user", content: "hi" },
      { role: "assistant", content: null, tool_calls: [{ id: "c1", type: "function", function: { name: "f" } }] },
      { role: "tool", content: "42", tool_call_id: "c1" },
    ];
    const t = new Trace({
      messages,
      metadata: { session_id: "abc", cost_usd: 0.5 },
      spans: [
        span({ start_time: new Date(Date.UTC(2026, 0, 2, 3, 4, 5, 678)), end_time: "2026-01-02T03:04:06Z" }),
        { id: "s2", name: "f", kind: "tool", parent_id: "s1", model: undefined, input: { x: 1 } },
      ],
    });
    assert.deepEqual(t.toJSON(), {
      _type: "trackio.trace",
      messages,
      metadata: { session_id: "abc", cost_usd: 0.5 },
      spans: [
        {
          id: "s1",
          name: "chat",
          kind: "generation",
          start_time: "2026-01-02T03:04:05.678Z",
          end_time: "2026-01-02T03:04:06Z",
        },
        { id: "s2", name: "f", kind: "tool", parent_id: "s1", input: { x: 1 } },
      ],
    });
    assert.deepEqual(new Trace({ messages: [] }).toJSON(), {
      _type: "trackio.trace",
      messages: [],
      metadata: {},
      spans: [],
    });
  });

  test("copies each message and span (as Python's dict() does), so later changes to them are not logged", () => {
    const m = { role: "user", content: "before" };
    const s = span();
    const t = new Trace({ messages: [m], spans: [s] });
    m.content = "after";
    s.name = "renamed";
    assert.equal(t.messages[0].content, "before");
    assert.equal(t.spans[0].name, "chat");
  });

  test("a key named __proto__ stays a key", () => {
    const md = JSON.parse('{"__proto__": 1}') as Record<string, unknown>;
    const t = new Trace({ messages: [], metadata: md });
    assert.equal(Object.getPrototypeOf(t.metadata), Object.prototype);
    assert.equal(logJson({ t }), '{"t":{"_type":"trackio.trace","messages":[],"metadata":{"__proto__":1},"spans":[]}}');
  });

  test("refuses what the dashboard and Trackio's CLI cannot read, naming the field", () => {
    const cases: [unknown, RegExp][] = [
      [undefined, /the argument must be \{ messages/],
      [{ messages: "hi" }, /messages must be an array/],
      [{ messages: [["user", "hi"]] }, /messages\[0\] must be a message object/],
      [{ messages: [{ content: "hi" }] }, /messages\[0\]\.role must be a non-empty string/],
      [{ messages: [{ role: "tool", tool_call_id: 5 }] }, /messages\[0\]\.tool_call_id must be a string/],
      [{ messages: [{ role: "assistant", tool_calls: {} }] }, /messages\[0\]\.tool_calls must be an array/],
      [{ messages: [{ role: "assistant", toolCalls: [] }] }, /messages\[0\]\.toolCalls is spelled tool_calls/],
      [{ messages: [], metadata: new Map() }, /metadata must be a plain object, got an instance of Map/],
      [{ messages: [], metadata: { latency_ms: -1 } }, /metadata\.latency_ms must be a non-negative finite number/],
      [{ messages: [], spans: {} }, /spans must be an array/],
      [{ messages: [], spans: [null] }, /spans\[0\] must be a span object/],
      [{ messages: [], spans: [{ name: "x", kind: "span" }] }, /spans\[0\]\.id must be a non-empty string/],
      [{ messages: [], spans: [{ id: "a", kind: "span" }] }, /spans\[0\]\.name must be a string/],
      [
        { messages: [], spans: [span({ kind: "llm" })] },
        /spans\[0\]\.kind must be "span", "generation" or "tool", got "llm"/,
      ],
      [{ messages: [], spans: [span(), span({ parent_id: 1 })] }, /spans\[1\]\.parent_id must be a string/],
      [{ messages: [], spans: [span({ parentId: "x" })] }, /spans\[0\]\.parentId is spelled parent_id/],
      [
        { messages: [], spans: [span({ start_time: 1767323045000 })] },
        /spans\[0\]\.start_time must be a Date or ISO 8601 text/,
      ],
      [{ messages: [], spans: [span({ end_time: "yesterday" })] }, /spans\[0\]\.end_time must be a Date or ISO 8601/],
      [{ messages: [], spans: [span({ end_time: new Date(Number.NaN) })] }, /spans\[0\]\.end_time is an invalid Date/],
      [
        { messages: [], spans: [span({ duration_ms: Number.NaN })] },
        /spans\[0\]\.duration_ms must be a non-negative finite/,
      ],
      [{ messages: [], spans: [span({ cost_usd: "0.1" })] }, /spans\[0\]\.cost_usd must be a non-negative finite/],
      [{ messages: [], spans: [span({ status: true })] }, /spans\[0\]\.status must be a string/],
      [{ messages: [], spans: [span({ model: 4 })] }, /spans\[0\]\.model must be a string/],
      [{ messages: [], spans: [span({ usage: [] })] }, /spans\[0\]\.usage must be an object of token counts/],
      [
        { messages: [], spans: [span({ usage: { input_tokens: 1.5 } })] },
        /spans\[0\]\.usage\.input_tokens must be a non-negative integer/,
      ],
      [{ messages: [], spans: [span({ metadata: "x" })] }, /spans\[0\]\.metadata must be a plain object/],
    ];
    for (const [init, message] of cases) refused(() => new Trace(init as never), message);
  });

  test("a getter that throws is refused with the path it was read at", () => {
    const m = Object.defineProperty({ role: "user" }, "content", {
      enumerable: true,
      get() {
        throw new Error("boom");
      },
    });
    refused(() => new Trace({ messages: [m] }), /reading messages\[0\]\.content threw: boom/);
  });
});

describe("log() of a Trace", () => {
  const t = new Trace({ messages: [{ role: "user", content: "hi" }] });
  const text = '{"_type":"trackio.trace","messages":[{"role":"user","content":"hi"}],"metadata":{},"spans":[]}';

  test("as a metric's value, beside other metrics, or as a list of Traces", () => {
    assert.equal(logJson({ agent: t, loss: 0.5 }), `{"agent":${text},"loss":0.5}`);
    assert.equal(logJson({ agent: [t, t] }), `{"agent":[${text},${text}]}`);
  });

  test("numbers inside a trace are written as Trackio's Python client writes them", () => {
    const n = new Trace({ messages: [], metadata: { nan: Number.NaN, big: 2 ** 53, neg: -0 } });
    assert.equal(
      logJson({ n }),
      '{"n":{"_type":"trackio.trace","messages":[],"metadata":{"nan":"NaN","big":9007199254740992.0,"neg":-0.0},"spans":[]}}',
    );
  });

  test("refuses a Trace anywhere the server would not store it as a trace", () => {
    refused(() => logJson({ a: { b: t } }), /metric "a\.b" is a Trace inside another value/);
    refused(() => logJson({ a: [[t]] }), /metric "a\.0\.0" is a Trace inside another value/);
    refused(() => logJson({ a: [t, 1] }), /metric "a" mixes Traces with other values/);
    refused(
      () => metricsToJson({ a: t }, "config()"),
      /config\(\): metric "a" is a Trace; traces can only be logged with log\(\)/,
    );
  });

  test("refuses what no value may hold, inside a trace too, naming the path", () => {
    refused(
      () => logJson({ a: new Trace({ messages: [{ role: "user", content: "\ud800" }] }) }),
      /metric "a\.messages\.0\.content" contains a lone surrogate/,
    );
    refused(
      () => logJson({ a: new Trace({ messages: [], spans: [span({ input: new Map() })] }) }),
      /metric "a\.spans\.0\.input" is an instance of Map/,
    );
  });

  test("media inside a trace are found, named and uploaded as in a table", () => {
    const img = new Image(new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]));
    const { text, media } = encodeValues(
      { a: new Trace({ messages: [{ role: "user", content: [img] }] }) },
      "log()",
      () => "p/r/0/x.png",
    );
    assert.deepEqual(
      media.map((m) => [m.key, m.file]),
      [["a.messages.0.content.0", "p/r/0/x.png"]],
    );
    assert.match(text, /"content":\[\{"_type":"trackio.image","file_path":"p\/r\/0\/x.png","caption":null\}\]/);
  });
});
