// npm run example:read: read back what `npm run quickstart` stored (or another project:
// TRACKIO_PROJECT), through the server, as Trackio's Python `trackio.Api()` reads it. Same
// server rules as the quickstart; reads need no write token.

import { Api } from "../src/index.js";
import { exampleServer } from "./local-server.js";

const { baseUrl, server } = await exampleServer();
const api = new Api({ baseUrl });
try {
  const project = process.env.TRACKIO_PROJECT ?? "quickstart";
  console.log("projects:", await api.projects());
  const runs = await api.runs(project); // NotFoundError if there is no such project
  const run = runs[runs.length - 1]; // oldest first
  console.log(`${runs.length} run(s); the newest:`, { name: run.name, id: run.id, createdAt: run.createdAt });
  console.log("config:", run.config, "group:", run.group);

  const rows = await run.metrics(); // every row, in step order
  console.log(`${rows.length} rows; the first:`, rows[0]);
  const evals = rows.filter((r) => "eval/loss" in r).map((r) => [r.step, r["eval/loss"]]);
  console.log("eval/loss by step:", evals);
  console.log("alerts:", await run.alerts({ level: "warn" }));
} finally {
  await api.close();
  await server?.stop();
}
