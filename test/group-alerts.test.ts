// Run features of Trackio's Python client, checked against that client itself (from the venv):
// `group` stored as `_Group` in the run's config, alerts echoed to stderr in its format, and
// alerts posted to a webhook (Slack, Discord, anything else) with the very bytes it posts.

import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { Worker } from "node:worker_threads";
import { startTrackio, type TrackioServer, venvPython } from "../scripts/trackio-server.js";
import { Client } from "../src/index.js";
import { queryProject, sqlString } from "./support/read-api.js";
import { waitFor } from "./support/scenario.js";
import { stderrOf } from "./support/stderr.js";

process.env.TRACKIO_SPOOL_DIR = mkdtempSync(join(tmpdir(), "trackio-spool-"));

let server: TrackioServer;
before(async () => {
  server = await startTrackio();
});
after(async () => {
  await server?.stop();
});

/** Run Python from the venv with trackio importable; `input` goes to its stdin. */
function python(source: string, input = ""): string {
  const r = spawnSync(venvPython(), ["-c", source], { input, encoding: "utf8", timeout: 60_000 });
  assert.equal(r.status, 0, `python failed: ${r.stderr}`);
  return r.stdout;
}

/** The run's config as the server stored it (the `configs` table), without `_Created`. */
async function storedConfig(project: string, runName: string): Promise<Record<string, unknown>> {
  const rows = await queryProject(
    server.url,
    project,
    `SELECT config FROM configs WHERE run_name = ${sqlString(runName)}`,
  );
  assert.equal(rows.length, 1, `one config row for ${runName}`);
  const config = JSON.parse(rows[0].config as string) as Record<string, unknown>;
  assert.match(String(config._Created), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}\+00:00$/);
  delete config._Created;
  return config;
}

describe("group", () => {
  test("stored as _Group exactly as Trackio's Python client stores it", async () => {
    python(
      `import trackio
trackio.init(project="groups", name="py-run", group="sweep-a", server_url=${JSON.stringify(server.writeUrl)}, config={"lr": 0.1},
             auto_log_cpu=False, auto_log_gpu=False)
trackio.log({"loss": 1.0})
trackio.finish()`,
    );
    const client = new Client({
      baseUrl: server.writeUrl,
      project: "groups",
      run: "node-run",
      group: "sweep-a",
      config: { lr: 0.1 },
      quiet: true,
    });
    client.log({ loss: 1 });
    await client.close();
    const fromPython = await storedConfig("groups", "py-run");
    assert.deepEqual(fromPython, { lr: 0.1, _Username: null, _Group: "sweep-a" });
    assert.deepEqual(await storedConfig("groups", "node-run"), fromPython);
    // And in the same key order (the dashboard shows the config as stored).
    assert.deepEqual(Object.keys(await storedConfig("groups", "node-run")), Object.keys(fromPython));
  });

  test("TRACKIO_GROUP sets it; config() keeps it; no group stores null as Python does", async () => {
    process.env.TRACKIO_GROUP = "from-env";
    try {
      const client = new Client({ baseUrl: server.writeUrl, project: "groups", run: "env-run", quiet: true });
      client.log({ loss: 1 });
      client.config({ lr: 0.2 });
      await client.close();
    } finally {
      delete process.env.TRACKIO_GROUP;
    }
    assert.deepEqual(await storedConfig("groups", "env-run"), { _Username: null, _Group: "from-env", lr: 0.2 });
    const plain = new Client({ baseUrl: server.writeUrl, project: "groups", run: "no-group", quiet: true });
    plain.log({ loss: 1 });
    await plain.close();
    assert.deepEqual(await storedConfig("groups", "no-group"), { _Username: null, _Group: null });
  });
});

describe("alert echo", () => {
  const lines = (tty: boolean) =>
    python(
      `import json, sys
from trackio.alerts import AlertLevel, format_alert_terminal
for level, title, text, step in json.load(sys.stdin):
    line = format_alert_terminal(AlertLevel(level), title, text, step)
    if not ${tty ? "True" : "False"}:
        line = line.replace("\\033[94m", "").replace("\\033[93m", "").replace("\\033[91m", "").replace("\\033[0m", "")
    print(line)`,
      JSON.stringify([
        ["warn", "Loss spike", "loss 3.2 at step 7", 7],
        ["info", "Checkpoint", null, 7],
        ["error", "Diverged", "", 9],
      ]),
    );

  for (const tty of [false, true]) {
    test(`alert() prints Python's line to stderr (${tty ? "in color on a terminal" : "plain when not a terminal"})`, async () => {
      const client = new Client({ baseUrl: server.writeUrl, project: "alerts", run: `echo-${tty}` });
      const wasTTY = process.stderr.isTTY;
      process.stderr.isTTY = tty;
      let printed: string;
      try {
        client.log({ loss: 3.2 }, 7);
        printed = await stderrOf(() => {
          client.alert({ title: "Loss spike", text: "loss 3.2 at step 7" });
          client.alert({ title: "Checkpoint", level: "info" });
          client.alert({ title: "Diverged", text: "", level: "error", step: 9 });
        });
      } finally {
        process.stderr.isTTY = wasTTY;
      }
      assert.equal(printed, lines(tty));
      if (!tty) {
        assert.equal(
          printed,
          "[TRACKIO WARN] Loss spike: loss 3.2 at step 7 (step 7)\n[TRACKIO INFO] Checkpoint (step 7)\n[TRACKIO ERROR] Diverged (step 9)\n",
        );
      }
      client.on("error", () => {});
      await stderrOf(() => client.close());
    });
  }
});

/**
 * An HTTP receiver on a thread of its own: it answers while the main thread is blocked, and
 * counts requests in shared memory that the main thread can wait on.
 */
class Receiver {
  readonly count = new Int32Array(new SharedArrayBuffer(4));
  readonly requests: { path: string; contentType: string; body: string }[] = [];
  readonly #worker: Worker;
  port = 0;

  constructor() {
    this.#worker = new Worker(
      `const { createServer } = require("node:http");
const { parentPort, workerData } = require("node:worker_threads");
const count = new Int32Array(workerData);
const server = createServer((req, res) => {
  let body = "";
  req.setEncoding("utf8");
  req.on("data", (chunk) => { body += chunk; });
  req.on("end", () => {
    parentPort.postMessage({ path: req.url, contentType: req.headers["content-type"], body });
    res.writeHead(req.url.startsWith("/fail/") ? 500 : 200);
    res.end("ok");
    Atomics.add(count, 0, 1);
    Atomics.notify(count, 0);
  });
});
server.listen(0, "127.0.0.1", () => parentPort.postMessage({ port: server.address().port }));`,
      { eval: true, workerData: this.count.buffer },
    );
    this.#worker.on("message", (m: { port?: number; path: string; contentType: string; body: string }) => {
      if (m.port !== undefined) this.port = m.port;
      else this.requests.push(m);
    });
  }

  async ready(): Promise<this> {
    await waitFor("the receiver to listen", () => this.port !== 0, 10_000);
    return this;
  }

  url(path: string): string {
    return `http://127.0.0.1:${this.port}${path}`;
  }

  /** The requests to paths starting with `prefix`, once `n` have arrived. */
  async received(prefix: string, n: number): Promise<{ path: string; contentType: string; body: string }[]> {
    const mine = () => this.requests.filter((r) => r.path.startsWith(prefix));
    await waitFor(
      `${n} webhook posts to ${prefix}`,
      () => mine().length >= n,
      30_000,
      () => this.requests,
    );
    return mine();
  }

  stop(): Promise<number> {
    return this.#worker.terminate();
  }
}

/** What Trackio's Python client posts for each alert: its own send_webhook, to the receiver. */
function pythonPosts(calls: unknown[]): void {
  python(
    `import json, sys
from trackio.alerts import AlertLevel, send_webhook
for url, level, title, text, project, run, step, timestamp in json.load(sys.stdin):
    send_webhook(url, AlertLevel(level), title, text, project, run, step, timestamp)`,
    JSON.stringify(calls),
  );
}

describe("webhooks", () => {
  let receiver: Receiver;
  before(async () => {
    receiver = await new Receiver().ready();
  });
  after(async () => {
    await receiver?.stop();
  });

  const kinds = [
    { name: "Slack", path: "/hooks.slack.com/services/T000/B000/XXXX" },
    { name: "Discord", path: "/discord.com/api/webhooks/123/abc" },
    { name: "any other URL (plain JSON)", path: "/my-endpoint" },
  ];
  for (const kind of kinds) {
    test(`${kind.name}: the worker posts what Python posts, byte for byte, from webhookMinLevel up`, async () => {
      const tag = `/node${kinds.indexOf(kind)}`;
      const client = new Client({
        baseUrl: server.writeUrl,
        project: "alerts",
        run: "hooked",
        webhookUrl: receiver.url(`${tag}${kind.path}`),
        webhookMinLevel: "warn",
        quiet: true,
      });
      client.log({ loss: 1 }, 41);
      client.alert({ title: "Below the minimum", level: "info" });
      client.alert({ title: "Loss spike ↑ 🚨", text: 'loss "3.2"\nat step 41 — Größe', level: "warn" });
      client.alert({ title: "Diverged", level: "error", step: 50 });
      await client.close();
      const posts = await receiver.received(tag, 2);
      assert.equal(posts.length, 2, "the info alert is below webhookMinLevel");
      for (const p of posts) assert.equal(p.contentType, "application/json");

      const timestamps = kind.name.startsWith("any")
        ? posts.map((p) => (JSON.parse(p.body) as { timestamp: string }).timestamp)
        : [null, null];
      const pyTag = `/py${kinds.indexOf(kind)}`;
      const url = receiver.url(`${pyTag}${kind.path}`);
      pythonPosts([
        [url, "warn", "Loss spike ↑ 🚨", 'loss "3.2"\nat step 41 — Größe', "alerts", "hooked", 41, timestamps[0]],
        [url, "error", "Diverged", null, "alerts", "hooked", 50, timestamps[1]],
      ]);
      const expected = await receiver.received(pyTag, 2);
      assert.deepEqual(
        posts.map((p) => p.body),
        expected.map((p) => p.body),
      );
      if (kind.name === "Slack") {
        assert.deepEqual(JSON.parse(posts[1].body), {
          blocks: [
            { type: "section", text: { type: "mrkdwn", text: "🚨 *[ERROR] Diverged*" } },
            { type: "context", elements: [{ type: "mrkdwn", text: "Project: alerts  •  Run: hooked  •  Step 50" }] },
          ],
        });
      }
    });
  }

  test("posted by the worker thread while the main thread is blocked", async () => {
    const client = new Client({
      baseUrl: server.writeUrl,
      project: "alerts",
      run: "blocked",
      webhookUrl: receiver.url("/blocked/hook"),
      quiet: true,
    });
    const before = Atomics.load(receiver.count, 0);
    client.alert({ title: "While blocked", level: "info" });
    // The main thread does not yield until the receiver counted the post (or 20 s passed).
    const deadline = performance.now() + 20_000;
    while (Atomics.load(receiver.count, 0) === before && performance.now() < deadline) {
      Atomics.wait(receiver.count, 0, before, 100);
    }
    assert.notEqual(Atomics.load(receiver.count, 0), before, "the post arrived while the main thread was blocked");
    await client.close();
    const [post] = await receiver.received("/blocked/", 1);
    assert.equal((JSON.parse(post.body) as { title: string }).title, "While blocked");
  });

  test("a failed post is a TRACKIO_WEBHOOK warning naming the host only; the alert is still stored", async () => {
    const warnings: { code?: string; message: string }[] = [];
    const onWarning = (w: Error & { code?: string }) => warnings.push({ code: w.code, message: w.message });
    process.on("warning", onWarning);
    const client = new Client({
      baseUrl: server.writeUrl,
      project: "alerts",
      run: "failing-hook",
      webhookUrl: receiver.url("/fail/hooks.slack.com/services/SECRET"),
      quiet: true,
    });
    client.alert({ title: "Unheard" });
    await client.close();
    await waitFor(
      "the warning",
      () => warnings.some((w) => w.code === "TRACKIO_WEBHOOK"),
      10_000,
      () => warnings,
    );
    process.off("warning", onWarning);
    const warning = warnings.find((w) => w.code === "TRACKIO_WEBHOOK");
    assert.equal(warning?.message, `could not post an alert to the webhook at 127.0.0.1:${receiver.port}: HTTP 500`);
    const rows = await queryProject(server.url, "alerts", "SELECT title FROM alerts WHERE run_name = 'failing-hook'");
    assert.deepEqual(rows, [{ title: "Unheard" }]);
  });

  test("options and environment are checked as Python checks them", () => {
    assert.throws(() => new Client({ webhookMinLevel: "warning" as "warn" }), {
      code: "ERR_TRACKIO_INVALID_ARG",
      message: 'options.webhookMinLevel must be "info", "warn" or "error", got "warning"',
    });
    assert.throws(() => new Client({ webhookUrl: "hooks.slack.com/services/SECRET" }), {
      message: "options.webhookUrl must be an http(s) URL, such as https://hooks.slack.com/services/…",
    });
    process.env.TRACKIO_WEBHOOK_MIN_LEVEL = " ERROR ";
    process.env.TRACKIO_WEBHOOK_URL = "https://hooks.slack.com/services/T/B/X";
    try {
      assert.doesNotThrow(() => new Client({ project: "p" }));
      process.env.TRACKIO_WEBHOOK_MIN_LEVEL = "loud";
      assert.throws(() => new Client({ project: "p" }), {
        message: 'TRACKIO_WEBHOOK_MIN_LEVEL must be "info", "warn" or "error", got "loud"',
      });
    } finally {
      delete process.env.TRACKIO_WEBHOOK_MIN_LEVEL;
      delete process.env.TRACKIO_WEBHOOK_URL;
    }
  });
});
