// Reading ring records into batch lines: metric names from the shared key table (renamed
// where Trackio reserves them), numeric values straight into the batch's bytes, the rest as
// JSON text.

import {
  jsonMetricsText,
  KeyTableReader,
  KIND_ALERT,
  KIND_CONFIG,
  KIND_MEDIA,
  KIND_NUMERIC,
  type RecordView,
  readMedia,
  readRecord,
} from "../shared/codec.js";
import { CTL_KEYS_LEN, type RingReader, type RingViews } from "../shared/ring.js";
import { type BatchBuilder, renameReservedKeys, safeKey } from "./batch.js";

// Imports read for every record, copied once: where the worker runs through a CommonJS
// transform (tsx, as in the tests and the bench), each read of an import is a getter call.
const NUMERIC = KIND_NUMERIC;
const CONFIG = KIND_CONFIG;
const readHeader = readRecord;

export class RecordDecoder {
  readonly #views: RingViews;
  readonly #reader: RingReader;
  readonly #keys: KeyTableReader;
  /** `,"<name>":` of each key id, as UTF-8, the name renamed where Trackio reserves it. */
  readonly #keyBytes: Uint8Array[] = [];
  readonly #record: RecordView = { size: 0, kind: 0, step: 0, time: 0, seq: 0 };
  readonly #warned = new Set<string>();
  readonly #onWarning: (message: string) => void;
  readonly #onAlert: ((alertJson: string, step: number, time: number) => void) | null;

  constructor(
    views: RingViews,
    reader: RingReader,
    onWarning: (message: string) => void,
    onAlert: ((alertJson: string, step: number, time: number) => void) | null = null,
  ) {
    this.#views = views;
    this.#reader = reader;
    this.#keys = new KeyTableReader(views.keys, views.ctl, CTL_KEYS_LEN);
    this.#onWarning = onWarning;
    this.#onAlert = onAlert;
  }

  /** Move published records into `batch` until it holds `maxCount` or `maxChars`; returns how many. */
  readInto(batch: BatchBuilder, maxCount: number, maxChars: number): number {
    const v = this.#views;
    const rec = this.#record;
    let read = 0;
    while (batch.records < maxCount && batch.bytes < maxChars) {
      const off = this.#reader.next();
      if (off < 0) break;
      readHeader(v, off, rec);
      // A changed config goes in a request of its own (see BatchBuilder.hasConfig).
      if (rec.kind === CONFIG && batch.hasConfig) break;
      if (rec.kind === NUMERIC) {
        // The producer wrote every key of this record to the table before publishing it.
        if (this.#keys.refresh() > this.#keyBytes.length) this.#syncKeys();
        batch.addNumeric(v, off, this.#keyBytes, rec.step, rec.time, rec.seq);
      } else if (rec.kind === KIND_ALERT) {
        const alert = jsonMetricsText(v, off);
        batch.addAlert(alert, rec.step, rec.time, rec.seq);
        this.#onAlert?.(alert, rec.step, rec.time);
      } else if (rec.kind === KIND_CONFIG) {
        batch.setConfig(jsonMetricsText(v, off));
      } else if (rec.kind === KIND_MEDIA) {
        const { desc, payload } = readMedia(v, off);
        batch.addMedia(desc, payload, rec.step, rec.seq);
      } else {
        const metrics = renameReservedKeys(jsonMetricsText(v, off), (key) => this.#warnRenamed(key));
        batch.add(metrics, rec.step, rec.time, rec.seq);
      }
      this.#reader.advance(rec.size);
      read++;
    }
    return read;
  }

  #syncKeys(): void {
    const names = this.#keys.names;
    for (let i = this.#keyBytes.length; i < names.length; i++) {
      const safe = safeKey(names[i]);
      if (safe !== names[i]) this.#warnRenamed(names[i]);
      this.#keyBytes.push(new Uint8Array(Buffer.from(`,${JSON.stringify(safe)}:`, "utf8")));
    }
  }

  #warnRenamed(key: string): void {
    if (this.#warned.has(key)) return;
    this.#warned.add(key);
    this.#onWarning(
      `metric name ${JSON.stringify(key)} is reserved by Trackio; it is stored as ${JSON.stringify(`__${key}`)}`,
    );
  }
}
