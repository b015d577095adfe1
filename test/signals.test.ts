// Scenario 5 of docs/reliability.md: a child process that logs in a loop is ended mid-loop by
// SIGINT, SIGTERM, an uncaught exception or process.exit(0). The client delivers what it
// logged before the process goes (or keeps it in the spool when the server does not answer
// in time), and a signal still ends the process as that signal.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { after, before, describe, test } from "node:test";
import { startTrackio, type TrackioServer } from "../scripts/trackio-server.js";
import { Client } from "../src/index.js";
import { type FaultProxy, startFaultProxy } from "./support/fault-proxy.js";
import { runRows } from "./support/read-api.js";
import { assertStoredOnce, report, spooledLines, tempDir } from "./support/scenario.js";

let server: TrackioServer;
before(async () => {
  server = await startTrackio();
});
after(async () => {
  await server?.stop();
});

const fixture = new URL("./fixtures/fault-child.ts", import.meta.url).pathname;
let projectSeq = 0;
const newProject = () => `signals-${process.pid}-${projectSeq++}`;

interface ChildResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  runId: string;
  /** The last "logged <n>" line: records logged when the process ended. */
  logged: number;
  stderr: string;
}

interface ChildOptions {
  url: string;
  project: string;
  spoolRoot: string;
  stopAt?: number;
  /** Send this signal once the child has logged at least `after` records. */
  kill?: { signal: NodeJS.Signals; after: number };
  clientOptions?: Record<string, unknown>;
}

function runChild(mode: string, o: ChildOptions): Promise<ChildResult> {
  return new Promise((resolve, reject) => {
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      TEST_TRACKIO_URL: o.url,
      TEST_PROJECT: o.project,
      TRACKIO_SPOOL_DIR: o.spoolRoot,
      TEST_CLIENT_OPTIONS: JSON.stringify({ writeToken: server.writeToken, ...o.clientOptions }),
    };
    delete env.TRACKIO_SERVER_URL;
    const proc = spawn(process.execPath, ["--import", "tsx", fixture, mode, String(o.stopAt ?? 0)], {
      env,
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    let runId = "";
    let logged = -1;
    let signalled = false;
    proc.stdout.on("data", (d) => {
      stdout += d;
      const lines = stdout.split("\n");
      stdout = lines.pop() ?? "";
      for (const line of lines) {
        const [word, value] = line.split(" ");
        if (word === "run") runId = value;
        if (word === "logged") logged = Number(value);
      }
      if (o.kill !== undefined && !signalled && logged >= o.kill.after) {
        signalled = true;
        proc.kill(o.kill.signal);
      }
    });
    proc.stderr.on("data", (d) => (stderr += d));
    const timer = setTimeout(() => {
      proc.kill("SIGKILL");
      reject(new Error(`child ${mode} did not end within 60 s; stderr: ${stderr}`));
    }, 60_000);
    proc.on("close", (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, runId, logged, stderr });
    });
  });
}

describe("5. the process ends mid-loop", () => {
  const cases: { name: string; mode: string; stopAt?: number; kill?: ChildOptions["kill"]; expect: string }[] = [
    { name: "SIGINT", mode: "signal", kill: { signal: "SIGINT", after: 2000 }, expect: "signal SIGINT" },
    { name: "SIGTERM", mode: "signal", kill: { signal: "SIGTERM", after: 2000 }, expect: "signal SIGTERM" },
    { name: "uncaught exception", mode: "throw", stopAt: 2050, expect: "code 1" },
    { name: "process.exit(0)", mode: "exit", stopAt: 2050, expect: "code 0" },
  ];
  for (const c of cases) {
    test(`${c.name}: everything logged before it is stored once, and the process ends with ${c.expect}`, async (t) => {
      const project = newProject();
      const r = await runChild(c.mode, {
        url: server.url,
        project,
        spoolRoot: tempDir("spool"),
        stopAt: c.stopAt,
        kill: c.kill,
      });
      const ended = r.signal !== null ? `signal ${r.signal}` : `code ${r.code}`;
      assert.equal(ended, c.expect, r.stderr);
      if (c.mode === "throw") assert.match(r.stderr, /boom in the middle of the training loop/);
      assert.doesNotMatch(r.stderr, /neither delivered nor kept/);
      assert.match(r.runId, /^[0-9a-f]{32}$/);
      if (c.stopAt !== undefined) assert.equal(r.logged, c.stopAt);
      else assert.ok(r.logged >= (c.kill?.after ?? 0));
      const outcome = await assertStoredOnce(server.url, project, r.runId, r.logged);
      report(t, `5 ${c.name} mid-loop`, outcome, "delivered before the process ended");
    });
  }

  test("SIGTERM while the server accepts but never answers: kept in the spool by the exit deadline, replayed by the next client", async (t) => {
    const proxy: FaultProxy = await startFaultProxy(server.url);
    try {
      const project = newProject();
      const spoolRoot = tempDir("spool");
      // Every metrics write is held for a minute; the child waits at most 2 s at exit.
      proxy.always({ kind: "delay", ms: 60_000, forward: "before" });
      const r = await runChild("signal", {
        url: proxy.url,
        project,
        spoolRoot,
        kill: { signal: "SIGTERM", after: 1000 },
        clientOptions: { timeoutMs: 30_000, exitTimeoutMs: 2000 },
      });
      assert.equal(r.signal, "SIGTERM", r.stderr);
      assert.doesNotMatch(r.stderr, /neither delivered nor kept/);
      assert.ok(r.logged >= 1000);
      assert.equal(spooledLines(spoolRoot).lines, r.logged, "every record logged is in the spool");
      assert.equal((await runRows(server.url, project, r.runId)).rows, 0, "the server has seen none of them yet");

      // The server answers again; the next client for the same server replays the spool.
      proxy.always(null);
      const next = new Client({
        baseUrl: proxy.url,
        writeToken: server.writeToken,
        project,
        run: "next",
        spoolDir: spoolRoot,
        quiet: true,
      });
      await next.ready();
      await next.close();
      assert.equal(next.stats().replayed, r.logged);
      assert.equal(spooledLines(spoolRoot).lines, 0);
      const outcome = await assertStoredOnce(server.url, project, r.runId, r.logged);
      report(
        t,
        "5 SIGTERM with the server hanging",
        outcome,
        "spooled at the exit deadline → replayed by the next client",
      );
    } finally {
      await proxy.close();
    }
  });
});
