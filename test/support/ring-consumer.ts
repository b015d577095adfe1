// The consumer half of the two-thread ring test: reads records as the worker's flusher does,
// checks each against genRecord(seq), releases in small batches, and posts back a summary.

import { parentPort, workerData } from "node:worker_threads";
import {
  jsonMetricsText,
  KeyTableReader,
  KIND_JSON,
  KIND_NUMERIC,
  numericMetricsJson,
  type RecordView,
  readRecord,
} from "../../src/shared/codec.js";
import { CTL_KEYS_LEN, CTL_W, CTL_WAKE_AT, type RingLayout, RingReader, RingViews } from "../../src/shared/ring.js";
import { genRecord, HASH_SEED, hashRecord } from "./ring-records.js";

export interface ConsumerData {
  layout: RingLayout;
  total: number;
  releaseEvery: number;
}

export interface ConsumerResult {
  count: number;
  checksum: number;
  error: string | null;
  drained: boolean;
  sleeps: number;
}

const { layout, total, releaseEvery } = workerData as ConsumerData;
const views = new RingViews(layout);
const ctl = views.ctl;
const reader = new RingReader(views);
const keys = new KeyTableReader(views.keys, ctl, CTL_KEYS_LEN);
const keyJson: string[] = [];
const rec: RecordView = { size: 0, kind: 0, step: 0, time: 0, seq: 0 };

let count = 0;
let checksum = HASH_SEED;
let error: string | null = null;
let unreleased = 0;
let sleeps = 0;

function release(): void {
  if (unreleased === 0) return;
  reader.release(reader.pos, unreleased);
  unreleased = 0;
}

while (count < total && error === null) {
  const off = reader.next();
  if (off < 0) {
    // Give everything back before sleeping, or the producer could wait on us forever.
    release();
    // Ask commit() for a notify on the next record (record count + 1 >= count + 1; the
    // writer counts from DONE_SEQ, which starts at 0), then re-check W to close the race.
    Atomics.store(ctl, CTL_WAKE_AT, (count + 2) | 0 || 1);
    const seen = Atomics.load(ctl, CTL_W);
    if (reader.pos === seen) {
      Atomics.wait(ctl, CTL_W, seen, 100);
      sleeps++;
    }
    Atomics.store(ctl, CTL_WAKE_AT, 0);
    continue;
  }
  readRecord(views, off, rec);
  const want = genRecord(count);
  let text: string;
  if (rec.kind === KIND_NUMERIC) {
    if (keys.refresh() > keyJson.length) {
      for (let i = keyJson.length; i < keys.names.length; i++) keyJson.push(JSON.stringify(keys.names[i]));
    }
    text = numericMetricsJson(views, off, keyJson);
  } else if (rec.kind === KIND_JSON) {
    text = jsonMetricsText(views, off);
  } else {
    error = `record ${count}: unknown kind ${rec.kind} at offset ${off}`;
    break;
  }
  if (rec.seq !== count) {
    error = `expected seq ${count}, read seq ${rec.seq}`;
    break;
  }
  if (rec.step !== want.step || rec.time !== want.time || text !== want.text) {
    error = `seq ${count}: read step ${rec.step} time ${rec.time} ${text}, want step ${want.step} time ${want.time} ${want.text}`;
    break;
  }
  checksum = hashRecord(checksum, rec.seq, rec.step, text);
  reader.advance(rec.size);
  count++;
  if (++unreleased >= releaseEvery) release();
}
release();

const result: ConsumerResult = { count, checksum, error, drained: reader.drained(), sleeps };
parentPort?.postMessage(result);
