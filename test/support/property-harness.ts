// One property-test case: log generated records through the Node client and through Trackio's
// own Python client into two projects of the same real server, read back every stored row of
// both runs, and list every way the Node client broke its promise (an empty list: none).

import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { TrackioServer } from "../../scripts/trackio-server.js";
import { Client, type ClientOptions, type ClientStats, type Metrics } from "../../src/index.js";
import { canonicalJson } from "./lossless-json.js";
import type { OracleAnswer, PythonOracle } from "./oracle.js";
import { queryProject, sqlString } from "./read-api.js";
import { ConstructionRefused, describeValue, refusalReason, type Tagged, toTagged } from "./value-model.js";

export interface PropertyEnv {
  server: TrackioServer;
  oracle: PythonOracle;
}

/** What one call did: accepted, refused with ERR_TRACKIO_INVALID_ARG, or threw something else. */
export type Outcome = { kind: "accepted" } | { kind: "refused"; message: string } | { kind: "escaped"; error: string };

let caseSeq = 0;

/** What the cases of the current property did, for its summary line (see property-runner.ts). */
export const tally = { calls: 0, refused: 0, stored: 0, quarantined: 0 };

function count(calls: number, refused: number, stored: number, quarantined: number): void {
  tally.calls += calls;
  tally.refused += refused;
  tally.stored += stored;
  tally.quarantined += quarantined;
}

/** Project names of one case: the Node client's and the Python oracle's. */
export function caseProjects(kind: string): { js: string; py: string } {
  const n = caseSeq++;
  return { js: `props-${kind}-${process.pid}-${n}-js`, py: `props-${kind}-${process.pid}-${n}-py` };
}

export function errorText(err: unknown): string {
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code;
    return `${err.name}${typeof code === "string" ? ` [${code}]` : ""}: ${err.message.slice(0, 400)}`;
  }
  return `a thrown ${typeof err}: ${String(err)}`;
}

/** Run `call`, classifying what it did. */
export function outcomeOf(call: () => void): Outcome {
  try {
    call();
    return { kind: "accepted" };
  } catch (err) {
    if (err instanceof Error && (err as { code?: unknown }).code === "ERR_TRACKIO_INVALID_ARG") {
      return { kind: "refused", message: err.message };
    }
    return { kind: "escaped", error: errorText(err) };
  }
}

/**
 * A client of its own for one case: a short retry deadline and a spool directory of its own,
 * so that a batch the server refuses cannot hold up or poison the cases after it.
 */
export function caseClient(server: TrackioServer, opts: ClientOptions): { client: Client; errors: string[] } {
  const client = new Client({
    baseUrl: server.writeUrl,
    retryDeadlineMs: 1500,
    flushIntervalMs: 50,
    spoolDir: mkdtempSync(join(tmpdir(), "trackio-props-spool-")),
    quiet: true,
    handleSignals: false,
    ...opts,
  });
  const errors: string[] = [];
  client.on("error", (err: unknown) => errors.push(errorText(err)));
  return { client, errors };
}

/** close(), bounded: a close that never settles is itself a finding. */
export async function closeClient(client: Client, errors: string[]): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<void>((resolve) => {
    timer = setTimeout(() => {
      errors.push("close() did not settle within 60 s");
      resolve();
    }, 60_000);
  });
  try {
    await Promise.race([
      client.close().catch((err: unknown) => void errors.push(`close(): ${errorText(err)}`)),
      timeout,
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** Rows of a table for one run; a project the server never created has none. */
export async function readRows(
  server: TrackioServer,
  project: string,
  sql: string,
): Promise<Record<string, unknown>[]> {
  try {
    return await queryProject(server.url, project, sql);
  } catch (err) {
    if (err instanceof Error && /Project '.*' not found/.test(err.message)) return [];
    throw err;
  }
}

export function metricRowsSql(runId: string): string {
  return `SELECT step, log_id, metrics FROM metrics WHERE run_id = ${sqlString(runId)} ORDER BY id`;
}

export function statsText(st: ClientStats): string {
  return `logged ${st.logged}, sent ${st.sent}, quarantined ${st.quarantined}, spooled ${st.spooled}, failed ${st.failed}, pending ${st.pending}`;
}

/** The Python warnings raised by the call at `step`, for a failure message. */
function pyWarnings(answer: OracleAnswer, step: number): string {
  const w = answer.warnings.filter((x) => x.step === step).map((x) => x.message);
  return w.length === 0 ? "" : `; Python warned: ${w.join(" | ")}`;
}

/** Whether two stored JSON texts are the same value (numbers compared by their literal text). */
function sameJson(a: string, b: string): boolean {
  return canonicalJson(a) === canonicalJson(b);
}

const SHOW_CHARS = 600;

/** Two stored texts that differ, shown whole when short, else around their first difference. */
function showDifference(js: string, py: string): string {
  if (js.length + py.length <= 2 * SHOW_CHARS) return `stored ${js}; Python stored ${py}`;
  const a = canonicalJson(js);
  const b = canonicalJson(py);
  let at = 0;
  while (at < a.length && a[at] === b[at]) at++;
  const from = Math.max(0, at - 120);
  const cut = (t: string) => `${from > 0 ? "…" : ""}${t.slice(from, at + 200)}${t.length > at + 200 ? "…" : ""}`;
  return `stored ${a.length} chars, Python ${b.length}; they first differ at char ${at} (keys sorted): stored ${cut(a)}; Python stored ${cut(b)}`;
}

function shorten(text: string): string {
  return text.length <= SHOW_CHARS ? text : `${text.slice(0, SHOW_CHARS)}… (${text.length} chars)`;
}

/** A value class constructor that threw something other than ERR_TRACKIO_INVALID_ARG. */
function constructionProblems(record: unknown, step: number): string[] {
  if (typeof record !== "object" || record === null) return [];
  // Descriptors, not values: the record may have a getter that throws.
  return Object.values(Object.getOwnPropertyDescriptors(record))
    .map((d) => d.value)
    .filter((v): v is ConstructionRefused => v instanceof ConstructionRefused)
    .filter((v) => (v.error as { code?: unknown } | null)?.code !== "ERR_TRACKIO_INVALID_ARG")
    .map((v) => `step ${step}: ${v.call} threw ${errorText(v.error)}, not ERR_TRACKIO_INVALID_ARG`);
}

/** Where checkRecords() logged a case: for checks of other tables than metrics. */
export interface CaseRuns {
  js: { project: string; runId: string };
  py: { project: string; runId: string | null };
  /** The records log() accepted, by index. */
  accepted: number[];
}

/**
 * Log records with the Node client and the Python client; every problem found, as text.
 * `more` adds the problems found in other tables of the two runs.
 */
export async function checkRecords(
  env: PropertyEnv,
  kind: string,
  records: unknown[],
  run = "r",
  more?: (runs: CaseRuns) => Promise<string[]>,
): Promise<string[]> {
  const { server, oracle } = env;
  const projects = caseProjects(kind);
  const problems: string[] = [];
  // The expectation comes first: the model never calls a getter, log() might.
  const expected = records.map((r) => refusalReason(r));
  const { client, errors } = caseClient(server, { project: projects.js, run });
  const outcomes = records.map((r, i) => outcomeOf(() => client.log(r as Metrics, i)));
  await closeClient(client, errors);
  const stats = client.stats();

  const accepted: number[] = [];
  let refused = 0;
  for (let i = 0; i < records.length; i++) {
    const o = outcomes[i];
    const why = expected[i];
    const input = describeValue(records[i]);
    problems.push(...constructionProblems(records[i], i));
    if (o.kind === "accepted") accepted.push(i);
    else if (o.kind === "refused") refused++;
    if (o.kind === "escaped") problems.push(`step ${i}: log(${input}) threw ${o.error}, not ERR_TRACKIO_INVALID_ARG`);
    else if (o.kind === "accepted" && why !== null) problems.push(`step ${i}: log(${input}) was accepted, but ${why}`);
    else if (o.kind === "refused" && why === null)
      problems.push(`step ${i}: log(${input}) was refused at the call (${o.message}), but Trackio can store it`);
  }

  const runId = client.runId as string;
  const jsRows = await readRows(server, projects.js, metricRowsSql(runId));

  // The books: every call is stored, refused at the call, or quarantined.
  const quarantined = stats.quarantined;
  count(records.length, refused, jsRows.length, quarantined);
  if (jsRows.length + refused + quarantined !== records.length || stats.logged !== accepted.length) {
    problems.push(
      `books do not balance: ${records.length} log() calls, ${jsRows.length} stored + ${refused} refused at the call + ${quarantined} quarantined; stats: ${statsText(stats)}` +
        (errors.length > 0 ? `; errors: ${errors.slice(0, 3).join(" | ")}` : ""),
    );
  }
  // Exactly once: one row per accepted record, under the log_id of its sequence number.
  const byStep = new Map<number, string>();
  const prefixes = new Set<string>();
  const seenIds = new Set<string>();
  for (const row of jsRows) {
    const logId = String(row.log_id);
    const step = Number(row.step);
    const m = /^(.*)-(\d+)$/.exec(logId);
    if (seenIds.has(logId)) problems.push(`log_id ${logId} stored twice`);
    seenIds.add(logId);
    if (m === null) {
      problems.push(`step ${step}: unexpected log_id ${logId}`);
      continue;
    }
    prefixes.add(m[1]);
    const seq = Number(m[2]);
    if (accepted[seq] !== step)
      problems.push(`log_id ${logId} (record #${seq} accepted) stored at step ${step}, expected ${accepted[seq]}`);
    if (byStep.has(step)) problems.push(`step ${step} stored twice`);
    byStep.set(step, String(row.metrics));
  }
  if (prefixes.size > 1)
    problems.push(`log_ids of one client with ${prefixes.size} prefixes: ${[...prefixes].join(", ")}`);

  // The oracle: the same accepted (and storable) records through Trackio's Python client.
  const forPython = accepted.filter((i) => expected[i] === null);
  const answer = await oracle.log({
    url: server.writeUrl,
    project: projects.py,
    run,
    config: null,
    records: forPython.map((i) => ({ step: i, metrics: toTagged(records[i]) as Tagged })),
    alerts: [],
  });
  if (answer.error !== null) problems.push(`the Python client raised: ${answer.error}`);
  const pyRows = answer.run_id === null ? [] : await readRows(server, projects.py, metricRowsSql(answer.run_id));
  const pyByStep = new Map(pyRows.map((r) => [Number(r.step), String(r.metrics)]));
  for (const i of forPython) {
    const js = byStep.get(i);
    const py = pyByStep.get(i);
    const input = describeValue(records[i]);
    if (js !== undefined && py !== undefined) {
      if (!sameJson(js, py))
        problems.push(`step ${i}: log(${input}) ${showDifference(js, py)}${pyWarnings(answer, i)}`);
    } else if (js === undefined && py !== undefined) {
      problems.push(`step ${i}: log(${input}) was not stored (${statsText(stats)}); Python stored ${shorten(py)}`);
    } else if (js !== undefined) {
      problems.push(`step ${i}: log(${input}) stored ${shorten(js)}; Python stored no row${pyWarnings(answer, i)}`);
    } else {
      problems.push(`step ${i}: log(${input}) stored by neither client${pyWarnings(answer, i)}`);
    }
  }
  if (more !== undefined)
    problems.push(
      ...(await more({
        js: { project: projects.js, runId },
        py: { project: projects.py, runId: answer.run_id },
        accepted,
      })),
    );
  return problems;
}

/** Why a config (or config() update) must be refused: a value Trackio cannot store, or a key Trackio reserves. */
function configRefusal(config: Record<string, unknown> | undefined, what: string): string | null {
  if (config === undefined) return null;
  const reason = refusalReason(config, what);
  if (reason !== null) return reason;
  const reserved = Object.keys(config).find((k) => k.startsWith("_"));
  return reserved === undefined ? null : `${what} has the key ${JSON.stringify(reserved)}, which Trackio reserves`;
}

/** A stored config without the fields that differ between any two runs (the creation time). */
function comparableConfig(text: string): string {
  const parsed = JSON.parse(text) as Record<string, unknown>;
  const created = parsed._Created;
  if (typeof created !== "string") return `(no _Created in ${text})`;
  // Drop `"_Created":"…"` from the text itself, keeping every number's literal form.
  return canonicalJson(
    text.replace(`,"_Created":${JSON.stringify(created)}`, "").replace(`"_Created":${JSON.stringify(created)},`, ""),
  );
}

export interface RunCase {
  run: string;
  config?: Record<string, unknown>;
  update?: Record<string, unknown>;
}

/**
 * A run with an odd name and config, and a config() update after its first record: refused at
 * the call (constructor, first log() or config()) when Trackio cannot store it, otherwise the
 * same run name and config as Trackio's Python client stores for init(name, config).
 */
export async function checkRun(env: PropertyEnv, c: RunCase): Promise<string[]> {
  const { server, oracle } = env;
  const projects = caseProjects("run");
  const problems: string[] = [];
  const runWhy = refusalReason(c.run, "the run name");
  const startWhy = runWhy ?? configRefusal(c.config, "options.config");
  const updateWhy = configRefusal(c.update, "the config() update");
  const shown = `run ${JSON.stringify(c.run)}, config ${describeValue(c.config)}, update ${describeValue(c.update)}`;

  let made: { client: Client; errors: string[] } | null = null;
  let start = outcomeOf(() => {
    made = caseClient(server, { project: projects.js, run: c.run, config: c.config });
  });
  if (made !== null && start.kind === "accepted") {
    const { client } = made as { client: Client; errors: string[] };
    start = outcomeOf(() => client.log({ x: 1 }, 0));
  }
  if (start.kind === "escaped") problems.push(`${shown}: threw ${start.error}, not ERR_TRACKIO_INVALID_ARG`);
  else if (start.kind === "accepted" && startWhy !== null) problems.push(`${shown}: accepted, but ${startWhy}`);
  else if (start.kind === "refused" && startWhy === null)
    problems.push(`${shown}: refused (${start.message}), but Trackio can store it`);
  if (made === null) {
    count(1, start.kind === "refused" ? 1 : 0, 0, 0);
    return problems;
  }
  const { client, errors } = made as { client: Client; errors: string[] };
  let merged = c.config;
  if (start.kind === "accepted" && c.update !== undefined) {
    const update = c.update;
    const o = outcomeOf(() => client.config(update));
    if (o.kind === "escaped") problems.push(`${shown}: config() threw ${o.error}, not ERR_TRACKIO_INVALID_ARG`);
    else if (o.kind === "accepted" && updateWhy !== null)
      problems.push(`${shown}: config() accepted, but ${updateWhy}`);
    else if (o.kind === "refused" && updateWhy === null)
      problems.push(`${shown}: config() refused (${o.message}), but Trackio can store it`);
    if (o.kind === "accepted") merged = { ...c.config, ...update };
  }
  await closeClient(client, errors);
  count(1, start.kind === "refused" ? 1 : 0, 0, client.stats().quarantined);
  // What the client should have refused has no Python counterpart to compare with.
  if (start.kind !== "accepted" || startWhy !== null || configRefusal(merged, "the config") !== null) return problems;

  const runId = client.runId as string;
  const sql = (id: string) =>
    `SELECT m.run_name AS run_name, c.config AS config FROM metrics m LEFT JOIN configs c ON c.run_id = m.run_id WHERE m.run_id = ${sqlString(id)}`;
  const js = await readRows(server, projects.js, sql(runId));
  const answer = await oracle.log({
    url: server.writeUrl,
    project: projects.py,
    run: c.run,
    config: merged === undefined ? null : toTagged(merged),
    records: [{ step: 0, metrics: ["o", [["x", ["i", "1"]]]] }],
    alerts: [],
  });
  if (answer.error !== null) problems.push(`${shown}: the Python client raised: ${answer.error}`);
  const py = answer.run_id === null ? [] : await readRows(server, projects.py, sql(answer.run_id));
  const warned = answer.warnings.map((w) => w.message).join(" | ");
  if (js.length !== 1 || py.length !== 1) {
    problems.push(
      `${shown}: ${js.length} row(s) stored (stats: ${statsText(client.stats())}${errors.length > 0 ? `; errors: ${errors.join(" | ")}` : ""}); Python stored ${py.length}${warned === "" ? "" : `; Python warned: ${warned}`}`,
    );
    return problems;
  }
  tally.stored++;
  if (js[0].run_name !== py[0].run_name)
    problems.push(
      `${shown}: run name stored as ${JSON.stringify(js[0].run_name)}; Python: ${JSON.stringify(py[0].run_name)}`,
    );
  const jsConfig = js[0].config === null ? "(none)" : comparableConfig(String(js[0].config));
  const pyConfig = py[0].config === null ? "(none)" : comparableConfig(String(py[0].config));
  if (jsConfig !== pyConfig)
    problems.push(
      `${shown}: config stored as ${js[0].config}; Python stored ${py[0].config}${warned === "" ? "" : `; Python warned: ${warned}`}`,
    );
  return problems;
}

export interface AlertCase {
  title: string;
  text: string | null;
  level: "info" | "warn" | "error";
}

function alertRefusal(a: AlertCase): string | null {
  if (a.title === "") return "the title is empty";
  return refusalReason(a.title, "the title") ?? refusalReason(a.text, "the text");
}

/** Alerts: refused at the call, or stored with the title, text and level Python stores. */
export async function checkAlerts(env: PropertyEnv, alerts: AlertCase[]): Promise<string[]> {
  const { server, oracle } = env;
  const projects = caseProjects("alert");
  const problems: string[] = [];
  const { client, errors } = caseClient(server, { project: projects.js, run: "r" });
  const outcomes = alerts.map((a, i) => outcomeOf(() => client.alert({ ...a, step: i })));
  await closeClient(client, errors);
  const stats = client.stats();
  const sql = (id: string) => `SELECT step, title, text, level, alert_id FROM alerts WHERE run_id = ${sqlString(id)}`;
  const js = await readRows(server, projects.js, sql(client.runId as string));
  const accepted: number[] = [];
  let refused = 0;
  for (let i = 0; i < alerts.length; i++) {
    if (outcomes[i].kind === "refused") refused++;
  }
  count(alerts.length, refused, js.length, stats.quarantined);
  for (let i = 0; i < alerts.length; i++) {
    const o = outcomes[i];
    const why = alertRefusal(alerts[i]);
    const shown = `alert(${describeValue(alerts[i])})`;
    if (o.kind === "accepted") accepted.push(i);
    if (o.kind === "escaped") problems.push(`${shown} threw ${o.error}, not ERR_TRACKIO_INVALID_ARG`);
    else if (o.kind === "accepted" && why !== null) problems.push(`${shown} was accepted, but ${why}`);
    else if (o.kind === "refused" && why === null)
      problems.push(`${shown} was refused (${o.message}), but Trackio can store it`);
  }
  if (js.length + refused + stats.quarantined !== alerts.length) {
    problems.push(
      `books do not balance: ${alerts.length} alert() calls, ${js.length} stored + ${refused} refused at the call + ${stats.quarantined} quarantined; stats: ${statsText(stats)}` +
        (errors.length > 0 ? `; errors: ${errors.slice(0, 3).join(" | ")}` : ""),
    );
  }
  const storable = accepted.filter((i) => alertRefusal(alerts[i]) === null);
  const answer = await oracle.log({
    url: server.writeUrl,
    project: projects.py,
    run: "r",
    config: null,
    records: [],
    alerts: storable.map((i) => ({ ...alerts[i], step: i })),
  });
  if (answer.error !== null) problems.push(`the Python client raised: ${answer.error}`);
  const py = answer.run_id === null ? [] : await readRows(server, projects.py, sql(answer.run_id));
  const key = (r: Record<string, unknown>) => JSON.stringify([r.title, r.text, r.level]);
  const jsByStep = new Map(js.map((r) => [Number(r.step), r]));
  const pyByStep = new Map(py.map((r) => [Number(r.step), r]));
  for (const i of storable) {
    const a = jsByStep.get(i);
    const b = pyByStep.get(i);
    const shown = `alert(${describeValue(alerts[i])})`;
    if (a === undefined || b === undefined || key(a) !== key(b)) {
      problems.push(
        `${shown}: stored ${a === undefined ? "nothing" : key(a)}; Python stored ${b === undefined ? "nothing" : key(b)}${pyWarnings(answer, i)}`,
      );
    }
  }
  return problems;
}
