#!/usr/bin/env node
// The `trackio` command (package.json "bin"); see cli.ts.
import { main } from "./cli.js";

// `trackio status | head`: a reader that stops early is not a failure, and sync goes on sending.
for (const stream of [process.stdout, process.stderr]) {
  stream.on("error", (err: NodeJS.ErrnoException) => {
    if (err.code !== "EPIPE") throw err;
  });
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`trackio: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  },
);
