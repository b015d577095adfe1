// The piscina entry. piscina loads this module when it starts the thread, before any task,
// which is what lets the loop start without the main thread's event loop turning: a program
// that logs from a loop that never yields is still delivering. One Flusher per client; the
// first client's ring comes in workerData, later ones over the pool's BroadcastChannel (see
// src/worker-pool.ts).

import { BroadcastChannel, workerData } from "node:worker_threads";
import { TrackioError, toWire } from "../src/shared/errors.js";
import {
  type ChannelMessage,
  POOL_CHANNEL_OPENS,
  POOL_FIRST_GONE,
  type WorkerAttachment,
  type WorkerBoot,
  type WorkerTask,
  type WorkerTaskResult,
} from "../src/shared/protocol.js";
import { artifactTask } from "./artifacts.js";
import { Flusher } from "./flusher.js";

const boot = workerData as WorkerBoot;
const ctl = new Int32Array(boot.ctl);
const flushers = new Map<number, Flusher>();
/** Tasks that arrived before their client's ring (a replacement thread, waiting for hello's answer). */
const waiting = new Map<number, (() => void)[]>();
/** Clients that closed: a late attach (an answer to hello) must not revive them. */
const closed = new Set<number>();

function adopt(client: WorkerAttachment): void {
  if (flushers.has(client.key) || closed.has(client.key)) return;
  const flusher = new Flusher(client.settings, client.layout);
  flushers.set(client.key, flusher);
  flusher.start();
  for (const resolve of waiting.get(client.key) ?? []) resolve();
  waiting.delete(client.key);
}

if (Atomics.load(ctl, POOL_FIRST_GONE) === 0) adopt(boot.first);

const channel = new BroadcastChannel(boot.channel);
channel.onmessage = (event) => {
  const msg = (event as { data: ChannelMessage }).data;
  if (msg.op === "attach") adopt(msg);
  else if (msg.op === "detach") {
    closed.add(msg.key);
    flushers.delete(msg.key);
  }
};
Atomics.add(ctl, POOL_CHANNEL_OPENS, 1);
Atomics.notify(ctl, POOL_CHANNEL_OPENS);
// A replacement thread learns the other clients from the main thread.
channel.postMessage({ op: "hello" } satisfies ChannelMessage);

/** How long a task waits for its client's ring to arrive before it gives up. */
const ATTACH_WAIT_MS = 60_000;

async function flusherFor(key: number): Promise<Flusher | null> {
  const deadline = performance.now() + ATTACH_WAIT_MS;
  for (;;) {
    const flusher = flushers.get(key);
    if (flusher !== undefined) return flusher;
    if (closed.has(key) || performance.now() >= deadline) return null;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, Math.max(0, deadline - performance.now()));
      waiting.set(key, [
        ...(waiting.get(key) ?? []),
        () => {
          clearTimeout(timer);
          resolve();
        },
      ]);
    });
  }
}

export default async function task(t: WorkerTask): Promise<WorkerTaskResult> {
  const flusher = await flusherFor(t.key);
  if (flusher === null) {
    // Not expected: the main thread sends every live client's ring before its tasks.
    return { ok: false, error: toWire(new TrackioError(`the worker thread has no ring for client ${t.key}`)) };
  }
  switch (t.op) {
    case "flush":
      return flusher.flush(t.target);
    case "close":
      return flusher.close(t.target);
    case "events":
      flusher.attach(t.port);
      return { ok: true };
    case "artifact":
    case "use-artifact":
      return artifactTask(t, flusher.transport, flusher.settings, () => flusher.artifactSpooled());
  }
}
