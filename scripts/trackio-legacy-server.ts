// Start and stop a REAL Gradio-based Trackio server (0.23, the newest before the HTTP API;
// python/requirements-legacy.txt, installed into .venv-legacy by
// `node scripts/setup-python.mjs --legacy`), for the tests of the Gradio fallback.
//
// Library:  const server = await startLegacyTrackio(); ... await server.stop();
// CLI:      tsx scripts/trackio-legacy-server.ts [--port N]
//
// How 0.23 differs from the current server (read from its source in the venv):
// - `trackio.show()` takes no port: Gradio's launch() reads GRADIO_SERVER_PORT;
// - metric writes need no write token off Spaces (its write token, random per process, guards
//   only delete/rename), and `hf_token` is checked only on Spaces;
// - there is no GET /version (404); GET /gradio_api/info lists the API functions.
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { freePort, isMain, refuseWithoutPython, SCRUBBED_ENV, WATCHDOG_SOURCE } from "./trackio-server.js";

export interface LegacyTrackioServer {
  /** "http://127.0.0.1:PORT/" (trailing slash). */
  url: string;
  port: number;
  dataDir: string;
  pid: number;
  /** The trackio version the venv reports. */
  version: string;
  /** SIGINT, then SIGKILL after 5 s; resolves once the process has exited. */
  stop(): Promise<void>;
  /** Captured stdout+stderr (last 1 MiB). */
  log(): string;
}

export interface LegacyStartOptions {
  port?: number;
  dataDir?: string;
  /** Default 90000 (Gradio starts slower than the current server). */
  timeoutMs?: number;
  /** Extra environment, applied last (e.g. SYSTEM=spaces to make it act as a Space). */
  env?: Record<string, string>;
}

const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const MAX_LOG_CHARS = 1 << 20;

/** `.venv-legacy/bin/python`, or `$TRACKIO_LEGACY_VENV/bin/python`. */
export function legacyVenvPython(): string {
  refuseWithoutPython("the legacy Trackio venv");
  return path.join(path.resolve(REPO_ROOT, process.env.TRACKIO_LEGACY_VENV || ".venv-legacy"), "bin", "python");
}

/** Create or update .venv-legacy (idempotent; about 30 s the first time, well under 1 s after). */
export function setupLegacyVenv(): void {
  refuseWithoutPython("the legacy Trackio venv");
  const r = spawnSync(process.execPath, [path.join(REPO_ROOT, "scripts", "setup-python.mjs"), "--legacy"], {
    encoding: "utf8",
    stdio: ["ignore", "pipe", "pipe"],
  });
  if (r.status !== 0) throw new Error(`setup-python.mjs --legacy failed:\n${r.stdout}${r.stderr}`);
}

function serverSource(): string {
  return [
    ...WATCHDOG_SOURCE,
    "import trackio; print('trackio version', trackio.__version__, flush=True)",
    "trackio.show(open_browser=False, block_thread=True)",
  ].join("\n");
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const live = new Set<ChildProcess>();
let hooked = false;

/** Start the Gradio-based Trackio and wait until GET /gradio_api/info lists bulk_log. */
export async function startLegacyTrackio(opts: LegacyStartOptions = {}): Promise<LegacyTrackioServer> {
  const python = legacyVenvPython();
  if (!existsSync(python)) {
    throw new Error(`${python} is missing: run \`node scripts/setup-python.mjs --legacy\` first`);
  }
  if (!hooked) {
    hooked = true;
    process.on("exit", () => {
      for (const child of live) child.kill("SIGKILL");
    });
  }
  const dataDir = opts.dataDir
    ? path.resolve(opts.dataDir)
    : mkdtempSync(path.join(os.tmpdir(), "trackio-legacy-test-"));
  mkdirSync(dataDir, { recursive: true });
  const port = opts.port ?? (await freePort());
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const key of SCRUBBED_ENV) delete env[key];
  Object.assign(env, {
    TRACKIO_DIR: dataDir,
    GRADIO_SERVER_PORT: String(port),
    GRADIO_SERVER_NAME: "127.0.0.1",
    GRADIO_ANALYTICS_ENABLED: "False",
    HF_HUB_DISABLE_TELEMETRY: "1",
    PYTHONUNBUFFERED: "1",
    BROWSER: "true",
    ...opts.env,
  });
  const child = spawn(python, ["-c", serverSource()], { cwd: dataDir, env, stdio: ["ignore", "pipe", "pipe"] });
  live.add(child);
  let output = "";
  const capture = (chunk: Buffer): void => {
    output = (output + chunk.toString("utf8")).slice(-MAX_LOG_CHARS);
  };
  child.stdout?.on("data", capture);
  child.stderr?.on("data", capture);
  let exited = false;
  const exit = new Promise<void>((resolve) => {
    child.once("exit", () => {
      exited = true;
      live.delete(child);
      resolve();
    });
  });
  child.unref();
  (child.stdout as unknown as { unref?: () => void } | null)?.unref?.();
  (child.stderr as unknown as { unref?: () => void } | null)?.unref?.();

  const stop = async (): Promise<void> => {
    if (exited) return;
    child.ref();
    child.kill("SIGINT");
    const timer = setTimeout(() => child.kill("SIGKILL"), 5000);
    await exit;
    clearTimeout(timer);
  };
  const url = `http://127.0.0.1:${port}/`;
  const deadline = Date.now() + (opts.timeoutMs ?? 90_000);
  let last = "no response yet";
  for (;;) {
    if (exited) throw new Error(`Trackio 0.23 exited during startup.\n--- server output ---\n${output}`);
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`Trackio 0.23 not ready at ${url} (last: ${last}).\n--- server output ---\n${output}`);
    }
    try {
      const res = await fetch(`${url}gradio_api/info`, { signal: AbortSignal.timeout(2000) });
      const text = await res.text();
      if (res.status === 200 && text.includes('"/bulk_log"') && output.includes(`:${port}/`)) {
        const version = /trackio version (\S+)/.exec(output)?.[1] ?? "unknown";
        return { url, port, dataDir, pid: child.pid ?? -1, version, stop, log: () => output };
      }
      last = `GET /gradio_api/info -> ${res.status}`;
    } catch (err) {
      last = `GET /gradio_api/info failed: ${(err as Error).message}`;
    }
    await sleep(200);
  }
}

if (isMain(import.meta.url)) {
  const i = process.argv.indexOf("--port");
  const port = i > 0 ? Number(process.argv[i + 1]) : undefined;
  setupLegacyVenv();
  const server = await startLegacyTrackio({ port });
  process.stdout.write(
    `Trackio ${server.version} (Gradio) at ${server.url}\ndata dir: ${server.dataDir}\n(Ctrl-C to stop)\n`,
  );
  const keepAlive = setInterval(() => {}, 1 << 30);
  process.once("SIGINT", () => {
    clearInterval(keepAlive);
    void server.stop().then(() => process.exit(0));
  });
}
