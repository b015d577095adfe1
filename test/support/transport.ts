// Worker settings and Transports for the tests that talk to a server directly (transport,
// gradio, legacy-server, codec), without a Client.
import assert from "node:assert/strict";
import type { TestContext } from "node:test";
import { Transport } from "../../src/io/transport.js";
import type { TrackioError } from "../../src/shared/errors.js";
import type { WorkerSettings } from "../../src/shared/protocol.js";

/** Worker settings for a server at `origin`; each test file passes what it needs changed. */
export function testSettings(origin: string, over: Partial<WorkerSettings> = {}): WorkerSettings {
  return {
    origin,
    basePath: "/",
    displayUrl: `${origin}/`,
    project: "p",
    run: "r",
    runId: "rid",
    clientId: "cid",
    writeToken: null,
    hfToken: null,
    timeoutMs: 2000,
    maxBatch: 128,
    flushIntervalMs: 500,
    maxRecordsPerRequest: 2048,
    retryDeadlineMs: 10_000,
    spoolDir: null,
    inboxDir: null,
    systemMetricsMs: 0,
    clockBase: 0,
    configJson: "{}",
    ...over,
  };
}

export interface Counted {
  transport: Transport;
  hooks: { requests: number; retries: number };
}

/** A Transport whose hooks count, closed after the test (before the server). */
export function transportFor(t: TestContext, s: WorkerSettings): Counted {
  const hooks = { requests: 0, retries: 0 };
  const transport = new Transport(s, {
    onRequest: () => hooks.requests++,
    onRetry: () => hooks.retries++,
  });
  t.after(() => transport.close());
  return { transport, hooks };
}

/** Assert that `p` rejects with an error of class `cls`; returns the error. */
export async function rejectsWith<T extends TrackioError>(
  p: Promise<unknown>,
  cls: abstract new (...args: never[]) => T,
): Promise<T> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof cls, `expected ${cls.name}, got ${String(err)}`);
    return err as T;
  }
  assert.fail(`expected a ${cls.name} rejection, but the call succeeded`);
}
