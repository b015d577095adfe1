// Fault injection for src/io/transport.ts against a tiny node:http server on 127.0.0.1: what
// it sends, discovery, which statuses are retried and how often, the error classes, and the
// single-attempt mode after a failure. Assertions are on request counts and errors, never on
// elapsed time.

import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { isTransient, parseRetryAfter, RETRY_POLICY, Transport } from "../src/io/transport.js";
import { AuthError, HttpError, NoEndpointError, NotFoundError, StatusError } from "../src/shared/errors.js";
import type { WorkerSettings } from "../src/shared/protocol.js";
import { closedOrigin, fakeServer, type Handler, json, ok, versionOk } from "./support/fake-trackio.js";
import { rejectsWith, testSettings, transportFor } from "./support/transport.js";

function settings(origin: string, over: Partial<WorkerSettings> = {}): WorkerSettings {
  return testSettings(origin, { writeToken: "secret-write-token", ...over });
}

const BODY = JSON.stringify({ kwargs: { logs: [{ metrics: { loss: 1 }, step: 0 }], hf_token: null } });

describe("what the transport sends", () => {
  test("POST body and headers; GET /version once, then cached", async (t) => {
    const server = await fakeServer(t, (req, res, n) => json(res, 200, { data: `ack ${n}`, echo: req.body.length }));
    const { transport, hooks } = transportFor(t, settings(server.origin, { hfToken: "hf_should_not_leak" }));
    assert.equal(await transport.call("bulk_log", BODY), JSON.stringify({ data: "ack 0", echo: BODY.length }));
    assert.equal(await transport.call("bulk_log", "{}"), JSON.stringify({ data: "ack 1", echo: 2 }));

    assert.deepEqual(
      server.seen.map((r) => `${r.method} ${r.url}`),
      ["GET /version", "POST /api/bulk_log", "POST /api/bulk_log"],
    );
    const [first, second] = server.posts();
    assert.equal(first.body, BODY);
    assert.equal(second.body, "{}");
    for (const r of server.seen) {
      assert.equal(r.headers["x-trackio-write-token"], "secret-write-token");
      assert.equal(r.headers.authorization, undefined, "the HF token goes only to *.hf.space");
    }
    assert.match(String(first.headers["content-type"]), /^application\/json/);
    assert.equal(Number(first.headers["content-length"]), Buffer.byteLength(BODY));
    assert.equal(transport.serverVersion, "0.24.0");
    assert.equal(transport.hfTokenJson, "null");
    assert.equal(hooks.requests, 3);
    assert.equal(hooks.retries, 0);
  });

  test("a base path prefixes both /version and api/<name>; no write token, no header", async (t) => {
    const server = await fakeServer(t, ok);
    const { transport } = transportFor(
      t,
      settings(server.origin, { basePath: "/trackio/", displayUrl: `${server.origin}/trackio/`, writeToken: null }),
    );
    await transport.call("bulk_log", BODY);
    assert.deepEqual(
      server.seen.map((r) => `${r.method} ${r.url}`),
      ["GET /trackio/version", "POST /trackio/api/bulk_log"],
    );
    assert.equal(server.seen[1].headers["x-trackio-write-token"], undefined);
  });

  test("a unicode body arrives byte for byte", async (t) => {
    const server = await fakeServer(t, ok);
    const { transport } = transportFor(t, settings(server.origin));
    const body = JSON.stringify({ kwargs: { logs: [{ metrics: { "λ🎉": "ünï" } }], hf_token: null } });
    await transport.call("bulk_log", body);
    assert.equal(server.posts()[0].body, body);
  });

  test("on a *.hf.space host the HF token is the hf_token argument", async () => {
    const transport = new Transport(settings("https://someone-trackio.hf.space", { hfToken: "hf_abc" }), {
      onRequest: () => {},
      onRetry: () => {},
    });
    try {
      assert.equal(transport.hfTokenJson, '"hf_abc"');
    } finally {
      await transport.close();
    }
  });

  test("a transient failure of GET /version is retried, then discovery is cached", async (t) => {
    let gets = 0;
    const server = await fakeServer(t, ok, (req, res) =>
      gets++ === 0 ? json(res, 503, { error: "starting" }) : versionOk(req, res, 0),
    );
    const { transport, hooks } = transportFor(t, settings(server.origin));
    await transport.call("bulk_log", BODY);
    await transport.call("bulk_log", BODY);
    assert.deepEqual(
      server.seen.map((r) => r.method),
      ["GET", "GET", "POST", "POST"],
    );
    assert.equal(hooks.retries, 1);
  });
});

describe("retries", () => {
  test("503 twice then 200: succeeds after two retries", async (t) => {
    const server = await fakeServer(t, (req, res, n) =>
      n < 2 ? json(res, 503, { error: "paused" }) : ok(req, res, n),
    );
    const { transport, hooks } = transportFor(t, settings(server.origin));
    assert.equal(await transport.call("bulk_log", BODY), '{"data":"ok"}');
    assert.equal(server.posts().length, 3);
    assert.ok(
      server.posts().every((r) => r.body === BODY),
      "the same body every time",
    );
    assert.equal(hooks.retries, 2);
    assert.equal(hooks.requests, 4);
  });

  for (const status of [502, 504]) {
    test(`${status} is retried`, async (t) => {
      const server = await fakeServer(t, (req, res, n) => (n < 1 ? json(res, status, {}) : ok(req, res, n)));
      const { transport, hooks } = transportFor(t, settings(server.origin));
      await transport.call("bulk_log", BODY);
      assert.equal(server.posts().length, 2);
      assert.equal(hooks.retries, 1);
    });
  }

  test("429 with Retry-After: 1 is retried after the wait, then succeeds", async (t) => {
    const server = await fakeServer(t, (req, res, n) =>
      n < 1 ? json(res, 429, { error: "slow down" }, { "retry-after": "1" }) : ok(req, res, n),
    );
    const { transport, hooks } = transportFor(t, settings(server.origin));
    assert.equal(await transport.call("bulk_log", BODY), '{"data":"ok"}');
    assert.equal(server.posts().length, 2);
    assert.equal(hooks.retries, 1);
  });

  test(`500 is retried only ${RETRY_POLICY.max500Retries} times`, async (t) => {
    const server = await fakeServer(t, (_req, res) => json(res, 500, { error: "database is locked" }));
    const { transport, hooks } = transportFor(t, settings(server.origin));
    const err = await rejectsWith(transport.call("bulk_log", BODY), StatusError);
    assert.equal(err.status, 500);
    assert.equal(err.code, "ERR_TRACKIO_STATUS");
    assert.equal(err.body, '{"error":"database is locked"}');
    assert.match(err.message, /HTTP 500: database is locked/);
    assert.equal(server.posts().length, RETRY_POLICY.max500Retries + 1);
    assert.equal(hooks.retries, RETRY_POLICY.max500Retries);
  });

  test("400 is not retried", async (t) => {
    const server = await fakeServer(t, (_req, res) => json(res, 400, { error: "bad entry" }));
    const { transport, hooks } = transportFor(t, settings(server.origin));
    const err = await rejectsWith(transport.call("bulk_log", BODY), StatusError);
    assert.equal(err.status, 400);
    assert.equal(err.body, '{"error":"bad entry"}');
    assert.equal(server.posts().length, 1);
    assert.equal(hooks.retries, 0);
  });

  test("400 naming write_token is an AuthError, not retried", async (t) => {
    const body = { error: "A write_token is required to log to this server." };
    const server = await fakeServer(t, (_req, res) => json(res, 400, body));
    const { transport } = transportFor(t, settings(server.origin));
    const err = await rejectsWith(transport.call("bulk_log", BODY), AuthError);
    assert.equal(err.code, "ERR_TRACKIO_AUTH");
    assert.equal(err.status, 400);
    assert.equal(err.body, JSON.stringify(body));
    assert.match(err.message, /A write_token is required/);
    assert.ok(!(err instanceof StatusError));
    assert.equal(server.posts().length, 1);
  });

  for (const status of [401, 403]) {
    test(`${status} is an AuthError`, async (t) => {
      const server = await fakeServer(t, (_req, res) => json(res, status, { error: "no" }));
      const { transport } = transportFor(t, settings(server.origin));
      const err = await rejectsWith(transport.call("bulk_log", BODY), AuthError);
      assert.equal(err.status, status);
      assert.equal(server.posts().length, 1);
    });
  }

  test("404 on POST is a NotFoundError, not retried", async (t) => {
    const server = await fakeServer(t, (_req, res) => json(res, 404, { detail: "Not Found" }));
    const { transport } = transportFor(t, settings(server.origin));
    const err = await rejectsWith(transport.call("no_such_api", BODY), NotFoundError);
    assert.equal(err.code, "ERR_TRACKIO_NOT_FOUND");
    assert.equal(err.status, 404);
    assert.equal(err.body, '{"detail":"Not Found"}');
    assert.equal(server.posts().length, 1);
    assert.equal(server.posts()[0].url, "/api/no_such_api");
  });

  test("a Retry-After of 0 does not turn retries into a busy loop", async (t) => {
    const server = await fakeServer(t, (_req, res) => json(res, 503, { error: "paused" }, { "retry-after": "0" }));
    const { transport } = transportFor(t, settings(server.origin, { retryDeadlineMs: 500 }));
    await rejectsWith(transport.call("bulk_log", BODY), StatusError);
    // With the backoff (200 ms, then 400 ms, …) a 500 ms deadline allows about 3 attempts.
    assert.ok(server.posts().length <= 6, `${server.posts().length} POSTs within a 500 ms retry deadline`);
  });
});

describe("discovery failures", () => {
  const cases: [string, Handler][] = [
    ["404", (_req, res) => json(res, 404, { detail: "Not Found" })],
    [
      "200 text/html",
      (_req, res) => {
        res.writeHead(200, { "content-type": "text/html" });
        res.end("<html>a Gradio app</html>");
      },
    ],
    ["200 JSON of another api_version", (_req, res) => json(res, 200, { api_version: 2 })],
    [
      "200 JSON that does not parse",
      (_req, res) => {
        res.writeHead(200, { "content-type": "application/json" });
        res.end("{not json");
      },
    ],
  ];
  for (const [what, version] of cases) {
    test(`/version answering ${what}: NoEndpointError, and never asked again`, async (t) => {
      const server = await fakeServer(t, ok, version);
      const { transport, hooks } = transportFor(t, settings(server.origin));
      const first = await rejectsWith(transport.call("bulk_log", BODY), NoEndpointError);
      assert.equal(first.code, "ERR_TRACKIO_NO_ENDPOINT");
      const second = await rejectsWith(transport.call("bulk_log", BODY), NoEndpointError);
      assert.equal(second.message, first.message);
      // A 404 also asks GET /gradio_api/info whether it is a Gradio-based Trackio (≤ 0.23).
      const probes = what === "404" ? ["/version", "/gradio_api/info"] : ["/version"];
      assert.deepEqual(
        server.gets().map((r) => r.url),
        probes,
      );
      assert.equal(server.posts().length, 0);
      assert.equal(hooks.requests, probes.length);
      assert.equal(hooks.retries, 0);
    });
  }
});

describe("no answer", () => {
  test("a server that never answers: HttpError after the retry deadline, with retries", async (t) => {
    const server = await fakeServer(t, () => {
      // never answer
    });
    // undici checks headersTimeout on a coarse timer (ticks of ~0.5 s), so a 150 ms timeout fires
    // within ~1 s; the deadline leaves room for a second attempt whatever the tick.
    const { transport, hooks } = transportFor(t, settings(server.origin, { timeoutMs: 150, retryDeadlineMs: 2000 }));
    const err = await rejectsWith(transport.call("bulk_log", BODY), HttpError);
    assert.equal(err.code, "ERR_TRACKIO_HTTP");
    assert.match(err.message, /got no answer/);
    assert.equal((err.cause as { code?: string }).code, "UND_ERR_HEADERS_TIMEOUT");
    assert.ok(server.posts().length >= 2, `only ${server.posts().length} POSTs`);
    assert.equal(hooks.retries, server.posts().length - 1);
  });

  test("a request's timeout allows for uploading its body at 1 Mbit/s", async (t) => {
    // Answers every POST after 2.5 s: past a 300 ms timeout, within 300 ms + 500 KB at 1 Mbit/s.
    const server = await fakeServer(t, (_req, res) => {
      setTimeout(() => json(res, 200, { data: null }), 2500);
    });
    const { transport } = transportFor(t, settings(server.origin, { timeoutMs: 300, retryDeadlineMs: 600 }));
    const err = await rejectsWith(transport.callOnce("bulk_log", BODY), HttpError);
    assert.equal(
      (err.cause as { code?: string }).code,
      "UND_ERR_HEADERS_TIMEOUT",
      "a small body gets the timeout alone",
    );
    const large = new TextEncoder().encode(`{"kwargs":{"logs":[],"pad":"${"x".repeat(500_000)}"},"hf_token":null}`);
    await transport.callOnce("bulk_log", large);
  });

  test("connection refused: HttpError, retried until the deadline", async (t) => {
    const { transport, hooks } = transportFor(
      t,
      settings(await closedOrigin(), { timeoutMs: 200, retryDeadlineMs: 500 }),
    );
    const err = await rejectsWith(transport.call("bulk_log", BODY), HttpError);
    assert.match(err.message, /ECONNREFUSED/);
    assert.ok(isTransient(err));
    assert.ok(hooks.requests >= 2, `only ${hooks.requests} attempts`);
    assert.equal(hooks.retries, hooks.requests - 1);
  });
});

describe("after a failure, one attempt until a success", () => {
  test("exhausted → single attempts → a success restores retries", async (t) => {
    let mode: "fail" | "ok" | "fail-once" = "fail";
    const server = await fakeServer(t, (req, res) => {
      if (mode === "fail") return json(res, 503, { error: "paused" });
      if (mode === "fail-once") {
        mode = "ok";
        return json(res, 503, { error: "paused" });
      }
      return ok(req, res, 0);
    });
    const { transport, hooks } = transportFor(t, settings(server.origin, { retryDeadlineMs: 500 }));

    // 1: retried until the deadline.
    const e1 = await rejectsWith(transport.call("bulk_log", BODY), StatusError);
    assert.equal(e1.status, 503);
    const afterFirst = server.posts().length;
    assert.ok(afterFirst >= 2, `only ${afterFirst} POSTs`);
    assert.equal(hooks.retries, afterFirst - 1);

    // 2: unhealthy, one attempt, no retry.
    const e2 = await rejectsWith(transport.call("bulk_log", BODY), StatusError);
    assert.equal(e2.status, 503);
    assert.equal(server.posts().length, afterFirst + 1);
    assert.equal(hooks.retries, afterFirst - 1);

    // 3: the server is back; one attempt succeeds and restores the policy.
    mode = "ok";
    await transport.call("bulk_log", BODY);
    assert.equal(server.posts().length, afterFirst + 2);

    // 4: healthy again, so a transient failure is retried.
    mode = "fail-once";
    await transport.call("bulk_log", BODY);
    assert.equal(server.posts().length, afterFirst + 4);
    assert.equal(hooks.retries, afterFirst);
  });

  test("a permanent failure (400) does not switch to single attempts", async (t) => {
    let n = 0;
    const server = await fakeServer(t, (req, res) => {
      n++;
      if (n === 1) return json(res, 400, { error: "bad" });
      if (n === 2) return json(res, 503, { error: "paused" });
      return ok(req, res, 0);
    });
    const { transport } = transportFor(t, settings(server.origin));
    await rejectsWith(transport.call("bulk_log", BODY), StatusError);
    await transport.call("bulk_log", BODY);
    assert.equal(server.posts().length, 3, "the 503 was retried");
  });
});

describe("parseRetryAfter", () => {
  const now = Date.parse("Wed, 21 Oct 2015 07:28:00 GMT");

  test("delta-seconds", () => {
    assert.equal(parseRetryAfter("1", now), 1000);
    assert.equal(parseRetryAfter("0", now), 0);
    assert.equal(parseRetryAfter("120", now), 120_000);
    assert.equal(parseRetryAfter(" 2 ", now), 2000);
    assert.equal(parseRetryAfter(["3", "5"], now), 3000);
  });

  test("HTTP date, relative to now; a past date is 0", () => {
    assert.equal(parseRetryAfter("Wed, 21 Oct 2015 07:28:05 GMT", now), 5000);
    assert.equal(parseRetryAfter("Wed, 21 Oct 2015 07:29:00 GMT", now), 60_000);
    assert.equal(parseRetryAfter("Wed, 21 Oct 2015 07:27:00 GMT", now), 0);
  });

  test("absent or garbage: undefined", () => {
    assert.equal(parseRetryAfter(undefined, now), undefined);
    assert.equal(parseRetryAfter("", now), undefined);
    assert.equal(parseRetryAfter("   ", now), undefined);
    assert.equal(parseRetryAfter("soon", now), undefined);
    assert.equal(parseRetryAfter("Infinity", now), undefined);
    assert.equal(parseRetryAfter([], now), undefined);
  });

  test("negative numbers and text with a digit are garbage too", () => {
    assert.equal(parseRetryAfter("-1", now), undefined);
    assert.equal(parseRetryAfter("foo 1", now), undefined);
    assert.equal(parseRetryAfter("1.5.2", now), undefined);
  });
});

describe("isTransient", () => {
  test("no answer, 429, 500, 502, 503, 504 are transient; the rest are not", () => {
    assert.ok(isTransient(new HttpError("x")));
    for (const s of [429, 500, 502, 503, 504]) assert.ok(isTransient(new StatusError("x", s, "")), String(s));
    for (const s of [400, 409, 413, 501]) assert.ok(!isTransient(new StatusError("x", s, "")), String(s));
    assert.ok(!isTransient(new AuthError("x", 401, "")));
    assert.ok(!isTransient(new NotFoundError("x", "")));
    assert.ok(!isTransient(new NoEndpointError("x")));
    assert.ok(!isTransient(new Error("x")));
  });
});
