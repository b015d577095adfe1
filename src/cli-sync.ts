// `npx trackio sync`: send spooled records (kept on disk while a server could not take them)
// to a Trackio server, and report what was sent.

import { basename } from "node:path";
import { parseCommandArgs, SPOOL_HELP, spoolRoot, UsageError } from "./cli-args.js";
import { RetryNotice } from "./cli-progress.js";
import { type DirStock, lineSelected, mediaSelected, type Selection, takeStock, totals } from "./cli-spool.js";
import { rejectionMessage } from "./io/isolate.js";
import { type ReplaySelection, replayDir } from "./io/replay.js";
import { QUARANTINE_SUFFIX } from "./io/spool.js";
import { Transport, type TransportHooks } from "./io/transport.js";
import { DEFAULT_URL, type ParsedUrl, parseServerUrl, redact } from "./options.js";
import { isTty, ProgressLine } from "./progress-line.js";
import { InvalidArgError, TrackioError } from "./shared/errors.js";
import { count } from "./shared/plural.js";

/** `trackio sync`'s exit code when everything was sent except lines or files it set aside. */
export const EXIT_SET_ASIDE = 3;

const DEFAULT_WAIT_S = 60;

export const SYNC_HELP = `Usage: npx trackio sync [options]

Sends the records waiting in the spool to a Trackio server, oldest first, and deletes each
fragment once every line of it is settled. Safe to repeat: the server ignores records it
already has. A line the server refuses on its own while it takes the others, or that is not
a record, is set aside in a *${QUARANTINE_SUFFIX} file beside its fragment and reported.

Which server: --url, and only that one. The spool holds one directory per server the records
were logged for (named <host>-<hash of its URL>); sync sends every directory under --spool
to --url, so records reach the server they were logged for only when --url is that server's
URL. It lists the directories and their records first, marking those logged for another
URL; to send one directory only, pass that directory as --spool.

When the server does not answer, sync says so at once and keeps trying for --wait seconds,
then stops (exit code 1). Nothing is lost: what was not sent stays in the spool.

Options:
  --url URL        the server (default: $TRACKIO_SERVER_URL or ${DEFAULT_URL});
                   may carry ?write_token=
  --token TOKEN    the write token (default: the URL's, or $TRACKIO_WRITE_TOKEN)
${SPOOL_HELP}
  --project NAME   send only this project's records; the others stay in the spool
  --run NAME       send only the records of runs with this name
  --wait SECONDS   how long to keep trying a server that does not answer (default ${DEFAULT_WAIT_S})
  -q, --quiet      print the result only: no listing, no progress, no warnings
  -h, --help       show this help

Exit codes: 0 all sent; 1 stopped (the server is down or refuses everything: the rest stays
in the spool); 2 usage (an unknown option, a --spool path that does not exist); 3 all else
sent, but lines or files were set aside or removed (see the output).
`;

const OPTIONS = {
  url: { type: "string", value: "a server URL" },
  token: { type: "string", value: "a write token" },
  spool: { type: "string", value: "a directory" },
  project: { type: "string", value: "a project name" },
  run: { type: "string", value: "a run name" },
  wait: { type: "string", value: "seconds" },
  quiet: { type: "boolean", short: "q" },
  help: { type: "boolean", short: "h" },
} as const;

/** `trackio sync` with the words after `sync`. `out` gets the report, `err` warnings and progress. */
export async function syncCommand(
  args: string[],
  out: NodeJS.WritableStream,
  err: NodeJS.WritableStream,
): Promise<number> {
  const { values } = parseCommandArgs("sync", args, OPTIONS);
  if (values.help) {
    out.write(SYNC_HELP);
    return 0;
  }
  const root = spoolRoot("sync", values.spool);
  const url = serverUrl(values.url);
  const waitMs = waitOf(values.wait);
  const sel: Selection = { project: values.project as string | undefined, run: values.run as string | undefined };
  const quiet = values.quiet === true;
  // While attempts fail, the notice's line shows where sync stands; otherwise the sending line.
  let sending: ProgressLine | null = null;
  const notice = quiet
    ? null
    : new RetryNotice(err, {
        url: url.displayUrl,
        deadlineMs: waitMs,
        tty: isTty(err),
        beforeWrite: () => sending?.clear(),
      });
  const writeToken =
    (typeof values.token === "string" ? values.token : null) ??
    url.writeToken ??
    process.env.TRACKIO_WRITE_TOKEN ??
    null;
  const transport = makeTransport(url, writeToken, waitMs, notice ?? { onRequest() {}, onRetry() {} });

  const stock = takeStock(root, sel, url.displayUrl);
  const scoped = new Set(stock.flatMap((d) => d.fragments));
  const total = scoped.size;
  const totalMedia = stock.reduce((n, d) => n + totals(d.runs).media, 0);
  const mediaNote = totalMedia > 0 ? ` and ${count(totalMedia, "media file")}` : "";
  const only = selectionText(sel);
  if (!quiet) {
    const scope = only === "" ? "" : ` (only ${only})`;
    out.write(`trackio sync: ${count(total, "fragment")}${mediaNote} in ${root} → ${url.displayUrl}${scope}\n`);
    listDirs(out, stock, url.displayUrl);
  }
  let sentMedia = 0;
  let rejectedMedia = 0;
  let sentArtifacts = 0;
  let rejectedArtifacts = 0;
  let sentRecords = 0;
  let sentFragments = 0;
  let left = 0;
  const aside = { refused: 0, damaged: 0, configsLost: 0, emptyFragments: 0 };
  let failure: unknown = null;
  let stuck = 0;
  let inFragment = 0;
  let handled = 0;
  const started = performance.now();
  if (!quiet) {
    sending = new ProgressLine(err, isTty(err), () => {
      if (notice?.active) return null;
      const secs = Math.round((performance.now() - started) / 1000);
      return `  sending fragment ${Math.min(handled + 1, total)} of ${total}: ${count(sentRecords + inFragment, "record")} sent (${secs} s)`;
    }).start();
  }
  const selection: ReplaySelection | undefined =
    only === "" ? undefined : { line: (l) => lineSelected(sel, l), media: (m) => mediaSelected(sel, m) };
  try {
    for (const { path: dir } of stock) {
      const result = await replayDir(
        dir,
        transport,
        (path, outcome) => {
          sending?.clear();
          inFragment = 0;
          if (scoped.has(path)) handled++;
          sentRecords += outcome.records;
          left += outcome.left;
          // A failed fragment ends the replay: close the progress line before the report.
          if (outcome.kind === "failed") notice?.stop();
          else notice?.settled();
          if (outcome.kind === "done" && scoped.has(path)) {
            sentFragments++;
            if (!quiet) out.write(`  sent ${count(sentRecords, "record")} (fragment ${sentFragments} of ${total})\n`);
          }
          if (outcome.empty) out.write(`  removed ${path}: it was empty (0 bytes or blank lines only, no records)\n`);
          if (outcome.kind === "stuck") {
            const why = outcome.error instanceof Error ? outcome.error.message : String(outcome.error);
            out.write(`  skipped ${path}: ${redact(why)}; fix its permissions and sync again\n`);
          }
          if (outcome.quarantinedIn !== null) {
            const sync = { spoolDir: dir, displayUrl: url.displayUrl, writeToken, ...sel };
            const what = rejectionMessage(outcome, outcome.damaged, { file: outcome.quarantinedIn, sync });
            out.write(`  ${redact(what)}\n`);
          }
        },
        undefined,
        selection,
        (records) => {
          inFragment += records;
        },
      );
      for (const k of Object.keys(aside) as (keyof typeof aside)[]) aside[k] += result.setAside[k];
      sentMedia += result.media.sent;
      rejectedMedia += result.media.rejected;
      sentArtifacts += result.artifacts.sent;
      rejectedArtifacts += result.artifacts.rejected;
      stuck += result.stuck;
      if (result.error !== null) {
        failure = result.error;
        break;
      }
    }
  } finally {
    sending?.stop();
    notice?.stop();
    await transport.close();
  }
  out.write(`trackio sync: sent ${count(sentRecords, "record")} from ${count(sentFragments, "fragment")}`);
  if (totalMedia > 0) out.write(` and ${count(sentMedia, "media file")}`);
  if (sentArtifacts > 0) out.write(`; logged ${count(sentArtifacts, "artifact version")}`);
  const setAside = aside.refused + aside.damaged;
  if (setAside > 0) {
    const kinds = [
      aside.refused > 0 ? `${aside.refused} refused by the server on their own` : "",
      aside.damaged > 0 ? `${aside.damaged} damaged` : "",
    ].filter((k) => k !== "");
    out.write(
      `; SET ASIDE ${count(setAside, "line")} (${kinds.join(", ")}) in *${QUARANTINE_SUFFIX} files, not sent again`,
    );
  }
  if (aside.configsLost > 0) out.write(`; ${count(aside.configsLost, "run config")} not stored`);
  if (aside.emptyFragments > 0) out.write(`; removed ${count(aside.emptyFragments, "empty fragment")}`);
  if (rejectedMedia > 0)
    out.write(`; the server refused ${count(rejectedMedia, "media file")} (kept as *.json.rejected)`);
  if (rejectedArtifacts > 0)
    out.write(`; the server refused ${count(rejectedArtifacts, "artifact version")} (kept as *.json.rejected)`);
  if (left > 0)
    out.write(`; ${count(left, "line")} of other projects or runs ${left === 1 ? "stays" : "stay"} in the spool`);
  if (stuck > 0) out.write(`; SKIPPED ${count(stuck, "fragment")} that cannot be read, removed or rewritten`);
  out.write("\n");
  if (failure !== null) {
    const message = failure instanceof TrackioError ? `${failure.code}: ${failure.message}` : String(failure);
    out.write(`trackio sync: stopped: ${redact(message)}; the rest stays in the spool\n`);
    return 1;
  }
  // A fragment left unsent (or sent but still there) is not a clean sync either.
  if (stuck > 0) return 1;
  if (only !== "" && total === 0 && totalMedia === 0 && !quiet) {
    out.write(`trackio sync: nothing of ${only} waits in ${root}; \`npx trackio status\` lists what does\n`);
  }
  // Everything else was sent, but something needs a person: a script must not take it for
  // a clean sync.
  const attention = setAside + aside.configsLost + aside.emptyFragments + rejectedMedia + rejectedArtifacts;
  return attention > 0 ? EXIT_SET_ASIDE : 0;
}

/** One line per server directory: its records, and whether they were logged for this URL. */
function listDirs(out: NodeJS.WritableStream, stock: DirStock[], url: string): void {
  let elsewhere = 0;
  for (const dir of stock) {
    const t = totals(dir.runs);
    if (t.records + t.system + t.media + t.damaged === 0) continue;
    const parts = [`${count(t.records, "record")} in ${count(dir.fragments.length, "fragment")}`];
    if (t.media > 0) parts.push(count(t.media, "media file"));
    if (!dir.forUrl) elsewhere++;
    const whose = dir.forUrl ? "logged for this URL" : "logged for another server URL";
    out.write(`  ${basename(dir.path)}: ${parts.join(", ")} (${whose})\n`);
  }
  if (elsewhere > 0) {
    out.write(
      `  ${elsewhere === 1 ? "1 directory holds records" : `${elsewhere} directories hold records`} logged for another server URL: they are sent to ${url} too (pass one directory as --spool to send only it)\n`,
    );
  }
}

/** 'project "p", run "r"'; "" when everything is selected. */
function selectionText(sel: Selection): string {
  return [
    sel.project === undefined ? "" : `project ${JSON.stringify(sel.project)}`,
    sel.run === undefined ? "" : `run ${JSON.stringify(sel.run)}`,
  ]
    .filter((p) => p !== "")
    .join(", ");
}

function serverUrl(given: string | boolean | undefined): ParsedUrl {
  const raw = typeof given === "string" ? given : process.env.TRACKIO_SERVER_URL || DEFAULT_URL;
  try {
    return parseServerUrl(raw);
  } catch (e) {
    if (e instanceof InvalidArgError) {
      const from = typeof given === "string" ? "--url" : "$TRACKIO_SERVER_URL";
      throw new UsageError(`trackio sync: ${e.message.replace(/^baseUrl/, from)}`);
    }
    throw e;
  }
}

function waitOf(given: string | boolean | undefined): number {
  if (typeof given !== "string") return DEFAULT_WAIT_S * 1000;
  const s = Number(given);
  if (given.trim() === "" || !Number.isFinite(s) || s < 0) {
    throw new UsageError(`trackio sync: --wait takes a number of seconds (0 or more), got ${JSON.stringify(given)}.`);
  }
  return s * 1000;
}

function makeTransport(url: ParsedUrl, writeToken: string | null, waitMs: number, hooks: TransportHooks) {
  return new Transport(
    {
      origin: url.origin,
      basePath: url.basePath,
      displayUrl: url.displayUrl,
      writeToken,
      hfToken: process.env.HF_TOKEN ?? null,
      timeoutMs: 30_000,
      retryDeadlineMs: waitMs,
    },
    hooks,
  );
}
