// A record the server refuses never costs another record (issue 10): a fault proxy in front
// of a real Trackio server answers 500 to any metrics write whose body holds one marked
// record, wherever it travels (a direct batch, a spooled fragment replayed by the next
// client, or `trackio sync`). Every other record is stored once; the marked one is set aside
// in a quarantine file and reported with ERR_TRACKIO_REJECTED.
import assert from "node:assert/strict";
import { cpSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { startTrackio, type TrackioServer } from "../scripts/trackio-server.js";
import { EXIT_SET_ASIDE } from "../src/cli.js";
import { Client, type ClientOptions, type TrackioError } from "../src/index.js";
import { listQuarantined } from "../src/io/spool.js";
import { count } from "../src/shared/plural.js";
import { bulkLog, bulkLogWith, type FaultProxy, startFaultProxy } from "./support/fault-proxy.js";
import { queryProject, runRows, sqlString } from "./support/read-api.js";
import { errorsOf, report, runSync, spooledLines, tempDir } from "./support/scenario.js";

let server: TrackioServer;
/** A client of the test server: quiet, with the server's write token. */
const testClient = (options: ClientOptions) => new Client({ writeToken: server.writeToken, quiet: true, ...options });
const proxies: FaultProxy[] = [];
let projectSeq = 0;
const newProject = () => `quarantine-${process.pid}-${projectSeq++}`;
// What Trackio 0.43 answers for a value it cannot store (issue 10).
const REFUSAL = {
  kind: "status",
  status: 500,
  body: JSON.stringify({ error: "Integer exceeds 64-bit range" }),
} as const;

before(async () => {
  server = await startTrackio();
});
after(async () => {
  await Promise.all(proxies.map((p) => p.close()));
  await server?.stop();
});

async function refusingProxy(marker: string): Promise<FaultProxy> {
  const proxy = await startFaultProxy(server.url);
  proxies.push(proxy);
  proxy.always(REFUSAL, bulkLogWith(marker));
  return proxy;
}

/** Log steps from..to-1; step `marked` also carries the marker as a string metric. */
function logWithMarker(client: Client, n: number, marked: number, marker: string, from = 0): void {
  for (let s = from; s < n; s++) {
    client.log(s === marked ? { loss: 1 / (s + 1), note: marker } : { loss: 1 / (s + 1) }, s);
  }
}

/** Every step but `marked` stored once, and nothing else. */
async function assertAllButMarked(project: string, runId: string, n: number, marked: number): Promise<void> {
  const rows = await runRows(server.url, project, runId);
  assert.deepEqual(rows, {
    rows: n - 1,
    distinctLogIds: n - 1,
    distinctSteps: n - 1,
    minStep: marked === 0 ? 1 : 0,
    maxStep: marked === n - 1 ? n - 2 : n - 1,
  });
  const at = await queryProject(
    server.url,
    project,
    `SELECT COUNT(*) AS "n" FROM metrics WHERE run_id = ${sqlString(runId)} AND step = ${marked}`,
  );
  assert.equal(Number(at[0].n), 0, "the refused record is not stored");
}

/** The quarantine files under a spool root hold exactly the marked record's line. */
function assertQuarantinedOnly(spoolRoot: string, marker: string, marked: number): string {
  const files = listQuarantinedUnder(spoolRoot);
  const lines = quarantinedLines(spoolRoot);
  assert.equal(lines.length, 1, `quarantined lines: ${JSON.stringify(lines)}`);
  const record = JSON.parse(lines[0]) as { kind: string; step: number; metrics: { note: string } };
  assert.equal(record.kind, "metric");
  assert.equal(record.step, marked);
  assert.equal(record.metrics.note, marker);
  return files[0];
}

/** Every line of every quarantine file under a spool root. */
function quarantinedLines(root: string): string[] {
  return listQuarantinedUnder(root).flatMap((f) =>
    readFileSync(f, "utf8")
      .split("\n")
      .filter((l) => l.trim() !== ""),
  );
}

function listQuarantinedUnder(root: string): string[] {
  // The spool root holds one directory per server.
  const dirs = [root, ...readdirSync(root).map((n) => join(root, n))].filter((d) => statSync(d).isDirectory());
  return dirs.flatMap((d) => listQuarantined(d));
}

function assertNamesMarked(error: TrackioError | undefined, marked: number): void {
  assert.ok(error !== undefined, "an ERR_TRACKIO_REJECTED error was reported");
  assert.equal(error.code, "ERR_TRACKIO_REJECTED");
  assert.match(error.message, new RegExp(`step ${marked}, keys loss, note`));
  assert.match(error.message, /Integer exceeds 64-bit range/);
  assert.match(error.message, /\.quarantined\.jsonl/);
}

/** A spool holding `n` records of one run, step `marked` carrying the marker (no server answered). */
async function spoolWithMarker(n: number, marked: number, marker: string) {
  const proxy = await refusingProxy(marker);
  await proxy.refuse();
  const project = newProject();
  const spoolRoot = tempDir("spool");
  const client = testClient({
    baseUrl: proxy.url,
    project,
    run: "spooled",
    spoolDir: spoolRoot,
    timeoutMs: 1000,
    retryDeadlineMs: 300,
    maxBatch: 100,
    flushIntervalMs: 20,
  });
  client.on("error", () => {});
  // In rounds, each flushed: each round is kept in fragments of its own.
  for (let from = 0; from < n; from += 300) {
    logWithMarker(client, Math.min(n, from + 300), marked, marker, from);
    await client.flush().catch(() => {});
  }
  await client.close().catch(() => {});
  assert.equal(client.stats().spooled, n);
  const kept = spooledLines(spoolRoot);
  assert.equal(kept.lines, n);
  assert.ok(kept.fragments > 2, `several fragments: ${kept.fragments}`);
  await proxy.accept();
  return { proxy, project, spoolRoot, runId: client.runId as string, fragments: kept.fragments };
}

describe("a record the server refuses on its own", () => {
  test("10,000 logged, one refused: 9,999 stored, one quarantined and reported", async (t) => {
    const marker = `POISON-${process.pid}-direct`;
    const proxy = await refusingProxy(marker);
    const project = newProject();
    const spoolRoot = tempDir("spool");
    const client = testClient({
      baseUrl: proxy.url,
      project,
      run: "direct",
      spoolDir: spoolRoot,
    });
    const errors = errorsOf(client);
    const n = 10_000;
    const marked = 4321;
    const start = performance.now();
    logWithMarker(client, n, marked, marker);
    await assert.rejects(client.flush(), (err: TrackioError) => {
      assertNamesMarked(err, marked);
      return true;
    });
    const ms = performance.now() - start;
    await client.close();
    const st = client.stats();
    assert.equal(st.logged, n);
    assert.equal(st.quarantined, 1, JSON.stringify(st));
    assert.equal(st.sent, n - 1, JSON.stringify(st));
    assert.equal(st.spooled + st.failed + st.inboxed, 0, JSON.stringify(st));
    assert.equal(st.logged, st.sent + st.quarantined);
    assert.equal(errors.length, 1, errors.map((e) => e.message).join("\n"));
    assertNamesMarked(errors[0], marked);
    assertQuarantinedOnly(spoolRoot, marker, marked);
    assert.deepEqual(spooledLines(spoolRoot), { fragments: 0, lines: 0 }, "nothing waits in the spool");
    await assertAllButMarked(project, client.runId as string, n, marked);
    const writes = proxy.events.filter((e) => bulkLog(e.method, e.path));
    const refused = writes.filter((e) => e.fault !== null).length;
    // The split of the refused batch: the requests after its four full attempts, until the
    // server acknowledged all of it but the marked record.
    const first = writes.findIndex((e) => e.fault !== null);
    const batch = writes[first].entries;
    let split = 0;
    let acknowledged = 0;
    for (const e of writes.slice(first + 4)) {
      if (acknowledged === batch - 1) break;
      split++;
      if (e.fault === null) acknowledged += e.entries;
    }
    t.diagnostic(
      `quarantine: ${n} records delivered in ${Math.round(ms)} ms; ${writes.length} bulk_log requests, ${refused} answered 500; the refused batch of ${batch} records: 4 full attempts, then ${split} single-try requests to isolate the record; ${st.requests} requests in all`,
    );
    report(t, "refused record in a direct batch", { logged: n, stored: n - 1, duplicated: 0 }, "1 quarantined");
  });

  test("the close() summary says how many records were set aside, and where", async () => {
    const marker = `POISON-${process.pid}-summary`;
    const proxy = await refusingProxy(marker);
    const spoolRoot = tempDir("spool");
    const client = new Client({
      baseUrl: proxy.url,
      writeToken: server.writeToken,
      project: newProject(),
      run: "summary",
      spoolDir: spoolRoot,
    });
    client.on("error", () => {});
    logWithMarker(client, 20, 7, marker);
    await client.flush().catch(() => {});
    const written: string[] = [];
    const write = process.stderr.write;
    process.stderr.write = ((chunk: string | Uint8Array) => {
      written.push(String(chunk));
      return true;
    }) as typeof process.stderr.write;
    try {
      await client.close();
    } finally {
      process.stderr.write = write;
    }
    const summary = written.find((l) => l.startsWith('trackio: run "summary"')) ?? "";
    assert.match(summary, /19 records sent, 1 refused by the server and set aside in .+ \(\*\.quarantined\.jsonl\)/);
  });

  test("500 ×6 for every record while the server answers: split and delivered, nothing set aside", async () => {
    const proxy = await startFaultProxy(server.url);
    proxies.push(proxy);
    proxy.inject({ kind: "status", status: 500 }, 6);
    const project = newProject();
    const spoolRoot = tempDir("spool");
    const client = testClient({
      baseUrl: proxy.url,
      project,
      run: "transient",
      spoolDir: spoolRoot,
      maxBatch: 300,
    });
    const errors = errorsOf(client);
    logWithMarker(client, 300, -1, "");
    await client.close();
    assert.equal(proxy.queued, 0, "all six 500s were served");
    const st = client.stats();
    assert.equal(st.sent, 300, JSON.stringify(st));
    assert.equal(st.quarantined + st.spooled + st.failed, 0, JSON.stringify(st));
    assert.deepEqual(errors, []);
    assert.deepEqual(listQuarantinedUnder(spoolRoot), []);
    assert.equal((await runRows(server.url, project, client.runId as string)).rows, 300);
  });

  test("the refused record is the run's first, which carries the config: the config is stored with another record", async () => {
    const marker = `POISON-${process.pid}-config`;
    const proxy = await refusingProxy(marker);
    const project = newProject();
    const client = testClient({
      baseUrl: proxy.url,
      project,
      run: "config",
      spoolDir: tempDir("spool"),
      config: { lr: 0.125, layers: 4 },
    });
    const errors = errorsOf(client);
    logWithMarker(client, 300, 0, marker);
    await assert.rejects(client.close(), { code: "ERR_TRACKIO_REJECTED" });
    assert.equal(errors.length, 1);
    assertNamesMarked(errors[0], 0);
    assert.match(errors[0].message, /it carries the run's config/);
    assert.doesNotMatch(errors[0].message, /config .*was not stored/);
    assert.equal(client.stats().quarantined, 1);
    await assertAllButMarked(project, client.runId as string, 300, 0);
    const configs = await queryProject(
      server.url,
      project,
      `SELECT config FROM configs WHERE run_id = ${sqlString(client.runId as string)}`,
    );
    assert.equal(configs.length, 1);
    const config = JSON.parse(String(configs[0].config)) as Record<string, unknown>;
    assert.equal(config.lr, 0.125);
    assert.equal(config.layers, 4);
  });

  test("the server refuses the run's config itself: every record stored, the config set aside and reported", async () => {
    const marker = `POISON-${process.pid}-in-config`;
    const proxy = await refusingProxy(marker);
    const project = newProject();
    const spoolRoot = tempDir("spool");
    const client = testClient({
      baseUrl: proxy.url,
      project,
      run: "bad-config",
      spoolDir: spoolRoot,
      config: { lr: 0.5, note: marker },
    });
    const errors = errorsOf(client);
    logWithMarker(client, 300, -1, "");
    await assert.rejects(client.close(), { code: "ERR_TRACKIO_REJECTED" });
    const st = client.stats();
    assert.equal(st.sent, 300, JSON.stringify(st));
    assert.equal(st.quarantined, 0);
    assert.equal(errors.length, 1);
    assert.match(errors[0].message, /refused the run's config carried by the record of run "bad-config".*step 0/);
    assert.match(errors[0].message, /the record is stored without it/);
    const rows = await runRows(server.url, project, client.runId as string);
    assert.equal(rows.rows, 300);
    const configs = await queryProject(
      server.url,
      project,
      `SELECT config FROM configs WHERE run_id = ${sqlString(client.runId as string)}`,
    );
    assert.equal(configs.length, 0, "the config the server refuses is not stored");
    const aside = quarantinedLines(spoolRoot);
    assert.equal(aside.length, 1, "the line with its config is kept for a person");
    assert.match(aside[0], new RegExp(marker));
  });

  test("the client's first records are refused, before the server accepted anything: kept, then set aside once others were stored", async () => {
    const marker = `POISON-${process.pid}-first`;
    const proxy = await refusingProxy(marker);
    const project = newProject();
    const spoolRoot = tempDir("spool");
    const client = testClient({
      baseUrl: proxy.url,
      project,
      run: "first",
      spoolDir: spoolRoot,
      maxBatch: 100,
    });
    const errors = errorsOf(client);
    const n = 1000;
    for (let s = 0; s < n; s++) client.log(s < 6 ? { loss: 1, note: marker } : { loss: 1 / (s + 1) }, s);
    await client.flush().catch(() => {});
    await client.close().catch(() => {});
    const st = client.stats();
    assert.equal(st.sent + st.spooled + st.quarantined + st.failed, n, JSON.stringify(st));
    const rows = await runRows(server.url, project, client.runId as string);
    assert.deepEqual(rows, { rows: n - 6, distinctLogIds: n - 6, distinctSteps: n - 6, minStep: 6, maxStep: n - 1 });
    assert.deepEqual(spooledLines(spoolRoot), { fragments: 0, lines: 0 }, JSON.stringify(st));
    const aside = quarantinedLines(spoolRoot);
    assert.deepEqual(
      aside.map((l) => (JSON.parse(l) as { step: number }).step).sort((a, b) => a - b),
      [0, 1, 2, 3, 4, 5],
    );
    assert.ok(
      errors.some((e) => e.code === "ERR_TRACKIO_REJECTED"),
      errors.map((e) => e.message).join("\n"),
    );
  });

  test("an alert the server refuses is set aside alone; the other alerts and the records are stored", async () => {
    const marker = `POISON-${process.pid}-alert`;
    const proxy = await startFaultProxy(server.url);
    proxies.push(proxy);
    proxy.always(
      REFUSAL,
      (method, path, body) => method === "POST" && /\/api\/bulk_alert$/.test(path) && (body ?? "").includes(marker),
    );
    const project = newProject();
    const spoolRoot = tempDir("spool");
    const client = testClient({
      baseUrl: proxy.url,
      project,
      run: "alerts",
      spoolDir: spoolRoot,
    });
    const errors = errorsOf(client);
    logWithMarker(client, 100, -1, "");
    client.alert({ title: "first", step: 10 });
    client.alert({ title: "refused", text: marker, step: 20 });
    client.alert({ title: "third", step: 30 });
    await assert.rejects(client.close(), { code: "ERR_TRACKIO_REJECTED" });
    const st = client.stats();
    assert.equal(st.quarantined, 1, JSON.stringify(st));
    assert.equal(st.sent, 102, JSON.stringify(st));
    assert.equal(errors.length, 1);
    assert.match(errors[0].message, /the alert "refused" of run "alerts"/);
    const titles = await queryProject(
      server.url,
      project,
      `SELECT title FROM alerts WHERE run_id = ${sqlString(client.runId as string)} ORDER BY step`,
    );
    assert.deepEqual(
      titles.map((r) => r.title),
      ["first", "third"],
    );
    const aside = quarantinedLines(spoolRoot);
    assert.equal(aside.length, 1);
    assert.equal((JSON.parse(aside[0]) as { kind: string; title: string }).title, "refused");
    assert.equal((await runRows(server.url, project, client.runId as string)).rows, 100);
  });

  test("with spoolDir: false the refused record is lost, counted failed and reported; the others are stored", async () => {
    const marker = `POISON-${process.pid}-nospool`;
    const proxy = await refusingProxy(marker);
    const project = newProject();
    const client = testClient({
      baseUrl: proxy.url,
      project,
      run: "nospool",
      spoolDir: false,
    });
    const errors = errorsOf(client);
    logWithMarker(client, 500, 250, marker);
    await assert.rejects(client.close(), { code: "ERR_TRACKIO_REJECTED" });
    const st = client.stats();
    assert.equal(st.failed, 1, JSON.stringify(st));
    assert.equal(st.quarantined, 0);
    assert.equal(st.sent, 499);
    assert.equal(errors.length, 1);
    assert.match(errors[0].message, /step 250, keys loss, note/);
    assert.match(errors[0].message, /lost: the spool is off/);
    await assertAllButMarked(project, client.runId as string, 500, 250);
  });

  test("the refused record in a spooled fragment, replayed by the next client: the others stored, later fragments too", async (t) => {
    const marker = `POISON-${process.pid}-replay`;
    const n = 2000;
    const marked = 7; // in the first fragment
    const { proxy, project, spoolRoot, runId, fragments } = await spoolWithMarker(n, marked, marker);
    const next = testClient({
      baseUrl: proxy.url,
      project,
      run: "next",
      spoolDir: spoolRoot,
    });
    const errors = errorsOf(next);
    const start = performance.now();
    await next.ready();
    await assert.rejects(next.close(), (err: TrackioError) => {
      assertNamesMarked(err, marked);
      return true;
    });
    const ms = performance.now() - start;
    assert.equal(errors.length, 1, errors.map((e) => e.message).join("\n"));
    assert.equal(next.stats().replayed, n - 1);
    assert.deepEqual(spooledLines(spoolRoot), { fragments: 0, lines: 0 }, "every fragment settled");
    assertQuarantinedOnly(spoolRoot, marker, marked);
    await assertAllButMarked(project, runId, n, marked);
    t.diagnostic(`quarantine: replay of ${fragments} fragments (${n} records) took ${Math.round(ms)} ms`);
    report(
      t,
      "refused record in a spooled fragment",
      { logged: n, stored: n - 1, duplicated: 0 },
      "replayed, 1 quarantined",
    );
  });

  test("the refused record in a spooled fragment, sent by `trackio sync`: exit 3, the rest stored", async (t) => {
    const marker = `POISON-${process.pid}-sync`;
    const n = 1500;
    const marked = 1; // the first fragment, the first line after the run's config
    const { proxy, project, spoolRoot, runId, fragments } = await spoolWithMarker(n, marked, marker);
    const copy = tempDir("spool-copy");
    cpSync(spoolRoot, copy, { recursive: true });
    const { code, out } = await runSync([
      "sync",
      "--spool",
      spoolRoot,
      "--url",
      proxy.url,
      "--token",
      server.writeToken,
    ]);
    assert.equal(code, EXIT_SET_ASIDE, out);
    assert.match(
      out,
      new RegExp(`sent ${n - 1} records from ${count(fragments, "fragment")}; SET ASIDE 1 line \\(1 refused`),
    );
    assert.match(out, new RegExp(`step ${marked}, keys loss, note`));
    assert.match(out, /Integer exceeds 64-bit range/);
    assert.doesNotMatch(out, new RegExp(server.writeToken));
    assert.deepEqual(spooledLines(spoolRoot), { fragments: 0, lines: 0 });
    const file = assertQuarantinedOnly(spoolRoot, marker, marked);
    assert.match(out, new RegExp(file.replaceAll("/", "\\/").replaceAll(".", "\\.")));
    await assertAllButMarked(project, runId, n, marked);
    // The same spool again: nothing new is stored, the same line set aside once more.
    const again = await runSync(["sync", "--spool", copy, "--url", proxy.url, "--token", server.writeToken]);
    assert.equal(again.code, EXIT_SET_ASIDE, again.out);
    await assertAllButMarked(project, runId, n, marked);
    report(t, "refused record, trackio sync", { logged: n, stored: n - 1, duplicated: 0 }, "synced, 1 quarantined");
  });
});
