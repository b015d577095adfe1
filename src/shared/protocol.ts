// The messages between the facade and the worker, beside the ring: piscina tasks (flush,
// close, events), the pool's channel messages, and what the worker posts back on a client's
// event port.

import type { MessagePort } from "node:worker_threads";
import type { ArtifactJob, ArtifactRecord } from "./artifact.js";
import type { WireError } from "./errors.js";
import type { RingLayout } from "./ring.js";

/** One client's ring, and how to deliver what it holds. `key` tells clients apart. */
export interface WorkerAttachment {
  key: number;
  settings: WorkerSettings;
  layout: RingLayout;
}

/** What the worker module finds in `workerData` when its thread starts (see worker-pool.ts). */
export interface WorkerBoot {
  /** The client that started the thread. */
  first: WorkerAttachment;
  /** The BroadcastChannel on which later clients arrive. */
  channel: string;
  /** Pool control words (Int32): channel openings, whether `first` has closed. */
  ctl: SharedArrayBuffer;
}

/* Pool control words (Int32, WorkerBoot.ctl), shared by the pool's threads and the main thread. */
export const POOL_CHANNEL_OPENS = 0; // channels the worker threads opened so far (each thread that loads bumps it)
export const POOL_FIRST_GONE = 1; // 1 once the client in workerData has closed: replacements skip it

/** Main thread ↔ worker, on the pool's BroadcastChannel. */
export type ChannelMessage = ({ op: "attach" } & WorkerAttachment) | { op: "detach"; key: number } | { op: "hello" };

/** Artifact work the worker does over the client's transport (worker/artifacts.ts). */
export type ArtifactTask =
  | { op: "artifact"; job: ArtifactJob }
  | { op: "use-artifact"; project: string; name: string; spec: string | null };

export type WorkerTask =
  | { op: "flush"; key: number; target: number }
  | { op: "close"; key: number; target: number }
  | { op: "events"; key: number; port: MessagePort }
  | (ArtifactTask & { key: number });

/**
 * `cpuNs`: the worker thread's CPU time when it answered (null where unknown). `artifact`: the
 * version an artifact task logged or found (null: no such artifact).
 */
export type WorkerTaskResult = ({ ok: true; artifact?: ArtifactRecord | null } | { ok: false; error: WireError }) & {
  cpuNs?: number | null;
};

export type WorkerMessage =
  | { type: "error"; error: WireError }
  | { type: "warning"; message: string; code: WarningCode };

/** Codes of the warnings the worker posts (documented in docs/errors.md). */
export type WarningCode = "TRACKIO_RESERVED_KEY" | "TRACKIO_LOCAL_INBOX" | "TRACKIO_WEBHOOK" | "TRACKIO_RETRYING";

/** Trackio's alert levels, lowest first. */
export const ALERT_LEVELS = ["info", "warn", "error"] as const;
export type AlertLevel = (typeof ALERT_LEVELS)[number];

/**
 * What talking to a server needs: where it is, how to authenticate, how long to wait. The
 * transport takes only this, so the CLI, resume and the read API need no run.
 */
export interface ServerSettings {
  /** Origin of the server, e.g. `http://127.0.0.1:7860`. */
  origin: string;
  /** Path prefix ending in `/`, e.g. `/` or `/trackio/`. */
  basePath: string;
  /** The URL without credentials, for messages. */
  displayUrl: string;
  writeToken: string | null;
  hfToken: string | null;
  timeoutMs: number;
  retryDeadlineMs: number;
}

/** Everything the worker needs, as structured-clonable data. */
export interface WorkerSettings extends ServerSettings {
  project: string;
  run: string;
  runId: string;
  clientId: string;
  maxBatch: number;
  flushIntervalMs: number;
  maxRecordsPerRequest: number;
  /** This server's spool directory, or null when spooling is off. */
  spoolDir: string | null;
  /** The local Trackio inbox to fall back to when no server answers, or null. */
  inboxDir: string | null;
  /** Date.now() when the ring was made; CTL_CLOCK counts from here. */
  clockBase: number;
  /** Interval of system metrics in ms, or 0 for none. */
  systemMetricsMs: number;
  /** The run config as JSON text, sent with the run's first record. */
  configJson: string;
  /** Where the worker posts alerts (Python's `webhook_url`); absent or null for nowhere. */
  webhookUrl?: string | null;
  /** The lowest alert level posted to `webhookUrl`; absent or null for every level. */
  webhookMinLevel?: AlertLevel | null;
}
