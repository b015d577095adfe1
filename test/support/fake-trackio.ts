// A stand-in for a Trackio server on 127.0.0.1, for the tests that need no Python
// (transport.test.ts, test/unit/): `fakeServer` answers each request with a handler of the
// test's; `fakeTrackio` answers like Trackio's HTTP API (GET /version, POST /api/bulk_*):
// it stores entries once per log_id (as the server's dedup does) and can be told to be down,
// to refuse chosen entries, or to hold its answers. What a real server stores is checked by
// the tests that start one; these check what the client sends and does with the answers.

import { mkdtempSync, rmSync } from "node:fs";
import { createServer, type IncomingHttpHeaders, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { TestContext } from "node:test";

export interface SeenRequest {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  body: string;
}

export type Handler = (req: SeenRequest, res: ServerResponse, n: number) => void;

export interface FakeServer {
  origin: string;
  seen: SeenRequest[];
  posts(): SeenRequest[];
  gets(): SeenRequest[];
}

export function json(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { "content-type": "application/json", ...headers });
  res.end(JSON.stringify(body));
}

export const versionOk: Handler = (_req, res) => json(res, 200, { api_version: 1, version: "0.24.0" });
export const ok: Handler = (_req, res) => json(res, 200, { data: "ok" });

/** Start a server; `post` answers the nth (0-based) POST, `version` every GET. Closed after the test. */
export async function fakeServer(t: TestContext, post: Handler, version: Handler = versionOk): Promise<FakeServer> {
  const seen: SeenRequest[] = [];
  let posts = 0;
  const server: Server = createServer((req, res) => {
    let body = "";
    req.setEncoding("utf8");
    req.on("data", (chunk: string) => (body += chunk));
    req.on("end", () => {
      const r = { method: req.method ?? "", url: req.url ?? "", headers: req.headers, body };
      seen.push(r);
      if (r.method === "GET") version(r, res, 0);
      else post(r, res, posts++);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  t.after(async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  const { port } = server.address() as AddressInfo;
  return {
    origin: `http://127.0.0.1:${port}`,
    seen,
    posts: () => seen.filter((r) => r.method === "POST"),
    gets: () => seen.filter((r) => r.method === "GET"),
  };
}

/** The origin of a port nothing listens on (one that was just free: listen, note it, close). */
export async function closedOrigin(): Promise<string> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, "127.0.0.1", resolve));
  const { port } = probe.address() as AddressInfo;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  return `http://127.0.0.1:${port}`;
}

/** A temporary directory, removed after the test. */
export function tempDir(t: TestContext, prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), `trackio-${prefix}-`));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** One entry of a bulk request, as the client sent it. */
export type Entry = Record<string, unknown> & { log_id?: string; alert_id?: string };

/** How the fake answers a request: store its entries, or fail with a status and Trackio's error body. */
export type Reply = "store" | { status: number; error: string; headers?: Record<string, string> };

export interface FakeTrackio extends FakeServer {
  /** Entries stored, by log_id (alert_id for alerts), each once, in the order they arrived. */
  stored: Map<string, Entry>;
  /** Decides the answer to each POST; stores everything until a test changes it. */
  answer: (entries: Entry[], api: string) => Reply;
  /** Hold the answers to POSTs until the returned function is called. */
  hold(): () => void;
  /** Resolves when the fake has received `n` POSTs in all. */
  postsReach(n: number): Promise<void>;
}

/** Answer every request with `status` (503: Trackio while writes are paused). */
export function down(status = 503): () => Reply {
  return () => ({ status, error: `unavailable (${status})` });
}

/** Refuse, with 400 and nothing stored, any request holding an entry `bad` picks (as Trackio refuses a malformed entry). */
export function refusing(bad: (entry: Entry) => boolean): (entries: Entry[]) => Reply {
  return (entries) => (entries.some(bad) ? { status: 400, error: "a malformed entry" } : "store");
}

export async function fakeTrackio(t: TestContext): Promise<FakeTrackio> {
  const stored = new Map<string, Entry>();
  let gate: Promise<void> | null = null;
  const waiters: { n: number; resolve: () => void }[] = [];
  let received = 0;
  const fake: FakeTrackio = {
    ...(await fakeServer(t, (req, res) => {
      received++;
      for (const w of waiters.filter((x) => received >= x.n)) w.resolve();
      const answer = () => {
        const api = req.url.replace(/^.*\/api\//, "");
        const { kwargs } = JSON.parse(req.body) as { kwargs: Record<string, unknown> };
        const entries = (kwargs.logs ?? kwargs.alerts) as Entry[];
        const reply = fake.answer(entries, api);
        if (reply !== "store") return json(res, reply.status, { error: reply.error }, reply.headers);
        for (const e of entries) {
          const id = e.log_id ?? e.alert_id;
          if (typeof id === "string" && !stored.has(id)) stored.set(id, e);
        }
        json(res, 200, { data: null });
      };
      if (gate === null) answer();
      else void gate.then(answer);
    })),
    stored,
    answer: () => "store",
    hold() {
      let release = () => {};
      gate = new Promise<void>((resolve) => {
        release = () => {
          gate = null;
          resolve();
        };
      });
      return release;
    },
    postsReach(n) {
      if (received >= n) return Promise.resolve();
      return new Promise((resolve) => waiters.push({ n, resolve }));
    },
  };
  return fake;
}
