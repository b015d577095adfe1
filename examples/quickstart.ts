// npm run quickstart: log a short training loop to Trackio and print the dashboard URL.
//
// Uses the server at TRACKIO_SERVER_URL (with TRACKIO_WRITE_TOKEN, or a URL carrying
// ?write_token=…) when set. Otherwise it starts a local Trackio from this repo's .venv
// (installing the pinned version first if needed), with its data in ./.trackio, and keeps it
// serving the dashboard until Ctrl+C when run from a terminal.

import { Client } from "../src/index.js";
import { exampleServer, finish } from "./local-server.js";

const { baseUrl, server } = await exampleServer();
const client = new Client({
  baseUrl,
  project: process.env.TRACKIO_PROJECT ?? "quickstart",
  config: { lr: 0.01, epochs: 5, optimizer: "sgd" },
  quiet: true,
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
await finish(server);
