// The Python oracle of the property tests: one long-lived process of test/support/oracle.py
// in the project's venv (found as scripts/trackio-server.ts finds it), logging runs through
// Trackio's own Python client on request.

import { type ChildProcessWithoutNullStreams, spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { venvPython } from "../../scripts/trackio-server.js";
import type { Tagged } from "./value-model.js";

export interface OracleRun {
  /** The write URL (with ?write_token=…). */
  url: string;
  project: string;
  run: string;
  config: Tagged | null;
  records: { step: number; metrics: Tagged }[];
  alerts: { title: string; text: string | null; level: string; step: number }[];
}

export interface OracleAnswer {
  run_id: string | null;
  /** Python warnings, with the step of the log()/alert() call that raised them (null: init/finish). */
  warnings: { step: number | null; message: string }[];
  /** A traceback when the Python client raised. */
  error: string | null;
}

const SCRIPT = fileURLToPath(new URL("./oracle.py", import.meta.url));

export class PythonOracle {
  readonly #proc: ChildProcessWithoutNullStreams;
  #buffer = "";
  #stderr = "";
  #waiting: ((line: string) => void) | null = null;
  #exited: string | null = null;

  constructor() {
    const env: NodeJS.ProcessEnv = { ...process.env, PYTHONUNBUFFERED: "1", PYTHONIOENCODING: "utf-8" };
    // Trackio's client must talk to the URL it is given, never to a Space or a dataset.
    for (const k of [
      "TRACKIO_SERVER_URL",
      "TRACKIO_SPACE_ID",
      "SPACE_ID",
      "TRACKIO_DATASET_ID",
      "TRACKIO_BUCKET_ID",
      "HF_TOKEN",
    ])
      delete env[k];
    this.#proc = spawn(venvPython(), [SCRIPT], { env, stdio: ["pipe", "pipe", "pipe"] });
    this.#proc.stdout.setEncoding("utf8");
    this.#proc.stdout.on("data", (chunk: string) => {
      this.#buffer += chunk;
      this.#deliver();
    });
    this.#proc.stderr.setEncoding("utf8");
    this.#proc.stderr.on("data", (chunk: string) => {
      this.#stderr = (this.#stderr + chunk).slice(-20_000);
    });
    this.#proc.on("exit", (code, signal) => {
      this.#exited = `the Python oracle exited (${signal ?? code}); its stderr:\n${this.#stderr}`;
      this.#waiting?.("");
    });
  }

  #deliver(): void {
    const nl = this.#buffer.indexOf("\n");
    if (nl < 0 || this.#waiting === null) return;
    const line = this.#buffer.slice(0, nl);
    this.#buffer = this.#buffer.slice(nl + 1);
    const resolve = this.#waiting;
    this.#waiting = null;
    resolve(line);
  }

  /** Log one run through Trackio's Python client; resolves once trackio.finish() returned. */
  async log(req: OracleRun): Promise<OracleAnswer> {
    if (this.#exited !== null) throw new Error(this.#exited);
    const line = await new Promise<string>((resolve) => {
      this.#waiting = resolve;
      this.#proc.stdin.write(`${JSON.stringify(req)}\n`);
      this.#deliver();
    });
    if (this.#exited !== null) throw new Error(this.#exited);
    return JSON.parse(line) as OracleAnswer;
  }

  async stop(): Promise<void> {
    if (this.#exited !== null) return;
    const done = new Promise((resolve) => this.#proc.once("exit", resolve));
    this.#proc.stdin.end();
    await done;
  }
}
