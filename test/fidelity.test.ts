// The values a user found that cost whole batches (issue 10), against a real Trackio server:
// each is stored as Trackio's Python client stores it, or refused at the call, and never
// costs a neighbour. The property tests (properties*.test.ts) cover the whole input space;
// these are the named cases, with the exact text the server stored.

import assert from "node:assert/strict";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { startTrackio, type TrackioServer } from "../scripts/trackio-server.js";
import { Client, InvalidArgError, type Metrics } from "../src/index.js";
import { queryProject, sqlString } from "./support/read-api.js";

process.env.TRACKIO_SPOOL_DIR = mkdtempSync(join(tmpdir(), "trackio-spool-"));

let server: TrackioServer;
let projectSeq = 0;
const project = () => `fidelity-${process.pid}-${projectSeq++}`;

before(async () => {
  server = await startTrackio();
});
after(async () => {
  await server?.stop();
});

function client(p: string, extra: Record<string, unknown> = {}): Client {
  return new Client({ baseUrl: server.url, writeToken: server.writeToken, project: p, run: "r", ...extra });
}

/** The metrics text the server stored for each step, as orjson wrote it. */
async function storedTexts(p: string, runId: string): Promise<Map<number, string>> {
  const rows = await queryProject(
    server.url,
    p,
    `SELECT step, metrics FROM metrics WHERE run_id = ${sqlString(runId)} ORDER BY step`,
  );
  return new Map(rows.map((r) => [Number(r.step), String(r.metrics)]));
}

function refusedAtCall(fn: () => void, message: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof InvalidArgError, String(err));
    assert.equal((err as InvalidArgError).code, "ERR_TRACKIO_INVALID_ARG");
    assert.match((err as Error).message, message);
    return true;
  });
}

describe("numbers are stored as the same double, float where Python stores a float", () => {
  test("a 1,000-step run with a 1.2345678901234568e20 metric loses nothing; -0 stays -0.0", async () => {
    const p = project();
    const c = client(p);
    for (let i = 0; i < 1000; i++) c.log({ loss: 1.2345678901234568e20, i }, i); // numeric path
    c.log({ big: 5e19, neg: -1e19, two63: 2 ** 63, negZero: -0, s: "json path" }, 1000);
    c.log({ negZero: -0, beyond: 2 ** 53 + 2, safe: Number.MAX_SAFE_INTEGER }, 1001); // numeric path
    await c.close();
    const st = c.stats();
    assert.equal(st.sent, 1002);
    assert.equal(st.spooled + st.failed + st.quarantined, 0);
    const texts = await storedTexts(p, c.runId as string);
    assert.equal(texts.size, 1002);
    assert.equal(texts.get(0), '{"loss":1.2345678901234568e+20,"i":0}');
    assert.equal(texts.get(999), '{"loss":1.2345678901234568e+20,"i":999}');
    assert.equal(
      texts.get(1000),
      '{"big":5e+19,"neg":-1e+19,"two63":9.223372036854776e+18,"negZero":-0.0,"s":"json path"}',
    );
    assert.equal(texts.get(1001), '{"negZero":-0.0,"beyond":9007199254740994.0,"safe":9007199254740991}');
  });

  test("config: { max_tokens: 1e20 } no longer loses the run", async () => {
    const p = project();
    const c = client(p, { config: { max_tokens: 1e20, lr: -0 } });
    c.log({ loss: 1 }, 0);
    c.config({ window: 2 ** 64 });
    c.log({ loss: 2 }, 1);
    await c.close();
    assert.equal(c.stats().sent, 2);
    const [row] = await queryProject(server.url, p, "SELECT config FROM configs");
    const config = String(row.config);
    assert.match(config, /"max_tokens":1e\+20/);
    assert.match(config, /"lr":-0\.0/);
    assert.match(config, /"window":1\.8446744073709552e\+19/);
  });
});

describe("what can never be stored is refused at the call, and costs no neighbour", () => {
  test("lone surrogates, Map, Set, Date, class instances, inherited keys, throwing getters", async () => {
    const p = project();
    const c = client(p);
    class Point {
      x = 1;
    }
    const bad: [string, () => void, RegExp][] = [
      ["lone surrogate value", () => c.log({ note: "bad \ud800 text" }), /metric "note" contains a lone surrogate/],
      ["lone surrogate key", () => c.log({ "loss\udc00": 1 }), /the name of metric .* contains a lone surrogate/],
      ["Map", () => c.log(new Map([["loss", 0.5]]) as unknown as Metrics), /got an instance of Map/],
      ["Set", () => c.log(new Set([1]) as unknown as Metrics), /got an instance of Set/],
      ["Date", () => c.log(new Date() as unknown as Metrics), /got an instance of Date/],
      ["class instance", () => c.log(new Point() as unknown as Metrics), /got an instance of Point/],
      ["inherited keys", () => c.log(Object.create({ loss: 1 })), /got an object with a prototype/],
      ["nested Date", () => c.log({ when: new Date() as unknown as number }), /metric "when" is an instance of Date/],
      [
        "throwing getter (numeric path)",
        () =>
          c.log({
            get loss(): number {
              throw new Error("no loss yet");
            },
          }),
        /reading metric "loss" threw: no loss yet/,
      ],
      ["alert title", () => c.alert({ title: "spike \ud83d" }), /alert\(\): title contains a lone surrogate/],
      ["config value", () => c.config({ name: "x\udfff" }), /config\(\): metric "name" contains a lone surrogate/],
    ];
    let step = 0;
    for (const [what, call, message] of bad) {
      c.log({ ok: step }, step);
      step++;
      refusedAtCall(call, message);
      assert.ok(what);
    }
    c.log({ ok: step, emoji: "fine 😀" }, step);
    await c.close();
    const st = c.stats();
    assert.equal(st.logged, bad.length + 1);
    assert.equal(st.sent, bad.length + 1);
    const texts = await storedTexts(p, c.runId as string);
    assert.equal(texts.size, bad.length + 1);
    assert.equal(texts.get(bad.length), `{"ok":${bad.length},"emoji":"fine 😀"}`);
  });

  test("run and project names with a lone surrogate are refused when the client is made", () => {
    refusedAtCall(
      () => new Client({ baseUrl: server.url, project: "p", run: "run \ud800" }),
      /options\.run contains a lone surrogate/,
    );
    refusedAtCall(() => new Client({ baseUrl: server.url, project: "\udc00" }), /options\.project contains/);
    refusedAtCall(() => new Client({ baseUrl: server.url }).withRun("r\ud800"), /withRun\(\) contains/);
  });
});
