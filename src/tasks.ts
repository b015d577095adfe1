// The messages between the facade and the worker, beside the ring: piscina tasks (flush,
// close, attach) and what the worker posts back on its event port.

import type { MessagePort } from "node:worker_threads";
import type { WireError } from "./errors.js";
import type { WorkerSettings } from "./options.js";
import type { RingLayout } from "./ring.js";

/** What the worker module finds in `workerData` when its thread starts. */
export interface WorkerBoot {
  settings: WorkerSettings;
  layout: RingLayout;
}

export type WorkerTask =
  | { op: "flush"; target: number }
  | { op: "close"; target: number }
  | { op: "attach"; port: MessagePort };

export type WorkerTaskResult = { ok: true } | { ok: false; error: WireError };

export type WorkerMessage =
  | { type: "error"; error: WireError }
  | { type: "warning"; message: string; code: WarningCode };

/** Codes of the warnings the worker posts (documented in docs/errors.md). */
export type WarningCode = "TRACKIO_RESERVED_KEY" | "TRACKIO_LOCAL_INBOX";
