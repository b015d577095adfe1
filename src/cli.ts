// `npx trackio sync [--spool DIR] [--url URL] [--token TOKEN]`: send spooled records (kept
// on disk while a server could not take them) to a Trackio server, and report what was sent.

import { readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { rejectionMessage } from "./io/isolate.js";
import { listSpooledMedia } from "./io/media-files.js";
import { replayDir } from "./io/replay.js";
import { listFragments, QUARANTINE_SUFFIX } from "./io/spool.js";
import { Transport } from "./io/transport.js";
import { DEFAULT_URL, parseServerUrl, redact } from "./options.js";
import { defaultSpoolRoot } from "./paths.js";
import { TrackioError } from "./shared/errors.js";

const USAGE = `Usage: trackio sync [--spool DIR] [--url URL] [--token TOKEN]

Sends every record kept in the spool to a Trackio server, oldest first, and deletes each
fragment once every line of it is settled. Safe to repeat: the server ignores records it
already has. A line the server refuses on its own while it takes the others, or that is not
a record, is set aside in a *.quarantined.jsonl file beside its fragment and reported.

Exit code: 0 all sent; 1 stopped (the server is down or refuses everything: the rest stays
in the spool); 2 usage; 3 all else sent, but lines or files were set aside or removed
(see the output).

  --spool DIR    the spool directory (default: $TRACKIO_SPOOL_DIR or ~/.cache/trackio-node/spool);
                 all its per-server subdirectories are sent
  --url URL      the server (default: $TRACKIO_SERVER_URL or ${DEFAULT_URL}); may carry ?write_token=
  --token TOKEN  the write token (default: the URL's, or $TRACKIO_WRITE_TOKEN)
`;

/** The directories holding fragments: the root itself if it holds writer dirs, else its children. */
function holdsSpool(dir: string): boolean {
  return listFragments(dir).length > 0 || listSpooledMedia(dir).length > 0;
}

function spoolDirs(root: string): string[] {
  if (holdsSpool(root)) return [root];
  let names: string[];
  try {
    names = readdirSync(root);
  } catch {
    return [];
  }
  return names.map((n) => join(root, n)).filter((d) => statSync(d).isDirectory() && holdsSpool(d));
}

export async function sync(argv: string[], out: NodeJS.WritableStream = process.stdout): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      spool: { type: "string" },
      url: { type: "string" },
      token: { type: "string" },
      help: { type: "boolean" },
    },
  });
  if (values.help || positionals[0] !== "sync") {
    out.write(USAGE);
    return values.help ? 0 : 2;
  }
  const root = values.spool ?? (process.env.TRACKIO_SPOOL_DIR || defaultSpoolRoot());
  const url = parseServerUrl(values.url ?? (process.env.TRACKIO_SERVER_URL || DEFAULT_URL));
  const transport = new Transport(
    {
      origin: url.origin,
      basePath: url.basePath,
      displayUrl: url.displayUrl,
      project: "",
      run: "",
      runId: "",
      clientId: "",
      writeToken: values.token ?? url.writeToken ?? process.env.TRACKIO_WRITE_TOKEN ?? null,
      hfToken: process.env.HF_TOKEN ?? null,
      timeoutMs: 30_000,
      maxBatch: 1,
      flushIntervalMs: 1,
      maxRecordsPerRequest: 1,
      retryDeadlineMs: 60_000,
      spoolDir: null,
      inboxDir: null,
      systemMetricsMs: 0,
      clockBase: 0,
      configJson: "null",
    },
    { onRequest() {}, onRetry() {} },
  );
  const dirs = spoolDirs(root);
  const total = dirs.reduce((n, d) => n + listFragments(d).length, 0);
  const totalMedia = dirs.reduce((n, d) => n + listSpooledMedia(d).length, 0);
  const mediaNote = totalMedia > 0 ? ` and ${totalMedia} media files` : "";
  out.write(`trackio sync: ${total} fragments${mediaNote} in ${root} → ${url.displayUrl}\n`);
  let sentMedia = 0;
  let rejectedMedia = 0;
  let sentRecords = 0;
  let sentFragments = 0;
  const aside = { refused: 0, damaged: 0, configsLost: 0, emptyFragments: 0 };
  let failure: unknown = null;
  try {
    for (const dir of dirs) {
      const result = await replayDir(dir, transport, (path, outcome) => {
        sentRecords += outcome.records;
        if (outcome.kind === "done") {
          sentFragments++;
          out.write(`  sent ${sentRecords} records (${sentFragments}/${total} fragments)\n`);
        }
        if (outcome.empty) out.write(`  removed ${path}: it was empty (0 bytes or blank lines only, no records)\n`);
        if (outcome.quarantinedIn !== null) {
          const what = rejectionMessage(outcome, outcome.damaged, `set aside in ${outcome.quarantinedIn}`);
          out.write(`  ${redact(what)}\n`);
        }
      });
      for (const k of Object.keys(aside) as (keyof typeof aside)[]) aside[k] += result.setAside[k];
      sentMedia += result.media.sent;
      rejectedMedia += result.media.rejected;
      if (result.error !== null) {
        failure = result.error;
        break;
      }
    }
  } finally {
    await transport.close();
  }
  out.write(`trackio sync: sent ${sentRecords} records from ${sentFragments} fragments`);
  if (totalMedia > 0) out.write(` and ${sentMedia} media files`);
  const setAside = aside.refused + aside.damaged;
  if (setAside > 0) {
    const kinds = [
      aside.refused > 0 ? `${aside.refused} refused by the server on their own` : "",
      aside.damaged > 0 ? `${aside.damaged} damaged` : "",
    ].filter((k) => k !== "");
    out.write(`; SET ASIDE ${setAside} lines (${kinds.join(", ")}) in *${QUARANTINE_SUFFIX} files, not sent again`);
  }
  if (aside.configsLost > 0) out.write(`; ${aside.configsLost} run configs not stored`);
  if (aside.emptyFragments > 0) out.write(`; removed ${aside.emptyFragments} empty fragments`);
  if (rejectedMedia > 0) out.write(`; the server refused ${rejectedMedia} media files (kept as *.json.rejected)`);
  out.write("\n");
  if (failure !== null) {
    const message = failure instanceof TrackioError ? `${failure.code}: ${failure.message}` : String(failure);
    out.write(`trackio sync: stopped: ${redact(message)}; the rest stays in the spool\n`);
    return 1;
  }
  // Everything else was sent, but something needs a person: a script must not take it for
  // a clean sync.
  const attention = setAside + aside.configsLost + aside.emptyFragments + rejectedMedia;
  return attention > 0 ? EXIT_SET_ASIDE : 0;
}

/** `trackio sync`'s exit code when everything was sent except lines or files it set aside. */
export const EXIT_SET_ASIDE = 3;
