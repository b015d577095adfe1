// log()'s shared clock (worker/clock.ts, src/producer.ts now()): log() asks for it when many
// calls see the same millisecond; it runs while the ring fills fast and stops below the stop
// rate, when the client closes, and for good once closed. The test plays both threads.

import assert from "node:assert/strict";
import { test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { Producer } from "../../src/producer.js";
import { CTL_CLOCK, CTL_CLOCK_WANTED, CTL_STATE, CTL_W, createRing } from "../../src/shared/ring.js";
import { LogClock, RATE_WINDOW_MS, STOP_BYTES_PER_MS } from "../../worker/clock.js";

function ring(): { ctl: Int32Array; producer: Producer } {
  const layout = createRing(4096, 64);
  const producer = new Producer(layout, {
    maxRecordBytes: 1024,
    maxOverflowBytes: 4096,
    overflowTimeoutMs: 0,
    clockBase: Date.now() - 60_000,
    mediaPrefix: "p/r/",
  });
  return { ctl: producer.views.ctl, producer };
}

/** Until `check` holds, or fail after 2 s (a resolved waitAsync needs a turn of the event loop). */
async function until(check: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 200 && !check(); i++) await sleep(10);
  assert.ok(check(), what);
}

test("now(): Date.now() while the clock is stopped; calls crowding one millisecond ask for it once", () => {
  const { ctl, producer } = ring();
  const before = Date.now();
  assert.ok(producer.now() >= before);
  assert.equal(Atomics.load(ctl, CTL_CLOCK_WANTED), 0);
  // 35-60 ns a call: far more than 512 calls land in some millisecond of this loop.
  const end = Date.now() + 50;
  while (Date.now() < end && Atomics.load(ctl, CTL_CLOCK_WANTED) === 0) producer.now();
  assert.equal(Atomics.load(ctl, CTL_CLOCK_WANTED), 1);
  // A running clock is read as ms since the ring's clock base, plus one.
  const base = Date.now() - 60_000;
  Atomics.store(ctl, CTL_CLOCK, Date.now() - base + 1);
  assert.ok(Math.abs(producer.now() - Date.now()) < 1000);
});

/** A producer's progress, far past the stop rate on every 1 ms timer, so a late timer cannot look slow. */
function filling(ctl: Int32Array): { stop(): void } {
  const timer = setInterval(() => Atomics.add(ctl, CTL_W, STOP_BYTES_PER_MS * 1000), 1);
  return { stop: () => clearInterval(timer) };
}

function asker(ctl: Int32Array, producer: Producer): () => void {
  return () => {
    const end = Date.now() + 50;
    while (Date.now() < end && Atomics.load(ctl, CTL_CLOCK_WANTED) === 0) producer.now();
  };
}

test("LogClock: starts when log() asks, stops when the ring fills slowly, and can be asked again", async (t) => {
  const { ctl, producer } = ring();
  const clock = new LogClock(ctl, Date.now() - 60_000);
  t.after(() => clock.close());
  clock.listen();
  const ask = asker(ctl, producer);
  let fill = filling(ctl);
  t.after(() => fill.stop());
  await sleep(RATE_WINDOW_MS * 3);
  assert.equal(clock.running, false, "a fast ring alone does not start it: log() asks");

  ask();
  await until(() => clock.running, "the clock started when asked");
  await until(() => Atomics.load(ctl, CTL_CLOCK) !== 0, "the clock ticked");
  assert.ok(Math.abs(producer.now() - Date.now()) < 1000, "log() reads the clock's time");
  await sleep(RATE_WINDOW_MS * 5);
  assert.equal(clock.running, true, "kept running while the ring filled fast");

  // Nothing published: it stops, and log() calls Date.now() again.
  fill.stop();
  await until(() => !clock.running, "the clock stopped");
  assert.equal(Atomics.load(ctl, CTL_CLOCK), 0);
  assert.equal(Atomics.load(ctl, CTL_CLOCK_WANTED), 0);

  fill = filling(ctl);
  ask();
  await until(() => clock.running, "the clock started when asked again");
});

test("LogClock: stops when the client starts closing, and never runs once closed", async (t) => {
  const { ctl, producer } = ring();
  const clock = new LogClock(ctl, Date.now());
  t.after(() => clock.close());
  clock.listen();
  const ask = asker(ctl, producer);
  const fill = filling(ctl);
  t.after(() => fill.stop());
  ask();
  await until(() => clock.running, "the clock started when asked");
  // close() on the main thread: what arrives now is overflow moved in, not log() calls.
  Atomics.store(ctl, CTL_STATE, 1);
  await until(() => !clock.running, "the clock stopped once closing");
  ask();
  await sleep(50);
  assert.equal(clock.running, false, "not started while closing");

  Atomics.store(ctl, CTL_STATE, 0);
  clock.close();
  Atomics.store(ctl, CTL_CLOCK_WANTED, 0);
  ask();
  await sleep(50);
  assert.equal(clock.running, false, "never started once closed");
  assert.equal(Atomics.load(ctl, CTL_CLOCK), 0);
});

test("clockLost(): the thread that kept the clock is gone: log() reads Date.now() and may ask again", () => {
  const { ctl, producer } = ring();
  const base = Date.now() - 60_000;
  // A clock frozen an hour ago, as a dead thread leaves it.
  Atomics.store(ctl, CTL_CLOCK, Date.now() - 3_600_000 - base + 1);
  Atomics.store(ctl, CTL_CLOCK_WANTED, 1);
  producer.clockLost();
  assert.equal(Atomics.load(ctl, CTL_CLOCK), 0);
  assert.equal(Atomics.load(ctl, CTL_CLOCK_WANTED), 0);
  assert.ok(Math.abs(producer.now() - Date.now()) < 1000);
});
