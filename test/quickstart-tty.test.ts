// `npm run quickstart` from a terminal keeps serving the dashboard until Ctrl+C, as the README
// says. Driven under a pseudo-terminal made by util-linux `script` (stdout is then a TTY), with
// a real Ctrl+C: the byte 0x03 written to the terminal, which its line discipline turns into
// SIGINT for the foreground processes, as a keyboard does.

import assert from "node:assert/strict";
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { readFileSync, rmSync } from "node:fs";
import { after, test } from "node:test";
import { sleep, tempDir, waitFor } from "./support/scenario.js";

const root = new URL("..", import.meta.url).pathname;
const dataDir = tempDir("quickstart-tty");
let child: ChildProcess | null = null;

after(() => {
  if (child !== null && child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  rmSync(dataDir, { recursive: true, force: true });
});

test("under a terminal the quickstart serves until Ctrl+C, then stops its server and exits 0", async () => {
  assert.equal(spawnSync("script", ["--version"]).status, 0, "this test needs util-linux `script` for a terminal");
  const env: NodeJS.ProcessEnv = { ...process.env, TRACKIO_DIR: dataDir, TRACKIO_PROJECT: "quickstart-tty" };
  delete env.TRACKIO_SERVER_URL;
  // What `npm run quickstart` runs, without npm (which answers Ctrl+C with its own exit code,
  // 130). One node process: tsx's CLI in between would SIGKILL it when it does not confirm
  // the relayed signal within 30 ms, which a busy machine can miss.
  const pkg = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as {
    scripts: Record<string, string>;
  };
  const command = pkg.scripts.quickstart;
  assert.match(command, /^node /);
  env.PATH = `${root}node_modules/.bin:${env.PATH}`;
  // `exec`: script runs the command through $SHELL -c, and a shell that stays in between
  // (dash, CI's /bin/sh, does) is in the terminal's foreground group too, takes the Ctrl+C
  // with its default action and dies with it, so script reports 130 whatever node does.
  const proc = spawn("script", ["-qfec", `exec ${command}`, "/dev/null"], {
    cwd: root,
    env,
    stdio: ["pipe", "pipe", "pipe"],
  });
  child = proc;
  let out = "";
  proc.stdout.on("data", (d: Buffer) => {
    out += d.toString("utf8");
  });
  proc.stderr.on("data", (d: Buffer) => {
    out += d.toString("utf8");
  });
  const exited = new Promise<number | null>((resolve) => proc.once("exit", (code) => resolve(code)));

  await waitFor(
    "the quickstart to serve",
    () => out.includes("press Ctrl+C to stop") || proc.exitCode !== null,
    120_000,
    () => out,
  );
  assert.equal(proc.exitCode, null, `exited early: ${out}`);
  const dashboard = /Dashboard: (\S+)/.exec(out)?.[1];
  assert.ok(dashboard !== undefined, out);
  assert.match(out, /the server acknowledged 505\./);

  // The old quickstart exited with code 13 about 2 s after this line.
  await sleep(6000);
  assert.equal(proc.exitCode, null, `still running 6 s later: ${out}`);
  const page = await fetch(dashboard);
  assert.equal(page.status, 200);
  await page.text();

  proc.stdin.write("\x03");
  const code = await Promise.race([exited, sleep(30_000).then(() => "timeout" as const)]);
  assert.equal(code, 0, out);
  assert.match(out, /Stopping the server/);
  await assert.rejects(fetch(dashboard, { signal: AbortSignal.timeout(5000) }), "the server is gone");
});
