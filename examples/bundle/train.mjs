// An app that uses trackio, to be bundled by build.mjs (test/package.test.ts bundles it from a
// project where the packed trackio is installed, then runs the bundle away from node_modules).
import { Client } from "trackio";

const client = new Client({
  baseUrl: process.env.TRACKIO_SERVER_URL,
  project: process.env.TRACKIO_PROJECT ?? "bundled",
  run: "bundled",
  quiet: true,
  // After bundling, trackio's worker entry is a file of its own beside this bundle.
  workerFile: new URL("./trackio-worker.mjs", import.meta.url),
});
for (let step = 0; step < 500; step++) client.log({ loss: 1 / (step + 1), note: "bundled" }, step);
await client.close();
console.log(JSON.stringify({ runId: client.runId, sent: client.stats().sent }));
