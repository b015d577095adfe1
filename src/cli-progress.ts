// What `trackio sync` says while the server does not answer: a warning at the first failed
// attempt (what failed, how long it keeps trying, that nothing is lost), then where it stands
// every few seconds (updated in place on a terminal), until the server answers or sync gives
// up. Driven by the transport's hooks, which say that an attempt is made or will be retried.

import { request } from "undici";
import type { TransportHooks } from "./io/transport.js";
import { ProgressLine } from "./progress-line.js";
import { count } from "./shared/plural.js";

export interface RetryNoticeOptions {
  /** The server, as it may be printed (no token). */
  url: string;
  /** How long the transport keeps retrying one request. */
  deadlineMs: number;
  /** Update one line in place (a terminal) rather than print a line each time. */
  tty: boolean;
  /** What failed, found out at the first failed attempt (one GET, worded for a person). */
  diagnose?: (url: string) => Promise<string>;
  /** Called before it writes a line, so that another progress line can make room. */
  beforeWrite?: () => void;
}

export class RetryNotice implements TransportHooks {
  readonly #out: NodeJS.WritableStream;
  readonly #o: RetryNoticeOptions;
  /** When the current stretch of failed attempts began; null while requests go through. */
  #since: number | null = null;
  #failed = 0;
  #requestsSinceRetry = 0;
  #line: ProgressLine | null = null;
  #warned = false;

  constructor(out: NodeJS.WritableStream, options: RetryNoticeOptions) {
    this.#out = out;
    this.#o = options;
  }

  onRetry(): void {
    this.#requestsSinceRetry = 0;
    this.#failed++;
    if (this.#since !== null) return;
    const since = performance.now();
    this.#since = since;
    this.#failed = 1;
    void (this.#o.diagnose ?? diagnose)(this.#o.url).then((what) => {
      if (this.#since !== since) return; // it answered again meanwhile
      const again = this.#warned ? " again" : "";
      this.#warned = true;
      this.#o.beforeWrite?.();
      this.#out.write(
        `trackio sync: ${what}; trying${again} for up to ${seconds(this.#o.deadlineMs)} s (--wait). Nothing is lost: the records stay in the spool until the server has them.\n`,
      );
      this.#line = new ProgressLine(this.#out, this.#o.tty, () => this.#state()).start();
    });
  }

  onRequest(): void {
    // Two requests without a retry between them: the first one went through.
    if (this.#since !== null && ++this.#requestsSinceRetry >= 2) this.settled();
  }

  /** Records were settled: whatever failed before has passed. */
  settled(): void {
    if (this.#since === null) return;
    const after = seconds(performance.now() - this.#since);
    const wasShown = this.#line !== null;
    this.stop();
    if (wasShown) this.#o.beforeWrite?.();
    if (wasShown) this.#out.write(`  ${this.#o.url} answers again (after ${after} s); sending\n`);
  }

  /** Whether attempts are failing right now (its own line, not another, shows progress then). */
  get active(): boolean {
    return this.#since !== null;
  }

  /** Stop reporting (and close the line being updated), before other output or at the end. */
  stop(): void {
    this.#line?.stop();
    this.#line = null;
    this.#since = null;
  }

  #state(): string {
    const since = seconds(performance.now() - (this.#since ?? performance.now()));
    return `  still trying ${this.#o.url}: ${since} s of up to ${seconds(this.#o.deadlineMs)} s, ${count(this.#failed, "failed attempt")}`;
  }
}

function seconds(ms: number): number {
  return Math.round(ms / 1000);
}

/** What is wrong with the server at `url`, found with one GET of its version. */
export async function diagnose(url: string, timeoutMs = 5000): Promise<string> {
  try {
    // reset: no keep-alive connection left to hold the process after sync is done.
    const res = await request(`${url}version`, { reset: true, signal: AbortSignal.timeout(timeoutMs) });
    await res.body.dump();
    if (res.statusCode === 200) return `a request to ${url} failed (the server answers again already)`;
    return `${url} answers HTTP ${res.statusCode}`;
  } catch (err) {
    const e = err as { name?: string; code?: string; message?: string };
    if (e.name === "TimeoutError" || e.code === "UND_ERR_CONNECT_TIMEOUT") {
      return `no answer from ${url} within ${seconds(timeoutMs)} s`;
    }
    return `no answer from ${url} (${e.message ?? String(err)})`;
  }
}
