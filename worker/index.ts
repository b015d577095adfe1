// The piscina entry. piscina loads this module when it starts the thread, before any task,
// which is what lets the loop start without the main thread's event loop turning: a program
// that logs from a loop that never yields is still delivering.

import { workerData } from "node:worker_threads";
import type { WorkerBoot, WorkerTask, WorkerTaskResult } from "../src/tasks.js";
import { Flusher } from "./flusher.js";

const boot = workerData as WorkerBoot;
const flusher = new Flusher(boot.settings, boot.layout);
flusher.start();

export default async function task(t: WorkerTask): Promise<WorkerTaskResult> {
  switch (t.op) {
    case "flush":
      return flusher.flush(t.target);
    case "close":
      return flusher.close(t.target);
    case "attach":
      flusher.attach(t.port);
      return { ok: true };
  }
}
