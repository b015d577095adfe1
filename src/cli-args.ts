// Reading a command's arguments for the `trackio` command. node:util's parseArgs does the
// splitting (tokens, not its strict mode): its strict errors tell a user about "--" and
// positional arguments, where they need one line naming what is wrong and where help is.

import { statSync } from "node:fs";
import { parseArgs } from "node:util";
import { defaultSpoolRoot } from "./paths.js";

/** Wrong usage: printed as one line, exit code 2. Never leaves the CLI. */
export class UsageError extends Error {}

/** Exit code for wrong usage (an unknown command or option, a missing value, a missing path). */
export const EXIT_USAGE = 2;

export type OptionSpec = Record<string, { type: "string" | "boolean"; short?: string; value?: string }>;

export interface ParsedArgs {
  values: Record<string, string | boolean | undefined>;
  positionals: string[];
}

/**
 * Parse `args` (the words after the command) against `spec`; `command` names the command in
 * messages ("sync"). At most `maxPositionals` words that are not options are accepted.
 */
export function parseCommandArgs(command: string, args: string[], spec: OptionSpec, maxPositionals = 0): ParsedArgs {
  const { tokens } = parseArgs({ args, options: spec, strict: false, allowPositionals: true, tokens: true });
  const values: ParsedArgs["values"] = {};
  const positionals: string[] = [];
  const help = `See \`npx trackio help ${command}\`.`;
  for (const token of tokens) {
    if (token.kind === "option-terminator") continue;
    if (token.kind === "positional") {
      if (positionals.length >= maxPositionals) {
        throw new UsageError(`trackio ${command}: unexpected argument ${JSON.stringify(token.value)}. ${help}`);
      }
      positionals.push(token.value);
      continue;
    }
    const option = spec[token.name];
    if (option === undefined) throw new UsageError(`trackio ${command}: unknown option ${token.rawName}. ${help}`);
    if (option.type === "boolean") {
      if (token.value !== undefined) {
        throw new UsageError(
          `trackio ${command}: ${token.rawName} takes no value (got ${token.rawName}=${token.value}).`,
        );
      }
      values[token.name] = true;
      continue;
    }
    // An option that takes a value takes the next word, even one that starts with "-" (a
    // project named "-x"), as most commands do; only an option given last has none.
    if (token.value === undefined) {
      throw new UsageError(
        `trackio ${command}: ${token.rawName} needs a value (${option.value ?? "a value"}). ${help}`,
      );
    }
    values[token.name] = token.value;
  }
  return { values, positionals };
}

/**
 * The spool root to read: `--spool` (which must exist: a typo must not read as "nothing
 * waits"), else $TRACKIO_SPOOL_DIR or the default, which a client creates only when it
 * first keeps something.
 */
export function spoolRoot(command: string, given: string | boolean | undefined): string {
  if (typeof given !== "string") return process.env.TRACKIO_SPOOL_DIR || defaultSpoolRoot();
  let isDir: boolean;
  try {
    isDir = statSync(given).isDirectory();
  } catch {
    throw new UsageError(`trackio ${command}: the spool directory ${given} does not exist.`);
  }
  if (!isDir) throw new UsageError(`trackio ${command}: --spool ${given} is not a directory.`);
  return given;
}

/** The spool options' help lines, shared by the commands that read a spool. */
export const SPOOL_HELP = `  --spool DIR      the spool, or one server's directory in it (default: $TRACKIO_SPOOL_DIR
                   or ~/.cache/trackio-node/spool)`;
