// Screenshots of the Trackio dashboard for the README (npm run screenshots):
//
//   1. starts a fresh Trackio server (repo .venv, data in a temp dir);
//   2. runs examples/rich.ts and examples/agent-otel.ts against it as child processes
//      (TRACKIO_SERVER_URL, TRACKIO_PROJECT, TRACKIO_RUN), each into its own project;
//   3. opens the dashboard in headless Chromium (playwright-core), clicks through its tabs and
//      saves PNGs to docs/screenshots/;
//   4. stops the browser and the server and removes the temp dir.
//
// Needs a Chromium binary (Debian: `apt-get install chromium`; fonts-noto-color-emoji for the
// alert-level emoji) at /usr/bin/chromium or $CHROMIUM_PATH. Not part of `npm test`.

import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, rmSync, statSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { type Browser, chromium, type Page } from "playwright-core";
import { startTrackio, type TrackioServer } from "./trackio-server.js";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const outDir = path.join(root, "docs", "screenshots");
const chromiumPath = process.env.CHROMIUM_PATH || "/usr/bin/chromium";
const PROJECT = "rich-example";
const RUN = "rich-run";
const TRACE_PROJECT = "agent-otel";
const TRACE_RUN = "agent-run";
const VIEWPORT = { width: 1400, height: 900 };
const TIMEOUT_MS = 60_000;
// --no-sandbox: root in a container has no user namespace for Chromium's sandbox. The rest keep
// Chromium from calling Google's services, which a machine without internet access refuses
// (slowly, many connections at a time).
const LAUNCH_ARGS = [
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

/** Run an example against the server; resolves with its output once it exited with 0. */
function runExample(
  script: string,
  server: TrackioServer,
  project: string,
  run: string,
  spoolDir: string,
): Promise<string> {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const key of ["TRACKIO_WRITE_TOKEN", "TRACKIO_RUN", "HF_TOKEN"]) delete env[key];
  Object.assign(env, {
    TRACKIO_SERVER_URL: server.writeUrl,
    TRACKIO_PROJECT: project,
    TRACKIO_RUN: run,
    TRACKIO_SPOOL_DIR: spoolDir,
  });
  const child = spawn(process.execPath, ["--import", "tsx", path.join(root, "examples", script)], {
    cwd: root,
    env,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stdout.on("data", (chunk: Buffer) => (output += chunk.toString("utf8")));
  child.stderr.on("data", (chunk: Buffer) => (output += chunk.toString("utf8")));
  return new Promise((resolve, reject) => {
    child.once("error", reject);
    child.once("exit", (code, signal) => {
      if (code === 0) resolve(output);
      else reject(new Error(`examples/${script} failed (${signal ?? `exit code ${code}`}):\n${output}`));
    });
  });
}

/** Click a tab of the dashboard's navbar. */
async function openTab(page: Page, label: string): Promise<void> {
  await page.locator("nav.navbar button.nav-link", { hasText: label }).first().click();
}

/** Wait until the page shows every text, no loading animation is left, and charts have drawn. */
async function settle(page: Page, texts: string[], charts = 0): Promise<void> {
  for (const text of texts) await page.getByText(text, { exact: false }).first().waitFor({ timeout: TIMEOUT_MS });
  if (charts > 0) {
    await page
      .locator(".vega-embed svg, .vega-embed canvas")
      .nth(charts - 1)
      .waitFor({ timeout: TIMEOUT_MS });
  }
  // The dashboard polls for new data all the time, so the network never goes idle.
  await page.locator(".trackio-loading").first().waitFor({ state: "detached", timeout: TIMEOUT_MS });
  await page.waitForTimeout(1500); // chart transitions
}

// The floating alert panel: clicking its title toggles it (the middle of its header holds filters).
async function collapseAlertPanel(page: Page): Promise<void> {
  const panel = page.locator(".alert-panel:not(.collapsed) .alert-title");
  if ((await panel.count()) > 0) await panel.first().click();
}

async function expandAlertPanel(page: Page): Promise<void> {
  const panel = page.locator(".alert-panel.collapsed .alert-title");
  if ((await panel.count()) > 0) await panel.first().click();
}

async function shoot(page: Page, name: string): Promise<void> {
  const file = path.join(outDir, `${name}.png`);
  await page.screenshot({ path: file });
  console.log(`  ${path.relative(root, file)} (${Math.round(statSync(file).size / 1024)} KiB)`);
}

async function main(): Promise<void> {
  if (!existsSync(chromiumPath)) {
    throw new Error(
      `no Chromium at ${chromiumPath}. On Debian or Ubuntu, as root: apt-get update && apt-get install -y chromium fonts-noto-color-emoji; ` +
        "or set CHROMIUM_PATH to a Chromium or Chrome binary (playwright-core drives it; it downloads no browser of its own)",
    );
  }
  const setup = spawnSync(process.execPath, [path.join(root, "scripts", "setup-python.mjs")], { stdio: "inherit" });
  if (setup.status !== 0) throw new Error("could not install Trackio into .venv");

  const tmp = mkdtempSync(path.join(os.tmpdir(), "trackio-screenshots-"));
  let server: TrackioServer | null = null;
  let browser: Browser | null = null;
  try {
    server = await startTrackio({ dataDir: path.join(tmp, "data"), writeToken: "screenshots-token" });
    console.log(`Trackio at ${server.url}; running examples/rich.ts …`);
    process.stdout.write(await runExample("rich.ts", server, PROJECT, RUN, path.join(tmp, "spool")));
    console.log("Running examples/agent-otel.ts …");
    process.stdout.write(
      await runExample("agent-otel.ts", server, TRACE_PROJECT, TRACE_RUN, path.join(tmp, "spool-otel")),
    );

    mkdirSync(outDir, { recursive: true });
    browser = await chromium.launch({ executablePath: chromiumPath, args: LAUNCH_ARGS });
    const context = await browser.newContext({ viewport: VIEWPORT, colorScheme: "light", deviceScaleFactor: 1 });
    const page = await context.newPage();
    page.setDefaultTimeout(TIMEOUT_MS);
    console.log("Screenshots:");

    // Metrics: the train/* line charts and the weights histogram (Trackio draws histograms here).
    await page.goto(`${server.url}?project=${PROJECT}`);
    await settle(page, ["grad_norm", "weights/layer1", "Loss spike"], 3);
    await shoot(page, "metrics");

    // System metrics: cpu/*, memory/*, process/* (eventloop/* only once the main thread yielded).
    await openTab(page, "System Metrics");
    await settle(page, ["count_logical", "rss_mb"], 3);
    await collapseAlertPanel(page);
    await shoot(page, "system-metrics");

    // Media & Tables: the predictions tables, newest step first.
    await openTab(page, "Media & Tables");
    await settle(page, ["Images (", "Audio (", "Tables (", "a cat on a mat"]);
    await shoot(page, "media-tables");

    // Further down the same page: the predictions table's thumbnails and the HTML report.
    await collapseAlertPanel(page);
    await page.getByText("HTML (", { exact: false }).first().scrollIntoViewIfNeeded();
    await page.mouse.wheel(0, 400);
    await page.waitForTimeout(1500); // the HTML frame loads
    await shoot(page, "media-html");

    // Alerts & Reports: the Markdown report and the alert.
    await openTab(page, "Alerts & Reports");
    await settle(page, ["Run summary", "loss jumped to"]);
    await expandAlertPanel(page);
    await shoot(page, "reports-alerts");

    // Runs → the run: its config (after client.config({ lr: 0.02 })), with the alert panel.
    await openTab(page, "Runs");
    await page.locator(".runs-table button.link-btn", { hasText: RUN }).first().click();
    await settle(page, ["Configuration", '"batch_size"']);
    await page.locator(".alert-panel .alert-row").first().click(); // show the alert's text
    await page.waitForTimeout(500);
    await shoot(page, "run-config");

    // Traces: the agent's question that failed, opened in the trace inspector with its second
    // model call selected (model, input and output tokens, cost, its answer); the tree shows the
    // tool span's error dot and each span's latency.
    await page.goto(`${server.url}?project=${TRACE_PROJECT}`);
    await openTab(page, "Traces");
    await settle(page, ["What is the weather on the Moon?", "Is it warm in Lisbon?"]);
    await page.locator("tr.trace-row", { hasText: "on the Moon" }).first().click();
    await page.locator(".trace-inspector .span-select", { hasText: "chat" }).last().click();
    await settle(page, ["Sorry, I could not find out"]);
    await shoot(page, "traces");
  } finally {
    await browser?.close();
    await server?.stop();
    rmSync(tmp, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(`screenshots: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
