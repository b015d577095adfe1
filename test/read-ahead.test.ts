// Generated bursts through the worker's read-ahead (worker/flusher.ts: the next body is written
// in slices of 2,048 records while a request is in flight, and stops at a config change, which
// needs a request of its own). Bursts of 1 to 6,000 records, each followed by nothing, an
// alert, a config() update or a flush(), go to the real Trackio server; the books must balance
// (every record logged is stored once, none refused or set aside), in the order logged, with
// every alert, and the run's last config.

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import fc from "fast-check";
import { startTrackio, type TrackioServer } from "../scripts/trackio-server.js";
import {
  caseClient,
  caseProjects,
  closeClient,
  errorText,
  readRows,
  statsText,
  tally,
} from "./support/property-harness.js";
import { checkProperty } from "./support/property-runner.js";
import { runRows, runSteps, sqlString } from "./support/read-api.js";

type After = "nothing" | "alert" | "config" | "flush";
interface Burst {
  records: number;
  next: After;
}

const burstsArb: fc.Arbitrary<Burst[]> = fc.array(
  fc.record({
    records: fc.integer({ min: 1, max: 6000 }),
    next: fc.constantFrom<After>("nothing", "alert", "config", "flush"),
  }),
  { minLength: 1, maxLength: 6 },
);

let server: TrackioServer;
before(async () => {
  server = await startTrackio();
});
after(async () => {
  await server?.stop();
});

async function checkBursts(bursts: Burst[]): Promise<string[]> {
  const shown = bursts.map((b) => `${b.records}+${b.next}`).join(" ");
  const problems: string[] = [];
  const { js: project } = caseProjects("bursts");
  const { client, errors } = caseClient(server, { project, run: "r", config: { burst: -1 } });
  let step = 0;
  let lastConfig = -1;
  const alertSteps: number[] = [];
  try {
    for (const [k, b] of bursts.entries()) {
      for (let i = 0; i < b.records; i++, step++) client.log({ loss: 1 / (step + 1), acc: step * 1e-6, k }, step);
      if (b.next === "alert") {
        client.alert({ title: `after burst ${k}`, step: step - 1 });
        alertSteps.push(step - 1);
      } else if (b.next === "config") {
        client.config({ burst: k });
        lastConfig = k;
      } else if (b.next === "flush") {
        await client.flush();
      }
    }
  } catch (err) {
    problems.push(`${shown}: a call threw ${errorText(err)}`);
  }
  await closeClient(client, errors);
  const stats = client.stats();
  const runId = client.runId as string;
  const rows = await runRows(server.url, project, runId);
  tally.calls += step + alertSteps.length;
  tally.quarantined += stats.quarantined;
  // The books: stored + refused at the call (none here) + set aside == logged.
  const expected = { rows: step, distinctLogIds: step, distinctSteps: step, minStep: 0, maxStep: step - 1 };
  if (JSON.stringify(rows) !== JSON.stringify(expected) || stats.quarantined !== 0 || errors.length > 0)
    problems.push(
      `${shown}: stored ${JSON.stringify(rows)}, logged ${step} (stats: ${statsText(stats)}${errors.length > 0 ? `; errors: ${errors.join(" | ")}` : ""})`,
    );
  const steps = await runSteps(server.url, project, runId);
  const outOfOrder = steps.findIndex((s, i) => s !== i);
  if (outOfOrder >= 0) problems.push(`${shown}: row ${outOfOrder} has step ${steps[outOfOrder]}`);
  const alerts = await readRows(
    server,
    project,
    `SELECT step FROM alerts WHERE run_id = ${sqlString(runId)} ORDER BY id`,
  );
  const storedAlerts = alerts.map((a) => Number(a.step));
  tally.stored += rows.rows + storedAlerts.length;
  if (JSON.stringify(storedAlerts) !== JSON.stringify(alertSteps))
    problems.push(`${shown}: alerts stored at steps ${storedAlerts.join(",")}, logged at ${alertSteps.join(",")}`);
  const configs = await readRows(server, project, `SELECT config FROM configs WHERE run_id = ${sqlString(runId)}`);
  const burst = configs.length === 1 ? (JSON.parse(String(configs[0].config)) as { burst?: unknown }).burst : undefined;
  if (burst !== lastConfig)
    problems.push(
      `${shown}: ${configs.length} config row(s), burst ${String(burst)}; the last config() set ${lastConfig}`,
    );
  return problems;
}

describe("the read-ahead: bursts with alerts, config changes and flushes between them", () => {
  test("every record stored once and in order, every alert, the last config", async () => {
    await checkProperty("bursts through the read-ahead", burstsArb, 8, checkBursts);
    assert.ok(tally.stored > 0, "the cases stored rows");
  });
});
