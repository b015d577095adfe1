// `npx trackio status`: what waits in the spool, per server directory, project and run. Reads
// only; sends nothing.

import { basename } from "node:path";
import { parseCommandArgs, SPOOL_HELP, spoolRoot } from "./cli-args.js";
import { type RunStock, takeStock, totals } from "./cli-spool.js";
import { count } from "./shared/plural.js";

export const STATUS_HELP = `Usage: npx trackio status [options]

Lists what waits in the spool, per server directory, project and run: records (metrics and
alerts) not sent yet, media files, quarantined lines (refused by the server on their own, or
damaged: never sent again, kept in *.quarantined.jsonl files for a person to look at), and
the oldest and newest timestamp (UTC). Reads only: nothing is sent or changed.

Options:
${SPOOL_HELP}
  --json           print it as JSON, for scripts
  -h, --help       show this help

Exit code: 0; 2 for usage (an unknown option, a --spool path that does not exist).
`;

const OPTIONS = {
  spool: { type: "string", value: "a directory" },
  json: { type: "boolean" },
  help: { type: "boolean", short: "h" },
} as const;

export function statusCommand(args: string[], out: NodeJS.WritableStream): number {
  const { values } = parseCommandArgs("status", args, OPTIONS);
  if (values.help) {
    out.write(STATUS_HELP);
    return 0;
  }
  const root = spoolRoot("status", values.spool);
  const stock = takeStock(root);
  if (values.json) {
    const dirs = stock.map((d) => ({
      path: d.path,
      fragments: d.fragments.length,
      ...totals(d.runs),
      artifacts: d.artifacts,
      runs: d.runs,
    }));
    const all = totals(stock.flatMap((d) => d.runs));
    const artifacts = stock.reduce((n, d) => n + d.artifacts, 0);
    out.write(`${JSON.stringify({ spool: root, ...all, artifacts, dirs }, null, 2)}\n`);
    return 0;
  }
  const all = totals(stock.flatMap((d) => d.runs));
  if (stock.length === 0) {
    out.write(`trackio status: nothing waits in ${root}\n`);
    return 0;
  }
  const artifacts = stock.reduce((n, d) => n + d.artifacts, 0);
  const what = [
    count(all.records, "record"),
    count(all.media, "media file"),
    count(all.quarantined, "quarantined line"),
    ...(artifacts > 0 ? [count(artifacts, "artifact version")] : []),
  ];
  out.write(`trackio status: ${what.join(", ")} in ${root}\n`);
  const optional = (["system", "damaged"] as const).filter((k) => all[k] > 0);
  for (const dir of stock) {
    const versions = dir.artifacts > 0 ? `, ${count(dir.artifacts, "artifact version")}` : "";
    out.write(`\n${basename(dir.path)} (${count(dir.fragments.length, "fragment")}${versions})\n`);
    const head = ["PROJECT", "RUN", "RECORDS", ...optional.map((k) => k.toUpperCase()), "MEDIA", "QUARANTINED"];
    const rows = dir.runs.map((r) => [
      r.project ?? "(unreadable lines)",
      r.run ?? "",
      String(r.records),
      ...optional.map((k) => String(r[k])),
      String(r.media),
      String(r.quarantined),
    ]);
    const times = dir.runs.map((r) => `${when(r.oldest)} … ${when(r.newest)}`);
    writeTable(out, [[...head, "OLDEST … NEWEST (UTC)"], ...rows.map((row, i) => [...row, times[i]])]);
  }
  out.write("\n");
  if (all.records + all.system + all.media + artifacts > 0) {
    out.write("Send them with `npx trackio sync --url URL` (see `npx trackio help sync`).\n");
  }
  if (all.quarantined > 0) {
    out.write("Quarantined lines are not sent again: the output of the sync that set them aside says why.\n");
  }
  return 0;
}

/** "2026-11-30 17:01:02" from the client's ISO text. */
function when(iso: RunStock["oldest"]): string {
  return iso === null ? "-" : iso.slice(0, 19).replace("T", " ");
}

// Columns padded to their widest cell; numbers right-aligned, as `npm outdated` lays them out.
function writeTable(out: NodeJS.WritableStream, rows: string[][]): void {
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
  const numeric = rows[0].map((_, c) => rows.slice(1).every((r) => /^\d+$/.test(r[c])));
  for (const row of rows) {
    const cells = row.map((cell, c) =>
      c === row.length - 1 ? cell : numeric[c] ? cell.padStart(widths[c]) : cell.padEnd(widths[c]),
    );
    out.write(`  ${cells.join("  ")}\n`);
  }
}
