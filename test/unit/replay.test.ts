// src/io/replay.ts against a fake Trackio and a temporary spool: a fragment sent and removed,
// damaged lines set aside alone, an empty fragment, an outage in the middle of a fragment
// (what was acknowledged leaves it, the rest stays), and a whole directory.

import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, type TestContext, test } from "node:test";
import type { Controls } from "../../src/io/isolate.js";
import { REPLAY_CHUNK, replayDir, replayFragment } from "../../src/io/replay.js";
import { FragmentWriter, listFragments, listQuarantined, readFragment } from "../../src/io/spool.js";
import type { WorkerSettings } from "../../src/shared/protocol.js";
import { metricLines, stepsOf } from "../support/batch-lines.js";
import { down, type FakeTrackio, fakeTrackio, tempDir } from "../support/fake-trackio.js";
import { testSettings, transportFor } from "../support/transport.js";

interface Setup {
  server: FakeTrackio;
  s: WorkerSettings;
  spool: FragmentWriter;
  dir: string;
  transport: ReturnType<typeof transportFor>["transport"];
  controls: Controls;
}

async function setup(t: TestContext): Promise<Setup> {
  const server = await fakeTrackio(t);
  const dir = tempDir(t, "replay");
  const s = testSettings(server.origin, { spoolDir: dir, retryDeadlineMs: 300 });
  return {
    server,
    s,
    spool: new FragmentWriter(dir),
    dir,
    transport: transportFor(t, s).transport,
    controls: new Map(),
  };
}

const storedSteps = (server: FakeTrackio) => [...server.stored.values()].map((e) => e.step as number);

describe("replayFragment", () => {
  test("a fragment is sent and removed", async (t) => {
    const { server, s, spool, transport, controls, dir } = await setup(t);
    const path = spool.write(metricLines(s, 0, 4));
    const out = await replayFragment(path, transport, controls);
    assert.equal(out.kind, "done");
    assert.equal(out.records, 4);
    assert.equal(out.empty, false);
    assert.equal(out.quarantinedIn, null);
    assert.equal(readFragment(path), null, "removed");
    assert.deepEqual(listFragments(dir), []);
    assert.deepEqual(storedSteps(server), [0, 1, 2, 3]);
  });

  test("a damaged line is set aside alone; the others are sent", async (t) => {
    const { server, s, spool, transport, controls } = await setup(t);
    const [a, b, c] = metricLines(s, 0, 3);
    const torn = b.slice(0, 40);
    const path = spool.write([a, torn, c, "[1,2]"]);
    const out = await replayFragment(path, transport, controls);
    assert.equal(out.kind, "done");
    assert.equal(out.records, 2);
    assert.deepEqual(out.damaged, [
      { line: torn, reason: "not JSON" },
      { line: "[1,2]", reason: "not a JSON object" },
    ]);
    assert.equal(out.quarantinedIn, path.replace(/\.jsonl$/, ".quarantined.jsonl"));
    assert.deepEqual(readFragment(out.quarantinedIn as string), [torn, "[1,2]"]);
    assert.equal(readFragment(path), null);
    assert.deepEqual(storedSteps(server), [0, 2]);
  });

  test("an empty fragment (cut short before the disk wrote it) is removed and reported as empty", async (t) => {
    const { server, spool, transport, controls, dir } = await setup(t);
    const path = spool.write(["placeholder"]);
    writeFileSync(path, "\n");
    const out = await replayFragment(path, transport, controls);
    assert.equal(out.empty, true);
    assert.equal(out.kind, "done");
    assert.equal(out.records, 0);
    assert.equal(readFragment(path), null);
    assert.deepEqual(listFragments(dir), []);
    assert.equal(server.posts().length, 0);
  });

  test("a fragment another process consumed meanwhile is 'gone'", async (t) => {
    const { transport, controls, dir } = await setup(t);
    const out = await replayFragment(join(dir, "nobody", "00000000.jsonl"), transport, controls);
    assert.equal(out.kind, "gone");
  });

  test("an outage mid-fragment: acknowledged chunks leave the fragment, the rest stays for the next try", async (t) => {
    const { server, s, spool, transport, controls } = await setup(t);
    const lines = metricLines(s, 0, 2 * REPLAY_CHUNK + 100);
    const path = spool.write(lines);
    let requests = 0;
    server.answer = () => (requests++ === 0 ? "store" : { status: 503, error: "paused" });

    const first = await replayFragment(path, transport, controls);
    assert.equal(first.kind, "failed");
    assert.equal(first.why, "down");
    assert.equal(first.records, REPLAY_CHUNK);
    assert.deepEqual(readFragment(path), lines.slice(REPLAY_CHUNK), "only what was not acknowledged stays");
    assert.equal(server.stored.size, REPLAY_CHUNK);

    server.answer = () => "store";
    const second = await replayFragment(path, transport, controls);
    assert.equal(second.kind, "done");
    assert.equal(second.records, REPLAY_CHUNK + 100);
    assert.equal(readFragment(path), null);
    assert.deepEqual(
      storedSteps(server),
      lines.map((_, i) => i),
    );
  });
});

describe("replayDir", () => {
  test("every fragment, oldest first; damaged lines and empty fragments counted", async (t) => {
    const { server, s, spool, transport, dir } = await setup(t);
    spool.write(metricLines(s, 0, 3));
    const empty = spool.write(["placeholder"]);
    writeFileSync(empty, "");
    spool.write([...metricLines(s, 3, 2), "not json"]);
    const seen: string[] = [];
    const out = await replayDir(dir, transport, (path) => seen.push(path));
    assert.equal(out.error, null);
    assert.deepEqual(out.sent, { fragments: 3, records: 5 });
    assert.deepEqual(out.setAside, { refused: 0, damaged: 1, configsLost: 0, emptyFragments: 1 });
    assert.equal(seen.length, 3);
    assert.deepEqual(storedSteps(server), [0, 1, 2, 3, 4]);
    assert.deepEqual(listFragments(dir), []);
    assert.equal(listQuarantined(dir).length, 1);
  });

  test("an outage stops it: the fragments not reached stay as they are", async (t) => {
    const { server, s, spool, transport, dir } = await setup(t);
    const first = metricLines(s, 0, 2);
    const second = metricLines(s, 2, 2);
    spool.write(first);
    spool.write(second);
    server.answer = down(503);
    const out = await replayDir(dir, transport);
    assert.notEqual(out.error, null);
    assert.deepEqual(out.sent, { fragments: 0, records: 0 });
    assert.deepEqual(
      listFragments(dir).map((f) => stepsOf(readFragment(f) ?? [])),
      [
        [0, 1],
        [2, 3],
      ],
    );
    assert.ok(
      server.posts().every((p) => !p.body.includes('"step":2')),
      "the second fragment was not tried",
    );
  });
});
