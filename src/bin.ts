#!/usr/bin/env node
// The `trackio` command (package.json "bin"); see cli.ts.
import { main } from "./cli.js";

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`trackio: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  },
);
