// Start and stop a REAL Trackio server (the pinned Python package in the repo
// venv) for tests, the quickstart and the benchmarks.
//
// Library:  const server = await startTrackio(); ... await server.stop();
// CLI:      tsx scripts/trackio-server.ts [--port N] [--data DIR] [--token T]
//
// The venv is provisioned by `npm run setup:python` (scripts/setup-python.mjs).
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, realpathSync } from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

export interface TrackioServer {
  /** "http://127.0.0.1:PORT/" (trailing slash). */
  url: string;
  port: number;
  /** TRACKIO_DIR of the server; kept after stop() so a server can be restarted on it. */
  dataDir: string;
  writeToken: string;
  /** url + "?write_token=..." */
  writeUrl: string;
  /** pid of the Python process (e.g. for SIGSTOP/SIGCONT experiments). */
  pid: number;
  /** SIGINT, then SIGKILL after 5 s; resolves once the process has exited. */
  stop(): Promise<void>;
  /**
   * Send a signal (default SIGKILL). Resolves once the process has exited; for
   * non-terminating signals (SIGSTOP, SIGTSTP, SIGCONT, ...) resolves right after delivery.
   */
  kill(signal?: NodeJS.Signals): Promise<void>;
  /** Captured stdout+stderr, interleaved in arrival order (last 1 MiB). */
  log(): string;
}

export interface StartOptions {
  port?: number;
  /** Default: a fresh mkdtemp under os.tmpdir(). */
  dataDir?: string;
  /** Default "trackio-test-token". */
  writeToken?: string;
  /** Extra environment for the server, applied last. */
  env?: Record<string, string>;
  /** Default 60000. */
  timeoutMs?: number;
}

const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const DEFAULT_WRITE_TOKEN = "trackio-test-token";
const MAX_LOG_CHARS = 1 << 20;
const STOP_GRACE_MS = 5000;
const POLL_INTERVAL_MS = 100;
const PORT_RETRIES = 3;

/** Variables that would make the server talk to Hugging Face instead of running locally. */
export const SCRUBBED_ENV = [
  "SYSTEM",
  "SPACE_ID",
  "TRACKIO_BUCKET_ID",
  "TRACKIO_DATASET_ID",
  "GRADIO_SHARE",
  "TRACKIO_SERVER_URL",
  "TRACKIO_SPACE_ID",
  "HF_TOKEN",
  "GRADIO_MCP_SERVER",
];

const NON_TERMINATING = new Set<NodeJS.Signals>([
  "SIGSTOP",
  "SIGTSTP",
  "SIGCONT",
  "SIGTTIN",
  "SIGTTOU",
  "SIGWINCH",
  "SIGCHLD",
  "SIGURG",
]);

/**
 * `npm run test:unit` sets TRACKIO_TEST_NO_PYTHON=1: a test it runs that reaches for Python
 * (a server, the oracle) fails here, loudly, instead of quietly making the fast run slow.
 */
export function refuseWithoutPython(what: string): void {
  if (process.env.TRACKIO_TEST_NO_PYTHON !== "1") return;
  throw new Error(
    `${what} needs Python, and \`npm run test:unit\` runs without it (TRACKIO_TEST_NO_PYTHON=1): a test that needs a Trackio server does not belong in test/unit/ (see the header of scripts/test.mjs)`,
  );
}

/** Repo `.venv/bin/python`, or `$TRACKIO_VENV/bin/python` (relative paths resolve against the repo root). */
export function venvPython(): string {
  refuseWithoutPython("the Trackio venv");
  const venv = path.resolve(REPO_ROOT, process.env.TRACKIO_VENV || ".venv");
  return path.join(venv, "bin", "python");
}

/** A currently free TCP port on 127.0.0.1 (listen on :0, read it, close). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.once("error", reject);
    srv.listen({ port: 0, host: "127.0.0.1", exclusive: true }, () => {
      const addr = srv.address();
      const port = typeof addr === "object" && addr ? addr.port : 0;
      srv.close((err) => (err ? reject(err) : port ? resolve(port) : reject(new Error("freePort: no port assigned"))));
    });
  });
}

// ---------------------------------------------------------------------------
// Children never outlive this process.

const liveChildren = new Set<ChildProcess>();
let cleanupInstalled = false;

function killAllChildren(): void {
  for (const child of liveChildren) {
    try {
      child.kill("SIGKILL");
    } catch {
      // already gone
    }
  }
}

function installCleanup(): void {
  if (cleanupInstalled) return;
  cleanupInstalled = true;
  // Normal exit, process.exit(), uncaught exceptions.
  process.on("exit", killAllChildren);
  // Fatal signals. If nobody else listens, kill the children and re-raise so the
  // process still dies with the default disposition. If someone else listens
  // (e.g. the CLI below), they own shutdown; the 'exit' hook remains a backstop.
  for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
    const onSignal = (): void => {
      if (process.listenerCount(sig) > 1) return;
      killAllChildren();
      process.removeListener(sig, onSignal);
      process.kill(process.pid, sig);
    };
    process.on(sig, onSignal);
  }
}

/**
 * Python source run by the server process. The watchdog thread makes the server
 * exit if its parent dies without running exit hooks (e.g. Node got SIGKILL);
 * the second statement is the plain `trackio.show(...)` call.
 */
export const WATCHDOG_SOURCE = [
  "import os, threading, time",
  "def _trackio_node_watchdog(ppid=os.getppid()):",
  "    while os.getppid() == ppid:",
  "        time.sleep(0.5)",
  "    os._exit(0)",
  "threading.Thread(target=_trackio_node_watchdog, daemon=True).start()",
];

function serverSource(port: number): string {
  return [
    ...WATCHDOG_SOURCE,
    `import trackio; trackio.show(open_browser=False, server_port=${port}, block_thread=True)`,
  ].join("\n");
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

class PortInUseError extends Error {}

async function launchOnce(
  python: string,
  port: number,
  dataDir: string,
  writeToken: string,
  extraEnv: Record<string, string>,
  timeoutMs: number,
): Promise<TrackioServer> {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const key of SCRUBBED_ENV) delete env[key];
  Object.assign(env, {
    TRACKIO_DIR: dataDir,
    TRACKIO_WRITE_TOKEN: writeToken,
    PYTHONUNBUFFERED: "1",
    BROWSER: "true",
    ...extraEnv,
  });

  const child = spawn(python, ["-c", serverSource(port)], {
    cwd: dataDir,
    env,
    stdio: ["ignore", "pipe", "pipe"],
  });
  liveChildren.add(child);

  let output = "";
  const capture = (chunk: Buffer): void => {
    output += chunk.toString("utf8");
    if (output.length > MAX_LOG_CHARS) output = output.slice(output.length - MAX_LOG_CHARS);
  };
  child.stdout?.on("data", capture);
  child.stderr?.on("data", capture);

  let exited = false;
  let exitDescription = "";
  const exitPromise = new Promise<void>((resolve) => {
    const done = (desc: string): void => {
      if (exited) return;
      exited = true;
      exitDescription = desc;
      liveChildren.delete(child);
      resolve();
    };
    child.once("exit", (code, signal) => done(signal ? `signal ${signal}` : `exit code ${code}`));
    child.once("error", (err) => done(`spawn error: ${err.message}`));
  });
  // Also wait (briefly) for the pipes to drain so log() is complete after exit.
  const closedPromise = exitPromise.then(() =>
    Promise.race([new Promise<void>((resolve) => child.once("close", () => resolve())), sleep(500)]),
  );

  // A forgotten stop() must not keep the event loop alive forever; the 'exit'
  // hook then kills the server. stop()/kill() re-ref the child while waiting.
  child.unref();
  (child.stdout as unknown as net.Socket | null)?.unref?.();
  (child.stderr as unknown as net.Socket | null)?.unref?.();

  const url = `http://127.0.0.1:${port}/`;
  const writeUrl = `${url}?write_token=${encodeURIComponent(writeToken)}`;

  const signalAndWait = async (signal: NodeJS.Signals, graceMs?: number): Promise<void> => {
    if (exited) return closedPromise;
    child.ref();
    try {
      child.kill(signal);
    } catch {
      // raced with exit
    }
    if (NON_TERMINATING.has(signal)) {
      child.unref();
      return;
    }
    let timer: NodeJS.Timeout | undefined;
    if (graceMs !== undefined) {
      timer = setTimeout(() => {
        try {
          child.kill("SIGKILL");
        } catch {
          // raced with exit
        }
      }, graceMs);
    }
    try {
      await closedPromise;
    } finally {
      if (timer) clearTimeout(timer);
    }
  };

  const server: TrackioServer = {
    url,
    port,
    dataDir,
    writeToken,
    writeUrl,
    pid: child.pid ?? -1,
    stop: () => signalAndWait("SIGINT", STOP_GRACE_MS),
    kill: (signal: NodeJS.Signals = "SIGKILL") => signalAndWait(signal),
    log: () => output,
  };

  // Ready = our child announced it bound this port (so /version is not answered
  // by some other process on a reused port) and /version says api_version 1.
  const launched = (): boolean => /launched at: \S*:(\d+)\//.exec(output)?.[1] === String(port);
  const deadline = Date.now() + timeoutMs;
  let lastProblem = "no response yet";
  for (;;) {
    if (exited) {
      await closedPromise;
      const msg = `Trackio server exited during startup (${exitDescription}).\n--- server output ---\n${output}`;
      throw /Cannot find empty port|address already in use/i.test(output) ? new PortInUseError(msg) : new Error(msg);
    }
    if (Date.now() > deadline) {
      await server.kill("SIGKILL");
      throw new Error(
        `Trackio server did not become ready at ${url} within ${timeoutMs} ms (last: ${lastProblem}).\n--- server output ---\n${output}`,
      );
    }
    try {
      const res = await fetch(`${url}version`, { signal: AbortSignal.timeout(2000) });
      const body = await res.text();
      if (res.status !== 200) {
        lastProblem = `GET /version -> HTTP ${res.status}`;
      } else {
        let info: { api_version?: unknown } | null = null;
        try {
          info = JSON.parse(body) as { api_version?: unknown };
        } catch {
          lastProblem = `GET /version -> non-JSON body ${JSON.stringify(body.slice(0, 200))}`;
        }
        if (info && info.api_version !== 1) {
          lastProblem = `GET /version -> api_version ${JSON.stringify(info.api_version)} (expected 1)`;
        } else if (info && launched() && !exited) {
          return server;
        } else if (info) {
          lastProblem = "GET /version OK but the child has not announced this port yet";
        }
      }
    } catch (err) {
      lastProblem = `GET /version failed: ${(err as Error).message}`;
    }
    await sleep(POLL_INTERVAL_MS);
  }
}

/** Start a Trackio server from the repo venv and wait until it answers GET /version. */
export async function startTrackio(opts: StartOptions = {}): Promise<TrackioServer> {
  const python = venvPython();
  if (!existsSync(python)) {
    throw new Error(
      `Trackio venv not found (${python} is missing). Run \`npm run setup:python\` first` +
        (process.env.TRACKIO_VENV ? ` (TRACKIO_VENV=${process.env.TRACKIO_VENV}).` : "."),
    );
  }
  const dataDir = opts.dataDir ? path.resolve(opts.dataDir) : mkdtempSync(path.join(os.tmpdir(), "trackio-test-"));
  mkdirSync(dataDir, { recursive: true });
  const writeToken = opts.writeToken ?? DEFAULT_WRITE_TOKEN;
  const timeoutMs = opts.timeoutMs ?? 60_000;
  installCleanup();

  // An auto-picked port can be grabbed between freePort() and the bind; retry then.
  for (let attempt = 1; ; attempt++) {
    const port = opts.port ?? (await freePort());
    try {
      return await launchOnce(python, port, dataDir, writeToken, opts.env ?? {}, timeoutMs);
    } catch (err) {
      if (!(err instanceof PortInUseError) || opts.port !== undefined || attempt >= PORT_RETRIES) throw err;
    }
  }
}

// ---------------------------------------------------------------------------
// CLI

/** Whether the module at `moduleUrl` is the script node was started with (not imported). */
export function isMain(moduleUrl: string): boolean {
  const entry = process.argv[1];
  if (!entry) return false;
  try {
    return realpathSync(entry) === realpathSync(fileURLToPath(moduleUrl));
  } catch {
    return pathToFileURL(entry).href === moduleUrl;
  }
}

async function cli(argv: string[]): Promise<void> {
  const opts: StartOptions = {};
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const value = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${arg} needs a value`);
      return v;
    };
    if (arg === "--port") {
      const port = Number(value());
      if (!Number.isInteger(port) || port <= 0 || port > 65535) throw new Error(`invalid --port ${argv[i]}`);
      opts.port = port;
    } else if (arg === "--data") {
      opts.dataDir = value();
    } else if (arg === "--token") {
      opts.writeToken = value();
    } else if (arg === "-h" || arg === "--help") {
      process.stdout.write("usage: tsx scripts/trackio-server.ts [--port N] [--data DIR] [--token TOKEN]\n");
      return;
    } else {
      throw new Error(`unknown argument ${arg} (try --help)`);
    }
  }

  const server = await startTrackio(opts);
  process.stdout.write(
    `Trackio ${server.url}\nwrite URL: ${server.writeUrl}\ndata dir: ${server.dataDir}\n(Ctrl-C to stop)\n`,
  );

  let stopping = false;
  const shutdown = (sig: NodeJS.Signals): void => {
    if (stopping) return;
    stopping = true;
    process.stdout.write(`\n${sig}: stopping Trackio server...\n`);
    server.stop().then(
      () => process.exit(0),
      (err: unknown) => {
        process.stderr.write(`${String(err)}\n`);
        process.exit(1);
      },
    );
  };
  process.on("SIGINT", shutdown);
  process.on("SIGTERM", shutdown);

  // The child is unref'd; keep the CLI alive until it exits (on its own or via shutdown).
  const keepAlive = setInterval(() => {}, 1 << 30);
  const watch = setInterval(() => {
    try {
      process.kill(server.pid, 0);
    } catch {
      clearInterval(watch);
      clearInterval(keepAlive);
      if (!stopping) {
        process.stderr.write(`Trackio server exited unexpectedly.\n--- server output ---\n${server.log()}`);
        process.exit(1);
      }
    }
  }, 500);
}

if (isMain(import.meta.url)) {
  cli(process.argv.slice(2)).catch((err: unknown) => {
    process.stderr.write(`trackio-server: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  });
}
