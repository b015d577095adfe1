// trackio/tfjs: the model.fit callback, with a tiny model trained on the pure-JS CPU backend of
// @tensorflow/tfjs (a devDependency; the package itself never loads tfjs).

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import * as tf from "@tensorflow/tfjs";
import { startTrackio, type TrackioServer } from "../scripts/trackio-server.js";
import { Client } from "../src/index.js";
import { type TrackioLogger, trackioCallback } from "../src/tfjs.js";
import { queryProject, sqlString } from "./support/read-api.js";

/** A logger that keeps what it is given. */
function recorder(): TrackioLogger & {
  records: { metrics: Record<string, number>; step?: number }[];
  flushes: number;
} {
  return {
    records: [],
    flushes: 0,
    log(metrics, step) {
      this.records.push({ metrics, step });
    },
    async flush() {
      this.flushes++;
    },
  };
}

/** y = 2x - 1 on 32 points: 4 batches of 8 per epoch, with a 25% validation split → 3 batches. */
function tinyModel(): { model: tf.Sequential; xs: tf.Tensor; ys: tf.Tensor } {
  const model = tf.sequential();
  model.add(tf.layers.dense({ units: 1, inputShape: [1] }));
  model.compile({ optimizer: tf.train.sgd(0.05), loss: "meanSquaredError", metrics: ["mse"] });
  const x = Array.from({ length: 32 }, (_, i) => i / 32);
  return {
    model,
    xs: tf.tensor2d(x, [32, 1]),
    ys: tf.tensor2d(
      x.map((v) => 2 * v - 1),
      [32, 1],
    ),
  };
}

before(async () => {
  await tf.setBackend("cpu");
  await tf.ready();
});

describe("trackioCallback", () => {
  test("logs every batch and every epoch of model.fit, on one step axis", async () => {
    assert.equal(tf.getBackend(), "cpu");
    const logger = recorder();
    const { model, xs, ys } = tinyModel();
    const history = await model.fit(xs, ys, {
      epochs: 3,
      batchSize: 8,
      validationSplit: 0.25,
      shuffle: false,
      verbose: 0,
      callbacks: trackioCallback(logger, { flushOnTrainEnd: true }),
    });
    const batches = logger.records.filter((r) => "batch/loss" in r.metrics);
    const epochs = logger.records.filter((r) => "epoch" in r.metrics);
    assert.equal(batches.length, 9, "3 epochs × 3 batches");
    assert.deepEqual(
      batches.map((r) => r.step),
      [0, 1, 2, 3, 4, 5, 6, 7, 8],
    );
    assert.deepEqual(Object.keys(batches[0].metrics).sort(), ["batch/loss", "batch/mse"], "no batch/size bookkeeping");
    assert.equal(epochs.length, 3);
    assert.deepEqual(
      epochs.map((r) => [r.metrics.epoch, r.step]),
      [
        [0, 2],
        [1, 5],
        [2, 8],
      ],
    );
    assert.deepEqual(Object.keys(epochs[0].metrics).sort(), [
      "epoch",
      "epoch/loss",
      "epoch/mse",
      "epoch/val_loss",
      "epoch/val_mse",
    ]);
    // The values are tfjs's own.
    assert.deepEqual(
      epochs.map((r) => r.metrics["epoch/loss"]),
      history.history.loss,
    );
    assert.deepEqual(
      epochs.map((r) => r.metrics["epoch/val_loss"]),
      history.history.val_loss,
    );
    for (const r of logger.records) for (const v of Object.values(r.metrics)) assert.equal(typeof v, "number");
    assert.equal(logger.flushes, 1);
    tf.dispose([xs, ys]);
  });

  test("batchEvery, prefixes, steps continued across fit() calls, next to tfjs's own callbacks", async () => {
    const logger = recorder();
    const callback = trackioCallback(logger, { batchEvery: 2, batchPrefix: "train/", epochPrefix: "" });
    const { model, xs, ys } = tinyModel();
    await model.fit(xs, ys, { epochs: 1, batchSize: 8, shuffle: false, verbose: 0, callbacks: callback });
    await model.fit(xs, ys, {
      epochs: 1,
      batchSize: 8,
      shuffle: false,
      verbose: 0,
      // Mixed with a built-in callback (a class instance), it goes wrapped in CustomCallback.
      callbacks: [tf.callbacks.earlyStopping({ monitor: "loss", patience: 5 }), new tf.CustomCallback(callback)],
    });
    assert.equal(callback.step, 8);
    assert.deepEqual(
      logger.records.filter((r) => "train/loss" in r.metrics).map((r) => r.step),
      [0, 2, 4, 6],
    );
    assert.deepEqual(
      logger.records.filter((r) => "epoch" in r.metrics).map((r) => [Object.keys(r.metrics).sort(), r.step]),
      [
        [["epoch", "loss", "mse"], 3],
        [["epoch", "loss", "mse"], 7],
      ],
    );
    assert.throws(() => trackioCallback(logger, { batchEvery: -1 }), { code: "ERR_TRACKIO_INVALID_ARG" });
    tf.dispose([xs, ys]);
  });
});

describe("trackioCallback with a Client and a real Trackio server", () => {
  let server: TrackioServer;
  before(async () => {
    server = await startTrackio();
  });
  after(async () => {
    await server?.stop();
  });

  test("model.fit's metrics are stored in Trackio", async () => {
    const client = new Client({ baseUrl: server.writeUrl, project: "tfjs", run: "tiny", quiet: true });
    const { model, xs, ys } = tinyModel();
    await model.fit(xs, ys, {
      epochs: 4,
      batchSize: 8,
      shuffle: false,
      verbose: 0,
      callbacks: trackioCallback(client, { flushOnTrainEnd: true }),
    });
    // flushOnTrainEnd: stored by the time fit() resolves.
    const rows = await queryProject(
      server.url,
      "tfjs",
      `SELECT step, metrics FROM metrics WHERE run_id = ${sqlString(client.runId as string)} ORDER BY id`,
    );
    await client.close();
    assert.equal(rows.length, 16 + 4);
    const epochRows = rows.filter((r) => String(r.metrics).includes('"epoch"'));
    assert.deepEqual(
      epochRows.map((r) => Number(r.step)),
      [3, 7, 11, 15],
    );
    assert.equal(client.stats().sent, 20);
    tf.dispose([xs, ys]);
  });

  test("a second fit() with a new callback continues the steps instead of storing them again", async () => {
    const client = new Client({ baseUrl: server.writeUrl, project: "tfjs", run: "two-fits", quiet: true });
    const { model, xs, ys } = tinyModel();
    const fit = () =>
      model.fit(xs, ys, { epochs: 2, batchSize: 8, shuffle: false, verbose: 0, callbacks: trackioCallback(client) });
    await fit();
    assert.equal(client.nextStep, 8);
    client.log({ "eval/loss": 0.5 }); // the user's own record at step 8, between the two fits
    await fit();
    await client.close();
    const rows = await queryProject(
      server.url,
      "tfjs",
      `SELECT step, metrics FROM metrics WHERE run_id = ${sqlString(client.runId as string)} ORDER BY id`,
    );
    const batchSteps = rows.filter((r) => String(r.metrics).includes("batch/loss")).map((r) => Number(r.step));
    assert.deepEqual(batchSteps, [0, 1, 2, 3, 4, 5, 6, 7, 9, 10, 11, 12, 13, 14, 15, 16]);
    assert.deepEqual(
      rows.filter((r) => String(r.metrics).includes('"epoch"')).map((r) => Number(r.step)),
      [3, 7, 12, 16],
    );
    tf.dispose([xs, ys]);
  });

  test("a new callback starts at the logger's nextStep; without one, the same callback continues", async () => {
    const logger = recorder();
    const { model, xs, ys } = tinyModel();
    const callback = trackioCallback(logger);
    const opts = { epochs: 1, batchSize: 8, shuffle: false, verbose: 0 } as const;
    await model.fit(xs, ys, { ...opts, callbacks: callback });
    await model.fit(xs, ys, { ...opts, callbacks: callback });
    assert.equal(callback.step, 8);
    const fresh = trackioCallback({ ...logger, nextStep: 20 });
    await model.fit(xs, ys, { ...opts, callbacks: fresh });
    assert.equal(fresh.step, 24);
    tf.dispose([xs, ys]);
  });
});
