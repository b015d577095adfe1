// Where records go on disk: Trackio's own data directory and inbox, and this client's spool.
// Computed on the main thread (from its environment) and handed to the worker.

import { createHash } from "node:crypto";
import { homedir } from "node:os";
import { join } from "node:path";

/** Trackio's data directory, as its Python package computes it. */
export function trackioDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.TRACKIO_DIR) return env.TRACKIO_DIR;
  const hfHome = env.HF_HOME || join(env.XDG_CACHE_HOME || join(homedir(), ".cache"), "huggingface");
  return join(hfHome, "trackio");
}

/** Where a Trackio server on this machine looks for fragments to import. */
export function inboxDir(env: NodeJS.ProcessEnv = process.env): string {
  return join(trackioDir(env), "inbox");
}

/** The default spool root: under the user's cache, beside (not inside) Trackio's own data. */
export function defaultSpoolRoot(env: NodeJS.ProcessEnv = process.env): string {
  return join(env.XDG_CACHE_HOME || join(homedir(), ".cache"), "trackio-node", "spool");
}

/** One spool directory per server, so records are replayed to the server they were meant for. */
export function spoolDirFor(root: string, serverUrl: string): string {
  const host = new URL(serverUrl).host.replace(/[^A-Za-z0-9.-]/g, "_");
  const hash = createHash("sha256").update(serverUrl).digest("hex").slice(0, 12);
  return join(root, `${host}-${hash}`);
}
