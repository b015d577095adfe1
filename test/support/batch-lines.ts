// Batch lines as the worker makes them, and the record counters the worker keeps, for the
// unit tests of delivery and replay (test/unit/).

import assert from "node:assert/strict";
import { BatchBuilder } from "../../src/io/batch.js";
import type { WorkerSettings } from "../../src/shared/protocol.js";
import {
  COUNTER_FAILED,
  COUNTER_INBOXED,
  COUNTER_QUARANTINED,
  COUNTER_SENT,
  COUNTER_SPOOLED,
  COUNTERS_BYTES,
} from "../../src/shared/ring.js";

/** `count` metric lines with steps from..from+count-1 and metrics {"i": step}; the first of a builder carries the config. */
export function metricLines(s: WorkerSettings, from: number, count: number): string[] {
  const batch = new BatchBuilder(s);
  for (let i = from; i < from + count; i++) batch.add(`{"i":${i}}`, i, 1_700_000_000_000 + i, i);
  return batch.take();
}

/** The counters region of a ring, on its own. */
export function newCounters(): BigInt64Array {
  return new BigInt64Array(new SharedArrayBuffer(COUNTERS_BYTES));
}

export interface Fates {
  sent: number;
  spooled: number;
  quarantined: number;
  inboxed: number;
  failed: number;
}

/** Where the counters say records went; asserts that every one of `records` went exactly one way. */
export function assertFates(counters: BigInt64Array, records: number, want: Partial<Fates>): Fates {
  const fates: Fates = {
    sent: Number(counters[COUNTER_SENT]),
    spooled: Number(counters[COUNTER_SPOOLED]),
    quarantined: Number(counters[COUNTER_QUARANTINED]),
    inboxed: Number(counters[COUNTER_INBOXED]),
    failed: Number(counters[COUNTER_FAILED]),
  };
  const sum = fates.sent + fates.spooled + fates.quarantined + fates.inboxed + fates.failed;
  assert.equal(sum, records, `sent + spooled + quarantined + inboxed + failed == records: ${JSON.stringify(fates)}`);
  assert.deepEqual(fates, { sent: 0, spooled: 0, quarantined: 0, inboxed: 0, failed: 0, ...want });
  return fates;
}

/** The step of each line, in order. */
export function stepsOf(lines: readonly string[]): number[] {
  return lines.map((l) => (JSON.parse(l) as { step: number }).step);
}
