import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { startTrackio, type TrackioServer } from "../scripts/trackio-server.js";
import { runRows } from "./support/read-api.js";

let server: TrackioServer;
before(async () => {
  server = await startTrackio();
});
after(async () => {
  await server?.stop();
});

const child = new URL("./fixtures/exit-child.ts", import.meta.url).pathname;
const spoolRoot = mkdtempSync(join(tmpdir(), "trackio-spool-"));

function runChild(
  mode: string,
  n: number,
  project: string,
): Promise<{ code: number | null; runId: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, ["--import", "tsx", child, mode, String(n)], {
      env: { ...process.env, TEST_TRACKIO_URL: server.writeUrl, TEST_PROJECT: project, TRACKIO_SPOOL_DIR: spoolRoot },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    proc.stdout.on("data", (d) => (stdout += d));
    proc.stderr.on("data", (d) => (stderr += d));
    const timer = setTimeout(() => {
      proc.kill("SIGKILL");
      reject(new Error(`child ${mode} did not exit within 60 s; stderr: ${stderr}`));
    }, 60_000);
    proc.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, runId: stdout.split("\n")[0].trim(), stderr });
    });
  });
}

describe("a process that ends without close() still delivers what it logged", () => {
  const cases: [string, number, number][] = [
    // mode, records, expected exit code
    ["fall-off", 5000, 0],
    ["exit", 5000, 0],
    ["throw", 5000, 1],
    ["spin", 50_000, 0],
  ];
  for (const [mode, n, expectedCode] of cases) {
    test(`${mode}: ${n} records, every one stored once`, async () => {
      const project = `exit-${mode}-${process.pid}`;
      const { code, runId, stderr } = await runChild(mode, n, project);
      assert.equal(code, expectedCode, stderr);
      if (mode === "throw") assert.match(stderr, /boom from the training loop/);
      assert.match(runId, /^[0-9a-f]{32}$/);
      assert.deepEqual(await runRows(server.url, project, runId), {
        rows: n,
        distinctLogIds: n,
        distinctSteps: n,
        minStep: 0,
        maxStep: n - 1,
      });
    });
  }
});
