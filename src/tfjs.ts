// `trackio/tfjs`: a TensorFlow.js callback that logs what `model.fit` reports. It is a plain
// callback object (tfjs's CustomCallbackArgs), so this module needs nothing from tfjs at run
// time, and the main entry never loads it.
//
//   import { trackioCallback } from "trackio/tfjs";
//   await model.fit(xs, ys, { epochs: 5, callbacks: trackioCallback(client) });
//
// To combine it with tfjs's own callbacks (which are class instances), wrap it:
//   callbacks: [tf.callbacks.earlyStopping(), new tf.CustomCallback(trackioCallback(client))]

import { InvalidArgError } from "./shared/errors.js";

/** What the callback needs of a Client (any object with a matching `log` and `flush`). */
export interface TrackioLogger {
  log(metrics: Record<string, number>, step?: number): void;
  flush(): Promise<void>;
  /** The step of the next record (Client's), where each `fit()` starts counting. */
  readonly nextStep?: number;
}

export interface TrackioCallbackOptions {
  /**
   * Log the metrics of every nth batch (default 1, every batch); 0 logs epochs only. The step
   * counts batches either way.
   */
  batchEvery?: number;
  /** Prefix of batch metric names (default `"batch/"`: `batch/loss`, `batch/acc`). */
  batchPrefix?: string;
  /** Prefix of epoch metric names (default `"epoch/"`: `epoch/loss`, `epoch/val_loss`). */
  epochPrefix?: string;
  /** Wait in `onTrainEnd` until the server has stored everything logged (default false). */
  flushOnTrainEnd?: boolean;
}

/** Logs as tfjs hands them to callbacks: numbers (tfjs resolves scalar tensors first). */
export type TfLogs = { [key: string]: number };

/** A tfjs callback object (structurally tfjs's `CustomCallbackArgs`). */
export interface TrackioCallback {
  onTrainBegin(logs?: TfLogs): void;
  onBatchEnd(batch: number, logs?: TfLogs): void;
  onEpochEnd(epoch: number, logs?: TfLogs): void;
  onTrainEnd(logs?: TfLogs): Promise<void>;
  /** Batches seen so far: the step of the next batch record. */
  readonly step: number;
}

/** Keys tfjs puts into batch logs that are bookkeeping, not metrics. */
const BOOKKEEPING = new Set(["batch", "size"]);

function metricsOf(logs: TfLogs | undefined, prefix: string): Record<string, number> | null {
  if (logs === undefined || logs === null) return null;
  let out: Record<string, number> | null = null;
  for (const [key, raw] of Object.entries(logs)) {
    if (BOOKKEEPING.has(key)) continue;
    let value: unknown = raw;
    // A scalar tensor, should one arrive unresolved (tfjs resolves them for CustomCallbacks).
    if (
      typeof value === "object" &&
      value !== null &&
      typeof (value as { dataSync?: unknown }).dataSync === "function"
    ) {
      value = (value as { dataSync(): ArrayLike<number> }).dataSync()[0];
    }
    if (typeof value !== "number") continue;
    out ??= {};
    out[`${prefix}${key}`] = value;
  }
  return out;
}

/**
 * A callback for `model.fit` / `model.fitDataset` that logs batch and epoch metrics to
 * Trackio. The step counts batches; each `fit` starts at the client's next step, so a second
 * `fit` (with this callback or a new one) continues after the first instead of logging its
 * steps again. Epoch metrics are logged at the step of the epoch's last batch, with the epoch
 * number as the metric `epoch`.
 */
export function trackioCallback(client: TrackioLogger, options: TrackioCallbackOptions = {}): TrackioCallback {
  const batchEvery = options.batchEvery ?? 1;
  if (!Number.isSafeInteger(batchEvery) || batchEvery < 0) {
    throw new InvalidArgError(`trackioCallback: batchEvery must be a non-negative integer, got ${String(batchEvery)}`);
  }
  const batchPrefix = options.batchPrefix ?? "batch/";
  const epochPrefix = options.epochPrefix ?? "epoch/";
  let step = 0;
  return {
    get step() {
      return step;
    },
    onTrainBegin() {
      step = Math.max(step, client.nextStep ?? 0);
    },
    onBatchEnd(_batch, logs) {
      const current = step++;
      if (batchEvery === 0 || current % batchEvery !== 0) return;
      const metrics = metricsOf(logs, batchPrefix);
      if (metrics !== null) client.log(metrics, current);
    },
    onEpochEnd(epoch, logs) {
      const metrics = metricsOf(logs, epochPrefix) ?? {};
      metrics.epoch = epoch;
      client.log(metrics, Math.max(step - 1, 0));
    },
    async onTrainEnd() {
      if (options.flushOnTrainEnd === true) await client.flush();
    },
  };
}
