// npm run example:rich: a training run that uses more of what Trackio shows: the run config
// and a change to it, a table of predictions, histograms of weights, a Markdown report, an
// alert when the loss spikes, and system metrics. Same server rules as the quickstart.

import { Client, Histogram, Markdown, Table } from "../src/index.js";
import { exampleServer, finish } from "./local-server.js";

const { baseUrl, server } = await exampleServer();
const client = new Client({
  baseUrl,
  project: process.env.TRACKIO_PROJECT ?? "rich-example",
  config: { lr: 0.05, hidden: 64, batch_size: 32 },
  systemMetrics: 1000,
  quiet: true,
});
client.on("error", (err) => console.error(`trackio: ${err.code}: ${err.message}`));

// A toy model: a weight vector drifting towards small values, a loss with one spike.
const weights = Float64Array.from({ length: 2048 }, () => (Math.random() - 0.5) * 2);
let loss = 2;
for (let step = 0; step < 300; step++) {
  for (let i = 0; i < weights.length; i++) weights[i] *= 0.995;
  loss = loss * 0.985 + (Math.random() - 0.5) * 0.02 + (step === 180 ? 1.5 : 0);
  client.log({ "train/loss": loss, "train/grad_norm": Math.sqrt(loss) * 0.3 }, step);
  if (step === 180) {
    client.alert({ title: "Loss spike", text: `loss jumped to ${loss.toFixed(3)} at step ${step}`, level: "warn" });
    client.config({ lr: 0.02 }); // cut the learning rate after the spike
  }
  if (step % 50 === 0) {
    client.log({ "weights/layer1": new Histogram(weights) }, step);
    const rows = ["a cat on a mat", "a dog in fog", "a bird on a wire"].map((text, k) => [text, k % 2, Math.random()]);
    client.log({ predictions: new Table({ columns: ["text", "label", "score"], data: rows }) }, step);
  }
  // The training step itself: some numeric work.
  const until = performance.now() + 5;
  while (performance.now() < until) {
    // a training step
  }
}
client.log({ report: new Markdown(`# Run summary\n\nFinal loss **${loss.toFixed(3)}** after 300 steps.`) }, 299);

await client.close();
const stats = client.stats();
console.log(`Logged ${stats.logged} records to run "${client.run}"; the server acknowledged ${stats.sent}.`);
console.log(`Dashboard: ${client.dashboardUrl}`);
await finish(server);
