// What a user reads when the server does not answer, refuses the token or is not Trackio,
// each asserted word for word: the warning at the first failed attempt (once per outage), the
// line after Ctrl+C that says how many records were kept and the command that sends them
// (which is then run, and stores every record once), and messages that promise no retry
// that will not come.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, test } from "node:test";
import { freePort, startTrackio, type TrackioServer } from "../scripts/trackio-server.js";
import { Client } from "../src/index.js";
import { spoolDirFor } from "../src/paths.js";
import { bulkLog, startFaultProxy } from "./support/fault-proxy.js";
import { assertStoredOnce, runSync, spooledLines, tempDir, waitFor } from "./support/scenario.js";
import { stderrOf } from "./support/stderr.js";

let server: TrackioServer;
before(async () => {
  server = await startTrackio();
});
after(async () => {
  await server?.stop();
});

const fixture = new URL("./fixtures/fault-child.ts", import.meta.url).pathname;

/** The fault child run with `args`, its output collected as it comes; `ended`: the signal it died of. */
function startChild(args: string[], env: NodeJS.ProcessEnv) {
  const proc = spawn(process.execPath, ["--import", "tsx", fixture, ...args], {
    env,
    stdio: ["ignore", "pipe", "pipe"],
  });
  const child = { proc, stdout: "", stderr: "", ended: null as unknown as Promise<NodeJS.Signals | null> };
  proc.stdout.on("data", (d) => (child.stdout += d));
  proc.stderr.on("data", (d) => (child.stderr += d));
  child.ended = new Promise((resolve) => proc.on("close", (_code, signal) => resolve(signal)));
  return child;
}
let seq = 0;
const newProject = () => `outage-${process.pid}-${seq++}`;

/** Warnings emitted in this process while `fn` runs; `fn` can look at those seen so far. */
async function warningsOf(
  fn: (seen: readonly { code?: string; message: string }[]) => Promise<unknown>,
): Promise<{ code?: string; message: string }[]> {
  const seen: { code?: string; message: string }[] = [];
  const listener = (w: Error & { code?: string }) => seen.push({ code: w.code, message: w.message });
  process.on("warning", listener);
  try {
    await fn(seen);
    // Warnings are emitted on the next tick.
    await new Promise((resolve) => setImmediate(resolve));
  } finally {
    process.off("warning", listener);
  }
  return seen;
}

/** The command between backticks in `line`, as argv for main() (the paths here need no quoting). */
function commandIn(line: string): string[] {
  const m = /`(npx trackio sync [^`]*)`/.exec(line);
  assert.ok(m !== null, `no sync command in ${JSON.stringify(line)}`);
  return m[1].split(" ").slice(2);
}

describe("a server that does not answer", () => {
  test("one TRACKIO_RETRYING warning at the first failed attempt, not one per attempt or batch", async () => {
    const port = await freePort();
    const url = `http://127.0.0.1:${port}/`;
    const root = tempDir("outage-warn");
    const client = new Client({ baseUrl: url, project: newProject(), run: "r", spoolDir: root, retryDeadlineMs: 2000 });
    let warnedBeforeSpool = false;
    const warnings = await warningsOf(async (seen) => {
      client.log({ loss: 1 });
      await waitFor("the warning", () => seen.length > 0, 10_000);
      warnedBeforeSpool = client.stats().spooled === 0;
      for (let i = 0; i < 5; i++) {
        client.log({ loss: i });
        await client.flush().catch(() => {});
      }
      await stderrOf(() => client.close().catch(() => {}));
    });
    const retrying = warnings.filter((w) => w.code === "TRACKIO_RETRYING");
    assert.deepEqual(retrying, [
      {
        code: "TRACKIO_RETRYING",
        message: `GET ${url}version got no answer: ECONNREFUSED (connect ECONNREFUSED 127.0.0.1:${port}); retrying for up to 2 s (retryDeadlineMs), then keeping the records in the spool ${spoolDirFor(root, url)} and sending them when the server answers again`,
      },
    ]);
    assert.ok(warnedBeforeSpool, "the warning came while the first batch was still being retried");
    assert.equal(client.stats().spooled, 6);
  });

  test("with spoolDir: false the warning says that what is not sent by the deadline is lost", async () => {
    const port = await freePort();
    const url = `http://127.0.0.1:${port}/`;
    const client = new Client({
      baseUrl: url,
      project: newProject(),
      run: "r",
      spoolDir: false,
      retryDeadlineMs: 1500,
    });
    const warnings = await warningsOf(async () => {
      client.log({ loss: 1 });
      await stderrOf(() => client.close().catch(() => {}));
    });
    assert.deepEqual(
      warnings.filter((w) => w.code === "TRACKIO_RETRYING").map((w) => w.message),
      [
        `GET ${url}version got no answer: ECONNREFUSED (connect ECONNREFUSED 127.0.0.1:${port}); retrying for up to 1.5 s (retryDeadlineMs); records not sent by then are lost (spoolDir: false)`,
      ],
    );
    assert.equal(client.stats().failed, 1);
  });

  test("close() names the exact sync command for what it kept", async () => {
    const url = `http://127.0.0.1:${await freePort()}/`;
    const root = tempDir("outage-close");
    const project = newProject();
    const client = new Client({ baseUrl: url, project, run: "my run", spoolDir: root, retryDeadlineMs: 1000 });
    client.log({ loss: 1 });
    let closed: unknown = null;
    const stderr = await stderrOf(async () => {
      await client.close().catch((e: unknown) => {
        closed = e;
      });
    });
    const dir = spoolDirFor(root, url);
    assert.equal(
      stderr.split("\n").at(-2),
      `trackio: run "my run": 0 records sent, 1 kept in the spool (send them with \`npx trackio sync --spool ${dir} --url ${url} --project ${project} --run 'my run'\`); dashboard: ${url}?project=${project}`,
    );
    assert.match(
      (closed as Error).message,
      new RegExp(
        `\\(1 record kept in ${dir}/.*\\.jsonl; it is sent when the server answers again, or with \`npx trackio sync --spool ${dir} --url ${url} --project ${project} --run 'my run'\`\\)$`,
      ),
    );
  });
});

describe("after Ctrl+C with the server down", () => {
  test("one line: how many records were kept and the command that sends them; the command stores each once", async () => {
    const proxy = await startFaultProxy(server.url);
    try {
      await proxy.refuse();
      const project = newProject();
      const spoolRoot = tempDir("outage-sigint");
      const env: NodeJS.ProcessEnv = {
        ...process.env,
        TEST_TRACKIO_URL: proxy.url,
        TEST_PROJECT: project,
        TRACKIO_SPOOL_DIR: spoolRoot,
        TEST_CLIENT_OPTIONS: JSON.stringify({ writeToken: server.writeToken, retryDeadlineMs: 20_000 }),
      };
      delete env.TRACKIO_SERVER_URL;
      delete env.TRACKIO_WRITE_TOKEN;
      const child = startChild(["signal"], env);
      await waitFor(
        "the retry warning",
        () => child.stderr.includes("TRACKIO_RETRYING"),
        30_000,
        () => child.stderr,
      );
      child.proc.kill("SIGINT");
      assert.equal(await child.ended, "SIGINT", child.stderr);
      const logged = Number(/logged (\d+)\n$/.exec(child.stdout)?.[1]);
      const runId = /^run (\w+)$/m.exec(child.stdout)?.[1] as string;
      assert.ok(logged > 0, child.stdout);

      const lines = child.stderr.trimEnd().split("\n");
      const dir = spoolDirFor(spoolRoot, proxy.url);
      assert.match(
        lines[0],
        new RegExp(
          `^\\(node:\\d+\\) \\[TRACKIO_RETRYING\\] Warning: GET ${proxy.url}version got no answer: ECONNREFUSED .*; retrying for up to 20 s \\(retryDeadlineMs\\), then keeping the records in the spool ${dir} and sending them when the server answers again$`,
        ),
      );
      assert.equal(child.stderr.match(/TRACKIO_RETRYING/g)?.length, 1, child.stderr);
      const last = lines.at(-1) as string;
      assert.equal(
        last,
        `trackio: run "child-signal": ${logged} records kept in the spool; send them with \`npx trackio sync --spool ${dir} --url ${proxy.url} --token TOKEN --project ${project} --run child-signal\``,
      );
      assert.equal(spooledLines(spoolRoot).lines, logged);

      // The server answers again; the printed command, with the token, stores every record once.
      await proxy.accept();
      const args = commandIn(last).map((a) => (a === "TOKEN" ? server.writeToken : a));
      assert.equal(args[0], "sync");
      const synced = await runSync(args);
      assert.equal(synced.code, 0, synced.out);
      await assertStoredOnce(server.url, project, runId, logged);
    } finally {
      await proxy.close();
    }
  });
});

describe("a large backlog at Ctrl+C with the server down", () => {
  test("250,000 records waiting (the ring full, the rest in the overflow): every one kept, none lost", async () => {
    const project = newProject();
    const spoolRoot = tempDir("outage-burst");
    const proxy = await startFaultProxy(server.url);
    try {
      await proxy.refuse();
      const env: NodeJS.ProcessEnv = {
        ...process.env,
        TEST_TRACKIO_URL: proxy.url,
        TEST_PROJECT: project,
        TRACKIO_SPOOL_DIR: spoolRoot,
        TEST_CLIENT_OPTIONS: JSON.stringify({ writeToken: server.writeToken }),
      };
      delete env.TRACKIO_SERVER_URL;
      const child = startChild(["burst", "250000"], env);
      await waitFor(
        "the burst and the retry warning",
        () => /logged \d+\n/.test(child.stdout) && child.stderr.includes("TRACKIO_RETRYING"),
        60_000,
        () => child.stdout + child.stderr,
      );
      child.proc.kill("SIGINT");
      assert.equal(await child.ended, "SIGINT", child.stderr);
      assert.doesNotMatch(child.stderr, /neither delivered nor kept/);
      assert.match(child.stderr, /250000 records kept in the spool; send them with/);
      assert.equal(spooledLines(spoolRoot).lines, 250_000);
    } finally {
      await proxy.close();
    }
  });
});

describe("no promise of a retry that will not come", () => {
  test("a wrong write token: the records are kept, and the message says to sync with the right token", async () => {
    const root = tempDir("outage-token");
    const project = newProject();
    const client = new Client({
      baseUrl: server.url,
      writeToken: "not-the-token",
      project,
      run: "r",
      spoolDir: root,
      quiet: true,
    });
    client.log({ loss: 1 });
    client.log({ loss: 2 });
    const err = (await client.close().then(
      () => assert.fail("close() should reject"),
      (e: unknown) => e,
    )) as Error & { code: string };
    const dir = spoolDirFor(root, server.url);
    assert.equal(err.code, "ERR_TRACKIO_AUTH");
    assert.doesNotMatch(err.message, /answers again/);
    assert.match(
      err.message,
      new RegExp(
        `\\(2 records kept in ${dir}/.*\\.jsonl; this client cannot send them with its write token; with the right one, \`npx trackio sync --spool ${dir} --url ${server.url} --token TOKEN --project ${project} --run r\` does\\)$`,
      ),
    );
  });

  test("a server that is not Trackio: the message says to sync to a Trackio server's URL", async () => {
    const other = http.createServer((_req, res) => {
      res.writeHead(404, { "content-type": "text/html" });
      res.end("<h1>not here</h1>");
    });
    await new Promise<void>((resolve) => other.listen(0, "127.0.0.1", resolve));
    try {
      const url = `http://127.0.0.1:${(other.address() as AddressInfo).port}/`;
      const root = tempDir("outage-other");
      const project = newProject();
      const client = new Client({ baseUrl: url, project, run: "r", spoolDir: root, quiet: true });
      client.log({ loss: 1 });
      const err = (await client.close().then(
        () => assert.fail("close() should reject"),
        (e: unknown) => e,
      )) as Error & { code: string };
      const dir = spoolDirFor(root, url);
      assert.equal(err.code, "ERR_TRACKIO_NO_ENDPOINT");
      assert.doesNotMatch(err.message, /answers again/);
      assert.match(
        err.message,
        new RegExp(
          `\\(1 record kept in ${dir}/.*\\.jsonl; this client does not send it again; \`npx trackio sync --spool ${dir} --url URL --project ${project} --run r\` does, with URL a Trackio server that takes them\\)$`,
        ),
      );
    } finally {
      other.close();
    }
  });
});

describe("a long close()", () => {
  /** close() of `n` records while each request of 100 waits `delayMs` at the proxy; its stderr. */
  async function slowClose(n: number, delayMs: number, opts: { tty?: boolean; quiet?: boolean } = {}) {
    const proxy = await startFaultProxy(server.url);
    const project = newProject();
    const wasTty = process.stderr.isTTY;
    try {
      proxy.always({ kind: "delay", ms: delayMs, forward: "before" }, bulkLog);
      const client = new Client({
        baseUrl: proxy.url,
        writeToken: server.writeToken,
        project,
        run: "r",
        spoolDir: tempDir("outage-slow"),
        maxRecordsPerRequest: 100,
        quiet: opts.quiet === true,
      });
      await client.ready();
      for (let i = 0; i < n; i++) client.log({ loss: i }, i);
      if (opts.tty) process.stderr.isTTY = true;
      const stderr = await stderrOf(() => client.close());
      await assertStoredOnce(server.url, project, client.runId as string, n);
      return { stderr, url: proxy.url, project };
    } finally {
      process.stderr.isTTY = wasTty;
      await proxy.close();
    }
  }

  test("not on a terminal: a progress line every 5 s, then the summary", async () => {
    const { stderr, url, project } = await slowClose(800, 1000);
    const lines = stderr.split("\n");
    assert.equal(lines.at(-1), "");
    assert.equal(lines.at(-2), `trackio: run "r": 800 records sent; dashboard: ${url}?project=${project}`);
    const progress = lines.slice(0, -2);
    assert.ok(progress.length >= 1, stderr);
    for (const line of progress)
      assert.match(line, /^trackio: closing run "r": \d+ records? sent, \d+ to go \(\d+ s\)$/);
    assert.ok(!stderr.includes("\r"), "no in-place updates when stderr is not a terminal");
  });

  test("on a terminal: one line rewritten in place every second, cleared before the summary", async () => {
    const { stderr, url, project } = await slowClose(300, 1000, { tty: true });
    assert.match(
      stderr,
      new RegExp(
        `^(\\r\\x1b\\[2Ktrackio: closing run "r": \\d+ records? sent, \\d+ to go \\(\\d+ s\\))+\\r\\x1b\\[2Ktrackio: run "r": 300 records sent; dashboard: ${url.replaceAll(".", "\\.")}\\?project=${project}\\n$`,
      ),
      JSON.stringify(stderr),
    );
  });

  test("quiet: nothing", async () => {
    const { stderr } = await slowClose(300, 1000, { tty: true, quiet: true });
    assert.equal(stderr, "");
  });
});
