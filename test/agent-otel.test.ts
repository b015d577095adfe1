// examples/agent-otel.ts against the real server, run as a user runs it: then what the
// server's get_traces returns for it (what the dashboard's Traces tab reads), checked field by
// field and through the installed dashboard's own traceUtils.js (traceSummary, the latency,
// tokens, cost and status its trace list shows; flattenSpanTree, the inspector's tree).

import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { pathToFileURL } from "node:url";
import { promisify } from "node:util";
import { startTrackio, type TrackioServer, venvPython } from "../scripts/trackio-server.js";
import { callApi, queryProject } from "./support/read-api.js";

const root = new URL("..", import.meta.url).pathname;
let server: TrackioServer;

before(async () => {
  server = await startTrackio();
});
after(async () => {
  await server?.stop();
});

interface StoredTrace {
  id: string;
  key: string;
  step: number;
  timestamp: string;
  messages: Record<string, unknown>[];
  metadata: Record<string, unknown>;
  spans: Record<string, unknown>[];
}

interface TraceUtils {
  traceSummary(t: unknown): {
    durationMs: number | null;
    costUsd: number | null;
    inputTokens: number | null;
    outputTokens: number | null;
    status: string | null;
    spanCount: number;
  };
  flattenSpanTree(spans: unknown[]): { name: string; depth: number; kind: string }[];
}

/** The dashboard's own trace helpers, from the installed Trackio (frontend/src/lib/traceUtils.js). */
async function dashboardTraceUtils(): Promise<TraceUtils> {
  const { stdout } = await promisify(execFile)(venvPython(), [
    "-c",
    "import os, trackio; print(os.path.dirname(trackio.__file__))",
  ]);
  return (await import(
    pathToFileURL(join(stdout.trim(), "frontend", "src", "lib", "traceUtils.js")).href
  )) as TraceUtils;
}

test("the agent example's traces, as the dashboard reads them", { timeout: 120_000 }, async () => {
  const project = `agent-otel-${process.pid}`;
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const key of ["TRACKIO_WRITE_TOKEN", "HF_TOKEN"]) delete env[key];
  Object.assign(env, {
    TRACKIO_SERVER_URL: server.writeUrl,
    TRACKIO_PROJECT: project,
    TRACKIO_RUN: "agent-run",
    TRACKIO_SPOOL_DIR: mkdtempSync(join(tmpdir(), "trackio-agent-spool-")),
  });
  const { stdout } = await promisify(execFile)(process.execPath, ["--import", "tsx", "examples/agent-otel.ts"], {
    cwd: root,
    env,
    encoding: "utf8",
  });
  assert.match(stdout, /What is the weather in Paris\? -> It is rainy, 14 °C\./);
  assert.match(
    stdout,
    /What is the weather on the Moon\? -> Sorry, I could not find out: no weather station for Moon\./,
  );

  const run = "agent-run";
  // Each trace left an empty metrics row (the server moves the trace out), under its step.
  const rows = await queryProject(server.url, project, "SELECT step, metrics FROM metrics ORDER BY step");
  assert.deepEqual(
    rows.map((r) => [r.step, r.metrics]),
    [
      [0, "{}"],
      [1, "{}"],
      [2, "{}"],
    ],
  );
  const traces = await callApi<StoredTrace[]>(server.url, "get_traces", {
    project,
    run,
    run_id: null,
    search: null,
    sort: "request_time_asc",
    limit: null,
    offset: 0,
    step: null,
  });
  assert.equal(traces.length, 3);
  const steps = await callApi<{ total: number; steps: { step: number; count: number }[] }>(
    server.url,
    "get_trace_steps",
    { project, run, run_id: null },
  );
  assert.deepEqual(steps, {
    total: 3,
    steps: [
      { step: 0, count: 1 },
      { step: 1, count: 1 },
      { step: 2, count: 1 },
    ],
  });

  const utils = await dashboardTraceUtils();
  const [paris, lisbon, moon] = traces;
  for (const [i, t] of traces.entries()) {
    assert.equal(t.key, "agent");
    assert.equal(t.metadata.session_id, `conversation-${i + 1}`);
    assert.match(String(t.metadata.otel_trace_id), /^[0-9a-f]{32}$/);
    // The inspector's tree: the agent span at the top, two model calls and a tool call under it.
    assert.deepEqual(
      utils.flattenSpanTree(t.spans).map((r) => [r.depth, r.kind, r.name]),
      [
        [0, "span", "invoke_agent weather-bot"],
        [1, "generation", "chat fake-weather-1"],
        [1, "tool", "weather"],
        [1, "generation", "chat fake-weather-1"],
      ],
    );
    const gens = t.spans.filter((s) => s.kind === "generation");
    for (const g of gens) {
      assert.equal(g.model, "fake-weather-1-2026-11");
      assert.deepEqual(Object.keys(g.usage as object).sort(), ["input_tokens", "output_tokens"]);
      assert.ok((g.cost_usd as number) > 0);
      assert.ok((g.duration_ms as number) >= 15, `a model call takes its 20 ms sleep: ${g.duration_ms}`);
      assert.deepEqual(g.metadata, { "gen_ai.provider.name": "fake" });
    }
    // The trace list's columns, computed by the dashboard's own code from what the server returned.
    const summary = utils.traceSummary(t);
    assert.equal(summary.spanCount, 4);
    assert.equal(
      summary.inputTokens,
      gens.reduce((n, g) => n + (g.usage as { input_tokens: number }).input_tokens, 0),
    );
    assert.ok((summary.outputTokens as number) > 0);
    assert.ok((summary.costUsd as number) > 0);
    assert.ok((summary.durationMs as number) >= 30, `latency covers both model calls: ${summary.durationMs}`);
    assert.equal(summary.status, t === moon ? "error" : "success");
  }

  // The conversation: the last model call's input (which holds the history) and its answer.
  assert.deepEqual(paris.messages, [
    { role: "system", content: "You answer weather questions using the weather tool." },
    { role: "user", content: "What is the weather in Paris?" },
    {
      role: "assistant",
      content: null,
      tool_calls: [
        { id: "call_Paris", type: "function", function: { name: "weather", arguments: '{"city":"Paris"}' } },
      ],
    },
    { role: "tool", tool_call_id: "call_Paris", content: '{"sky":"rainy","celsius":14}' },
    { role: "assistant", content: "It is rainy, 14 °C." },
  ]);
  assert.equal(lisbon.messages.at(-1)?.content, "It is sunny, 24 °C.");
  const tool = paris.spans.find((s) => s.kind === "tool") as Record<string, unknown>;
  assert.deepEqual(
    [tool.input, tool.output, tool.status],
    [{ city: "Paris" }, { sky: "rainy", celsius: 14 }, "success"],
  );
  const failed = moon.spans.find((s) => s.kind === "tool") as Record<string, unknown>;
  assert.deepEqual([failed.status, failed.error, failed.output], ["error", "no weather station for Moon", undefined]);

  // Search (the Traces tab's box) finds a trace by model and by tool name.
  const found = await callApi<StoredTrace[]>(server.url, "get_traces", {
    project,
    run,
    run_id: null,
    search: "no weather station",
    sort: null,
    limit: null,
    offset: 0,
    step: null,
  });
  assert.deepEqual(
    found.map((t) => t.id),
    [moon.id],
  );
});
