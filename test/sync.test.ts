// Scenario 7 of docs/reliability.md: no server for the whole run, so every record goes to
// the spool; then `trackio sync` sends the spool to a fresh, real Trackio server. Run
// in-process (sync() from src/cli.ts) and as the `trackio` command (src/bin.ts) in a child.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { cpSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { basename } from "node:path";
import { after, before, describe, test } from "node:test";
import { freePort, startTrackio, type TrackioServer } from "../scripts/trackio-server.js";
import { Client, type TrackioError } from "../src/index.js";
import { spoolDirFor } from "../src/paths.js";
import { count } from "../src/shared/plural.js";
import { bulkLog, startFaultProxy } from "./support/fault-proxy.js";
import { runRows } from "./support/read-api.js";
import { assertStoredOnce, logBurst, report, runSync, spooledLines, tempDir } from "./support/scenario.js";

let server: TrackioServer;
before(async () => {
  server = await startTrackio();
});
after(async () => {
  await server?.stop();
});

const bin = new URL("../src/bin.ts", import.meta.url).pathname;

function runBin(args: string[]): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve, reject) => {
    const env = { ...process.env };
    delete env.TRACKIO_SERVER_URL;
    delete env.TRACKIO_SPOOL_DIR;
    const proc = spawn(process.execPath, ["--import", "tsx", bin, ...args], { env, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    proc.stdout.on("data", (d) => (out += d));
    proc.stderr.on("data", (d) => (err += d));
    const timer = setTimeout(() => {
      proc.kill("SIGKILL");
      reject(new Error(`trackio sync did not exit within 60 s; stderr: ${err}`));
    }, 60_000);
    proc.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, out, err });
    });
  });
}

describe("7. no server for the whole run, then `trackio sync`", () => {
  test("every record is spooled; sync stores each once, and a second sync (or a copy) adds nothing", async (t) => {
    const project = `sync-${process.pid}`;
    const spoolRoot = tempDir("spool");
    const port = await freePort(); // nothing listens there for the whole run
    const client = new Client({
      baseUrl: `http://127.0.0.1:${port}/`,
      writeToken: server.writeToken,
      project,
      run: "offline",
      spoolDir: spoolRoot,
      quiet: true,
      timeoutMs: 1000,
      retryDeadlineMs: 500,
      maxBatch: 100,
      flushIntervalMs: 20,
    });
    const errors: TrackioError[] = [];
    client.on("error", (e: TrackioError) => errors.push(e));
    let n = 0;
    for (let round = 0; round < 5; round++) {
      n = logBurst(client, n, 400);
      await new Promise((r) => setTimeout(r, 100));
    }
    await assert.rejects(client.close(), (err: TrackioError) => {
      assert.equal(err.code, "ERR_TRACKIO_HTTP");
      assert.match(err.message, /ECONNREFUSED/);
      assert.match(err.message, /npx trackio sync/);
      return true;
    });
    const st = client.stats();
    assert.equal(st.logged, n);
    assert.equal(st.sent, 0);
    assert.equal(st.spooled, n);
    assert.equal(st.failed, 0);
    assert.equal(errors.length, 1, "one 'error' event for the whole outage");
    const kept = spooledLines(spoolRoot);
    assert.equal(kept.lines, n, "the spool holds one line per record");
    assert.ok(kept.fragments >= 1);

    // A copy of the spool, to sync again later through the `trackio` command.
    const copy = tempDir("spool-copy");
    cpSync(spoolRoot, copy, { recursive: true });

    const first = await runSync(["sync", "--spool", spoolRoot, "--url", server.writeUrl]);
    assert.equal(first.code, 0, first.out);
    const lines = first.out.trimEnd().split("\n");
    assert.equal(lines[0], `trackio sync: ${count(kept.fragments, "fragment")} in ${spoolRoot} → ${server.url}`);
    // The client logged for a port where nothing listened: its directory is another server's.
    const dir = basename(spoolDirFor(spoolRoot, `http://127.0.0.1:${port}/`));
    assert.equal(
      lines[1],
      `  ${dir}: ${n} records in ${count(kept.fragments, "fragment")} (logged for another server URL)`,
    );
    assert.equal(
      lines[2],
      `  1 directory holds records logged for another server URL: they are sent to ${server.url} too (pass one directory as --spool to send only it)`,
    );
    assert.equal(lines.length, kept.fragments + 4, first.out);
    assert.match(
      lines[kept.fragments + 2],
      new RegExp(`^  sent ${n} records \\(fragment ${kept.fragments} of ${kept.fragments}\\)$`),
    );
    assert.equal(lines.at(-1), `trackio sync: sent ${count(n, "record")} from ${count(kept.fragments, "fragment")}`);
    assert.doesNotMatch(first.out, new RegExp(server.writeToken), "the write token is never printed");
    assert.deepEqual(spooledLines(spoolRoot), { fragments: 0, lines: 0 }, "synced fragments are deleted");
    const outcome = await assertStoredOnce(server.url, project, client.runId as string, n);

    // Nothing left: a second sync sends nothing.
    const second = await runSync(["sync", "--spool", spoolRoot, "--url", server.writeUrl]);
    assert.equal(second.code, 0);
    assert.equal(
      second.out,
      `trackio sync: 0 fragments in ${spoolRoot} → ${server.url}\ntrackio sync: sent 0 records from 0 fragments\n`,
    );

    // The same records again, through the command: the server keeps one row per log_id.
    const again = await runBin(["sync", "--spool", copy, "--url", server.url, "--token", server.writeToken]);
    assert.equal(again.code, 0, again.out + again.err);
    assert.match(
      again.out,
      new RegExp(`trackio sync: sent ${count(n, "record")} from ${count(kept.fragments, "fragment")}\\n$`),
    );
    assert.equal((await runRows(server.url, project, client.runId as string)).rows, n);
    await assertStoredOnce(server.url, project, client.runId as string, n);
    report(t, "7 no server during the run, then trackio sync", outcome, `${n} spooled → trackio sync (twice)`);
  });

  test("answers lost and a 503 while syncing: sync retries, every record stored once", async (t) => {
    const project = `sync-faults-${process.pid}`;
    const spoolRoot = tempDir("spool");
    const client = new Client({
      baseUrl: `http://127.0.0.1:${await freePort()}/`,
      project,
      run: "offline",
      spoolDir: spoolRoot,
      quiet: true,
      retryDeadlineMs: 300,
      maxBatch: 2048,
      flushIntervalMs: 1000,
    });
    client.on("error", () => {});
    const n = logBurst(client, 0, 1800); // replayed in chunks of 500
    await client.close().catch(() => {});
    assert.equal(spooledLines(spoolRoot).lines, n);
    const proxy = await startFaultProxy(server.url);
    try {
      // The first chunk passes; the next one is stored but its answer lost, and its retry gets a 503.
      const afterFirst = (m: string, path: string) =>
        bulkLog(m, path) && proxy.events.some((e) => bulkLog(e.method, e.path) && e.upstreamStatus === 200);
      proxy.inject({ kind: "drop" }, 1, afterFirst);
      proxy.inject({ kind: "status", status: 503, retryAfter: "0" }, 1, afterFirst);
      const { code, out } = await runSync([
        "sync",
        "--spool",
        spoolRoot,
        "--url",
        proxy.url,
        "--token",
        server.writeToken,
      ]);
      assert.equal(code, 0, out);
      assert.match(out, new RegExp(`trackio sync: sent ${n} records from \\d+ fragments?\\n$`));
      const fates = proxy.events.filter((e) => bulkLog(e.method, e.path)).map((e) => e.fault ?? `${e.upstreamStatus}`);
      assert.ok(fates.includes("drop") && fates.includes("status 503 retry-after 0"), fates.join(", "));
      assert.equal(proxy.queued, 0);
      const outcome = await assertStoredOnce(server.url, project, client.runId as string, n);
      report(t, "7 trackio sync with a lost answer and a 503", outcome, "retried by sync");
    } finally {
      await proxy.close();
    }
  });

  test("sync to something that is not a Trackio server: exit code 1, the spool is kept", async () => {
    const spoolRoot = tempDir("spool");
    const port = await freePort();
    const client = new Client({
      baseUrl: `http://127.0.0.1:${port}/`,
      project: `sync-wrong-${process.pid}`,
      run: "offline",
      spoolDir: spoolRoot,
      quiet: true,
      retryDeadlineMs: 300,
    });
    client.on("error", () => {});
    logBurst(client, 0, 50);
    await client.close().catch(() => {});
    const kept = spooledLines(spoolRoot);
    assert.equal(kept.lines, 50);
    // Answers 404 to everything. (Against nothing at all, sync retries for a minute first.)
    const notTrackio = createServer((_req, res) => res.writeHead(404).end("no such thing"));
    await new Promise<void>((r) => notTrackio.listen(0, "127.0.0.1", r));
    try {
      const url = `http://127.0.0.1:${(notTrackio.address() as AddressInfo).port}/`;
      const { code, out } = await runSync(["sync", "--spool", spoolRoot, "--url", url]);
      assert.equal(code, 1, out);
      assert.match(out, /trackio sync: sent 0 records from 0 fragments\n/);
      assert.match(
        out,
        /stopped: ERR_TRACKIO_NO_ENDPOINT: .*is not a Trackio server.*; the rest stays in the spool\n$/,
      );
      assert.deepEqual(spooledLines(spoolRoot), kept);
    } finally {
      notTrackio.close();
    }
  });
});
