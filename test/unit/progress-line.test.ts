// src/progress-line.ts: the progress line of close() and `trackio sync`.

import assert from "node:assert/strict";
import { Writable } from "node:stream";
import { test } from "node:test";
import { ProgressLine } from "../../src/progress-line.js";

function sink(): Writable & { text: string } {
  const s = new Writable({
    write(chunk, _enc, done) {
      s.text += chunk.toString();
      done();
    },
  }) as Writable & { text: string };
  s.text = "";
  return s;
}

test("on a terminal: rewritten in place; cleared before a warning is printed and at stop(); null skips a turn", async () => {
  const out = sink();
  let n = 0;
  const listeners = process.listenerCount("warning");
  const line = new ProgressLine(out, true, () => (++n === 2 ? null : `step ${n}`)).start();
  assert.equal(out.text, "", "nothing before the first interval");
  await new Promise((resolve) => setTimeout(resolve, 1100));
  assert.equal(out.text, "\r\x1b[2Kstep 1");
  const ignore = () => {};
  process.on("warning", ignore);
  process.emitWarning("a warning in the middle", { code: "TRACKIO_TEST" });
  await new Promise((resolve) => setImmediate(resolve));
  process.off("warning", ignore);
  assert.equal(out.text, "\r\x1b[2Kstep 1\r\x1b[2K", "the line is cleared before the warning");
  await new Promise((resolve) => setTimeout(resolve, 1000));
  assert.equal(out.text, "\r\x1b[2Kstep 1\r\x1b[2K", "a turn whose text is null writes nothing");
  line.stop();
  assert.equal(process.listenerCount("warning"), listeners, "stop() removes its listener");
});

test("a task that ends before the first interval prints nothing", () => {
  const out = sink();
  const line = new ProgressLine(out, false, () => "still going");
  line.stop();
  assert.equal(out.text, "", "stopped before its first turn: nothing printed");
});
