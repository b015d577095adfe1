// The read side's one connection to a server: calls through the writer's Transport (so reads
// get the same discovery of Trackio 0.24+'s HTTP API or the Gradio protocol of ≤ 0.23, the
// same retries and the same typed errors), and every row of a table read in pages.
//
// Trackio's own row readers (`get_logs`, `get_system_logs`) downsample (to 1500 points in
// 0.24.0, 3000 in 0.43.0), so whole runs are read through `query_project` (SQL, in 0.24.0 and
// 0.43.0 alike, results capped at 10,000 rows), a page at a time under that cap, ordered by a
// key that pages cannot skip or repeat rows of while the run is still being written. Servers
// without it (the Gradio-based ≤ 0.23) get the downsampling readers.

import { isoTimestamp } from "./io/bodies.js";
import { Transport } from "./io/transport.js";
import { ClosedError, NotFoundError, StatusError } from "./shared/errors.js";
import type { ServerSettings } from "./shared/protocol.js";

/** Rows per `query_project` page; Trackio 0.24.0 and 0.43.0 refuse results above 10,000 rows. */
const PAGE_ROWS = 5000;

/** A value as the server stores it, with Trackio's non-finite number strings restored. */
export type StoredValue = number | string | boolean | null | StoredValue[] | { [key: string]: StoredValue };

/** Marks a call the server does not offer (an older Trackio): the caller falls back. */
export const UNSUPPORTED = Symbol("unsupported");

export class Reader {
  readonly #transport: Transport;
  readonly displayUrl: string;
  #closed = false;

  constructor(settings: ServerSettings) {
    this.displayUrl = settings.displayUrl;
    this.#transport = new Transport(settings, { onRequest() {}, onRetry() {} });
  }

  /** The server's Trackio version once a call was made (null on a Gradio server without one). */
  get serverVersion(): string | null {
    return this.#transport.serverVersion;
  }

  get protocol(): "http" | "gradio" | null {
    return this.#transport.protocol;
  }

  /** Call a read function with named arguments; resolves to its result. */
  async call<T>(name: string, kwargs: Record<string, unknown>): Promise<T> {
    if (this.#closed) throw new ClosedError(`Api.close() was called; make a new Api to read from ${this.displayUrl}`);
    const text = await this.#transport.call(name, JSON.stringify({ kwargs }));
    const data = (JSON.parse(text) as { data: unknown }).data;
    // A Gradio-based Trackio (≤ 0.23) writes results with Python's json, which spells
    // non-finite floats NaN/Infinity; the Gradio transport then hands over the event's text
    // unparsed (gradio.ts). Every read function returns a list or an object, never a string.
    if (this.#transport.protocol === "gradio" && typeof data === "string") {
      const parsed = parsePythonJson(data);
      return (Array.isArray(parsed) ? parsed[0] : parsed) as T;
    }
    return data as T;
  }

  /** As call(), or UNSUPPORTED when this server has no such function. */
  async optional<T>(name: string, kwargs: Record<string, unknown>): Promise<T | typeof UNSUPPORTED> {
    try {
      return await this.call<T>(name, kwargs);
    } catch (err) {
      if (err instanceof NotFoundError) return UNSUPPORTED;
      throw err;
    }
  }

  /**
   * Every row of `table` for one run, ordered by (`orderBy`, id), read in keyset pages. Resolves
   * to UNSUPPORTED when the server cannot run the query (no `query_project`, or a database from
   * before run ids), and to [] when the project has no such table yet.
   */
  async allRows(
    project: string,
    table: "metrics" | "system_metrics",
    runId: string,
    orderBy: "step" | "timestamp",
  ): Promise<Record<string, unknown>[] | typeof UNSUPPORTED> {
    const rows: Record<string, unknown>[] = [];
    let after = "";
    for (;;) {
      const sql =
        `SELECT id, ${orderBy === "step" ? "step, " : ""}timestamp, metrics FROM ${table} ` +
        `WHERE run_id = ${sqlString(runId)}${after} ORDER BY ${orderBy}, id LIMIT ${PAGE_ROWS}`;
      let page: Record<string, unknown>[];
      try {
        const result = await this.optional<{ rows: Record<string, unknown>[] }>("query_project", {
          project,
          query: sql,
        });
        if (result === UNSUPPORTED) return UNSUPPORTED;
        page = result.rows;
      } catch (err) {
        if (!(err instanceof StatusError)) throw err;
        // A database from before the table or before run ids, as an older Trackio left it.
        if (/no such table/.test(err.message)) return [];
        if (/no such column/.test(err.message)) return UNSUPPORTED;
        throw err;
      }
      for (const row of page) rows.push(row);
      if (page.length < PAGE_ROWS) return rows;
      const last = page[page.length - 1];
      const key = orderBy === "step" ? String(Number(last.step)) : sqlString(String(last.timestamp));
      after = ` AND (${orderBy} > ${key} OR (${orderBy} = ${key} AND id > ${Number(last.id)}))`;
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#transport.close();
  }
}

const MARKER = "trackio-non-finite:";
const NON_FINITE: Record<string, number> = {
  NaN: Number.NaN,
  Infinity: Number.POSITIVE_INFINITY,
  "-Infinity": Number.NEGATIVE_INFINITY,
};

/**
 * JSON as Python's `json.dumps` writes it by default: standard JSON plus the bare tokens NaN,
 * Infinity and -Infinity, which become numbers (at any depth). The tokens are recognised
 * outside string literals only, then marked as strings that no stored string starts with in practice (a NUL and a tag).
 */
export function parsePythonJson(text: string): unknown {
  // In the text the marker is an escape (\u0000 spelled out), in the parsed string a NUL.
  const marked = text.replace(/"(?:[^"\\]|\\.)*"|-?Infinity|NaN/g, (token) =>
    token.startsWith('"') ? token : `"\\u0000${MARKER}${token}"`,
  );
  return JSON.parse(marked, (_key, value: unknown) =>
    typeof value === "string" && value.startsWith(`\u0000${MARKER}`)
      ? NON_FINITE[value.slice(MARKER.length + 1)]
      : value,
  );
}

/** SQL string literal: query_project takes no parameters, so values are quoted in place. */
export function sqlString(value: string): string {
  return `'${value.replaceAll("'", "''")}'`;
}

/**
 * What Trackio's reader (`utils.deserialize_values`) does to a stored row: the strings
 * "NaN", "Infinity" and "-Infinity" at the top level become numbers again (JSON has no
 * non-finite numbers, so that is how they are stored). Nested values are left as stored.
 */
export function restoreValue(value: unknown): StoredValue {
  if (value === "NaN") return Number.NaN;
  if (value === "Infinity") return Number.POSITIVE_INFINITY;
  if (value === "-Infinity") return Number.NEGATIVE_INFINITY;
  return value as StoredValue;
}

/**
 * A row with `first` (step and/or timestamp, from the row's columns) ahead of its restored
 * values. The columns win over a metric of the same name, as in Trackio's reader; the
 * object is built by definition, so a key such as "__proto__" stays an ordinary key.
 */
export function rowOf(
  first: Record<string, StoredValue>,
  values: Record<string, unknown>,
): Record<string, StoredValue> {
  const entries: [string, StoredValue][] = Object.entries(first);
  for (const [key, value] of Object.entries(values)) {
    if (!Object.hasOwn(first, key)) entries.push([key, restoreValue(value)]);
  }
  return Object.fromEntries(entries);
}

/** A `since` bound as Trackio compares it: its stored timestamp format, compared as text. */
export function sinceText(since: string | Date): string {
  return since instanceof Date ? isoTimestamp(since.getTime()) : since;
}
