// Options, their environment fallbacks and defaults, checked once at construction so that a
// typo fails at the line that made it rather than in the worker minutes later.

import { randomBytes } from "node:crypto";
import { defaultSpoolRoot, inboxDir } from "./paths.js";
import { InvalidArgError } from "./shared/errors.js";
import { ALERT_LEVELS, type AlertLevel, type WorkerSettings } from "./shared/protocol.js";
import { isValidRingCapacity } from "./shared/ring.js";
import { isSpaceId, spaceIdToUrl } from "./space.js";
import { checkWellFormed, isPlainObject, metricsToJson } from "./values/json.js";

export interface ClientOptions {
  /** Trackio server URL, or a Space id (`user/space`); `?write_token=…` in a URL is used as the write token. Env `TRACKIO_SERVER_URL`, default `http://127.0.0.1:7860`. */
  baseUrl?: string;
  /** Project name. Env `TRACKIO_PROJECT`. Required by the first `log()`. */
  project?: string;
  /** Run name. Env `TRACKIO_RUN`; a readable name is generated when absent. */
  run?: string;
  /**
   * The group this run belongs to (Python's `trackio.init(group=…)`): stored as `_Group` in the
   * run's config, which the dashboard's "Group by" uses. Env `TRACKIO_GROUP`.
   */
  group?: string;
  /** The server's write token. Env `TRACKIO_WRITE_TOKEN`. */
  writeToken?: string;
  /** A Hugging Face token, sent only to `*.hf.space` hosts. Env `HF_TOKEN`. */
  hfToken?: string;
  /** Per-request timeout in ms. Env `TRACKIO_TIMEOUT_MS`, default 5000. */
  timeoutMs?: number;
  /**
   * Records waiting in the worker that trigger a send before `flushIntervalMs` is up. Env
   * `TRACKIO_MAX_BATCH`, default 4096 (DEFAULT_MAX_BATCH).
   */
  maxBatch?: number;
  /** The longest a record waits in the worker before it is sent, in ms. Env `TRACKIO_FLUSH_INTERVAL_MS`, default 500. */
  flushIntervalMs?: number;
  /** Hyperparameters, stored with the run (sent with its first record). */
  config?: Record<string, unknown>;
  /** Most records in one request when a backlog is sent, default 8192 (DEFAULT_MAX_RECORDS_PER_REQUEST). */
  maxRecordsPerRequest?: number;
  /** How long one batch is retried before it counts as failed, in ms, default 30000. */
  retryDeadlineMs?: number;
  /** Size of the shared ring in bytes, a power of two, default 16 MiB. */
  ringBytes?: number;
  /** Bytes held on the main thread when the ring is full, default 256 MiB. */
  maxOverflowBytes?: number;
  /** How long log() may block once the overflow is full too, in ms, default 30000. */
  overflowTimeoutMs?: number;
  /** How long the process may be held at exit to deliver what was logged, in ms, default 5000. */
  exitTimeoutMs?: number;
  /** Path or URL of the worker entry, for bundlers that move it. */
  workerFile?: string | URL;
  /**
   * Share the process's one worker thread with the other clients (default true): several runs
   * cost one thread. `false` gives this client a thread of its own, e.g. to keep a run with
   * heavy media away from the others.
   */
  sharedWorker?: boolean;
  /**
   * Where undeliverable records are kept until they can be sent: a directory of Trackio inbox
   * fragments per server. Env `TRACKIO_SPOOL_DIR`, default `~/.cache/trackio-node/spool`.
   * `false` turns the spool off (undeliverable records are then counted as failed).
   */
  spoolDir?: string | false;
  /**
   * With no server configured (no baseUrl, no TRACKIO_SERVER_URL) and none answering at the
   * default URL, write records into the local Trackio inbox (`$TRACKIO_DIR/inbox`), where
   * `trackio show` imports them. Default true.
   */
  localFallback?: boolean;
  /** Deliver (or spool) on SIGINT and SIGTERM before the signal takes effect. Default true. */
  handleSignals?: boolean;
  /**
   * Log system metrics as Trackio's Python client does (host CPU, frequency, memory, swap, disk
   * and network, GPUs where `nvidia-smi` exists) plus this process's CPU, RSS and heap and the
   * main thread's event-loop delay: every 10 s (`true`, the default), every N ms when a
   * number, never when `false`. Sampled in the worker thread. Env `TRACKIO_SYSTEM_METRICS`
   * (`false`/`0`, `true` or an interval in ms).
   */
  systemMetrics?: boolean | number;
  /**
   * POST every alert to this URL, as Python's `webhook_url` does: Slack
   * (`hooks.slack.com`) and Discord (`discord.com/api/webhooks`) URLs get those services'
   * message formats, any other URL a plain JSON object. Posted by the worker thread. Env
   * `TRACKIO_WEBHOOK_URL`.
   */
  webhookUrl?: string;
  /** Post only alerts of this level or above ("info" < "warn" < "error"). Env `TRACKIO_WEBHOOK_MIN_LEVEL`. */
  webhookMinLevel?: AlertLevel;
  /** No run-name line on the first log(), no alert echo, no summary line on close(). Default false. */
  quiet?: boolean;
  /** The run's identity on the server (a new random id by default). */
  runId?: string;
  /**
   * Continue an existing run of the same name, as `trackio.init(resume=…)`: "allow" resumes it
   * if it exists, "must" requires it, "never" requires that it does not. Needs
   * `await client.ready()` (or `Client.init()`) before the first log().
   */
  resume?: "never" | "allow" | "must";
}

export const DEFAULT_URL = "http://127.0.0.1:7860";

export interface ResolvedOptions
  extends Omit<WorkerSettings, "project" | "run" | "runId" | "clientId" | "spoolDir" | "inboxDir" | "clockBase"> {
  project: string | undefined;
  run: string | undefined;
  ringBytes: number;
  maxOverflowBytes: number;
  overflowTimeoutMs: number;
  exitTimeoutMs: number;
  workerFile: string | URL | undefined;
  sharedWorker: boolean;
  handleSignals: boolean;
  /** Root of the per-server spool directories, or null when spooling is off. */
  spoolRoot: string | null;
  /** The local inbox to fall back to while the URL is the default one, or null. */
  fallbackInbox: string | null;
  quiet: boolean;
  runId: string | undefined;
  resume: "never" | "allow" | "must" | undefined;
}

function envInt(name: string): number | undefined {
  const raw = process.env[name];
  if (raw === undefined || raw === "") return undefined;
  const n = Number(raw);
  if (!Number.isSafeInteger(n) || n <= 0) {
    throw new InvalidArgError(`${name} must be a positive integer, got ${JSON.stringify(raw)}`);
  }
  return n;
}

function positiveInt(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || value <= 0) {
    throw new InvalidArgError(`options.${name} must be a positive integer, got ${String(value)}`);
  }
  return value;
}

function optionalString(name: string, value: unknown): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== "string") {
    throw new InvalidArgError(`options.${name} must be a string, got ${typeof value}`);
  }
  checkWellFormed(value, `options.${name}`);
  return value === "" ? undefined : value;
}

export interface ParsedUrl {
  origin: string;
  basePath: string;
  displayUrl: string;
  writeToken: string | null;
}

/**
 * A request costs the worker CPU whatever its size (undici, the parser, and the wake-ups
 * around it on a VM: ~0.13 ms back to back against a sink, ~0.6 ms behind Trackio, where the
 * worker idles while the server stores the request before it; bench/wire-floor.ts), and
 * Trackio a transaction: posting W1 records one request at a time, 2,048 a request cost the
 * sending thread 454-542 ns a record against Trackio and 8,192 cost 183-233, and the server
 * stored them ~10% faster. Requests are also capped at 2 MiB (worker/flusher.ts), so larger
 * records make fewer per request.
 */
export const DEFAULT_MAX_RECORDS_PER_REQUEST = 8192;

/**
 * Since every request has a cost whatever its size (see DEFAULT_MAX_RECORDS_PER_REQUEST), a
 * loop's records are sent by time (flushIntervalMs, as Trackio's Python client sends
 * every 0.5 s) unless this many wait. At 128, a loop logging 10,000 steps/s made 78 requests a
 * second: the worker spent 6.2-6.5 µs of CPU a record, against 1.2 µs at 4096, a request every
 * ~0.4 s (`npm run bench -- --only w5,w6`, three runs each).
 */
export const DEFAULT_MAX_BATCH = 4096;

/**
 * Split a server URL the way Trackio's Python client does: the `write_token` query parameter
 * is a credential, the rest of the query and the fragment are dropped, and the path gets a
 * trailing slash so that `api/<name>` resolves below it. A Space id (`user/space`) stands for
 * the Space's URL (see space.ts).
 */
export function parseServerUrl(raw: string): ParsedUrl {
  let url: URL;
  try {
    url = new URL(isSpaceId(raw) ? spaceIdToUrl(raw) : raw);
  } catch {
    throw new InvalidArgError(`baseUrl is not a valid URL: ${JSON.stringify(redact(raw))}${schemeHint(raw)}`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new InvalidArgError(`baseUrl must be an http(s) URL, got ${JSON.stringify(redact(raw))}${schemeHint(raw)}`);
  }
  const writeToken = url.searchParams.get("write_token");
  const basePath = url.pathname.endsWith("/") ? url.pathname : `${url.pathname}/`;
  return {
    origin: url.origin,
    basePath,
    displayUrl: `${url.origin}${basePath}`,
    writeToken: writeToken === null || writeToken === "" ? null : writeToken,
  };
}

// "localhost:7911" parses as a URL whose scheme is "localhost:", and "127.0.0.1:7911" not at
// all: both are a host and port whose "http://" was left out.
function schemeHint(raw: string): string {
  if (raw.includes("://") || !URL.canParse(`http://${raw}`)) return "";
  return `; it needs http:// or https:// in front, e.g. ${JSON.stringify(`http://${redact(raw)}`)}`;
}

/** A URL as it may appear in a message: never with its write token. */
export function redact(raw: string): string {
  return raw.replace(/([?&]write_token=)[^&#]*/g, "$1***");
}

export function resolveOptions(opts: ClientOptions = {}): ResolvedOptions {
  if (typeof opts !== "object" || opts === null) {
    throw new InvalidArgError("options must be an object");
  }
  const env = process.env;
  const givenUrl = optionalString("baseUrl", opts.baseUrl) ?? (env.TRACKIO_SERVER_URL || undefined);
  const url = parseServerUrl(givenUrl ?? DEFAULT_URL);
  if (
    opts.spoolDir !== undefined &&
    opts.spoolDir !== false &&
    (typeof opts.spoolDir !== "string" || opts.spoolDir === "")
  ) {
    throw new InvalidArgError("options.spoolDir must be a directory path or false");
  }
  const spoolRoot =
    opts.spoolDir === false ? null : (opts.spoolDir ?? (env.TRACKIO_SPOOL_DIR || defaultSpoolRoot(env)));
  const ringBytes = positiveInt("ringBytes", opts.ringBytes, 16 * 1024 * 1024);
  if (!isValidRingCapacity(ringBytes)) {
    throw new InvalidArgError("options.ringBytes must be a power of two between 4096 and 2^30");
  }
  return {
    ...url,
    writeToken: optionalString("writeToken", opts.writeToken) ?? url.writeToken ?? env.TRACKIO_WRITE_TOKEN ?? null,
    hfToken: optionalString("hfToken", opts.hfToken) ?? env.HF_TOKEN ?? null,
    project: optionalString("project", opts.project) ?? (env.TRACKIO_PROJECT || undefined),
    run: optionalString("run", opts.run) ?? (env.TRACKIO_RUN || undefined),
    configJson: runConfigJson(opts.config, optionalString("group", opts.group) ?? (env.TRACKIO_GROUP || undefined)),
    timeoutMs: positiveInt("timeoutMs", opts.timeoutMs, envInt("TRACKIO_TIMEOUT_MS") ?? 5000),
    maxBatch: positiveInt("maxBatch", opts.maxBatch, envInt("TRACKIO_MAX_BATCH") ?? DEFAULT_MAX_BATCH),
    flushIntervalMs: positiveInt("flushIntervalMs", opts.flushIntervalMs, envInt("TRACKIO_FLUSH_INTERVAL_MS") ?? 500),
    maxRecordsPerRequest: positiveInt(
      "maxRecordsPerRequest",
      opts.maxRecordsPerRequest,
      DEFAULT_MAX_RECORDS_PER_REQUEST,
    ),
    retryDeadlineMs: positiveInt("retryDeadlineMs", opts.retryDeadlineMs, 30_000),
    ringBytes,
    maxOverflowBytes: positiveInt("maxOverflowBytes", opts.maxOverflowBytes, 256 * 1024 * 1024),
    overflowTimeoutMs: positiveInt("overflowTimeoutMs", opts.overflowTimeoutMs, 30_000),
    exitTimeoutMs: positiveInt("exitTimeoutMs", opts.exitTimeoutMs, 5000),
    workerFile: opts.workerFile,
    sharedWorker: opts.sharedWorker !== false,
    handleSignals: opts.handleSignals !== false,
    systemMetricsMs: systemMetricsMs(opts.systemMetrics, env.TRACKIO_SYSTEM_METRICS),
    quiet: opts.quiet === true,
    webhookUrl:
      opts.webhookUrl !== undefined
        ? webhookUrl("options.webhookUrl", optionalString("webhookUrl", opts.webhookUrl))
        : webhookUrl("TRACKIO_WEBHOOK_URL", env.TRACKIO_WEBHOOK_URL || undefined),
    webhookMinLevel:
      (opts.webhookMinLevel !== undefined
        ? alertLevel("options.webhookMinLevel", opts.webhookMinLevel)
        : alertLevel("TRACKIO_WEBHOOK_MIN_LEVEL", env.TRACKIO_WEBHOOK_MIN_LEVEL || undefined)) ?? null,
    runId: optionalString("runId", opts.runId),
    resume: resumeMode(opts.resume),
    spoolRoot,
    fallbackInbox: givenUrl === undefined && opts.localFallback !== false ? inboxDir(env) : null,
  };
}

const ADJECTIVES = [
  "brave",
  "calm",
  "eager",
  "fancy",
  "gentle",
  "happy",
  "jolly",
  "kind",
  "lively",
  "proud",
  "quiet",
  "swift",
  "witty",
  "bold",
  "bright",
  "clever",
];
const NOUNS = [
  "sunset",
  "river",
  "forest",
  "meadow",
  "falcon",
  "otter",
  "comet",
  "harbor",
  "canyon",
  "breeze",
  "glacier",
  "lantern",
  "maple",
  "orbit",
  "pebble",
  "summit",
];

/** A readable run name in the style of Trackio's own (`brave-sunset-42`). */
export function generateRunName(): string {
  const b = randomBytes(3);
  return `${ADJECTIVES[b[0] % ADJECTIVES.length]}-${NOUNS[b[1] % NOUNS.length]}-${b[2]}`;
}

export function randomHex(bytes: number): string {
  return randomBytes(bytes).toString("hex");
}

/**
 * The name Trackio stores a project under on disk (`utils.canonical_project_name`): letters,
 * digits, `-` and `_` only, "default" when nothing is left. Media file paths start with it.
 */
export function canonicalProjectName(project: string): string {
  return [...project].filter((c) => /[\p{L}\p{N}_-]/u.test(c)).join("") || "default";
}

/**
 * The checks Trackio's Python client makes on a project name before logging (the server
 * makes none): names that would collide with its own side tables are refused.
 */
export function checkProjectName(project: string): void {
  checkWellFormed(project, `project name ${JSON.stringify(project)}`);
  const canonical = canonicalProjectName(project);
  const reservedSuffixes = [
    "_system",
    "_configs",
    "_traces",
    "_artifacts",
    "_artifact_versions",
    "_artifact_aliases",
    "_run_artifact_links",
  ];
  if (canonical.startsWith("registry-") || reservedSuffixes.some((s) => canonical.endsWith(s))) {
    throw new InvalidArgError(`project name ${JSON.stringify(project)} is reserved by Trackio; choose another`);
  }
}

/**
 * The config as Trackio's Python client stores it: the user's keys (none may start with `_`)
 * plus `_Username`, `_Created` and `_Group` (the run's group or null), which the dashboard shows.
 */
export function runConfigJson(config: unknown, group?: string): string {
  if (config !== undefined && (typeof config !== "object" || config === null || !isPlainObject(config))) {
    throw new InvalidArgError("options.config must be a plain object");
  }
  const user = (config ?? {}) as Record<string, unknown>;
  for (const key of Object.keys(user)) checkConfigKey(key, "options.config");
  const created = new Date().toISOString().replace("Z", "000+00:00");
  return metricsToJson({ ...user, _Username: null, _Created: created, _Group: group ?? null }, "options.config");
}

/** Trackio keeps config keys starting with `_` for itself (`_Username`, `_Created`, `_Group`). */
export function checkConfigKey(key: string, call: string): void {
  if (key.startsWith("_")) {
    throw new InvalidArgError(`${call}: key ${JSON.stringify(key)} starts with "_", which Trackio reserves`);
  }
}

/** Python's monitors sample every 10 s. */
const SYSTEM_METRICS_MS = 10_000;

function systemMetricsMs(value: boolean | number | undefined, raw: string | undefined): number {
  if (value === undefined && raw !== undefined && raw !== "") {
    const text = raw.trim().toLowerCase();
    if (text === "false" || text === "0") return 0;
    if (text === "true" || text === "1") return SYSTEM_METRICS_MS;
    const n = Number(text);
    if (Number.isSafeInteger(n) && n >= 100) return n;
    throw new InvalidArgError(
      `TRACKIO_SYSTEM_METRICS must be true, false, 0, 1 or an interval of at least 100 ms, got ${JSON.stringify(raw)}`,
    );
  }
  if (value === undefined || value === true) return SYSTEM_METRICS_MS;
  if (value === false) return 0;
  if (!Number.isSafeInteger(value) || value < 100) {
    throw new InvalidArgError(
      `options.systemMetrics must be a boolean or an interval of at least 100 ms, got ${String(value)}`,
    );
  }
  return value;
}

function resumeMode(value: unknown): "never" | "allow" | "must" | undefined {
  if (value === undefined || value === "never" || value === "allow" || value === "must") return value;
  throw new InvalidArgError(`options.resume must be "never", "allow" or "must", got ${JSON.stringify(value)}`);
}

/**
 * An alert level as Python's `parse_alert_level` reads one (case and surrounding blanks
 * ignored); undefined stays undefined.
 */
export function alertLevel(what: string, value: unknown): AlertLevel | undefined {
  if (value === undefined || value === null) return undefined;
  const level = typeof value === "string" ? value.trim().toLowerCase() : value;
  if ((ALERT_LEVELS as readonly unknown[]).includes(level)) return level as AlertLevel;
  throw new InvalidArgError(`${what} must be "info", "warn" or "error", got ${JSON.stringify(value)}`);
}

function webhookUrl(what: string, raw: string | undefined): string | null {
  if (raw === undefined) return null;
  const protocol = URL.canParse(raw) ? new URL(raw).protocol : "";
  // The URL itself stays out of the message: a Slack or Discord webhook URL is a credential.
  if (protocol !== "http:" && protocol !== "https:") {
    throw new InvalidArgError(`${what} must be an http(s) URL, such as https://hooks.slack.com/services/…`);
  }
  return raw;
}
