// A fault-injecting HTTP proxy for the reliability tests: it sits between the client and a
// real Trackio server and, on command, refuses connections, answers 500/503/429 (with
// Retry-After), holds a response past the client's timeout, or drops the response after the
// server has stored the batch.
//
//   const proxy = await startFaultProxy(server.url);
//   proxy.inject({ kind: "status", status: 503 }, 3);  // the next 3 bulk_log requests get 503
//   proxy.inject({ kind: "drop" });                      // the next one is stored, then its answer lost
//   await proxy.refuse(); … await proxy.accept();         // nothing listening, then back on the same port
//   proxy.events                                         // what happened to every request
//
// Faults apply to the requests `match` selects (by default the metrics writes,
// `POST …/api/bulk_log`; `bulkLogWith(marker)` only those whose body contains a marker, to
// refuse one record wherever it travels); every other request passes through untouched.
// Requests are buffered whole before they are forwarded, so the proxy can count the entries
// of each batch.
import http from "node:http";
import type { AddressInfo, Socket } from "node:net";

export type Fault =
  /** Answer with this status without forwarding (the server stores nothing). */
  | { kind: "status"; status: number; retryAfter?: string; body?: string }
  /**
   * Hold the request for `ms`. "before": then forward it (a server too busy to start on it);
   * "after": forward it at once, so the server stores the batch, and hold the answer.
   */
  | { kind: "delay"; ms: number; forward: "before" | "after" }
  /** Forward; once the server has answered, close the client's connection without an answer. */
  | { kind: "drop" };

export interface ProxyEvent {
  /** ms since the proxy started (performance.now() based). */
  at: number;
  method: string;
  path: string;
  /** Entries in the request's `kwargs.logs` (or `alerts`), when it has any. */
  entries: number;
  /** The fault applied, e.g. "status 503", "delay after 3000", "drop"; null when passed through. */
  fault: string | null;
  /** What the server answered (null when not forwarded or the server did not answer). */
  upstreamStatus: number | null;
  /** What the client got (null when nothing: dropped, or it had gone away). */
  status: number | null;
}

export interface FaultProxy {
  /** "http://127.0.0.1:PORT/" */
  readonly url: string;
  readonly port: number;
  /** Every request seen, in arrival order. */
  readonly events: ProxyEvent[];
  /** Forward to another server (e.g. one restarted on a new port). */
  setTarget(url: string): void;
  /** Queue `fault` for the next `count` matching requests (after those already queued). */
  inject(fault: Fault, count?: number, match?: Match): void;
  /** Apply `fault` to every matching request until called again with null. */
  always(fault: Fault | null, match?: Match): void;
  /** Faults still queued. */
  readonly queued: number;
  /** Stop listening and cut open connections: clients get ECONNREFUSED. */
  refuse(): Promise<void>;
  /** Listen again on the same port. */
  accept(): Promise<void>;
  /** Stop for good (pending held responses are cut). */
  close(): Promise<void>;
}

/** Which requests a fault applies to; `body` is the request's body as text. */
export type Match = (method: string, path: string, body?: string) => boolean;

/** The metrics writes whose body contains `marker` (e.g. a string logged in one record). */
export function bulkLogWith(marker: string): Match {
  return (method, path, body) => bulkLog(method, path) && (body ?? "").includes(marker);
}

/** The metrics writes: `POST …/api/bulk_log` (not bulk_log_system, not bulk_alert). */
export const bulkLog: Match = (method, path) => method === "POST" && /\/api\/bulk_log(?:\?|$)/.test(path);

const HOP_BY_HOP = new Set([
  "connection",
  "keep-alive",
  "transfer-encoding",
  "content-length",
  "proxy-connection",
  "upgrade",
  "te",
  "trailer",
]);

function describe(fault: Fault): string {
  switch (fault.kind) {
    case "status":
      return `status ${fault.status}${fault.retryAfter !== undefined ? ` retry-after ${fault.retryAfter}` : ""}`;
    case "delay":
      return `delay ${fault.forward} ${fault.ms}`;
    case "drop":
      return "drop";
  }
}

function countEntries(body: Buffer): number {
  try {
    const parsed = JSON.parse(body.toString("utf8")) as { kwargs?: { logs?: unknown[]; alerts?: unknown[] } };
    const list = parsed.kwargs?.logs ?? parsed.kwargs?.alerts;
    return Array.isArray(list) ? list.length : 0;
  } catch {
    return 0;
  }
}

function headersFrom(raw: http.IncomingHttpHeaders): http.OutgoingHttpHeaders {
  const out: http.OutgoingHttpHeaders = {};
  for (const [k, v] of Object.entries(raw)) if (v !== undefined && !HOP_BY_HOP.has(k)) out[k] = v;
  return out;
}

export async function startFaultProxy(target: string, port = 0): Promise<FaultProxy> {
  let upstream = new URL(target);
  const t0 = performance.now();
  const events: ProxyEvent[] = [];
  const queue: { fault: Fault; match: Match }[] = [];
  let standing: { fault: Fault; match: Match } | null = null;
  const sockets = new Set<Socket>();
  const timers = new Set<NodeJS.Timeout>();
  const agent = new http.Agent({ keepAlive: false });
  let server: http.Server | null = null;
  let boundPort = port;
  let closed = false;

  const sleep = (ms: number) =>
    new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        timers.delete(timer);
        resolve();
      }, ms);
      timers.add(timer);
    });

  function pickFault(method: string, path: string, body: string): Fault | null {
    const i = queue.findIndex((q) => q.match(method, path, body));
    if (i >= 0) return queue.splice(i, 1)[0].fault;
    if (standing?.match(method, path, body)) return standing.fault;
    return null;
  }

  function forward(
    req: http.IncomingMessage,
    body: Buffer,
  ): Promise<{ status: number; headers: http.OutgoingHttpHeaders; body: Buffer } | null> {
    return new Promise((resolve) => {
      const base = upstream.pathname.replace(/\/$/, "");
      const up = http.request(
        {
          host: upstream.hostname,
          port: upstream.port,
          method: req.method,
          path: `${base}${req.url ?? "/"}`,
          headers: { ...headersFrom(req.headers), host: upstream.host, "content-length": body.length },
          agent,
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (c: Buffer) => chunks.push(c));
          res.on("end", () =>
            resolve({ status: res.statusCode ?? 502, headers: headersFrom(res.headers), body: Buffer.concat(chunks) }),
          );
          res.on("error", () => resolve(null));
        },
      );
      up.on("error", () => resolve(null));
      up.end(body);
    });
  }

  async function handle(req: http.IncomingMessage, res: http.ServerResponse, body: Buffer): Promise<void> {
    const method = req.method ?? "GET";
    const path = req.url ?? "/";
    const fault = pickFault(method, path, body.toString("utf8"));
    const event: ProxyEvent = {
      at: performance.now() - t0,
      method,
      path,
      entries: countEntries(body),
      fault: fault === null ? null : describe(fault),
      upstreamStatus: null,
      status: null,
    };
    events.push(event);
    const reply = (status: number, headers: http.OutgoingHttpHeaders, payload: Buffer | string) => {
      if (res.destroyed || req.socket.destroyed) return;
      event.status = status;
      res.writeHead(status, { ...headers, "content-length": Buffer.byteLength(payload) });
      res.end(payload);
    };

    if (fault?.kind === "status") {
      const headers: http.OutgoingHttpHeaders = { "content-type": "application/json" };
      if (fault.retryAfter !== undefined) headers["retry-after"] = fault.retryAfter;
      reply(fault.status, headers, fault.body ?? JSON.stringify({ error: `injected HTTP ${fault.status}` }));
      return;
    }
    if (fault?.kind === "delay" && fault.forward === "before") await sleep(fault.ms);
    const answer = closed ? null : await forward(req, body);
    event.upstreamStatus = answer?.status ?? null;
    if (fault?.kind === "delay" && fault.forward === "after") await sleep(fault.ms);
    if (fault?.kind === "drop") {
      // The server has stored the batch (or refused it); the client never hears which.
      req.socket.destroy();
      return;
    }
    if (answer === null) {
      req.socket.destroy();
      return;
    }
    reply(answer.status, answer.headers, answer.body);
  }

  function listen(): Promise<void> {
    const srv = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        handle(req, res, Buffer.concat(chunks)).catch(() => req.socket.destroy());
      });
    });
    srv.on("connection", (s: Socket) => {
      sockets.add(s);
      s.on("close", () => sockets.delete(s));
    });
    return new Promise((resolve, reject) => {
      srv.once("error", reject);
      srv.listen({ port: boundPort, host: "127.0.0.1" }, () => {
        srv.off("error", reject);
        boundPort = (srv.address() as AddressInfo).port;
        server = srv;
        resolve();
      });
    });
  }

  function stopListening(): Promise<void> {
    const srv = server;
    server = null;
    for (const s of sockets) s.destroy();
    sockets.clear();
    if (srv === null) return Promise.resolve();
    return new Promise((resolve) => srv.close(() => resolve()));
  }

  await listen();

  return {
    get url() {
      return `http://127.0.0.1:${boundPort}/`;
    },
    get port() {
      return boundPort;
    },
    events,
    get queued() {
      return queue.length;
    },
    setTarget(url: string) {
      upstream = new URL(url);
    },
    inject(fault: Fault, count = 1, match: Match = bulkLog) {
      for (let i = 0; i < count; i++) queue.push({ fault, match });
    },
    always(fault: Fault | null, match: Match = bulkLog) {
      standing = fault === null ? null : { fault, match };
    },
    refuse: stopListening,
    async accept() {
      if (server === null) await listen();
    },
    async close() {
      closed = true;
      for (const t of timers) clearTimeout(t);
      timers.clear();
      await stopListening();
      agent.destroy();
    },
  };
}
