// npm run quickstart: log a short training loop to Trackio and print the dashboard URL.
//
// Uses the server at TRACKIO_SERVER_URL (with TRACKIO_WRITE_TOKEN, or a URL carrying
// ?write_token=…) when set. Otherwise it starts a local Trackio from this repo's .venv
// (installing the pinned version first if needed), with its data in ./.trackio, and keeps it
// serving the dashboard until Ctrl+C when run from a terminal.

import { spawnSync } from "node:child_process";
import { resolve } from "node:path";
import { startTrackio, type TrackioServer } from "../scripts/trackio-server.js";
import { Client } from "../src/index.js";

const root = resolve(import.meta.dirname, "..");

async function localServer(): Promise<TrackioServer> {
  const setup = spawnSync(process.execPath, [resolve(root, "scripts/setup-python.mjs")], { stdio: "inherit" });
  if (setup.status !== 0) throw new Error("could not install Trackio into .venv");
  const dataDir = resolve(root, ".trackio");
  console.log(`Starting a local Trackio server (data in ${dataDir}) …`);
  return startTrackio({ dataDir, writeToken: process.env.TRACKIO_WRITE_TOKEN ?? "quickstart-token" });
}

const server = process.env.TRACKIO_SERVER_URL ? null : await localServer();
const client = new Client({
  baseUrl: server?.writeUrl ?? process.env.TRACKIO_SERVER_URL,
  project: process.env.TRACKIO_PROJECT ?? "quickstart",
  config: { lr: 0.01, epochs: 5, optimizer: "sgd" },
});
client.on("error", (err) => console.error(`trackio: ${err.code}: ${err.message}`));

// A toy training loop: the loss decays with noise, accuracy climbs.
let loss = 2.5;
for (let step = 0; step < 500; step++) {
  loss = loss * 0.99 + (Math.random() - 0.5) * 0.02;
  const acc = 1 - loss / 2.5 + (Math.random() - 0.5) * 0.01;
  client.log({ "train/loss": loss, "train/acc": acc, lr: 0.01 * 0.995 ** step }, step);
  if (step % 100 === 99) client.log({ "eval/loss": loss * 1.1, "eval/acc": acc * 0.97 }, step);
}

await client.close();
const stats = client.stats();
console.log(`Logged ${stats.logged} records to run "${client.run}"; the server acknowledged ${stats.sent}.`);
console.log(`Dashboard: ${client.dashboardUrl}`);

if (server !== null) {
  if (process.stdout.isTTY) {
    console.log("Serving the dashboard; press Ctrl+C to stop.");
    await new Promise<void>((done) => process.once("SIGINT", done));
  } else {
    console.log(`To browse later: TRACKIO_DIR=${server.dataDir} .venv/bin/trackio show`);
  }
  await server.stop();
}
