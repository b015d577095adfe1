// The `trackio` command of this package (bin.ts runs it): `sync` sends what the client kept in
// its spool, `status` lists it, `help` and `version` describe the command. Python's `trackio`
// command (the dashboard, `trackio show`) is another program; its commands are pointed to.

import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { EXIT_USAGE, UsageError } from "./cli-args.js";
import { STATUS_HELP, statusCommand } from "./cli-status.js";
import { EXIT_SET_ASIDE, SYNC_HELP, syncCommand } from "./cli-sync.js";

export { EXIT_SET_ASIDE, EXIT_USAGE };

const OVERVIEW = `Usage: npx trackio <command> [options]

Records the Node.js client could not deliver wait on disk, in the spool
($TRACKIO_SPOOL_DIR, default ~/.cache/trackio-node/spool). These commands list and send them.

Commands:
  sync      send the records waiting in the spool to a Trackio server
  status    list what waits in the spool, per server, project and run
  help      show this help, or a command's: npx trackio help sync
  version   print this package's version (also --version, -v)

Every command takes --help.

The dashboard is not part of this package: \`trackio show\` comes with Trackio's Python
package (pip install trackio). Its \`trackio sync\` and \`trackio status\` are other commands,
about Trackio's database and Spaces, not this spool.
`;

const HELP: Record<string, string> = { sync: SYNC_HELP, status: STATUS_HELP };

/** Top-level commands of Trackio's Python CLI (trackio/cli.py) that this package does not have. */
const PYTHON_ONLY = new Set([
  "show",
  "freeze",
  "bump",
  "config",
  "list",
  "get",
  "query",
  "skills",
  "registry",
  "logbook",
]);

/**
 * Run the command line `argv` (the words after `trackio`). `out` gets what was asked for,
 * `err` usage errors, warnings and progress. Returns the exit code.
 */
export async function main(
  argv: string[],
  out: NodeJS.WritableStream = process.stdout,
  err: NodeJS.WritableStream = process.stderr,
): Promise<number> {
  try {
    return await dispatch(argv, out, err);
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    err.write(`${e.message}\n`);
    return EXIT_USAGE;
  }
}

/** The whole command line with one output stream (what tests capture). */
export function sync(argv: string[], out: NodeJS.WritableStream = process.stdout): Promise<number> {
  return main(argv, out, out);
}

async function dispatch(argv: string[], out: NodeJS.WritableStream, err: NodeJS.WritableStream): Promise<number> {
  const [first = "help", ...rest] = argv;
  switch (first) {
    case "sync":
      return syncCommand(rest, out, err);
    case "status":
      return statusCommand(rest, out);
    case "help":
    case "--help":
    case "-h":
      return help(rest, out);
    case "version":
    case "--version":
    case "-v":
      if (rest.length > 0) throw new UsageError(`trackio ${first}: unexpected argument ${JSON.stringify(rest[0])}.`);
      out.write(`${packageVersion()}\n`);
      return 0;
  }
  if (first.startsWith("-")) {
    throw new UsageError(`trackio: unknown option ${first}. See \`npx trackio help\` for the commands.`);
  }
  if (first === "show") {
    throw new UsageError(
      "trackio: `show` is the dashboard of Trackio's Python package, not a command of this Node.js one: `pip install trackio`, then `trackio show`. See `npx trackio help`.",
    );
  }
  if (PYTHON_ONLY.has(first)) {
    throw new UsageError(
      `trackio: \`trackio ${first}\` is a command of Trackio's Python package (pip install trackio), not of this Node.js one. See \`npx trackio help\`.`,
    );
  }
  throw new UsageError(`trackio: unknown command ${JSON.stringify(first)}. See \`npx trackio help\` for the commands.`);
}

function help(args: string[], out: NodeJS.WritableStream): number {
  if (args.length === 0) {
    out.write(`trackio ${packageVersion()}: the command of Trackio's Node.js client\n\n${OVERVIEW}`);
    return 0;
  }
  const text = HELP[args[0]];
  if (args.length > 1 || text === undefined) {
    throw new UsageError(
      `trackio help: no help for ${JSON.stringify(args.join(" "))}; the commands are sync, status, help, version.`,
    );
  }
  out.write(text);
  return 0;
}

/**
 * The version in this package's package.json, found from this module upwards: src/cli.ts in
 * the repository, dist/src/cli.js in the tarball (node_modules/trackio/dist/src).
 */
export function packageVersion(): string {
  for (let dir = dirname(fileURLToPath(import.meta.url)); ; dir = dirname(dir)) {
    try {
      const pkg = JSON.parse(readFileSync(join(dir, "package.json"), "utf8")) as { name?: unknown; version?: unknown };
      if (pkg.name === "trackio" && typeof pkg.version === "string") return pkg.version;
    } catch {
      // no package.json here: look further up
    }
    if (dirname(dir) === dir) return "unknown";
  }
}
