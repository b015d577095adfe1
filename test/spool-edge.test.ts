// Spool edge cases (issue 10): a damaged line in a spooled fragment costs that line only, an
// empty fragment is removed with a message, and a spool directory that cannot be created
// (under /proc, below a regular file, read-only) is reported with ERR_TRACKIO_SPOOL in
// bounded time, without hanging the process: a child with such a spool still ends on SIGTERM.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { appendFileSync, chmodSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { freePort, startTrackio, type TrackioServer } from "../scripts/trackio-server.js";
import { EXIT_SET_ASIDE } from "../src/cli.js";
import { Client, type TrackioError } from "../src/index.js";
import { listFragments, listQuarantined } from "../src/io/spool.js";
import { spoolDirFor } from "../src/paths.js";
import { runRows } from "./support/read-api.js";
import { logBurst, runSync, spooledLines, tempDir } from "./support/scenario.js";

let server: TrackioServer;
let projectSeq = 0;
const newProject = () => `spool-edge-${process.pid}-${projectSeq++}`;

before(async () => {
  server = await startTrackio();
});
after(async () => {
  await server?.stop();
});

/** One fragment of `n` records of one run, written by a client that found no server. */
async function oneFragment(n: number) {
  const url = `http://127.0.0.1:${await freePort()}/`;
  const project = newProject();
  const spoolRoot = tempDir("spool");
  const client = new Client({
    baseUrl: url,
    project,
    run: "offline",
    spoolDir: spoolRoot,
    quiet: true,
    retryDeadlineMs: 300,
    maxBatch: 1000,
    flushIntervalMs: 60_000,
  });
  client.on("error", () => {});
  logBurst(client, 0, n);
  await client.close().catch(() => {});
  const dir = spoolDirFor(spoolRoot, url);
  // A burst's first 128 records are a request (and so a fragment) of their own; the tests
  // want the n lines in one fragment, as an older client or a longer outage leaves them.
  const [fragment, ...rest] = listFragments(dir);
  assert.ok(fragment !== undefined, "the client kept its records in the spool");
  for (const other of rest) {
    appendFileSync(fragment, readFileSync(other));
    rmSync(other);
  }
  assert.equal(linesOf(fragment).length, n);
  return { project, spoolRoot, dir, fragment, runId: client.runId as string };
}

function linesOf(path: string): string[] {
  return readFileSync(path, "utf8")
    .split("\n")
    .filter((l) => l.trim() !== "");
}

/** A client for the real server with `spoolRoot`, which replays what waits there, then closes. */
async function replayWithNextClient(
  project: string,
  spoolRoot: string,
): Promise<{ errors: TrackioError[]; closed: unknown }> {
  const next = new Client({
    baseUrl: server.url,
    writeToken: server.writeToken,
    project,
    run: "next",
    spoolDir: spoolRoot,
    quiet: true,
  });
  const errors: TrackioError[] = [];
  next.on("error", (e: TrackioError) => errors.push(e));
  await next.ready();
  const closed = await next.close().then(
    () => null,
    (e: unknown) => e,
  );
  return { errors, closed };
}

describe("damaged and empty fragments", () => {
  test("one damaged line among 499 good ones: 499 stored, that line set aside and reported", async () => {
    const { project, spoolRoot, dir, fragment, runId } = await oneFragment(499);
    // The spool is in the URL's directory; the next client for the real server has its own.
    const lines = linesOf(fragment);
    assert.equal(lines.length, 499);
    const damaged = lines[200].slice(0, 40); // cut short, as a torn write would leave it
    lines.splice(250, 0, damaged);
    writeFileSync(fragment, `${lines.join("\n")}\n`);
    const target = spoolDirFor(spoolRoot, server.url);
    mkdirSync(target, { recursive: true });
    const moved = join(target, "0000000000000000", "00000000.jsonl");
    mkdirSync(join(target, "0000000000000000"));
    writeFileSync(moved, readFileSync(fragment));
    writeFileSync(fragment, "");
    const { errors, closed } = await replayWithNextClient(project, spoolRoot);
    assert.equal((await runRows(server.url, project, runId)).rows, 499);
    assert.deepEqual(listFragments(target), [], "the fragment is settled");
    const aside = listQuarantined(target);
    assert.equal(aside.length, 1);
    assert.deepEqual(linesOf(aside[0]), [damaged], "the quarantine file holds exactly the damaged line");
    const rejected = errors.find((e) => e.code === "ERR_TRACKIO_REJECTED");
    assert.ok(rejected !== undefined, errors.map((e) => e.message).join("\n"));
    assert.match(rejected.message, /1 damaged spool line \(not JSON\)/);
    assert.match(rejected.message, new RegExp(aside[0].replaceAll(".", "\\.")));
    assert.equal((closed as TrackioError | null)?.code, "ERR_TRACKIO_REJECTED");
    // The fragment of the other server's directory was emptied above: sync reports its removal.
    const { code, out } = await runSync(["sync", "--spool", dir, "--url", server.writeUrl]);
    assert.equal(code, EXIT_SET_ASIDE, out);
    assert.match(out, new RegExp(`removed ${fragment.replaceAll(".", "\\.")}: it was empty`));
    assert.match(out, /removed 1 empty fragment\b/);
    assert.deepEqual(listFragments(dir), []);
  });

  test("a 0-byte fragment replayed by the next client: removed and reported, the others delivered", async () => {
    const { project, spoolRoot, fragment, runId } = await oneFragment(50);
    const target = spoolDirFor(spoolRoot, server.url);
    mkdirSync(join(target, "0000000000000000"), { recursive: true });
    writeFileSync(join(target, "0000000000000000", "00000000.jsonl"), "");
    writeFileSync(join(target, "0000000000000000", "00000001.jsonl"), readFileSync(fragment));
    const { errors } = await replayWithNextClient(project, spoolRoot);
    const empty = errors.find((e) => /was empty/.test(e.message));
    assert.ok(empty !== undefined, errors.map((e) => e.message).join("\n"));
    assert.match(empty.message, /00000000\.jsonl was empty .*removed/);
    assert.equal((await runRows(server.url, project, runId)).rows, 50);
    assert.deepEqual(spooledLines(target), { fragments: 0, lines: 0 });
  });
});

describe("values the real server refuses, in an older spool file", () => {
  test("an integer beyond 64 bits and a lone surrogate: trackio sync stores the other 98, sets those 2 aside", async () => {
    const { project, dir, fragment, runId } = await oneFragment(100);
    const lines = linesOf(fragment);
    // As an earlier version of this client wrote them (issue 10), and Trackio 0.43 refuses.
    lines[40] = lines[40].replace(/"metrics":\{[^}]*\}/, '"metrics":{"loss":123456789012345680000}');
    lines[60] = lines[60].replace(/"metrics":\{[^}]*\}/, '"metrics":{"note":"bad \\ud800 text"}');
    writeFileSync(fragment, `${lines.join("\n")}\n`);
    const { code, out } = await runSync(["sync", "--spool", dir, "--url", server.writeUrl]);
    assert.equal(code, EXIT_SET_ASIDE, out);
    assert.match(out, /sent 98 records from 1 fragment; SET ASIDE 2 lines \(2 refused by the server on their own\)/);
    assert.match(out, /step 40, keys loss; .*step 60, keys note/);
    assert.match(out, /HTTP 500/);
    const rows = await runRows(server.url, project, runId);
    assert.equal(rows.rows, 98);
    const aside = listQuarantined(dir);
    assert.equal(aside.length, 1);
    assert.deepEqual(linesOf(aside[0]), [lines[40], lines[60]]);
    assert.deepEqual(listFragments(dir), []);
  });
});

const root = process.getuid?.() === 0;

/** Spool roots that cannot be created, each with what its message says. */
function unusableSpools(): { name: string; root: string; says: RegExp }[] {
  const base = tempDir("spool-parent");
  const file = join(base, "a-file");
  writeFileSync(file, "not a directory");
  let readOnly: string;
  if (root) {
    // chmod does not stop root; sysfs refuses every mkdir, root's included.
    readOnly = "/sys/trackio-spool";
  } else {
    readOnly = join(base, "read-only");
    mkdirSync(readOnly);
    chmodSync(readOnly, 0o555);
  }
  return [
    { name: "under /proc", root: "/proc/self/trackio-spool", says: /mkdir \/proc\/self\/trackio-spool failed: ENOENT/ },
    { name: "below a regular file", root: join(file, "spool"), says: /a-file exists and is not a directory/ },
    { name: "read-only", root: join(readOnly, "spool"), says: /failed: (EACCES|EPERM|EROFS)/ },
  ];
}

describe("a spool directory that cannot be created", () => {
  for (const spool of unusableSpools()) {
    test(`${spool.name}: ERR_TRACKIO_SPOOL within seconds, once per outage, records counted failed`, async () => {
      const client = new Client({
        baseUrl: `http://127.0.0.1:${await freePort()}/`,
        project: newProject(),
        run: "no-spool",
        spoolDir: spool.root,
        quiet: true,
        timeoutMs: 1000,
        retryDeadlineMs: 300,
        maxBatch: 50,
        flushIntervalMs: 20,
      });
      const errors: TrackioError[] = [];
      client.on("error", (e: TrackioError) => errors.push(e));
      const start = performance.now();
      logBurst(client, 0, 200);
      const closed = await client.close().then(
        () => null,
        (e: unknown) => e as TrackioError,
      );
      const ms = performance.now() - start;
      assert.ok(ms < 10_000, `close() settled after ${Math.round(ms)} ms`);
      assert.equal(closed?.code, "ERR_TRACKIO_SPOOL", String(closed?.message));
      assert.match(closed.message, spool.says);
      assert.match(closed.message, /spool directory .* cannot be created/);
      assert.match(closed.message, /Set spoolDir \(or TRACKIO_SPOOL_DIR\)/);
      assert.match(closed.message, /200 records lost|records lost/);
      assert.equal(errors.length, 1, `one 'error' event for the outage: ${errors.map((e) => e.message).join("\n")}`);
      assert.equal(errors[0].code, "ERR_TRACKIO_SPOOL");
      const st = client.stats();
      assert.equal(st.failed, 200, JSON.stringify(st));
      assert.equal(st.sent + st.spooled + st.quarantined, 0);
    });
  }

  test("a child process whose spool is under /proc still ends on SIGTERM", async () => {
    const fixture = new URL("./fixtures/fault-child.ts", import.meta.url).pathname;
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      TEST_TRACKIO_URL: `http://127.0.0.1:${await freePort()}/`,
      TEST_PROJECT: newProject(),
      TRACKIO_SPOOL_DIR: "/proc/self/trackio-spool",
      TEST_CLIENT_OPTIONS: JSON.stringify({ timeoutMs: 1000, retryDeadlineMs: 300, exitTimeoutMs: 2000 }),
    };
    delete env.TRACKIO_SERVER_URL;
    const proc = spawn(process.execPath, ["--import", "tsx", fixture, "signal"], {
      env,
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    let killedAt = 0;
    proc.stderr.on("data", (d) => (stderr += d));
    proc.stdout.on("data", (d) => {
      stdout += d;
      // Past the first batches, which went to the broken spool.
      if (killedAt === 0 && /logged (\d{4,})/.test(stdout)) {
        killedAt = performance.now();
        proc.kill("SIGTERM");
      }
    });
    const ended = await new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
      const timer = setTimeout(() => proc.kill("SIGKILL"), 30_000);
      proc.on("close", (code, signal) => {
        clearTimeout(timer);
        resolve({ code, signal });
      });
    });
    assert.ok(killedAt > 0, `the child logged: ${stdout.slice(-200)} ${stderr}`);
    assert.equal(ended.signal, "SIGTERM", `${JSON.stringify(ended)} ${stderr}`);
    assert.ok(performance.now() - killedAt < 15_000);
  });
});
