// Finding the records a server refuses while it takes the others. A request that keeps
// failing with an answer (500, 400, 413, 422 …) from a server that is up may fail because of
// one record in it: resending the whole request would fail forever and hold every record
// after it. The request is split in halves, each tried once, until the refused records are
// alone; everything else is delivered. A record is set aside only when the server refused it
// alone after accepting another request, so a server that refuses everything (a broken
// database) is an outage, and its records wait as in any outage.

import { AuthError, StatusError, type TrackioError } from "../shared/errors.js";
import { bulkBody, type Endpoint } from "./bodies.js";
import { configCarrier, configOf, describeLine, projectOf, sameRun, withConfig } from "./record-line.js";
import { type SyncTarget, syncCommand } from "./sync-hint.js";
import type { Transport } from "./transport.js";

/** Lone refusals, without any request accepted, after which the server is taken as refusing everything. */
const MAX_UNPROVEN = 4;

export interface ConfigFate {
  line: string;
  kept: boolean;
  recordStored: boolean;
}

export interface Refusal {
  line: string;
  error: TrackioError;
}

export interface Settled {
  /** Acknowledged by the server. */
  sent: string[];
  /** Refused alone while the server accepted others: to set aside, never to resend. */
  refused: Refusal[];
  /** Not settled (an outage, or a server that accepts nothing): to keep and try later. */
  waiting: string[];
  /** Why `waiting` waits. */
  error: unknown;
  /**
   * "down": no answer, or one that says the server is unwell (a failed probe, 503, or a
   * refused resend of a record it accepted before); "unproven": the server answers but has
   * accepted nothing to compare with yet (a client's first records), so refused records
   * cannot be told from a server that refuses everything. Null when nothing waits.
   */
  why: "down" | "unproven" | null;
  /** Requests made, the first one included. */
  requests: number;
  /**
   * For each refused line that carried its run's config: whether another line carried the
   * config in, and whether the record was stored without it (the config being what the
   * server refuses; the line, config included, is then set aside but not counted).
   */
  configs: ConfigFate[];
}

/**
 * The last line the server accepted per endpoint and project, config removed: resending it
 * changes nothing on the server (its log_id or alert_id is already stored), so it shows
 * whether the server accepts anything for that project (Trackio keeps a database per
 * project) when a request has no other record to compare with.
 */
export type Controls = Map<string, string>;

function controlKey(api: string, project: string): string {
  return `${api}\u0000${project}`;
}

/** An answer that may be caused by the request's content rather than by the server's state. */
export function isRefusal(err: unknown): err is StatusError {
  if (!(err instanceof StatusError) || err instanceof AuthError) return false;
  const s = err.status;
  return s === 500 || (s >= 400 && s < 500 && s !== 401 && s !== 403 && s !== 404 && s !== 408 && s !== 429);
}

export function remember(controls: Controls, endpoint: Endpoint, lines: readonly string[]): void {
  const last = lines.at(-1);
  if (last === undefined) return;
  const control = configOf(last) === null ? last : (withConfig(last, "null") ?? last);
  controls.set(controlKey(endpoint.api, projectOf(last)), control);
}

/** Send `lines` with the transport's retries; on a refusal from a server that is up, isolate. */
export async function settle(
  transport: Transport,
  endpoint: Endpoint,
  lines: string[],
  controls: Controls,
): Promise<Settled> {
  try {
    await transport.call(endpoint.api, bulkBody(endpoint, lines, transport.hfTokenJson));
    remember(controls, endpoint, lines);
    return { sent: lines, refused: [], waiting: [], error: null, why: null, requests: 1, configs: [] };
  } catch (err) {
    const settled = await afterFailure(transport, endpoint, lines, err, controls);
    settled.requests++;
    return settled;
  }
}

/** `lines` failed with `err` (retries spent): isolate what the server refuses, if it is up. */
export async function afterFailure(
  transport: Transport,
  endpoint: Endpoint,
  lines: string[],
  err: unknown,
  controls: Controls,
): Promise<Settled> {
  if (!isRefusal(err) || !(await transport.probe())) {
    return { sent: [], refused: [], waiting: lines, error: err, why: "down", requests: 1, configs: [] };
  }
  const send = async (part: readonly string[]) => {
    await transport.callOnce(endpoint.api, bulkBody(endpoint, part, transport.hfTokenJson));
  };
  const settled = await isolate(lines, err, send, (project) => controls.get(controlKey(endpoint.api, project)) ?? null);
  remember(controls, endpoint, settled.sent);
  return settled;
}

type Attempt = "ok" | "refused" | "down";

/**
 * Split `lines` (already refused whole with `err`) until each refused record is alone.
 * `send` makes one attempt; `controlFor(project)` is a line of that project the server
 * accepted before (or null). Lines keep their order within each request, so a config carried
 * by a line arrives in the order it would have. Acceptance counts per project: Trackio keeps
 * a database per project, and one that refuses every write (a damaged database) is an outage
 * for that project's records, whatever the others do.
 */
export async function isolate(
  lines: string[],
  err: StatusError,
  send: (part: readonly string[]) => Promise<void>,
  controlFor: (project: string) => string | null,
): Promise<Settled> {
  const out: Settled = { sent: [], refused: [], waiting: [], error: null, why: null, requests: 0, configs: [] };
  /** Projects of which the server accepted a request during this isolation. */
  const accepted = new Set<string>();
  /** Projects of which it refused even the control, or had none to compare with: their lines wait. */
  const refusing = new Map<string, "down" | "unproven">();
  let stopped = false;
  let lastRefusal: StatusError = err;
  let unproven: string[] = [];

  const attempt = async (part: readonly string[]): Promise<Attempt> => {
    out.requests++;
    try {
      await send(part);
      for (const line of part) accepted.add(projectOf(line));
      return "ok";
    } catch (e) {
      if (isRefusal(e)) {
        lastRefusal = e;
        return "refused";
      }
      stopped = true;
      out.error = e;
      out.why = "down";
      return "down";
    }
  };

  // Projects with lone refusals and no request accepted yet: try each one's control. A server
  // that refuses even a record it stored before refuses everything of that project, which is
  // an outage, not these records' fault.
  const prove = async (): Promise<void> => {
    for (const project of new Set(unproven.map(projectOf))) {
      if (accepted.has(project) || refusing.has(project) || stopped) continue;
      const control = controlFor(project);
      const r = control === null ? null : await attempt([control]);
      if (r === "ok" || r === "down") continue;
      refusing.set(project, r === "refused" ? "down" : "unproven");
    }
  };

  // Refused alone once more, now that the server has accepted another request of its project.
  const confirm = async (line: string): Promise<void> => {
    const r = await attempt([line]);
    if (r === "ok") out.sent.push(line);
    else if (r === "refused") out.refused.push({ line, error: lastRefusal });
    else out.waiting.push(line);
  };

  const waits = (line: string): boolean => refusing.has(projectOf(line));

  // `refusedWhole`: this part was refused as it is, or is presumed to hold a refusal (its
  // sibling went through); a lone line is always tried alone, so that one set aside was
  // refused alone twice, the second time after the server accepted another request.
  const walk = async (part: string[], refusedWhole: boolean): Promise<boolean> => {
    if (stopped || (refusing.size > 0 && part.every(waits))) {
      out.waiting.push(...part);
      return false;
    }
    if (!refusedWhole || (part.length === 1 && part !== lines)) {
      const r = await attempt(part);
      if (r === "ok") {
        out.sent.push(...part);
        return true;
      }
      if (r === "down") {
        out.waiting.push(...part);
        return false;
      }
    }
    if (part.length === 1) {
      if (accepted.has(projectOf(part[0]))) await confirm(part[0]);
      else {
        unproven.push(part[0]);
        if (unproven.length >= MAX_UNPROVEN) await prove();
      }
      return false;
    }
    const mid = Math.ceil(part.length / 2);
    const leftWent = await walk(part.slice(0, mid), false);
    // The whole was refused and its left half accepted: the right half holds the refusal.
    await walk(part.slice(mid), leftWent && refusedWhole);
    return false;
  };

  await walk(lines, true);
  if (unproven.length > 0 && !stopped) await prove();
  const pending = unproven;
  unproven = [];
  for (const line of pending) {
    if (stopped || waits(line) || !accepted.has(projectOf(line))) out.waiting.push(line);
    else await confirm(line);
  }
  if (out.waiting.length > 0 && out.error === null) {
    out.error = lastRefusal;
    out.why = [...refusing.values()].includes("down") ? "down" : "unproven";
  }
  await carryConfigs(out, send, controlFor);
  return out;
}

// A refused line that carried its run's config would take the config with it: an accepted
// line of the same run carries it in instead (sent again, so the server stores no new row).
// If the server refuses that too, the config may be what it refuses: the record is tried
// without it, and stored if the server takes it so (the config alone is then set aside).
async function carryConfigs(
  out: Settled,
  send: (part: readonly string[]) => Promise<void>,
  controlFor: (project: string) => string | null,
): Promise<void> {
  const refused: Refusal[] = [];
  for (const refusal of out.refused) {
    const { line } = refusal;
    const config = configOf(line);
    if (config === null) {
      refused.push(refusal);
      continue;
    }
    // A line of the run accepted in this request, or before it (the run's control).
    const control = controlFor(projectOf(line));
    const host =
      out.sent.findLast((l) => sameRun(l, line) && configCarrier(l, config) !== null) ??
      (control !== null && sameRun(control, line) && configCarrier(control, config) !== null ? control : undefined);
    const kept = host !== undefined && (await tryOnce(out, send, configCarrier(host, config) as string));
    const bare = kept ? null : withConfig(line, "null");
    if (bare !== null && (await tryOnce(out, send, bare))) {
      out.sent.push(line);
      out.configs.push({ line, kept: false, recordStored: true });
      continue;
    }
    out.configs.push({ line, kept, recordStored: false });
    refused.push(refusal);
  }
  out.refused = refused;
}

async function tryOnce(out: Settled, send: (part: readonly string[]) => Promise<void>, line: string): Promise<boolean> {
  out.requests++;
  try {
    await send([line]);
    return true;
  } catch {
    return false;
  }
}

/** The lines for a quarantine file: refused records, damaged lines, and refused configs (with their record). */
export function setAsideLines(
  result: Pick<Settled, "refused" | "configs">,
  damaged: readonly { line: string }[],
): string[] {
  return [
    ...result.refused.map((r) => r.line),
    ...damaged.map((d) => d.line),
    ...result.configs.filter((c) => c.recordStored).map((c) => c.line),
  ];
}

/**
 * Where lines set aside ended up: a quarantine file, with the spool and server whose sync
 * command sends them once fixed (a bare `npx trackio sync` sends the default spool to the
 * default URL, which may not be theirs), or nowhere (`lost` says why).
 */
export type SetAsideIn = { file: string; sync: SyncTarget } | { lost: string };

/**
 * The message of the RejectedError for lines set aside: which records (run, step, keys), the
 * server's answer, and where they are kept.
 */
export function rejectionMessage(
  result: Pick<Settled, "refused" | "configs">,
  damaged: readonly { line: string; reason: string }[],
  where: SetAsideIn,
): string {
  const parts: string[] = [];
  const { refused } = result;
  if (refused.length > 0) {
    const shown = refused.slice(0, 3).map((r) => describeLine(r.line));
    const more = refused.length > 3 ? `, and ${refused.length - 3} more` : "";
    parts.push(
      `the server refused ${refused.length === 1 ? "a record" : `${refused.length} records`} on ${refused.length === 1 ? "its" : "their"} own while it accepted the others: ${shown.join("; ")}${more} (${refused[0].error.message})`,
    );
    const lost = result.configs.filter((c) => !c.kept && !c.recordStored).length;
    if (lost > 0) parts.push(`the run's config carried by ${lost === 1 ? "it" : `${lost} of them`} was not stored`);
  }
  for (const c of result.configs.filter((f) => f.recordStored)) {
    parts.push(
      `the server refused the run's config carried by ${describeLine(c.line)}: the record is stored without it, the config is not`,
    );
  }
  if (damaged.length > 0) {
    const reasons = [...new Set(damaged.map((d) => d.reason))].join(", ");
    parts.push(`${damaged.length} damaged spool ${damaged.length === 1 ? "line" : "lines"} (${reasons})`);
  }
  const fate =
    "lost" in where
      ? `lost: ${where.lost}`
      : `set aside in ${where.file}. They are not sent again: fix or delete the lines, then rename the file to *.jsonl and run \`${syncCommand(where.sync)}\``;
  return `${parts.join("; ")}; ${fate}`;
}
