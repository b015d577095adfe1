// Talking to a Trackio server: discovery of its protocol (the HTTP API of Trackio 0.24+, or
// the Gradio protocol of Trackio up to 0.23, see gradio.ts), auth headers, one keep-alive
// undici pool, and the retry policy. Runs only in the worker thread.

import { Readable } from "node:stream";
import pRetry from "p-retry";
import { Pool } from "undici";
import {
  AuthError,
  HttpError,
  NoEndpointError,
  NotFoundError,
  StatusError,
  type TrackioError,
} from "../shared/errors.js";
import type { ServerSettings } from "../shared/protocol.js";
import { gradioApi, parseGradioInfo } from "./gradio.js";
import type { MediaFile, MediaTarget } from "./media-files.js";
import type { Body, ServerApi } from "./server-api.js";

/**
 * The retry policy, written out. Why each status is (not) retried:
 * - no answer at all (refused, reset, timeout): the server may be starting or restarting.
 * - 429, 502, 503, 504: a proxy or an overloaded server (Trackio answers 503 while writes are
 *   paused); Retry-After is honoured.
 * - 500: Trackio's catch-all for handler exceptions, which can be transient (a locked SQLite
 *   database) or permanent (a malformed entry), so only a few are retried.
 * - 400, 404 and the rest: the same request will fail the same way.
 * Retrying a batch the server may already have stored is safe: its log_ids make the server
 * ignore the duplicates.
 */
export const RETRY_POLICY = {
  retryStatuses: [429, 502, 503, 504] as readonly number[],
  max500Retries: 3,
  minTimeoutMs: 200,
  maxTimeoutMs: 5000,
  factor: 2,
  maxRetryAfterMs: 30_000,
};

const retryAfterOf = new WeakMap<Error, number>();

/** Retry-After as ms: delta-seconds or an HTTP date. */
export function parseRetryAfter(value: string | string[] | undefined, now = Date.now()): number | undefined {
  const raw = (Array.isArray(value) ? value[0] : value)?.trim();
  if (raw === undefined || raw === "") return undefined;
  if (/^\d+$/.test(raw)) return Number(raw) * 1000;
  if (!/^(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)/.test(raw)) return undefined;
  // The asctime form has no zone; HTTP dates are all GMT, and Date.parse would read it as local.
  const date = Date.parse(/^\w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d \d{4}$/.test(raw) ? `${raw} GMT` : raw);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

/** 1 Mbit/s: the slowest uplink a request's timeout allows for (a 2 MiB request: 16.8 s more). */
const UPLOAD_BYTES_PER_MS = 125;

function errorText(body: string): string {
  try {
    const parsed = JSON.parse(body) as { error?: unknown };
    if (typeof parsed?.error === "string") return parsed.error;
  } catch {
    // not JSON: use the raw text
  }
  return body.length > 300 ? `${body.slice(0, 300)}…` : body;
}

function causeText(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const code = (err as { code?: unknown }).code;
  return typeof code === "string" ? `${code} (${err.message})` : err.message;
}

export interface TransportHooks {
  onRequest(): void;
  /** An attempt failed with `error` and is retried. */
  onRetry(error: unknown): void;
}

export class Transport {
  readonly #s: ServerSettings;
  readonly #pool: Pool;
  readonly #headers: Record<string, string>;
  readonly #hfToken: string | null;
  readonly #hooks: TransportHooks;
  #noEndpoint: NoEndpointError | null = null;
  // After a send exhausted its retries, the next ones try once: a server that stays down
  // should not hold every later batch for a full deadline.
  #healthy = true;
  /** What discovery found; null until then. */
  #api: ServerApi | null = null;
  readonly #httpApi: ServerApi = {
    protocol: "http",
    probePath: "version",
    post: (name, body) => this.#httpPost(name, body),
    mediaRefusal: null,
    artifactRefusal: null,
  };
  serverVersion: string | null = null;

  constructor(settings: ServerSettings, hooks: TransportHooks) {
    this.#s = settings;
    this.#hooks = hooks;
    this.#pool = new Pool(settings.origin, {
      connections: 2,
      pipelining: 1,
      keepAliveTimeout: 4000,
      // undici's own defaults are 300 s, which would hold close() for minutes on a dead server.
      headersTimeout: settings.timeoutMs,
      bodyTimeout: settings.timeoutMs,
      connect: { timeout: settings.timeoutMs },
    });
    // Trackio's Python client sends a Hugging Face token only to *.hf.space hosts, so that a
    // self-hosted server never sees it; so do we.
    const onSpace = isSpaceOrigin(settings.origin);
    this.#hfToken = onSpace ? settings.hfToken : null;
    this.#headers = { "content-type": "application/json" };
    if (settings.writeToken !== null) this.#headers["x-trackio-write-token"] = settings.writeToken;
    if (this.#hfToken !== null) this.#headers.authorization = `Bearer ${this.#hfToken}`;
  }

  /** What discovery found: Trackio's HTTP API (0.24+) or the Gradio protocol (up to 0.23). */
  get protocol(): "http" | "gradio" | null {
    return this.#api?.protocol ?? null;
  }

  /** The `hf_token` argument every write endpoint requires (null when self-hosted). */
  get hfTokenJson(): string {
    return this.#hfToken === null ? "null" : JSON.stringify(this.#hfToken);
  }

  /**
   * POST a JSON body to `api/<name>`, with discovery first and retries per RETRY_POLICY.
   * `once` makes a single attempt (used to find out whether any server is there at all).
   */
  async call(name: string, body: Body, once = false): Promise<string> {
    return this.#retrying(async () => (await this.#discover()).post(name, body), once);
  }

  /**
   * POST once, without retries and without marking the server unhealthy on failure: the
   * probes of a request being split to find the records the server refuses (see isolate.ts),
   * where a failure is expected and says nothing about the server's health.
   */
  async callOnce(name: string, body: Body): Promise<string> {
    const text = await (await this.#discover()).post(name, body);
    this.#healthy = true;
    return text;
  }

  /**
   * Whether the server answers at all right now: one GET of its version (of its API
   * description for a Gradio-based Trackio), no retries. A server that answers while it
   * refuses a request is up, and the request's content is what it refuses.
   */
  async probe(): Promise<boolean> {
    const path = this.#api?.probePath ?? "version";
    try {
      const { status } = await this.#request("GET", `${this.#s.basePath}${path}`, undefined, `GET ${path}`);
      return status === 200;
    } catch {
      return false;
    }
  }

  /**
   * Store one media file on the server: stage its bytes (`POST api/upload`, multipart field
   * `files`), then move them into place (`bulk_upload_media`). The server consumes a staged
   * file even when the second step fails, so a retry repeats both steps. The file keeps the
   * name the logged record references (`orig_name`, honoured by Trackio 0.34.1 and newer).
   */
  async uploadMedia(target: MediaTarget, file: MediaFile, once = false): Promise<void> {
    await this.#retrying(async () => {
      const api = await this.#discover();
      if (api.mediaRefusal !== null) throw new NoEndpointError(api.mediaRefusal);
      const staged = await this.#stage(file);
      const entry = {
        project: target.project,
        run: target.run,
        run_id: target.run_id,
        step: target.step,
        relative_path: null,
        uploaded_file: { path: staged, orig_name: file.name, meta: { _type: "gradio.FileData" } },
      };
      await api.post(
        "bulk_upload_media",
        `{"kwargs":{"uploads":[${JSON.stringify(entry)}],"hf_token":${this.hfTokenJson}}}`,
      );
      return "";
    }, once);
  }

  /**
   * Store one artifact blob: stage its bytes as media are staged, then move them into the
   * project's content-addressed store (`bulk_upload_artifact_blob`), where the server checks
   * them against `digest`. Both steps again on a retry, as for media.
   */
  async uploadArtifactBlob(project: string, digest: string, bytes: Uint8Array): Promise<void> {
    await this.#retrying(async () => {
      const api = await this.#discover();
      if (api.artifactRefusal !== null) throw new NoEndpointError(api.artifactRefusal);
      const staged = await this.#stage({ name: digest, contentType: "application/octet-stream", bytes });
      const entry = {
        project,
        digest,
        uploaded_file: { path: staged, orig_name: digest, meta: { _type: "gradio.FileData" } },
      };
      await api.post(
        "bulk_upload_artifact_blob",
        `{"kwargs":{"project":${JSON.stringify(project)},"uploads":[${JSON.stringify(entry)}],"hf_token":${this.hfTokenJson}}}`,
      );
      return "";
    });
  }

  async #stage(file: MediaFile): Promise<string> {
    const what = `POST ${this.#s.displayUrl}api/upload`;
    const boundary = `----trackio-node-${Math.random().toString(36).slice(2)}${Date.now().toString(36)}`;
    const head = Buffer.from(
      `--${boundary}\r\nContent-Disposition: form-data; name="files"; filename=${JSON.stringify(file.name)}\r\nContent-Type: ${file.contentType}\r\n\r\n`,
    );
    const tail = Buffer.from(`\r\n--${boundary}--\r\n`);
    // The parts as they are, not concatenated: a large file is not copied once more.
    const body = Readable.from([head, file.bytes, tail], { objectMode: false });
    const { status, headers, text } = await this.#request("POST", `${this.#s.basePath}api/upload`, body, what, {
      "content-type": `multipart/form-data; boundary=${boundary}`,
      "content-length": String(head.length + file.bytes.length + tail.length),
    });
    if (status !== 200) throw statusError(status, text, headers, what);
    let paths: unknown;
    try {
      paths = (JSON.parse(text) as { paths?: unknown }).paths;
    } catch {
      // reported below
    }
    if (!Array.isArray(paths) || typeof paths[0] !== "string") {
      throw new StatusError(`${what} answered 200 without the staged file's path: ${errorText(text)}`, status, text);
    }
    return paths[0];
  }

  async #retrying<T>(attempt: () => Promise<T>, once = false): Promise<T> {
    let fiveHundreds = 0;
    const start = performance.now();
    const result = await pRetry(attempt, {
      retries: this.#healthy && !once ? Number.POSITIVE_INFINITY : 0,
      maxRetryTime: this.#s.retryDeadlineMs,
      minTimeout: RETRY_POLICY.minTimeoutMs,
      maxTimeout: RETRY_POLICY.maxTimeoutMs,
      factor: RETRY_POLICY.factor,
      randomize: true,
      onFailedAttempt: async ({ error, retriesLeft }) => {
        const wait = retryAfterOf.get(error) ?? 0;
        const left = this.#s.retryDeadlineMs - (performance.now() - start);
        if (wait > 0 && retriesLeft > 0 && left > 0) await sleep(Math.min(wait, RETRY_POLICY.maxRetryAfterMs, left));
      },
      shouldConsumeRetry: ({ error }) => (retryAfterOf.get(error) ?? 0) === 0,
      shouldRetry: ({ error }) => {
        if (!isTransient(error)) return false;
        if (error instanceof StatusError && error.status === 500 && ++fiveHundreds > RETRY_POLICY.max500Retries)
          return false;
        this.#hooks.onRetry(error);
        return true;
      },
    }).catch((err: unknown) => {
      if (isTransient(err)) this.#healthy = false;
      throw err;
    });
    this.#healthy = true;
    return result;
  }

  async close(): Promise<void> {
    await this.#pool.close();
  }

  async #discover(): Promise<ServerApi> {
    if (this.#api !== null) return this.#api;
    if (this.#noEndpoint !== null) throw this.#noEndpoint;
    const where = `${this.#s.displayUrl}version`;
    const { status, headers, text } = await this.#request(
      "GET",
      `${this.#s.basePath}version`,
      undefined,
      `GET ${where}`,
    );
    const contentType = String(headers["content-type"] ?? "");
    if (status === 200 && contentType.includes("json")) {
      let info: { api_version?: unknown; version?: unknown } = {};
      try {
        info = JSON.parse(text);
      } catch {
        // fall through to the error below
      }
      if (info.api_version === 1) {
        this.serverVersion = typeof info.version === "string" ? info.version : null;
        this.#api = this.#httpApi;
        return this.#api;
      }
      throw this.#permanentNoEndpoint(
        `GET ${where} answered api_version ${JSON.stringify(info.api_version)}; this client speaks api_version 1 (Trackio 0.24 or newer). Upgrade the server with \`pip install -U trackio\`.`,
      );
    }
    // Trackio up to 0.23 is a Gradio app without /version: it is recognised by its API
    // description listing Trackio's bulk_log. (A 0.24+ server answers any unknown GET with its
    // dashboard page, so only a JSON answer counts.)
    const gradio = status === 404 ? await this.#discoverGradio() : null;
    if (gradio !== null) {
      this.#api = gradio;
      return gradio;
    }
    if (status === 404 || (status === 200 && !contentType.includes("json"))) {
      throw this.#permanentNoEndpoint(
        `${this.#s.displayUrl} is not a Trackio server: GET /version answered ${status} ${contentType || "(no content type)"} and GET /gradio_api/info does not describe Trackio's bulk_log. Point baseUrl (or TRACKIO_SERVER_URL) at a Trackio server, e.g. one started with \`trackio show\`, or a Space id ("user/space").`,
      );
    }
    throw statusError(status, text, headers, `GET ${where}`);
  }

  /** Whether the server is a Gradio-based Trackio (≤ 0.23), found by its API description. */
  async #discoverGradio(): Promise<ServerApi | null> {
    const what = `GET ${this.#s.displayUrl}gradio_api/info`;
    const { status, headers, text } = await this.#request("GET", `${this.#s.basePath}gradio_api/info`, undefined, what);
    // A 5xx or 429 (a Space waking up) is retried; 401/403 (a private Space) is an AuthError.
    if (status >= 500 || status === 429 || status === 401 || status === 403) {
      throw statusError(status, text, headers, what);
    }
    const endpoints = status === 200 ? parseGradioInfo(text, String(headers["content-type"] ?? "")) : null;
    if (endpoints === null) return null;
    const ctx = {
      basePath: this.#s.basePath,
      displayUrl: this.#s.displayUrl,
      onSpace: isSpaceOrigin(this.#s.origin),
      hasHfToken: this.#hfToken !== null,
      request: this.#request.bind(this),
      statusError,
    };
    return gradioApi(ctx, endpoints);
  }

  #permanentNoEndpoint(message: string): NoEndpointError {
    this.#noEndpoint = new NoEndpointError(message);
    return this.#noEndpoint;
  }

  async #httpPost(name: string, body: Body): Promise<string> {
    const what = `POST ${this.#s.displayUrl}api/${name}`;
    const { status, headers, text } = await this.#request("POST", `${this.#s.basePath}api/${name}`, body, what);
    if (status === 200) return text;
    throw statusError(status, text, headers, what);
  }

  async #request(
    method: "GET" | "POST",
    path: string,
    body: Body | Readable | undefined,
    what: string,
    headers?: Record<string, string>,
  ): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; text: string }> {
    this.#hooks.onRequest();
    const length = headers?.["content-length"];
    const bytes =
      body === undefined || body instanceof Readable
        ? Number(length ?? 0)
        : typeof body === "string"
          ? body.length
          : body.byteLength;
    // The timeout counts from when the body is handed to the socket, so its upload counts
    // too: allow for it at UPLOAD_BYTES_PER_MS, or a large request on a slow uplink would
    // look like a dead server and be retried at the same size, in vain.
    const timeout = this.#s.timeoutMs + Math.round(bytes / UPLOAD_BYTES_PER_MS);
    try {
      const res = await this.#pool.request({
        method,
        path,
        body,
        headers: headers === undefined ? this.#headers : { ...this.#headers, ...headers },
        headersTimeout: timeout,
      });
      const text = await res.body.text();
      return { status: res.statusCode, headers: res.headers, text };
    } catch (err) {
      throw new HttpError(`${what} got no answer: ${causeText(err)}`, { cause: err });
    }
  }
}

function statusError(
  status: number,
  body: string,
  headers: Record<string, string | string[] | undefined>,
  what: string,
): TrackioError {
  const detail = errorText(body);
  if (isAuthFailure(status, detail)) {
    return new AuthError(
      `${what} was refused (HTTP ${status}): ${detail} Pass { writeToken } to the Client, set TRACKIO_WRITE_TOKEN, or use the write-access URL that \`trackio show\` prints; on a Space, set HF_TOKEN to a token with write access.`,
      status,
      body,
    );
  }
  if (status === 404) return new NotFoundError(`${what} answered 404: ${detail}`, body);
  const err = new StatusError(`${what} answered HTTP ${status}: ${detail}`, status, body);
  const retryAfter = parseRetryAfter(headers["retry-after"]);
  if (retryAfter !== undefined && (status === 429 || status === 503)) retryAfterOf.set(err, retryAfter);
  return err;
}

// Trackio answers a missing or wrong write token with 400 and a message naming write_token;
// on Spaces a bad HF token surfaces as a 500 whose message names the token.
function isAuthFailure(status: number, detail: string): boolean {
  if (status === 401 || status === 403) return true;
  if (status === 400) return /write_token/i.test(detail);
  if (status === 500) return /hf_token|write permissions|HF_TOKEN/.test(detail);
  return false;
}

export function isTransient(err: unknown): boolean {
  if (err instanceof HttpError) return true;
  if (err instanceof StatusError) return err.status === 500 || RETRY_POLICY.retryStatuses.includes(err.status);
  return false;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Nothing listens at the address (as opposed to a server that answered, or went silent). */
export function isConnectionRefused(err: unknown): boolean {
  if (!(err instanceof HttpError)) return false;
  const cause = (err as { cause?: { code?: unknown } }).cause;
  return cause?.code === "ECONNREFUSED";
}

/** A Hugging Face Space: the only kind of host Trackio's clients send a Hugging Face token to. */
function isSpaceOrigin(origin: string): boolean {
  return new URL(origin).hostname.endsWith(".hf.space");
}
