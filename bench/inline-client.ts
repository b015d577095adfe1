// The baseline: a Trackio client that does everything on the main thread, the way the
// existing community clients work. log() buffers the record; every DEFAULT_MAX_BATCH records
// (the real client's default, 4096) or when a timer fires, the batch is turned into one JSON
// body and POSTed with undici. Made to be a fair opponent: the same batch size, body and
// header as the real client, a keep-alive undici Pool with the same connection settings, no
// per-call allocation beyond the record itself, and flush()/close() that await every
// outstanding post.
//
// Deliberately NOT done (each would make it slower, i.e. the comparison is generous to it):
// NaN/Infinity mapping (JSON.stringify turns them into null), retries, a byte cap.

import { randomBytes } from "node:crypto";
import { Pool } from "undici";
import { DEFAULT_MAX_BATCH } from "../src/options.js";

export type InlineValue = number | string | boolean | null | InlineValue[] | { [key: string]: InlineValue };
export type InlineMetrics = Record<string, InlineValue>;

export interface InlineOptions {
  /** Server URL; `?write_token=` in it is the write token. */
  baseUrl: string;
  project: string;
  run: string;
  maxBatch?: number;
  flushIntervalMs?: number;
}

export interface InlineStats {
  logged: number;
  sent: number;
  failed: number;
  requests: number;
}

interface Entry {
  project: string;
  run: string;
  run_id: string;
  metrics: InlineMetrics;
  step: number;
  log_id: string;
}

export class InlineClient {
  readonly runId = randomBytes(16).toString("hex");
  readonly #project: string;
  readonly #run: string;
  readonly #path: string;
  readonly #headers: Record<string, string>;
  readonly #pool: Pool;
  readonly #maxBatch: number;
  readonly #intervalMs: number;
  readonly #logIdPrefix = `${randomBytes(8).toString("hex")}-`;
  // Parallel arrays, reused: log() stores two references and nothing else.
  #metrics: InlineMetrics[] = [];
  #steps: number[] = [];
  #count = 0;
  #seq = 0;
  #nextStep = 0;
  #timer: NodeJS.Timeout | null = null;
  readonly #inflight = new Set<Promise<void>>();
  #error: Error | null = null;
  #closed = false;
  #sent = 0;
  #failed = 0;
  #requests = 0;

  constructor(opts: InlineOptions) {
    const url = new URL(opts.baseUrl);
    const token = url.searchParams.get("write_token");
    const base = url.pathname.endsWith("/") ? url.pathname : `${url.pathname}/`;
    this.#path = `${base}api/bulk_log`;
    this.#headers = { "content-type": "application/json" };
    if (token) this.#headers["x-trackio-write-token"] = token;
    this.#project = opts.project;
    this.#run = opts.run;
    this.#maxBatch = opts.maxBatch ?? DEFAULT_MAX_BATCH;
    this.#intervalMs = opts.flushIntervalMs ?? 500;
    this.#pool = new Pool(url.origin, { connections: 2, pipelining: 1, keepAliveTimeout: 4000 });
    this.#metrics = new Array(this.#maxBatch);
    this.#steps = new Array(this.#maxBatch);
  }

  log(metrics: InlineMetrics, step?: number): void {
    if (this.#closed) return;
    if (typeof metrics !== "object" || metrics === null || Array.isArray(metrics)) {
      throw new TypeError("log(): metrics must be a plain object");
    }
    let s: number;
    if (step === undefined) s = this.#nextStep;
    else if (Number.isSafeInteger(step) && step >= 0) s = step;
    else throw new TypeError(`log(): step must be a non-negative integer, got ${String(step)}`);
    if (s >= this.#nextStep) this.#nextStep = s + 1;
    const i = this.#count++;
    this.#metrics[i] = metrics;
    this.#steps[i] = s;
    if (this.#count >= this.#maxBatch) this.#send();
    else if (this.#timer === null) {
      this.#timer = setTimeout(() => {
        this.#timer = null;
        this.#send();
      }, this.#intervalMs);
      this.#timer.unref();
    }
  }

  /** Post what is buffered and wait for every outstanding post; throws the first failure. */
  async flush(): Promise<void> {
    this.#send();
    while (this.#inflight.size > 0) await Promise.all(this.#inflight);
    const err = this.#error;
    this.#error = null;
    if (err !== null) throw err;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    try {
      await this.flush();
    } finally {
      this.#closed = true;
      await this.#pool.close();
    }
  }

  stats(): InlineStats {
    return { logged: this.#seq + this.#count, sent: this.#sent, failed: this.#failed, requests: this.#requests };
  }

  #send(): void {
    if (this.#timer !== null) {
      clearTimeout(this.#timer);
      this.#timer = null;
    }
    const n = this.#count;
    if (n === 0) return;
    const logs: Entry[] = new Array(n);
    for (let i = 0; i < n; i++) {
      logs[i] = {
        project: this.#project,
        run: this.#run,
        run_id: this.runId,
        metrics: this.#metrics[i],
        step: this.#steps[i],
        log_id: `${this.#logIdPrefix}${this.#seq + i}`,
      };
      this.#metrics[i] = undefined as unknown as InlineMetrics;
    }
    this.#seq += n;
    this.#count = 0;
    const body = JSON.stringify({ kwargs: { logs, hf_token: null } });
    this.#requests++;
    const post = this.#pool
      .request({ method: "POST", path: this.#path, headers: this.#headers, body })
      .then(async (res) => {
        const text = await res.body.text();
        if (res.statusCode !== 200) throw new Error(`bulk_log answered HTTP ${res.statusCode}: ${text.slice(0, 200)}`);
        this.#sent += n;
      })
      .catch((err: unknown) => {
        this.#failed += n;
        this.#error ??= err instanceof Error ? err : new Error(String(err));
      })
      .finally(() => this.#inflight.delete(post));
    this.#inflight.add(post);
  }
}
