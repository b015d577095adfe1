// The legacy transport: Trackio servers up to 0.23 are Gradio apps, and many Hugging Face
// Spaces still run them. Their write endpoints are Gradio API functions, called in two steps:
//
//   POST {base}gradio_api/call/<name>   {"data": [<positional arguments>]}  → {"event_id": "…"}
//   GET  {base}gradio_api/call/<name>/<event_id>   (text/event-stream)
//        event: complete\ndata: [<result>]      the call succeeded
//        event: error\ndata: null | "<message>"  the call failed (Gradio hides the exception)
//
// The POST only queues the call: whether it succeeded is known only from the event stream,
// so the stream is always read, and an `error` event is an error, never a silent success.
// Arguments are positional; their order comes from `GET {base}gradio_api/info`, so the same
// named-argument bodies the HTTP API takes (`{"kwargs": {...}}`) are translated here, and the
// rest of the worker does not know which protocol it speaks. The entries themselves need no
// change: a 0.23 server reads `project`, `run`, `metrics`, `step`, `config` (when truthy) and
// `log_id` from each `bulk_log` entry, as the HTTP API does, and ignores `run_id` and
// whatever a fragment line sent whole (isolation, sync) adds (`v`, `kind`, `timestamp`).

import { AuthError, StatusError, type TrackioError } from "../shared/errors.js";
import type { ServerApi } from "./server-api.js";

export interface GradioParameter {
  name: string;
  hasDefault: boolean;
  default: unknown;
}

/** The write and read functions a Gradio-based Trackio server offers, by name (without "/"). */
export type GradioEndpoints = Map<string, GradioParameter[]>;

interface RawInfo {
  named_endpoints?: Record<
    string,
    { parameters?: { parameter_name?: unknown; parameter_has_default?: unknown; parameter_default?: unknown }[] }
  >;
}

/**
 * Read `GET gradio_api/info`. Returns the endpoints when the answer is a Gradio API description
 * that has Trackio's `/bulk_log`, else null (another Gradio app, an HTML page, no JSON).
 */
export function parseGradioInfo(text: string, contentType: string): GradioEndpoints | null {
  if (!contentType.includes("json")) return null;
  let info: RawInfo;
  try {
    info = JSON.parse(text) as RawInfo;
  } catch {
    return null;
  }
  const named = info?.named_endpoints;
  if (typeof named !== "object" || named === null || named["/bulk_log"] === undefined) return null;
  const endpoints: GradioEndpoints = new Map();
  for (const [path, endpoint] of Object.entries(named)) {
    const params = Array.isArray(endpoint?.parameters) ? endpoint.parameters : [];
    endpoints.set(
      path.replace(/^\//, ""),
      params.map((p, i) => ({
        name: typeof p.parameter_name === "string" ? p.parameter_name : `arg${i}`,
        hasDefault: p.parameter_has_default === true,
        default: p.parameter_default ?? null,
      })),
    );
  }
  return endpoints;
}

/**
 * Turn a request body of the HTTP API (`{"kwargs": {...}}`, `{"args": [...]}`, or a plain
 * object of named arguments) into Gradio's `{"data": [...]}`, in the order of `params`. An
 * argument not given takes its default, or null (Trackio's write functions take `hf_token`
 * as `None` on a self-hosted server); named arguments the function does not have are
 * dropped, as the HTTP API drops them.
 */
export function gradioBody(params: readonly GradioParameter[], body: string): string {
  const parsed = JSON.parse(body) as unknown;
  let args: unknown[] = [];
  let kwargs: Record<string, unknown> = {};
  if (Array.isArray(parsed)) {
    args = parsed;
  } else if (typeof parsed === "object" && parsed !== null) {
    const o = parsed as Record<string, unknown>;
    if ("kwargs" in o || "args" in o) {
      args = Array.isArray(o.args) ? o.args : [];
      kwargs = typeof o.kwargs === "object" && o.kwargs !== null ? (o.kwargs as Record<string, unknown>) : {};
    } else {
      kwargs = o;
    }
  }
  const data = params.map((p, i) => {
    if (Object.hasOwn(kwargs, p.name)) return kwargs[p.name];
    if (i < args.length) return args[i];
    return p.hasDefault ? p.default : null;
  });
  return JSON.stringify({ data });
}

export type GradioOutcome = { kind: "complete"; data: unknown } | { kind: "error"; message: string | null };

/**
 * The outcome in a Gradio event stream: the first `complete` or `error` event (heartbeats and
 * `generating` events are skipped). Null when the stream ended without one.
 */
export function parseGradioEvents(text: string): GradioOutcome | null {
  for (const block of text.replace(/\r\n?/g, "\n").split("\n\n")) {
    let event = "message";
    const data: string[] = [];
    for (const line of block.split("\n")) {
      if (line.startsWith("event:")) event = line.slice(6).trim();
      else if (line.startsWith("data:")) data.push(line.slice(5).replace(/^ /, ""));
    }
    if (event !== "complete" && event !== "error") continue;
    let value: unknown = null;
    try {
      value = data.length === 0 ? null : JSON.parse(data.join("\n"));
    } catch {
      value = data.join("\n");
    }
    if (event === "complete") return { kind: "complete", data: Array.isArray(value) ? (value[0] ?? null) : value };
    if (typeof value === "object" && value !== null && typeof (value as { error?: unknown }).error === "string") {
      return { kind: "error", message: (value as { error: string }).error };
    }
    return { kind: "error", message: typeof value === "string" && value !== "" ? value : null };
  }
  return null;
}

/** One HTTP exchange, as the transport makes it (its pool, headers, request counter, errors). */
export type GradioRequest = (
  method: "GET" | "POST",
  path: string,
  body: string | undefined,
  what: string,
) => Promise<{ status: number; headers: Record<string, string | string[] | undefined>; text: string }>;

export interface GradioContext {
  basePath: string;
  displayUrl: string;
  /** Whether the server is a Hugging Face Space (decides the hint of an error). */
  onSpace: boolean;
  /** Whether an HF token is sent. */
  hasHfToken: boolean;
  request: GradioRequest;
  /** The transport's mapping of an unexpected HTTP status to an error (auth, 404, retryable …). */
  statusError(
    status: number,
    body: string,
    headers: Record<string, string | string[] | undefined>,
    what: string,
  ): TrackioError;
}

/**
 * Call `name` on a Gradio-based Trackio and wait for its outcome. Resolves to the text the
 * HTTP API would have answered (`{"data": <result>}`), so callers need not know the protocol.
 */
export async function gradioCall(
  ctx: GradioContext,
  endpoints: GradioEndpoints,
  name: string,
  body: string,
): Promise<string> {
  const callPath = `${ctx.basePath}gradio_api/call/${name}`;
  const what = `POST ${ctx.displayUrl}gradio_api/call/${name}`;
  const params = endpoints.get(name);
  if (params === undefined) {
    // Not retryable: this server version does not have the function at all.
    throw ctx.statusError(
      404,
      JSON.stringify({
        error: `this Trackio server (0.23 or older, Gradio-based) has no /${name} function; upgrade it (pip install -U trackio) to use it`,
      }),
      {},
      what,
    );
  }
  const posted = await ctx.request("POST", callPath, gradioBody(params, body), what);
  if (posted.status !== 200) throw ctx.statusError(posted.status, posted.text, posted.headers, what);
  let eventId: unknown;
  try {
    eventId = (JSON.parse(posted.text) as { event_id?: unknown }).event_id;
  } catch {
    // handled below
  }
  if (typeof eventId !== "string" || eventId === "") {
    throw new StatusError(
      `${what} answered 200 without an event_id: ${posted.text.slice(0, 300)}`,
      posted.status,
      posted.text,
    );
  }

  const resultWhat = `GET ${ctx.displayUrl}gradio_api/call/${name}/${eventId}`;
  const result = await ctx.request("GET", `${callPath}/${encodeURIComponent(eventId)}`, undefined, resultWhat);
  if (result.status !== 200) throw ctx.statusError(result.status, result.text, result.headers, resultWhat);
  const outcome = parseGradioEvents(result.text);
  if (outcome === null) {
    // The stream ended early (a proxy, a restart). The call may or may not have run; sending
    // it again is safe because the server ignores log_ids it already has. 502 is retried.
    throw new StatusError(
      `${resultWhat} ended without a result (event stream: ${JSON.stringify(result.text.slice(0, 200))})`,
      502,
      result.text,
    );
  }
  if (outcome.kind === "complete") return JSON.stringify({ data: outcome.data ?? null });

  const detail =
    outcome.message ??
    "Gradio does not pass the exception on; the server's log has it (e.g. a malformed entry or an HF token without write access)";
  if (ctx.onSpace && !ctx.hasHfToken) {
    throw new AuthError(
      `${what} failed on the server: ${detail}. A Space takes writes only with a Hugging Face token that has write access to it: set HF_TOKEN or pass { hfToken }.`,
      500,
      result.text,
    );
  }
  if (outcome.message !== null && /hf_token|HF_TOKEN|write permissions|write access/.test(outcome.message)) {
    throw new AuthError(
      `${what} was refused: ${detail}. Use an HF token (HF_TOKEN or { hfToken }) with write access to the Space.`,
      500,
      result.text,
    );
  }
  // The same exception on a 0.24+ server is an HTTP 500, and is treated alike: a few retries
  // (harmless, the server ignores log_ids it already stored), then an error to the user.
  throw new StatusError(`${what} failed on the server (Gradio event "error"): ${detail}`, 500, result.text);
}

/** A discovered Gradio-based Trackio, as the transport calls it. */
export function gradioApi(ctx: GradioContext, endpoints: GradioEndpoints): ServerApi {
  return {
    protocol: "gradio",
    probePath: "gradio_api/info",
    // The arguments are re-read to be reordered: a body built as bytes is read as text first.
    post: (name, body) =>
      gradioCall(ctx, endpoints, name, typeof body === "string" ? body : Buffer.from(body).toString()),
    mediaRefusal: `${ctx.displayUrl} runs Trackio 0.23 or older (the Gradio protocol), which cannot store media files under the names the records reference; upgrade the server to Trackio 0.34.1 or newer`,
    artifactRefusal: `${ctx.displayUrl} runs Trackio 0.23 or older (the Gradio protocol), which has no artifacts; upgrade the server to Trackio 0.30 or newer`,
  };
}
