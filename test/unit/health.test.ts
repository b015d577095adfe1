// worker/health.ts on its own: when the server is believed down, when the spool is due for
// a replay, one 'error' per outage, and the last try a closing client gives a down server.
// The probe interval is 15 s (retryDeadlineMs is clamped to [1 s, 15 s]), far longer than
// any of these tests, so "believed down" cannot expire under them; later times are passed
// to replayDue() explicitly.

import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { AuthError, HttpError, StatusError } from "../../src/shared/errors.js";
import { Health } from "../../worker/health.js";

const INTERVAL = 15_000;
const transient = () => new StatusError("POST /api/bulk_log answered HTTP 503: paused", 503, "");

function health(over: Partial<ConstructorParameters<typeof Health>[0]> = {}): Health {
  return new Health({ probing: false, spoolOn: true, spoolPending: false, retryDeadlineMs: 60_000, ...over });
}

describe("Health", () => {
  test("believed down after a transient failure, until the server takes something", () => {
    const h = health({ probing: true });
    assert.equal(h.believedDown(), false);
    const err = new HttpError("no answer: ECONNRESET");
    h.sendFailed(err);
    assert.equal(h.believedDown(), true);
    assert.equal(h.downReason, err);
    assert.equal(h.probing, false, "an answer or a failure ends probing");
    h.recovered();
    assert.equal(h.believedDown(), false);
  });

  test("trouble (what the exit path reads): set by a retried attempt or a send that failed for good, cleared by recovery, told once per change", () => {
    const told: boolean[] = [];
    const h = health({ onTrouble: (t) => told.push(t) });
    h.sendFailed(transient()); // failed for good without a retried attempt (an unhealthy transport tries once)
    h.recovered();
    assert.deepEqual(told, [true, false], "a send failed for good is cleared by recovery too");
    assert.equal(h.firstFailedAttempt(), true);
    assert.equal(h.firstFailedAttempt(), false);
    h.sendFailed(transient());
    h.recovered();
    h.recovered();
    assert.deepEqual(told, [true, false, true, false]);
    h.sendFailed(new AuthError("refused", 401, ""));
    assert.deepEqual(told, [true, false, true, false], "a refusal is not an outage");
  });

  test("not believed down after a failure that is not transient (auth, 400)", () => {
    const h = health();
    h.sendFailed(new AuthError("refused", 401, ""));
    h.sendFailed(new StatusError("bad", 400, ""));
    assert.equal(h.believedDown(), false);
    assert.equal(h.downReason, null);
  });

  test("with the spool off nothing is believed down: every batch is tried", () => {
    const h = health({ spoolOn: false });
    h.sendFailed(transient());
    assert.equal(h.believedDown(), false);
  });

  test("replay schedule: nothing pending, then one probe interval after the first spooling", () => {
    const h = health();
    const t0 = performance.now();
    assert.equal(h.replayDue(t0 + 10 * INTERVAL, false), false, "nothing in the spool");
    h.spooled();
    const due = performance.now() + INTERVAL;
    assert.equal(h.replayDue(t0, false), false);
    assert.equal(h.replayDue(due, false), true);
    // Later spooling does not push the replay back.
    h.spooled();
    assert.equal(h.replayDue(due, false), true);
    h.spoolEmpty();
    assert.equal(h.replayDue(performance.now() + 10 * INTERVAL, false), false);
  });

  test("fragments left by an earlier process are replayed at once", () => {
    const h = health({ spoolPending: true });
    assert.equal(h.replayDue(performance.now(), false), true);
  });

  test("a failed replay waits a probe interval, and a transient one makes the server believed down", () => {
    const h = health({ spoolPending: true });
    const t0 = performance.now();
    h.replayFailed(transient());
    assert.equal(h.replayDue(t0, false), false);
    assert.equal(h.believedDown(), true);
    assert.equal(h.replayDue(performance.now() + INTERVAL + 1, false), true);

    const g = health({ spoolPending: true });
    g.replayFailed(new StatusError("bad", 400, ""));
    assert.equal(g.believedDown(), false);
  });

  test("the end of an outage replays the spool at once", () => {
    const h = health();
    h.sendFailed(transient());
    assert.equal(h.outage(), true);
    h.spooled();
    assert.equal(h.replayDue(performance.now(), false), false);
    h.recovered();
    assert.equal(h.replayDue(performance.now(), false), true);
  });

  test("one 'error' per outage: outage() is true for the first failure only, again after a recovery", () => {
    const h = health();
    assert.equal(h.outage(), true);
    assert.equal(h.outage(), false);
    assert.equal(h.outage(), false);
    h.recovered();
    assert.equal(h.outage(), true);
  });

  test("lastTryAtClose: a closing client tries a down server once more, once", () => {
    const h = health();
    h.sendFailed(transient());
    assert.equal(h.believedDown(), true);
    h.lastTryAtClose();
    assert.equal(h.believedDown(), false, "the first send of close() is tried");
    h.sendFailed(transient());
    h.lastTryAtClose();
    assert.equal(h.believedDown(), true, "only once");
  });

  test("closing during an outage: one replay probe, not a wait for the schedule", () => {
    const h = health();
    h.sendFailed(transient());
    h.outage();
    h.spooled();
    const now = performance.now();
    assert.equal(h.replayDue(now, false), false);
    assert.equal(h.replayDue(now, true), true, "one probe before going away");
    assert.equal(h.replayDue(now, true), false);
    assert.equal(h.replayDue(now + 10 * INTERVAL, true), false, "a closing client does not wait out an outage");
  });

  test("closing after lastTryAtClose was spent on a send: no further replay probe during the outage", () => {
    const h = health();
    h.sendFailed(transient());
    h.outage();
    h.spooled();
    h.lastTryAtClose();
    assert.equal(h.replayDue(performance.now(), true), false);
  });
});
