// The `npx trackio sync` command that sends what a client kept in its spool, as the messages
// print it, and what those messages say about who sends kept records. A bare `npx trackio
// sync` sends the whole default spool to the default URL, which is rarely what one client
// kept: the command names the server's own spool directory (so no other server's records go
// to it), the URL, the run, and `--token TOKEN` when sync would not find the token itself.

import { AuthError, NoEndpointError } from "../shared/errors.js";
import type { WorkerSettings } from "../shared/protocol.js";
import { isTransient } from "./transport.js";

export interface SyncTarget extends Pick<WorkerSettings, "displayUrl" | "writeToken"> {
  /** The server's spool directory (one per server URL). */
  spoolDir: string;
  project?: string;
  run?: string;
}

/** One client's records in its server's spool (a client whose spool is on). */
export function keptBy(s: WorkerSettings): SyncTarget {
  return {
    spoolDir: s.spoolDir as string,
    displayUrl: s.displayUrl,
    writeToken: s.writeToken,
    project: s.project,
    run: s.run,
  };
}

/** `url`: print this instead of the target's URL (a placeholder when the URL is the problem). */
export function syncCommand(t: SyncTarget, o: { url?: string; token?: boolean } = {}): string {
  const words = ["npx trackio sync", "--spool", quote(t.spoolDir), "--url", o.url ?? quote(t.displayUrl)];
  // sync reads $TRACKIO_WRITE_TOKEN itself; a token from anywhere else must be passed, and is
  // never printed.
  const token = o.token ?? (t.writeToken !== null && t.writeToken !== process.env.TRACKIO_WRITE_TOKEN);
  if (token) words.push("--token", "TOKEN");
  if (t.project !== undefined) words.push("--project", quote(t.project));
  if (t.run !== undefined) words.push("--run", quote(t.run));
  return words.join(" ");
}

/**
 * After "N records kept in <path>": who sends them. Only a failure the server can get over
 * is retried by the client; a refused write token or a server that is not Trackio is not,
 * and the message says what to run instead. `one`: a single record or file ("it").
 */
export function whoSends(err: unknown, t: SyncTarget, one = false): string {
  const them = one ? "it" : "them";
  if (err instanceof AuthError) {
    return `this client cannot send ${them} with its write token; with the right one, \`${syncCommand(t, { token: true })}\` does`;
  }
  if (err instanceof NoEndpointError) {
    return `this client does not send ${them} again; \`${syncCommand(t, { url: "URL" })}\` does, with URL a Trackio server that takes them`;
  }
  const when = isTransient(err) ? "answers again" : "accepts records again";
  return `${one ? "it is" : "they are"} sent when the server ${when}, or with \`${syncCommand(t)}\``;
}

/** What a client does while its server does not answer, for the warning at the first failed attempt. */
export function retryPlan(s: Pick<WorkerSettings, "retryDeadlineMs" | "spoolDir">): string {
  const retrying = `retrying for up to ${seconds(s.retryDeadlineMs)} s (retryDeadlineMs)`;
  if (s.spoolDir === null) return `${retrying}; records not sent by then are lost (spoolDir: false)`;
  return `${retrying}, then keeping the records in the spool ${s.spoolDir} and sending them when the server answers again`;
}

// "30", "2.5": whole seconds, with a tenth below 10 s so that a short deadline is not "0".
function seconds(ms: number): number {
  return ms >= 10_000 ? Math.round(ms / 1000) : Math.round(ms / 100) / 10;
}

// Quoted for a POSIX shell only when it has to be.
function quote(word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replaceAll("'", "'\\''")}'`;
}
