// The retry policy as a table (src/io/transport.ts RETRY_POLICY, isTransient; src/io/isolate.ts
// isRefusal): for each answer, whether the transport retries it, and whether a failed
// request is split to find a refused record. Then what parseRetryAfter reads. The wire
// behaviour of each class (request counts against a fake server) is in test/transport.test.ts.

import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { isRefusal } from "../../src/io/isolate.js";
import { isTransient, parseRetryAfter, RETRY_POLICY } from "../../src/io/transport.js";
import {
  AuthError,
  HttpError,
  NoEndpointError,
  NotFoundError,
  StatusError,
  type TrackioError,
} from "../../src/shared/errors.js";
import { fakeServer, json } from "../support/fake-trackio.js";
import { testSettings, transportFor } from "../support/transport.js";

/** What happens to a request answered with each status: [retried, isolated]. */
const TABLE: [number, boolean, boolean][] = [
  [400, false, true], // a malformed entry: find it
  [401, false, false], // auth: fix the token, nothing to isolate
  [403, false, false],
  [404, false, false], // no such endpoint
  [408, false, false],
  [409, false, true],
  [413, false, true], // too large for a proxy: halves may pass
  [422, false, true],
  [429, true, false], // slow down
  [500, true, true], // a few retries, then isolate: may be one record's fault
  [501, false, false],
  [502, true, false],
  [503, true, false], // Trackio while writes are paused
  [504, true, false],
];

function errorFor(status: number): TrackioError {
  if (status === 401 || status === 403) return new AuthError(`HTTP ${status}`, status, "");
  if (status === 404) return new NotFoundError("HTTP 404", "");
  return new StatusError(`HTTP ${status}`, status, "");
}

describe("retry policy", () => {
  for (const [status, retried, isolated] of TABLE) {
    test(`HTTP ${status}: ${retried ? "retried" : "not retried"}, ${isolated ? "isolated" : "not isolated"}`, () => {
      const err = errorFor(status);
      assert.equal(isTransient(err), retried);
      assert.equal(isRefusal(err), isolated);
    });
  }

  test("the table agrees with RETRY_POLICY.retryStatuses (plus 500, retried a bounded number of times)", () => {
    const retried = TABLE.filter(([, r]) => r).map(([s]) => s);
    assert.deepEqual(
      retried,
      [...RETRY_POLICY.retryStatuses, 500].sort((a, b) => a - b),
    );
    assert.ok(RETRY_POLICY.max500Retries > 0 && Number.isFinite(RETRY_POLICY.max500Retries));
  });

  test("no answer at all is retried and never isolated; other errors are neither", () => {
    assert.equal(isTransient(new HttpError("no answer")), true);
    assert.equal(isRefusal(new HttpError("no answer")), false);
    for (const err of [new NoEndpointError("not Trackio"), new Error("a bug"), "a string"]) {
      assert.equal(isTransient(err), false);
      assert.equal(isRefusal(err), false);
    }
    // A 400 naming write_token becomes an AuthError: not a record's fault.
    assert.equal(isRefusal(new AuthError("write_token", 400, "")), false);
  });

  test("a single attempt stays single when the answer carries Retry-After", async (t) => {
    const server = await fakeServer(t, (_req, res) => json(res, 503, { error: "paused" }, { "retry-after": "1" }));
    const { transport, hooks } = transportFor(t, testSettings(server.origin));
    await assert.rejects(transport.call("bulk_log", "{}", true), StatusError);
    assert.equal(server.posts().length, 1);
    assert.equal(hooks.retries, 0);
  });
});

describe("parseRetryAfter", () => {
  const now = Date.parse("Wed, 21 Oct 2015 07:28:00 GMT");

  test("delta-seconds: digits only", () => {
    assert.equal(parseRetryAfter("30", now), 30_000);
    assert.equal(parseRetryAfter("007", now), 7000);
    for (const bad of ["+1", "1.5", "1e3", "0x10", "1 s"]) assert.equal(parseRetryAfter(bad, now), undefined, bad);
  });

  test("an HTTP date equal to now is 0 ms", () => {
    assert.equal(parseRetryAfter("Wed, 21 Oct 2015 07:28:00 GMT", now), 0);
  });

  test("the obsolete RFC 850 date form is read too", () => {
    assert.equal(parseRetryAfter("Wednesday, 21-Oct-15 07:28:05 GMT", now), 5000);
  });

  test("a date that is not an HTTP date is ignored", () => {
    assert.equal(parseRetryAfter("2015-10-21T07:28:05Z", now), undefined);
    assert.equal(parseRetryAfter("Wed, 99 Foo 2015 07:28:05 GMT", now), undefined);
  });

  test("the asctime date form is GMT whatever the local time zone (RFC 9110 §5.6.7)", () => {
    const tz = process.env.TZ;
    process.env.TZ = "America/New_York";
    try {
      assert.equal(parseRetryAfter("Wed Oct 21 07:28:05 2015", now), 5000);
    } finally {
      if (tz === undefined) delete process.env.TZ;
      else process.env.TZ = tz;
    }
  });
});
