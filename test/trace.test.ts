// Traces against the real server: what the Node client stores for a Trace is what Trackio's
// Python client stores for the same trace (the traces table, row by row, numbers by their
// literal text), the dashboard's get_traces returns it, and a generated mix of good and bad
// traces balances: every Trace logged is stored once or refused at the call.

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import fc from "fast-check";
import { freePort, startTrackio, type TrackioServer } from "../scripts/trackio-server.js";
import { Client, Image, Trace } from "../src/index.js";
import { PythonOracle } from "./support/oracle.js";
import { checkRecords, type PropertyEnv } from "./support/property-harness.js";
import { checkProperty } from "./support/property-runner.js";
import { callApi, queryProject, sqlString } from "./support/read-api.js";
import { runSync, tempDir } from "./support/scenario.js";
import { compareTraceRows, constructorProblems, traceRecordArb, tracesIn } from "./support/trace-model.js";
import { refusalReason } from "./support/value-model.js";

let env: PropertyEnv;
let server: TrackioServer;

before(async () => {
  server = await startTrackio();
  env = { server, oracle: new PythonOracle() };
});
after(async () => {
  await env?.oracle.stop();
  await server?.stop();
});

/** A client of the test server, run "r", with a spool of its own. */
const liveClient = (project: string) =>
  new Client({
    baseUrl: server.writeUrl,
    project,
    run: "r",
    spoolDir: tempDir("trace-spool"),
    quiet: true,
    handleSignals: false,
  });

const agentTrace = () =>
  new Trace({
    messages: [
      { role: "system", content: "You are terse." },
      { role: "user", content: "Weather in Paris? 🌧" },
      {
        role: "assistant",
        content: null,
        tool_calls: [{ id: "call_1", type: "function", function: { name: "weather", arguments: '{"city":"Paris"}' } }],
      },
      { role: "tool", content: "rainy, 14", tool_call_id: "call_1" },
      { role: "assistant", content: "Rainy, 14 °C." },
    ],
    metadata: { session_id: "s-1", environment: "test", score: Number.NaN, big: 2 ** 60, tags: ["a", "b"] },
    spans: [
      {
        id: "root",
        name: "agent",
        kind: "span",
        start_time: new Date("2026-01-02T03:04:05.000Z"),
        end_time: "2026-01-02T03:04:07.250Z",
        status: "success",
      },
      {
        id: "gen-1",
        parent_id: "root",
        name: "chat",
        kind: "generation",
        start_time: "2026-01-02T03:04:05.100Z",
        end_time: "2026-01-02T03:04:06.000Z",
        duration_ms: 900,
        status: "success",
        model: "fake-model-1",
        usage: { input_tokens: 31, output_tokens: 9, total_tokens: 40 },
        cost_usd: 0.00012,
        input: [{ role: "user", content: "Weather in Paris? 🌧" }],
        output: { role: "assistant", tool_calls: [{ id: "call_1" }] },
        metadata: { temperature: 0.5, top_p: 1 },
      },
      {
        id: "tool-1",
        parent_id: "gen-1",
        name: "weather",
        kind: "tool",
        start_time: "2026-01-02T03:04:06.000Z",
        end_time: "2026-01-02T03:04:06.500Z",
        status: "error",
        error: "timeout, retried",
        input: { city: "Paris" },
        output: "rainy, 14",
      },
    ],
  });

describe("a Trace is stored as Trackio's Python client stores it", () => {
  test("one trace, a list of traces and a trace beside scalars: the traces rows match Python's, get_traces returns them", async () => {
    const records = [
      { agent: agentTrace() },
      { agent: [agentTrace(), new Trace({ messages: [{ role: "user", content: "second" }] })], loss: 0.25 },
      { other: new Trace({ messages: [], metadata: { status: "error", latency_ms: 12.5 } }), acc: 1 },
    ];
    let compared = 0;
    const problems = await checkRecords(env, "trace-fixed", records, "r", async (runs) => {
      const r = await compareTraceRows(server, records, runs, () => true);
      compared = r.stored;
      return r.problems;
    });
    assert.deepEqual(problems, []);
    assert.equal(compared, 4);
  });

  test("get_traces (what the dashboard's trace inspector reads) returns the trace as logged", async () => {
    const project = `trace-read-${process.pid}`;
    const client = liveClient(project);
    const t = agentTrace();
    client.log({ agent: t, loss: 0.5 }, 7);
    await client.close();
    const traces = await callApi<Record<string, unknown>[]>(server.url, "get_traces", {
      project,
      run: "r",
      run_id: null,
      search: "fake-model",
      sort: null,
      limit: null,
      offset: 0,
      step: null,
    });
    assert.equal(traces.length, 1);
    const [got] = traces;
    assert.equal(got.key, "agent");
    assert.equal(got.step, 7);
    assert.equal(got.index, null);
    // The server's id: run id, the record's log_id, the key.
    assert.match(String(got.id), new RegExp(`^${client.runId}:[^:]+-0:agent$`));
    const expected = JSON.parse(JSON.stringify(t.toJSON())) as Record<string, unknown>;
    assert.deepEqual(got.messages, expected.messages);
    assert.deepEqual(got.spans, expected.spans);
    // The stored "NaN" is read back as a float, which the API's JSON writes as null.
    assert.deepEqual(got.metadata, { ...(expected.metadata as object), score: null });
    const steps = await callApi<{ total: number }>(server.url, "get_trace_steps", { project, run: "r", run_id: null });
    assert.equal(steps.total, 1);
  });
});

describe("media inside a trace", () => {
  test("an Image in a message is uploaded, and the trace names the file the dashboard serves", async () => {
    const project = `trace-media-${process.pid}`;
    const client = liveClient(project);
    const pixels = new Uint8Array(4 * 4 * 3).fill(200);
    client.log(
      {
        vision: new Trace({
          messages: [
            {
              role: "user",
              content: [
                { type: "text", text: "What is this?" },
                new Image({ data: pixels, width: 4, height: 4, channels: 3 }),
              ],
            },
          ],
        }),
      },
      3,
    );
    await client.close();
    assert.equal(client.stats().media.uploaded, 1);
    const [t] = await callApi<{ messages: { content: Record<string, unknown>[] }[] }[]>(server.url, "get_traces", {
      project,
      run: "r",
      run_id: null,
      search: null,
      sort: null,
      limit: null,
      offset: 0,
      step: null,
    });
    const ref = t.messages[0].content[1];
    assert.equal(ref._type, "trackio.image");
    assert.match(String(ref.file_path), new RegExp(`^${project}/r/3/[0-9a-f-]{36}\\.png$`));
    const { media_dir } = await callApi<{ media_dir: string }>(server.url, "get_settings", {});
    const res = await fetch(`${server.url}file?path=${encodeURIComponent(`${media_dir}/${ref.file_path}`)}`);
    assert.equal(res.status, 200);
    assert.deepEqual([...Buffer.from(await res.arrayBuffer()).subarray(1, 4)], [0x50, 0x4e, 0x47]); // "PNG"
  });
});

describe("a trace that waited in the spool", () => {
  test("no server while logging, then `trackio sync` twice: each trace stored once, as sent live", async () => {
    const project = `trace-sync-${process.pid}`;
    const spoolRoot = tempDir("trace-spool");
    const client = new Client({
      baseUrl: `http://127.0.0.1:${await freePort()}/`, // nothing listens there
      writeToken: server.writeToken,
      project,
      run: "offline",
      spoolDir: spoolRoot,
      quiet: true,
      timeoutMs: 1000,
      retryDeadlineMs: 300,
      handleSignals: false,
    });
    client.on("error", () => {});
    const t = agentTrace();
    client.log({ agent: t }, 0);
    client.log({ agent: [t, t], loss: 0.5 }, 1);
    await assert.rejects(client.close());
    assert.equal(client.stats().spooled, 2);
    for (let i = 0; i < 2; i++) {
      const { code } = await runSync(["sync", "--spool", spoolRoot, "--url", server.writeUrl]);
      assert.equal(code, 0);
    }
    const rows = await queryProject(
      server.url,
      project,
      `SELECT step, key, trace_index, spans FROM traces WHERE run_id = ${sqlString(client.runId as string)} ORDER BY step, trace_index`,
    );
    assert.deepEqual(
      rows.map((r) => [r.step, r.key, r.trace_index]),
      [
        [0, "agent", null],
        [1, "agent", 0],
        [1, "agent", 1],
      ],
    );
    for (const r of rows) assert.deepEqual(JSON.parse(String(r.spans)), JSON.parse(JSON.stringify(t.spans)));
  });
});

describe("generated traces: stored as Python stores them, or refused at the call; the books balance", () => {
  test("Traces good and bad, as metric values, in lists and where the server would not take them", async () => {
    const made = { traces: 0, accepted: 0, stored: 0 };
    await checkProperty("traces", fc.array(traceRecordArb, { minLength: 1, maxLength: 6 }), 15, (records) =>
      checkRecords(env, "trace", records, "r", async (runs) => {
        const problems = records.flatMap((r, i) => constructorProblems(r, i));
        const storable = (i: number) => refusalReason(records[i]) === null;
        const r = await compareTraceRows(server, records, runs, storable);
        for (const rec of records) made.traces += tracesIn(rec).length;
        made.accepted += r.expected;
        made.stored += r.stored;
        return [...problems, ...r.problems];
      }),
    );
    process.stdout.write(
      `traces: ${made.traces} made, ${made.accepted} in records log() accepted, ${made.stored} stored\n`,
    );
    assert.equal(made.stored, made.accepted);
    assert.ok(made.stored > 0, "some generated traces were stored");
    assert.ok(made.traces > made.accepted, "some generated traces were refused");
  });
});
