// npm run example:rich: a training run that uses more of what Trackio shows: the run config
// and a change to it, a table of predictions with thumbnails, histograms of weights, an
// image of the weights, a short sound, an HTML report and a Markdown one, an alert when the
// loss spikes, and system metrics. Same server rules as the quickstart.

import { Audio, Client, Histogram, Html, Image, Markdown, Table } from "../src/index.js";
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

/** The weights as a 64×32 heat map: blue for negative, red for positive (raw RGBA pixels). */
function heatmap(w: Float64Array): Image {
  const data = new Uint8Array(w.length * 4);
  for (let i = 0; i < w.length; i++) {
    const v = Math.max(-1, Math.min(1, w[i] * 4));
    data[i * 4] = v > 0 ? 255 : Math.round(255 * (1 + v));
    data[i * 4 + 1] = Math.round(255 * (1 - Math.abs(v)));
    data[i * 4 + 2] = v < 0 ? 255 : Math.round(255 * (1 - v));
    data[i * 4 + 3] = 255;
  }
  return new Image({ data, width: 64, height: 32 }, { caption: "layer 1 weights" });
}

/** A small solid-colour thumbnail for a table row. */
function swatch(r: number, g: number, b: number): Image {
  const data = new Uint8Array(16 * 16 * 3);
  for (let i = 0; i < data.length; i += 3) data.set([r, g, b], i);
  return new Image({ data, width: 16, height: 16, channels: 3 });
}
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
    client.log({ "weights/layer1": new Histogram(weights), "weights/heatmap": heatmap(weights) }, step);
    const colours: [number, number, number][] = [
      [230, 120, 40],
      [60, 140, 220],
      [90, 200, 120],
    ];
    const rows = ["a cat on a mat", "a dog in fog", "a bird on a wire"].map((text, k) => [
      text,
      swatch(...colours[k]),
      k % 2,
      Math.random(),
    ]);
    client.log({ predictions: new Table({ columns: ["text", "input", "label", "score"], data: rows }) }, step);
  }
  // The training step itself: some numeric work.
  const until = performance.now() + 5;
  while (performance.now() < until) {
    // a training step
  }
}
const sampleRate = 16000;
const chirp = Float32Array.from({ length: sampleRate / 2 }, (_, i) =>
  Math.sin(2 * Math.PI * (300 + i / 20) * (i / sampleRate)),
);
client.log(
  {
    report: new Markdown(`# Run summary\n\nFinal loss **${loss.toFixed(3)}** after 300 steps.`),
    "report/html": new Html(
      `<h2>Run summary</h2><p>Final loss <b>${loss.toFixed(3)}</b>; learning rate cut to 0.02 at step 180.</p>`,
    ),
    "samples/chirp": new Audio({ samples: chirp, sampleRate }, { caption: "a half-second chirp" }),
  },
  299,
);

await client.close();
const stats = client.stats();
console.log(
  `Logged ${stats.logged} records and ${stats.media.logged} media files to run "${client.run}"; the server acknowledged ${stats.sent} records and stored ${stats.media.uploaded} files.`,
);
console.log(`Dashboard: ${client.dashboardUrl}`);
await finish(server);
