// A fast local HTTP sink that speaks just enough of Trackio's API for both clients: it answers
// GET /version, accepts POST /api/bulk_log and discards the body after counting its records
// (occurrences of `"log_id"`) per project. GET /count?project=P reads the count back.
// It runs in the orchestrator process, which is otherwise idle while a child measures.

import { spawn } from "node:child_process";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";

export interface Sink {
  url: string;
  writeUrl: string;
  /** Records received per project. */
  counts: Map<string, number>;
  requests: number;
  stop(): Promise<void>;
}

const PROJECT_RE = /"project":"((?:[^"\\]|\\.)*)"/;

function countRecords(body: string): number {
  let n = 0;
  for (let at = body.indexOf('"log_id"'); at >= 0; at = body.indexOf('"log_id"', at + 8)) n++;
  return n;
}

export async function startSink(): Promise<Sink> {
  const counts = new Map<string, number>();
  const sink = { counts, requests: 0 } as Sink;
  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://sink");
    if (req.method === "GET" && url.pathname === "/version") {
      res.writeHead(200, { "content-type": "application/json" });
      res.end('{"version":"sink","api_version":1}');
      return;
    }
    if (req.method === "GET" && url.pathname === "/count") {
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify({ rows: counts.get(url.searchParams.get("project") ?? "") ?? 0 }));
      return;
    }
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      sink.requests++;
      if (url.pathname.endsWith("/bulk_log")) {
        const body = Buffer.concat(chunks).toString("latin1");
        const project = PROJECT_RE.exec(body.slice(0, 4096))?.[1] ?? "";
        counts.set(project, (counts.get(project) ?? 0) + countRecords(body));
      }
      res.writeHead(200, { "content-type": "application/json" });
      res.end('{"data":null}');
    });
  });
  server.keepAliveTimeout = 10_000;
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  sink.url = `http://127.0.0.1:${port}/`;
  sink.writeUrl = `${sink.url}?write_token=sink`;
  sink.stop = () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
  return sink;
}

/**
 * The sink in a process of its own (for scripts that measure this process's CPU, which the
 * sink's work must not add to). Its write URL, and how to stop it.
 */
export async function startSinkProcess(): Promise<{ writeUrl: string; stop(): void }> {
  const code = `import(${JSON.stringify(new URL("./sink.ts", import.meta.url).href)}).then(async (m) => { const s = await m.startSink(); process.stdout.write(s.writeUrl + "\\n"); });`;
  const child = spawn(process.execPath, ["--import", "tsx", "--input-type=module", "-e", code], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  const writeUrl = await new Promise<string>((resolve, reject) => {
    child.stdout.once("data", (d: Buffer) => resolve(String(d).trim()));
    child.once("exit", (c) => reject(new Error(`the sink exited (${c})`)));
  });
  return { writeUrl, stop: () => child.kill() };
}
