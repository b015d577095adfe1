// Reading the fields of one record line (a fragment line, see batch.ts) without re-encoding
// it: the line's text is what was logged, and JSON.parse + stringify would change numbers it
// cannot represent (integers beyond 2^53). Used to move a run's config from a line the
// server refused onto one it accepted, and to name a set-aside record in a report.

import { KIND_PREFIX, RESEND_PREFIX } from "./bodies.js";

interface Span {
  start: number;
  end: number;
}

/** The text span of each top-level value of a JSON object line; null if it is not one. */
function topLevelSpans(line: string): Map<string, Span> | null {
  const spans = new Map<string, Span>();
  let i = skipWs(line, 0);
  if (line[i] !== "{") return null;
  i = skipWs(line, i + 1);
  if (line[i] === "}") return spans;
  for (;;) {
    if (line[i] !== '"') return null;
    const keyEnd = endOfString(line, i);
    const key = line.slice(i + 1, keyEnd - 1);
    i = skipWs(line, keyEnd);
    if (line[i] !== ":") return null;
    const start = skipWs(line, i + 1);
    let end = endOfValue(line, start);
    i = end;
    while (end > start && /\s/.test(line[end - 1])) end--;
    if (end === start) return null;
    spans.set(key, { start, end });
    if (line[i] === ",") i = skipWs(line, i + 1);
    else return line[i] === "}" ? spans : null;
  }
}

function skipWs(s: string, i: number): number {
  while (i < s.length && /\s/.test(s[i])) i++;
  return i;
}

function endOfString(s: string, i: number): number {
  for (let j = i + 1; j < s.length; j++) {
    if (s[j] === "\\") j++;
    else if (s[j] === '"') return j + 1;
  }
  return s.length;
}

function endOfValue(s: string, i: number): number {
  let depth = 0;
  while (i < s.length) {
    const c = s[i];
    if (c === '"') {
      i = endOfString(s, i);
      continue;
    }
    if (c === "{" || c === "[") depth++;
    else if (c === "}" || c === "]") {
      if (depth === 0) return i;
      depth--;
    } else if (c === "," && depth === 0) return i;
    i++;
  }
  return i;
}

function field(line: string, key: string): string | null {
  const span = topLevelSpans(line)?.get(key);
  return span === undefined ? null : line.slice(span.start, span.end);
}

/** The config a metrics line carries, as text; null when it carries none. */
export function configOf(line: string): string | null {
  if (!line.startsWith(KIND_PREFIX.metric) && !line.startsWith(RESEND_PREFIX)) return null;
  const config = field(line, "config");
  return config === null || config === "null" || config === "{}" ? null : config;
}

/** The line with its config replaced (`"null"` to carry none); null if it has no config field. */
export function withConfig(line: string, config: string): string | null {
  const span = topLevelSpans(line)?.get("config");
  if (span === undefined) return null;
  return `${line.slice(0, span.start)}${config}${line.slice(span.end)}`;
}

/**
 * A metrics line sent again only to carry `config` (see RESEND_PREFIX): the server keeps no
 * second row for its log_id, and stores the config.
 */
export function configCarrier(accepted: string, config: string): string | null {
  if (!accepted.startsWith(KIND_PREFIX.metric)) return null;
  const carrier = withConfig(accepted, config);
  if (carrier === null) return null;
  return carrier.startsWith(RESEND_PREFIX) ? carrier : `${RESEND_PREFIX}${carrier.slice(KIND_PREFIX.metric.length)}`;
}

/**
 * The project a line belongs to, as its JSON text ("" for none): Trackio keeps one database
 * per project, so that one accepts records says nothing about another.
 */
export function projectOf(line: string): string {
  return field(line, "project") ?? "";
}

/** Whether two lines belong to the same run (the server groups by project, run and run_id). */
export function sameRun(a: string, b: string): boolean {
  const sa = topLevelSpans(a);
  const sb = topLevelSpans(b);
  if (sa === null || sb === null) return false;
  return ["project", "run", "run_id"].every((k) => {
    const x = sa.get(k);
    const y = sb.get(k);
    return (x === undefined ? null : a.slice(x.start, x.end)) === (y === undefined ? null : b.slice(y.start, y.end));
  });
}

const KINDS = new Set(["metric", "system_metric", "alert"]);

/** Why a spooled line is not a record the server could take; null when it is one. */
export function damage(line: string): string | null {
  let record: unknown;
  try {
    record = JSON.parse(line);
  } catch {
    return "not JSON";
  }
  if (typeof record !== "object" || record === null || Array.isArray(record)) return "not a JSON object";
  const r = record as Record<string, unknown>;
  if (typeof r.project !== "string" || typeof r.run !== "string") return "no project or run";
  if (r.kind !== undefined && !KINDS.has(r.kind as string)) return `unknown kind ${JSON.stringify(r.kind)}`;
  if (r.kind === "alert" ? typeof r.title !== "string" : typeof r.metrics !== "object" || r.metrics === null)
    return r.kind === "alert" ? "an alert without a title" : "no metrics object";
  return null;
}

/** "run R of project P, step S, keys a, b", or what an alert / system line is, for reports. */
export function describeLine(line: string): string {
  let r: Record<string, unknown>;
  try {
    r = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return `a damaged line (${line.length > 80 ? `${line.slice(0, 80)}…` : line})`;
  }
  const where = `run ${JSON.stringify(r.run)} of project ${JSON.stringify(r.project)}`;
  const step = r.step === undefined || r.step === null ? "" : `, step ${r.step}`;
  if (r.kind === "alert") return `the alert ${JSON.stringify(r.title)} of ${where}${step}`;
  const keys = typeof r.metrics === "object" && r.metrics !== null ? Object.keys(r.metrics).join(", ") : "";
  const what = r.kind === "system_metric" ? "system metrics" : "the record";
  const config = configOf(line) === null ? "" : " (it carries the run's config)";
  return `${what} of ${where}${step}, keys ${keys || "(none)"}${config}`;
}
