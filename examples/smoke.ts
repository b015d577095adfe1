import { Client } from "../src/index.js";

const c = new Client({
  baseUrl: "http://127.0.0.1:7861?write_token=tok",
  project: "smoke",
  run: "r1",
  config: { lr: 0.1 },
});
c.on("error", (e) => console.log("error event", e.code, e.message));
const t0 = performance.now();
for (let i = 0; i < 100000; i++) c.log({ loss: 1 / (i + 1), acc: i / 1e5, lr: 0.001, g: Math.sin(i) });
const t1 = performance.now();
console.log("loop ms", (t1 - t0).toFixed(1), c.stats());
await c.flush();
console.log("flushed ms", (performance.now() - t1).toFixed(1), c.stats());
c.log({ s: "str", nested: { a: NaN }, step: 5 });
await c.close();
console.log("closed", c.stats(), c.runId);
