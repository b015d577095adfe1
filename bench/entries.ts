// `npx tsx bench/entries.ts [batches]`: what the worker spends writing W1 records into a
// request body, per record, with no I/O: the main thread's numeric path fills a ring, and the
// worker's decoder reads 8,192 records at a time into a BatchBuilder, timed around readInto
// alone. With bench/wire-floor.ts (posting built bodies), the two parts of "worker thread
// CPU per record". The first batches include V8's compilation; the median is printed.

import { BatchBuilder } from "../src/io/batch.js";
import { RecordDecoder } from "../src/io/decoder.js";
import { DEFAULT_MAX_RECORDS_PER_REQUEST } from "../src/options.js";
import { Producer } from "../src/producer.js";
import { createRing, RingReader, RingViews } from "../src/shared/ring.js";
import { testSettings } from "../test/support/transport.js";
import { WORKLOADS } from "./workloads.js";

const batches = Number(process.argv[2] ?? 40);
const n = DEFAULT_MAX_RECORDS_PER_REQUEST;
const layout = createRing(16 * 1024 * 1024, 4096);
const producer = new Producer(layout, {
  maxRecordBytes: 1 << 20,
  maxOverflowBytes: 1 << 20,
  overflowTimeoutMs: 0,
  clockBase: Date.now(),
  mediaPrefix: "p/r/",
});
const views = new RingViews(layout);
const reader = new RingReader(views);
const decoder = new RecordDecoder(views, reader, () => {});
// Names as long as the bench's: the project/run prefix is copied into every entry.
const s = testSettings("http://127.0.0.1:1", {
  project: "bench-w1-trackio-m3x2k9",
  run: "worker",
  runId: "r-m3x2k9abcd",
  clientId: "m3x2k9abcdef",
  maxRecordsPerRequest: n,
});
const builder = new BatchBuilder(s);
const perRecord: number[] = [];
let bytes = 0;
let step = 0;
for (let b = 0; b < batches; b++) {
  for (let i = 0; i < n; i++, step++) producer.numeric(WORKLOADS.w1.make(step, 0), step, Date.now());
  const t0 = process.hrtime.bigint();
  const read = decoder.readInto(builder, n, 2 << 20);
  const ns = Number(process.hrtime.bigint() - t0);
  const batch = builder.takeBatch();
  bytes = batch.metrics?.body("null").length ?? 0;
  reader.release(reader.pos, read);
  builder.recycle(batch);
  perRecord.push(ns / read);
}
perRecord.sort((a, b) => a - b);
const median = perRecord[perRecord.length >> 1];
process.stdout.write(
  `${batches} batches of ${n.toLocaleString("en-US")} W1 records: readInto median ${median.toFixed(0)} ns a record ` +
    `(fastest ${perRecord[0].toFixed(0)}, slowest ${perRecord[perRecord.length - 1].toFixed(0)}), ${(bytes / n).toFixed(0)} body bytes a record\n`,
);
