// Shared pieces of the reliability tests (faults, signals, local mode): temporary
// directories, polling, a steady producer of records, and the one assertion every scenario
// ends with: the run holds exactly steps 0..n-1, each once.
import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, readFileSync, statSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import type { TestContext } from "node:test";
import { sync } from "../../src/cli.js";
import type { Client, TrackioError } from "../../src/index.js";
import { listFragments } from "../../src/io/spool.js";
import { runRows, runSteps } from "./read-api.js";

/** The client's 'error' events, collected (a listener also keeps them from being thrown). */
export function errorsOf(client: Client): TrackioError[] {
  const errors: TrackioError[] = [];
  client.on("error", (e: TrackioError) => errors.push(e));
  return errors;
}

export function tempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), `trackio-${prefix}-`));
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Poll `cond` until it holds; fail with `what` (and `detail()`) if it does not within `timeoutMs`. */
export async function waitFor(
  what: string,
  cond: () => boolean | Promise<boolean>,
  timeoutMs = 30_000,
  detail: () => unknown = () => "",
): Promise<void> {
  const end = performance.now() + timeoutMs;
  for (;;) {
    if (await cond()) return;
    if (performance.now() > end) {
      assert.fail(`timed out waiting for ${what} ${JSON.stringify(detail())}`);
    }
    await sleep(25);
  }
}

/**
 * Logs `perTick` records every `tickMs` (steps 0, 1, 2, … with `i` = step) until stopped, so
 * that faults happen while a run is going on. `stop()` resolves with how many were logged.
 */
export class Feeder {
  n = 0;
  #stopped = false;
  readonly #done: Promise<void>;

  constructor(
    readonly client: Client,
    readonly perTick = 10,
    readonly tickMs = 10,
  ) {
    this.#done = this.#run();
  }

  async #run(): Promise<void> {
    while (!this.#stopped) {
      for (let k = 0; k < this.perTick; k++) {
        this.client.log({ loss: 1 / (this.n + 1), i: this.n }, this.n);
        this.n++;
      }
      await sleep(this.tickMs);
    }
  }

  async stop(): Promise<number> {
    this.#stopped = true;
    await this.#done;
    return this.n;
  }
}

/** Log steps `from`..`from + count - 1` at once (a loop that does not yield). */
export function logBurst(client: Client, from: number, count: number): number {
  for (let s = from; s < from + count; s++) client.log({ loss: 1 / (s + 1), i: s }, s);
  return from + count;
}

export interface Outcome {
  logged: number;
  stored: number;
  duplicated: number;
}

/**
 * The run holds exactly the steps 0..logged-1, each once, with as many distinct log_ids as
 * rows. Returns the counts for the reliability table.
 */
export async function assertStoredOnce(url: string, project: string, runId: string, logged: number): Promise<Outcome> {
  const rows = await runRows(url, project, runId);
  const outcome = { logged, stored: rows.rows, duplicated: rows.rows - rows.distinctLogIds };
  const steps = await runSteps(url, project, runId);
  const sorted = [...steps].sort((a, b) => a - b);
  const missing = logged - new Set(steps).size;
  assert.equal(outcome.duplicated, 0, `duplicated rows: ${JSON.stringify(outcome)}`);
  assert.equal(rows.rows, logged, `stored rows vs logged (${missing} steps missing): ${JSON.stringify(outcome)}`);
  assert.deepEqual(
    sorted,
    Array.from({ length: logged }, (_, k) => k),
    "the stored steps are exactly 0..logged-1",
  );
  assert.deepEqual(rows, {
    rows: logged,
    distinctLogIds: logged,
    distinctSteps: logged,
    minStep: logged > 0 ? 0 : null,
    maxStep: logged > 0 ? logged - 1 : null,
  });
  return outcome;
}

/** One line per scenario in the test output, the source of docs/reliability.md's table. */
export function report(t: TestContext, scenario: string, outcome: Outcome, path: string): void {
  t.diagnostic(
    `reliability: ${scenario} | logged ${outcome.logged} | stored ${outcome.stored} | duplicated ${outcome.duplicated} | ${path}`,
  );
}

/** Records (lines) kept in the fragments under a spool root, all servers' directories included. */
export function spooledLines(root: string): { fragments: number; lines: number } {
  let fragments = 0;
  let lines = 0;
  const dirs = [root, ...listDirs(root)];
  for (const dir of dirs) {
    for (const path of listFragments(dir)) {
      fragments++;
      lines += readFileSync(path, "utf8")
        .split("\n")
        .filter((l) => l.trim() !== "").length;
    }
  }
  return { fragments, lines };
}

function listDirs(root: string): string[] {
  try {
    return readdirSync(root)
      .map((n) => join(root, n))
      .filter((p) => statSync(p).isDirectory());
  } catch {
    return [];
  }
}

/** `trackio sync` run in-process (sync() from src/cli.ts); its output is captured. */
export async function runSync(args: string[]): Promise<{ code: number; out: string }> {
  let out = "";
  const sink = new Writable({
    write(chunk, _enc, done) {
      out += chunk.toString();
      done();
    },
  });
  const code = await sync(args, sink);
  return { code, out };
}

/** Whether anything accepts a connection on 127.0.0.1:7860 (the default server URL). */
export function somethingListensOn7860(): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: "127.0.0.1", port: 7860 });
    socket.setTimeout(2000);
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("timeout", () => {
      socket.destroy();
      resolve(true); // something is there (a filtered port would not refuse either)
    });
    socket.once("error", () => resolve(false));
  });
}
