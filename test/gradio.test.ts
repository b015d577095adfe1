// The Gradio fallback (src/io/gradio.ts) and its discovery (src/io/transport.ts) against a
// tiny node:http server that answers as a Gradio-based Trackio (≤ 0.23) does, and Space ids
// as baseUrl (src/space.ts). No network beyond 127.0.0.1. The same paths against a real
// Trackio 0.23 are in legacy-server.test.ts.

import assert from "node:assert/strict";
import { createServer, type IncomingHttpHeaders, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { describe, type TestContext, test } from "node:test";
import { Client } from "../src/index.js";
import {
  type GradioContext,
  type GradioEndpoints,
  gradioBody,
  gradioCall,
  parseGradioEvents,
  parseGradioInfo,
} from "../src/io/gradio.js";
import { RETRY_POLICY, Transport } from "../src/io/transport.js";
import { parseServerUrl } from "../src/options.js";
import { AuthError, NoEndpointError, NotFoundError, StatusError, type TrackioError } from "../src/shared/errors.js";
import { isSpaceId, spaceIdToUrl } from "../src/space.js";
import { rejectsWith, testSettings, transportFor } from "./support/transport.js";

interface Seen {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  body: string;
}

function param(name: string, hasDefault = false, def: unknown = null) {
  return { label: name, parameter_name: name, parameter_has_default: hasDefault, parameter_default: def };
}

/** What a Trackio 0.23 server answers at GET /gradio_api/info (abridged). */
const INFO = {
  named_endpoints: {
    "/bulk_log": { parameters: [param("logs"), param("hf_token")], returns: [] },
    "/bulk_alert": { parameters: [param("alerts"), param("hf_token")], returns: [] },
    "/get_runs_for_project": { parameters: [param("project")], returns: [] },
    "/get_run_summary": { parameters: [param("project"), param("run")], returns: [] },
  },
  unnamed_endpoints: {},
};

interface GradioFake {
  origin: string;
  seen: Seen[];
  calls(): Seen[];
}

type Answer = (res: ServerResponse, n: number) => void;

function send(res: ServerResponse, status: number, type: string, body: string): void {
  res.writeHead(status, { "content-type": type });
  res.end(body);
}
const json = (res: ServerResponse, status: number, body: unknown) =>
  send(res, status, "application/json", JSON.stringify(body));
const sse = (res: ServerResponse, text: string) => send(res, 200, "text/event-stream; charset=utf-8", text);
const complete = (data: unknown[] = []) => `event: complete\ndata: ${JSON.stringify(data)}\n\n`;

/**
 * A Gradio-based Trackio: /version is 404, /gradio_api/info describes the API, POST
 * /gradio_api/call/<name> queues (event ids e0, e1, …) and `result` answers the nth event stream.
 */
async function gradioFake(
  t: TestContext,
  result: Answer = (res) => sse(res, complete()),
  info: Answer = (res) => json(res, 200, INFO),
): Promise<GradioFake> {
  const seen: Seen[] = [];
  let posts = 0;
  let infos = 0;
  const server = createServer((req, res) => {
    let body = "";
    req.setEncoding("utf8");
    req.on("data", (c: string) => (body += c));
    req.on("end", () => {
      const r = { method: req.method ?? "", url: req.url ?? "", headers: req.headers, body };
      seen.push(r);
      if (r.method === "GET" && r.url === "/version") return json(res, 404, { detail: "Not Found" });
      if (r.method === "GET" && r.url === "/gradio_api/info") return info(res, infos++);
      if (r.method === "POST" && r.url.startsWith("/gradio_api/call/"))
        return json(res, 200, { event_id: `e${posts++}` });
      const m = /^\/gradio_api\/call\/[^/]+\/e(\d+)$/.exec(r.url);
      if (r.method === "GET" && m) return result(res, Number(m[1]));
      json(res, 404, { detail: "Not Found" });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  t.after(async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  const { port } = server.address() as AddressInfo;
  return {
    origin: `http://127.0.0.1:${port}`,
    seen,
    calls: () => seen.filter((r) => r.method === "POST"),
  };
}

const LINE =
  '{"v":1,"kind":"metric","project":"p","run":"r","run_id":"rid","metrics":{"loss":1},"step":0,"log_id":"cid-0"}';
const BODY = `{"kwargs":{"logs":[${LINE}],"hf_token":null}}`;

describe("discovery", () => {
  test("GET /version 404 and a Gradio API with /bulk_log: the Gradio protocol, discovered once", async (t) => {
    const server = await gradioFake(t);
    const { transport, hooks } = transportFor(t, testSettings(server.origin, { writeToken: "wt" }));
    assert.equal(await transport.call("bulk_log", BODY), '{"data":null}');
    assert.equal(await transport.call("bulk_log", BODY), '{"data":null}');
    assert.equal(transport.protocol, "gradio");
    assert.deepEqual(
      server.seen.map((r) => `${r.method} ${r.url}`),
      [
        "GET /version",
        "GET /gradio_api/info",
        "POST /gradio_api/call/bulk_log",
        "GET /gradio_api/call/bulk_log/e0",
        "POST /gradio_api/call/bulk_log",
        "GET /gradio_api/call/bulk_log/e1",
      ],
    );
    // Positional arguments in the order of the API description; the entries go as they are.
    assert.equal(server.calls()[0].body, `{"data":[[${LINE}],null]}`);
    assert.equal(server.calls()[0].headers["x-trackio-write-token"], "wt", "sent as the Python client sends it");
    assert.equal(hooks.requests, 6);
  });

  test("a 0.24+ server is still spoken to over its HTTP API", async (t) => {
    const seen: string[] = [];
    const server = createServer((req, res) => {
      seen.push(`${req.method} ${req.url}`);
      req.resume();
      req.on("end", () =>
        req.url === "/version" ? json(res, 200, { version: "0.43.0", api_version: 1 }) : json(res, 200, { data: null }),
      );
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    t.after(() => new Promise<void>((resolve) => server.close(() => resolve())));
    const { transport } = transportFor(t, testSettings(`http://127.0.0.1:${(server.address() as AddressInfo).port}`));
    await transport.call("bulk_log", BODY);
    assert.equal(transport.protocol, "http");
    assert.deepEqual(seen, ["GET /version", "POST /api/bulk_log"]);
  });

  for (const [what, info] of [
    ["an HTML page", (res: ServerResponse) => send(res, 200, "text/html", "<!doctype html>")],
    [
      "a Gradio app that is not Trackio",
      (res: ServerResponse) => json(res, 200, { named_endpoints: { "/predict": {} } }),
    ],
    ["404", (res: ServerResponse) => json(res, 404, { detail: "Not Found" })],
  ] as const) {
    test(`/version 404 and /gradio_api/info answering ${what}: NoEndpointError, asked once`, async (t) => {
      const server = await gradioFake(t, undefined, info);
      const { transport } = transportFor(t, testSettings(server.origin));
      const err = await rejectsWith(transport.call("bulk_log", BODY), NoEndpointError);
      assert.match(err.message, /not a Trackio server/);
      await rejectsWith(transport.call("bulk_log", BODY), NoEndpointError);
      assert.equal(server.seen.length, 2);
    });
  }

  test("a 503 from /gradio_api/info (a Space waking up) is retried", async (t) => {
    const server = await gradioFake(t, undefined, (res, n) =>
      n === 0 ? json(res, 503, { error: "starting" }) : json(res, 200, INFO),
    );
    const { transport, hooks } = transportFor(t, testSettings(server.origin));
    await transport.call("bulk_log", BODY);
    assert.equal(transport.protocol, "gradio");
    assert.equal(hooks.retries, 1);
  });
});

describe("results and errors from the event stream", () => {
  test("heartbeats are skipped; the result is answered as the HTTP API would", async (t) => {
    const server = await gradioFake(t, (res) =>
      sse(res, `event: heartbeat\ndata: null\n\nevent: complete\ndata: ${JSON.stringify([["run-a", "run-b"]])}\n\n`),
    );
    const { transport } = transportFor(t, testSettings(server.origin));
    const text = await transport.call("get_runs_for_project", JSON.stringify({ kwargs: { project: "p" } }));
    assert.deepEqual(JSON.parse(text), { data: ["run-a", "run-b"] });
    assert.equal(server.calls()[0].body, '{"data":["p"]}');
  });

  test('an "error" event is an error (StatusError 500, retried like a 500), never a success', async (t) => {
    const server = await gradioFake(t, (res) => sse(res, "event: error\ndata: null\n\n"));
    const { transport, hooks } = transportFor(t, testSettings(server.origin));
    const err = await rejectsWith(transport.call("bulk_log", BODY), StatusError);
    assert.equal(err.code, "ERR_TRACKIO_STATUS");
    assert.equal(err.status, 500);
    assert.match(err.message, /gradio_api\/call\/bulk_log failed on the server/);
    assert.equal(server.calls().length, RETRY_POLICY.max500Retries + 1);
    assert.equal(hooks.retries, RETRY_POLICY.max500Retries);
  });

  test("an error event with a message carries it", async (t) => {
    const server = await gradioFake(t, (res) => sse(res, 'event: error\ndata: "Server stopped unexpectedly."\n\n'));
    const { transport } = transportFor(t, testSettings(server.origin, { retryDeadlineMs: 1 }));
    const err = await rejectsWith(transport.call("bulk_log", BODY), StatusError);
    assert.match(err.message, /Server stopped unexpectedly\./);
  });

  test("a stream that ends without a result is retried (the server ignores log_ids it has)", async (t) => {
    const server = await gradioFake(t, (res, n) =>
      n === 0 ? sse(res, "event: heartbeat\ndata: null\n\n") : sse(res, complete()),
    );
    const { transport, hooks } = transportFor(t, testSettings(server.origin));
    assert.equal(await transport.call("bulk_log", BODY), '{"data":null}');
    assert.equal(server.calls().length, 2);
    assert.equal(hooks.retries, 1);
  });

  test("an artifact blob for an old server: NoEndpointError naming the version that has artifacts, nothing posted", async (t) => {
    const server = await gradioFake(t);
    const { transport } = transportFor(t, testSettings(server.origin, { retryDeadlineMs: 300 }));
    const err = await rejectsWith(
      transport.uploadArtifactBlob("p", "sha256-0", new Uint8Array([1, 2, 3])),
      NoEndpointError,
    );
    assert.equal(
      err.message,
      `${server.origin}/ runs Trackio 0.23 or older (the Gradio protocol), which has no artifacts; upgrade the server to Trackio 0.30 or newer`,
    );
    assert.equal(server.calls().length, 0);
  });

  test("a function the old server does not have: NotFoundError, nothing posted", async (t) => {
    const server = await gradioFake(t);
    const { transport } = transportFor(t, testSettings(server.origin));
    const err = await rejectsWith(
      transport.call("bulk_log_system", '{"kwargs":{"logs":[],"hf_token":null}}'),
      NotFoundError,
    );
    assert.match(err.message, /no \/bulk_log_system function; upgrade/);
    assert.equal(server.calls().length, 0);
  });

  test("a Client delivers through the Gradio protocol", async (t) => {
    const server = await gradioFake(t);
    const client = new Client({ baseUrl: server.origin, project: "p", run: "r", spoolDir: false, quiet: true });
    for (let i = 0; i < 10; i++) client.log({ loss: 1 / (i + 1), note: `step ${i}` }, i);
    await client.close();
    assert.equal(client.stats().sent, 10);
    const entries = server.calls().flatMap((r) => (JSON.parse(r.body) as { data: [unknown[], null] }).data[0]);
    assert.equal(entries.length, 10);
    assert.deepEqual((entries[3] as { metrics: unknown }).metrics, { loss: 0.25, note: "step 3" });
  });

  test("the same failure through a Client: flush() rejects, nothing counted as sent", async (t) => {
    const server = await gradioFake(t, (res) => sse(res, "event: error\ndata: null\n\n"));
    const client = new Client({
      baseUrl: server.origin,
      project: "p",
      run: "r",
      spoolDir: false,
      quiet: true,
      retryDeadlineMs: 2000,
    });
    client.log({ loss: 1 }, 0);
    await assert.rejects(client.close(), (err: TrackioError) => err.code === "ERR_TRACKIO_STATUS");
    assert.equal(client.stats().sent, 0);
    assert.equal(client.stats().failed, 1);
  });
});

describe("gradio.ts pieces", () => {
  const endpoints = parseGradioInfo(JSON.stringify(INFO), "application/json") as GradioEndpoints;

  test("parseGradioInfo: parameter order and defaults", () => {
    assert.deepEqual(
      endpoints.get("bulk_log")?.map((p) => p.name),
      ["logs", "hf_token"],
    );
    assert.equal(parseGradioInfo(JSON.stringify(INFO), "text/html"), null);
    assert.equal(parseGradioInfo("not json", "application/json"), null);
    assert.equal(parseGradioInfo('{"named_endpoints":{}}', "application/json"), null);
  });

  test("gradioBody: named, positional and missing arguments", () => {
    const params = [
      { name: "project", hasDefault: false, default: null },
      { name: "run", hasDefault: false, default: null },
      { name: "level", hasDefault: true, default: "warn" },
    ];
    assert.equal(gradioBody(params, '{"kwargs":{"run":"r","project":"p","run_id":"x"}}'), '{"data":["p","r","warn"]}');
    assert.equal(gradioBody(params, '{"args":["p"],"kwargs":{"level":"info"}}'), '{"data":["p",null,"info"]}');
    assert.equal(gradioBody(params, '{"project":"p"}'), '{"data":["p",null,"warn"]}');
    assert.equal(gradioBody(params, '["p","r"]'), '{"data":["p","r","warn"]}');
  });

  test("parseGradioEvents", () => {
    assert.deepEqual(parseGradioEvents("event: complete\r\ndata: [1]\r\n\r\n"), { kind: "complete", data: 1 });
    assert.deepEqual(parseGradioEvents("event: complete\ndata: []\n\n"), { kind: "complete", data: null });
    assert.deepEqual(parseGradioEvents("event: generating\ndata: [0]\n\nevent: error\ndata: null\n\n"), {
      kind: "error",
      message: null,
    });
    assert.deepEqual(parseGradioEvents('event: error\ndata: {"error": "boom"}\n\n'), {
      kind: "error",
      message: "boom",
    });
    assert.equal(parseGradioEvents("event: heartbeat\ndata: null\n\n"), null);
    assert.equal(parseGradioEvents(""), null);
  });

  test("on a Space without an HF token, an error event is an AuthError that says to set HF_TOKEN", async () => {
    const replies = [
      { status: 200, headers: {}, text: '{"event_id":"x"}' },
      { status: 200, headers: {}, text: "event: error\ndata: null\n\n" },
    ];
    const ctx: GradioContext = {
      basePath: "/",
      displayUrl: "https://someone-trackio.hf.space/",
      onSpace: true,
      hasHfToken: false,
      request: async () => replies.shift() as (typeof replies)[number],
      statusError: (status, body) => new StatusError(`HTTP ${status}`, status, body),
    };
    const err = await rejectsWith(gradioCall(ctx, endpoints, "bulk_log", BODY), AuthError);
    assert.match(err.message, /HF_TOKEN/);
  });
});

describe("a Space id as baseUrl", () => {
  test("mapped to its URL as Trackio's Python client maps it", () => {
    assert.equal(spaceIdToUrl("abidlabs/trackio"), "https://abidlabs-trackio.hf.space/");
    assert.equal(spaceIdToUrl("Some_User/My.Space_2"), "https://some-user-my-space-2.hf.space/");
    assert.equal(parseServerUrl("org/metrics").displayUrl, "https://org-metrics.hf.space/");
    assert.equal(parseServerUrl("org/metrics").origin, "https://org-metrics.hf.space");
  });

  test("only user/name counts as a Space id", () => {
    assert.ok(isSpaceId("user/space"));
    assert.ok(isSpaceId("user-1/space.v2_x"));
    for (const notOne of ["http://a/b", "localhost:7860/x", "a/b/c", "/a", "a/", "user space/x", "user"]) {
      assert.ok(!isSpaceId(notOne), notOne);
    }
    assert.throws(() => parseServerUrl("a/b/c"), { code: "ERR_TRACKIO_INVALID_ARG" });
  });

  test("a Client and its transport: the Space's URL, and HF_TOKEN as the Python client sends it", async () => {
    const client = new Client({ baseUrl: "someone/trackio", project: "p" });
    assert.equal(client.url, "https://someone-trackio.hf.space/");
    assert.equal(client.withBaseUrl("org/Other_One").url, "https://org-other-one.hf.space/");
    const transport = new Transport(
      testSettings("https://someone-trackio.hf.space", {
        displayUrl: "https://someone-trackio.hf.space/",
        hfToken: "hf_x",
      }),
      { onRequest() {}, onRetry() {} },
    );
    try {
      assert.equal(transport.hfTokenJson, '"hf_x"');
    } finally {
      await transport.close();
    }
  });
});
