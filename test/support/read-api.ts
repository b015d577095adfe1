// Verify what a real Trackio server stored, through its HTTP read API
// (`POST {url}api/<name>`, JSON body `{"kwargs": {...}}`, response `{"data": ...}`).
// Reads need no write token. Project names are canonicalized server-side
// (trackio.utils.canonical_project_name: keep [A-Za-z0-9_-]), so pass the same
// name the client logged with.
import { spawnSync } from "node:child_process";

export interface RunRows {
  rows: number;
  distinctLogIds: number;
  distinctSteps: number;
  minStep: number | null;
  maxStep: number | null;
}

/** query_project refuses (HTTP 500) result sets larger than this (sqlite_storage._QUERY_MAX_ROWS). */
export const QUERY_MAX_ROWS = 10_000;

function apiUrl(url: string, name: string): string {
  return `${url.endsWith("/") ? url : `${url}/`}api/${name}`;
}

/** POST {url}api/{name} with named arguments; returns the `data` field. Throws on non-200. */
export async function callApi<T = unknown>(
  url: string,
  name: string,
  kwargs: Record<string, unknown>,
  writeToken?: string,
): Promise<T> {
  const headers: Record<string, string> = { "content-type": "application/json" };
  if (writeToken !== undefined) headers["x-trackio-write-token"] = writeToken;
  const res = await fetch(apiUrl(url, name), {
    method: "POST",
    headers,
    // Wrapped in {"kwargs": ...} so arguments named "args"/"kwargs"/"data" are not misread.
    body: JSON.stringify({ kwargs }),
  });
  const text = await res.text();
  if (res.status !== 200) {
    throw new Error(`Trackio API ${name} -> HTTP ${res.status}: ${text}`);
  }
  return (JSON.parse(text) as { data: T }).data;
}

/** SQL string literal (single quotes doubled). */
export function sqlString(value: string): string {
  return `'${value.replaceAll("'", "''")}'`;
}

/** Run a read-only SELECT against a project's SQLite DB (api `query_project`); returns the rows. */
export async function queryProject(url: string, project: string, sql: string): Promise<Record<string, unknown>[]> {
  const result = await callApi<{ rows: Record<string, unknown>[] }>(url, "query_project", { project, query: sql });
  return result.rows;
}

function runRowsSql(runId: string): string {
  return (
    'SELECT COUNT(*) AS "n_rows", COUNT(DISTINCT log_id) AS "n_log_ids", ' +
    'COUNT(DISTINCT step) AS "n_steps", MIN(step) AS "min_step", MAX(step) AS "max_step" ' +
    `FROM metrics WHERE run_id = ${sqlString(runId)}`
  );
}

const EMPTY_RUN: RunRows = { rows: 0, distinctLogIds: 0, distinctSteps: 0, minStep: null, maxStep: null };

function toRunRows(row: Record<string, unknown> | undefined): RunRows {
  if (!row) return { ...EMPTY_RUN };
  const num = (v: unknown): number | null => (v === null || v === undefined ? null : Number(v));
  return {
    rows: num(row.n_rows) ?? 0,
    distinctLogIds: num(row.n_log_ids) ?? 0,
    distinctSteps: num(row.n_steps) ?? 0,
    minStep: num(row.min_step),
    maxStep: num(row.max_step),
  };
}

/** The server answers 500 "Project '<name>' not found." before the first write creates the DB. */
function isProjectNotFound(message: string): boolean {
  return /HTTP 500: .*Project '.*' not found/.test(message);
}

/**
 * Aggregate over the metrics rows of one run. A project that does not exist yet
 * counts as zero rows (so this can be polled before the first delivery).
 */
export async function runRows(url: string, project: string, runId: string): Promise<RunRows> {
  try {
    const rows = await queryProject(url, project, runRowsSql(runId));
    return toRunRows(rows[0]);
  } catch (err) {
    if (err instanceof Error && isProjectNotFound(err.message)) return { ...EMPTY_RUN };
    throw err;
  }
}

/** Every stored step of one run in the order the server stored them (duplicates included), paged under the 10000-row cap. */
export async function runSteps(url: string, project: string, runId: string): Promise<number[]> {
  const steps: number[] = [];
  for (let offset = 0; ; offset += QUERY_MAX_ROWS) {
    const rows = await queryProject(
      url,
      project,
      `SELECT step FROM metrics WHERE run_id = ${sqlString(runId)} ORDER BY id ` +
        `LIMIT ${QUERY_MAX_ROWS} OFFSET ${offset}`,
    );
    for (const row of rows) steps.push(Number(row.step));
    if (rows.length < QUERY_MAX_ROWS) return steps;
  }
}

// Runs in a separate Node process; reads {endpoint, body} JSON on stdin and
// prints {status, text}. Plain CJS so it needs no loader.
const SYNC_FETCH_SCRIPT = `
let input = "";
process.stdin.setEncoding("utf8");
process.stdin.on("data", (c) => { input += c; });
process.stdin.on("end", async () => {
  try {
    const { endpoint, body } = JSON.parse(input);
    const res = await fetch(endpoint, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(25000),
    });
    process.stdout.write(JSON.stringify({ status: res.status, text: await res.text() }));
  } catch (err) {
    process.stdout.write(JSON.stringify({ status: 0, text: String(err && err.stack || err) }));
  }
});
`;

/**
 * Synchronous runRows(): blocks the calling thread (spawnSync of a child Node
 * doing the fetch), so it can observe the server from inside a loop that never
 * yields to the event loop.
 */
export function syncRunRows(url: string, project: string, runId: string): RunRows {
  const endpoint = apiUrl(url, "query_project");
  const result = spawnSync(process.execPath, ["-e", SYNC_FETCH_SCRIPT], {
    input: JSON.stringify({ endpoint, body: { kwargs: { project, query: runRowsSql(runId) } } }),
    encoding: "utf8",
    timeout: 30_000,
    // Keep the helper process lean: no inherited loaders/flags (e.g. --import tsx).
    env: { ...process.env, NODE_OPTIONS: "" },
  });
  if (result.error) throw new Error(`syncRunRows: ${result.error.message}`);
  if (result.status !== 0) {
    throw new Error(`syncRunRows: helper exited with ${result.status ?? result.signal}: ${result.stderr}`);
  }
  let reply: { status: number; text: string };
  try {
    reply = JSON.parse(result.stdout) as { status: number; text: string };
  } catch {
    throw new Error(`syncRunRows: unparsable helper output: ${result.stdout} ${result.stderr}`);
  }
  if (reply.status !== 200) {
    const message = `Trackio API query_project -> HTTP ${reply.status}: ${reply.text}`;
    if (isProjectNotFound(message)) return { ...EMPTY_RUN };
    throw new Error(message);
  }
  const data = (JSON.parse(reply.text) as { data: { rows: Record<string, unknown>[] } }).data;
  return toRunRows(data.rows[0]);
}
