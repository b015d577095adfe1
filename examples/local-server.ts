// For the examples: the server at TRACKIO_SERVER_URL when set, otherwise a local Trackio from
// this repo's .venv (installed first if needed) with its data in ./.trackio (or $TRACKIO_DIR).

import { spawnSync } from "node:child_process";
import { resolve } from "node:path";
import { startTrackio, type TrackioServer } from "../scripts/trackio-server.js";

const root = resolve(import.meta.dirname, "..");

/** The server to log to; `server` is null when TRACKIO_SERVER_URL names one. */
export async function exampleServer(): Promise<{ baseUrl: string | undefined; server: TrackioServer | null }> {
  if (process.env.TRACKIO_SERVER_URL) return { baseUrl: process.env.TRACKIO_SERVER_URL, server: null };
  const setup = spawnSync(process.execPath, [resolve(root, "scripts/setup-python.mjs")], { stdio: "inherit" });
  if (setup.status !== 0) throw new Error("could not install Trackio into .venv");
  const dataDir = resolve(root, process.env.TRACKIO_DIR || ".trackio");
  console.log(`Starting a local Trackio server (data in ${dataDir}) …`);
  const server = await startTrackio({ dataDir, writeToken: process.env.TRACKIO_WRITE_TOKEN ?? "quickstart-token" });
  return { baseUrl: server.writeUrl, server };
}

/** Keep serving the dashboard until Ctrl+C when run from a terminal, then stop the server. */
export async function finish(server: TrackioServer | null): Promise<void> {
  if (server === null) return;
  if (process.stdout.isTTY) {
    console.log("Serving the dashboard; press Ctrl+C to stop.");
    // The server's child process is unref'd and a signal listener holds nothing open either:
    // without a timer of its own the event loop would run dry and the process end right here.
    const keepAlive = setInterval(() => {}, 2 ** 30);
    await new Promise<void>((done) => process.once("SIGINT", done));
    clearInterval(keepAlive);
    console.log("Stopping the server …");
  } else {
    console.log(`To browse later: TRACKIO_DIR=${server.dataDir} .venv/bin/trackio show`);
  }
  await server.stop();
}
