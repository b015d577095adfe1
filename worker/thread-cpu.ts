// The CPU time this thread has used, for stats().workerCpuMs: what the worker costs beside the
// training loop. Linux keeps it per thread in /proc/thread-self/schedstat (ns, first field);
// Node 20 has no per-thread counter of its own (process.threadCpuUsage is Node 23.9+).

import { readFileSync } from "node:fs";

let available = process.platform === "linux";

/** ns of CPU this thread has run, or null where the platform does not say. */
export function threadCpuNs(): number | null {
  if (!available) return null;
  try {
    const text = readFileSync("/proc/thread-self/schedstat", "latin1");
    return Number(text.slice(0, text.indexOf(" ")));
  } catch {
    available = false;
    return null;
  }
}
