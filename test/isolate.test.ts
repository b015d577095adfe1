// The splitting rule of worker/isolate.ts against a simulated server (no HTTP): whatever the
// refused records, a transient refusal and outages, every line ends up exactly once in sent,
// refused or waiting; only lines the server refuses are ever set aside; and with one good
// line and no outage, every good line is sent. Property-based (fast-check, seeded;
// TRACKIO_FC_SEED picks another seed).
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import fc from "fast-check";
import { isolate } from "../src/io/isolate.js";
import { configCarrier, configOf, damage, sameRun, withConfig } from "../src/io/record-line.js";
import { HttpError, StatusError } from "../src/shared/errors.js";

const SEED = Number(process.env.TRACKIO_FC_SEED ?? 20261130);

function line(i: number, config = "null"): string {
  return `{"v":1,"kind":"metric","project":"p","run":"r","run_id":"id","metrics":{"i":${i}},"step":${i},"timestamp":"t","config":${config},"log_id":"c-${i}"}`;
}

const refusal = () => new StatusError("POST /api/bulk_log answered HTTP 500: refused", 500, "");

interface Server {
  bad: Set<number>;
  /** Attempts (by number, from 0) answered 500 whatever they hold. */
  flaky: Set<number>;
  /** From this attempt on, no answer at all. */
  downAt: number;
  attempts: number;
  stored: Set<string>;
}

function send(server: Server) {
  return async (part: readonly string[]): Promise<void> => {
    const n = server.attempts++;
    if (n >= server.downAt) throw new HttpError("no answer: ECONNREFUSED");
    if (server.flaky.has(n)) throw refusal();
    if (part.some((l) => server.bad.has(Number((JSON.parse(l) as { step: number }).step)))) throw refusal();
    for (const l of part) server.stored.add(l);
  };
}

describe("isolate()", () => {
  test("every line settles once; only refused lines are set aside; with no outage every good line is sent", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 300 }),
        fc.array(fc.nat(299), { maxLength: 8 }),
        // One transient 500 at most: a line is set aside after two lone refusals, so two
        // transient ones in a row on the same line would (by design) set a good line aside.
        fc.array(fc.nat(60), { maxLength: 1 }),
        fc.option(fc.nat(80), { nil: undefined }),
        fc.boolean(),
        async (n, badRaw, flakyRaw, downAt, withControl) => {
          const lines = Array.from({ length: n }, (_, i) => line(i));
          const bad = new Set(badRaw.filter((b) => b < n));
          const server: Server = {
            bad,
            flaky: new Set(flakyRaw),
            downAt: downAt ?? Number.POSITIVE_INFINITY,
            attempts: 0,
            stored: new Set(),
          };
          const control = withControl ? line(10_000) : null;
          const out = await isolate(lines, refusal(), send(server), () => control);
          const all = [...out.sent, ...out.refused.map((r) => r.line), ...out.waiting].sort();
          assert.deepEqual(all, [...lines].sort(), "every line exactly once");
          for (const l of out.sent) assert.ok(server.stored.has(l), "sent means the server stored it");
          for (const r of out.refused) {
            assert.ok(bad.has((JSON.parse(r.line) as { step: number }).step), `a good line set aside: ${r.line}`);
          }
          const good = n - bad.size;
          if (downAt === undefined && flakyRaw.length === 0 && (good > 0 || withControl)) {
            assert.equal(out.sent.length, good, "no outage: every good line sent");
            assert.equal(out.refused.length, bad.size, "and every refused one set aside");
            assert.equal(out.waiting.length, 0);
          }
          if (out.waiting.length > 0) assert.ok(out.why === "down" || out.why === "unproven");
        },
      ),
      { seed: SEED, numRuns: 300 },
    );
  });

  test("one refused record among 2,048: 23 single-try requests or fewer after the whole was refused", async () => {
    const lines = Array.from({ length: 2048 }, (_, i) => line(i));
    const server: Server = { bad: new Set([1234]), flaky: new Set(), downAt: Infinity, attempts: 0, stored: new Set() };
    const out = await isolate(lines, refusal(), send(server), () => null);
    assert.equal(out.sent.length, 2047);
    assert.deepEqual(
      out.refused.map((r) => r.line),
      [line(1234)],
    );
    assert.ok(out.requests <= 23, `${out.requests} requests`);
  });

  test("a server that refuses everything is an outage: nothing set aside, a bounded number of requests", async () => {
    const lines = Array.from({ length: 2048 }, (_, i) => line(i));
    const server: Server = {
      bad: new Set(lines.map((_, i) => i)),
      flaky: new Set(),
      downAt: Infinity,
      attempts: 0,
      stored: new Set(),
    };
    const out = await isolate(lines, refusal(), send(server), () => null);
    assert.equal(out.refused.length, 0);
    assert.equal(out.waiting.length, 2048);
    assert.equal(out.why, "unproven");
    assert.ok(out.requests <= 16, `${out.requests} requests`);
  });

  test("the refused line carried the config: an accepted line of the same run carries it in", async () => {
    const config = '{"lr":0.5,"nested":{"config":1}}';
    const lines = [line(0, config), line(1), line(2)];
    const server: Server = { bad: new Set([0]), flaky: new Set(), downAt: Infinity, attempts: 0, stored: new Set() };
    const out = await isolate(lines, refusal(), send(server), () => null);
    assert.deepEqual(out.configs, [{ line: lines[0], kept: true, recordStored: false }]);
    const carrier = [...server.stored].find((l) => l.includes('"resend":true'));
    assert.ok(carrier !== undefined);
    assert.equal(configOf(carrier), config);
    assert.match(carrier, /"log_id":"c-2"/);
  });
});

describe("record lines", () => {
  test("config spans survive nested keys named config, strings with braces and escapes", () => {
    const config = '{"config":{"a":"}\\"{,"},"b":[1,{"c":2}]}';
    const l = line(3, config);
    assert.equal(configOf(l), config);
    assert.equal(configOf(withConfig(l, "null") as string), null);
    assert.equal(configCarrier(line(4), config)?.startsWith('{"v":1,"kind":"metric","resend":true,'), true);
    assert.ok(sameRun(line(1), line(2)));
    assert.ok(!sameRun(line(1), line(2).replace('"run":"r"', '"run":"other"')));
  });

  test("damage(): what is not a record", () => {
    assert.equal(damage(line(1)), null);
    assert.equal(damage(line(1).slice(0, 30)), "not JSON");
    assert.equal(damage("[1,2]"), "not a JSON object");
    assert.equal(damage('{"kind":"metric","metrics":{}}'), "no project or run");
    assert.equal(damage('{"kind":"other","project":"p","run":"r"}'), 'unknown kind "other"');
  });
});
