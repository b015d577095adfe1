// Property-based tests over the whole input space of log(): generated records go through the
// Node client and through Trackio's own Python client to the same real server, and the stored
// rows must match (see test/support/property-harness.ts). Seeded: TRACKIO_PROPERTY_SEED
// replays a failure, TRACKIO_PROPERTY_RUNS=N runs N times as many cases.

import { after, before, describe, test } from "node:test";
import fc from "fast-check";
import { startTrackio, type TrackioServer } from "../scripts/trackio-server.js";
import {
  alertArb,
  jsonRecordArb,
  numericRecordArb,
  poisonedRecordArb,
  refusedRecordArb,
  runCaseArb,
  structuredRecordArb,
} from "./support/arbitraries.js";
import { PythonOracle } from "./support/oracle.js";
import { checkAlerts, checkRecords, checkRun, type PropertyEnv } from "./support/property-harness.js";
import { checkProperty } from "./support/property-runner.js";

let env: PropertyEnv;

before(async () => {
  const server: TrackioServer = await startTrackio();
  env = { server, oracle: new PythonOracle() };
});
after(async () => {
  await env?.oracle.stop();
  await env?.server.stop();
});

const batch = <T>(arb: fc.Arbitrary<T>, maxLength: number) =>
  fc.array(arb, { minLength: 1, maxLength, size: "medium" });

describe("log(): stored exactly as Trackio's Python client stores it, or refused at the call", () => {
  test("all-number records (the binary fast path)", async () => {
    await checkProperty("numeric records", batch(numericRecordArb, 20), 25, (b) => checkRecords(env, "num", b));
  });

  test("records with strings, booleans, null, arrays and objects (the JSON path)", async () => {
    await checkProperty("json records", batch(jsonRecordArb, 20), 25, (b) => checkRecords(env, "json", b));
  });

  test("values that must be refused, among good records on both paths: refused, neighbours stored", async () => {
    const mixed = fc.oneof(numericRecordArb, jsonRecordArb, poisonedRecordArb, refusedRecordArb);
    await checkProperty("refused values", batch(mixed, 20), 25, (b) => checkRecords(env, "refuse", b));
  });

  test("Histogram and Markdown values: binned and stored as trackio.Histogram and trackio.Markdown are", async () => {
    await checkProperty("histograms and markdown", batch(structuredRecordArb, 6), 15, (b) =>
      checkRecords(env, "structured", b),
    );
  });
});

describe("runs, configs and alerts: stored as Trackio's Python client stores them, or refused at the call", () => {
  test("run names and configs, with a config() update", async () => {
    await checkProperty("runs and configs", runCaseArb, 30, (c) => checkRun(env, c));
  });

  test("alert titles and texts", async () => {
    await checkProperty("alerts", batch(alertArb, 8), 15, (b) => checkAlerts(env, b));
  });
});
