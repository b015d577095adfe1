// `npx trackio sync [--spool DIR] [--url URL] [--token TOKEN]`: send spooled records (kept
// on disk while a server could not take them) to a Trackio server, and report what was sent.

import { readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { listSpooledMedia } from "../worker/media.js";
import { replayDir } from "../worker/replay.js";
import { listFragments } from "../worker/spool.js";
import { Transport } from "../worker/transport.js";
import { TrackioError } from "./errors.js";
import { DEFAULT_URL, parseServerUrl, redact } from "./options.js";
import { defaultSpoolRoot } from "./paths.js";

const USAGE = `Usage: trackio sync [--spool DIR] [--url URL] [--token TOKEN]

Sends every record kept in the spool to a Trackio server, oldest first, and deletes each
fragment once the server has acknowledged all of it. Safe to repeat: the server ignores
records it already has.

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
  let rejected = 0;
  let failure: unknown = null;
  try {
    for (const dir of dirs) {
      const before = sentRecords;
      const result = await replayDir(dir, transport, (done) => {
        sentFragments++;
        out.write(`  sent ${before + done.records} records (${sentFragments}/${total} fragments)\n`);
      });
      sentRecords = before + result.sent.records;
      rejected += result.rejected.records;
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
  if (rejected > 0) out.write(`; the server refused ${rejected} records (kept as *.rejected)`);
  if (rejectedMedia > 0) out.write(`; the server refused ${rejectedMedia} media files (kept as *.json.rejected)`);
  out.write("\n");
  if (failure !== null) {
    const message = failure instanceof TrackioError ? `${failure.code}: ${failure.message}` : String(failure);
    out.write(`trackio sync: stopped: ${redact(message)}; the rest stays in the spool\n`);
    return 1;
  }
  return 0;
}
