// Image, Audio, Video and Html against a real Trackio server: the record references the file
// as Trackio's Python client does, and the server's /file route serves exactly the bytes the
// worker made. Also the failures: bad arguments at the call, a server that is down (spooled,
// then `trackio sync`), local mode (written into $TRACKIO_DIR/media), a file deleted before
// the worker read it.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, unlinkSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { freePort, startTrackio, type TrackioServer } from "../scripts/trackio-server.js";
import { Audio, Client, Html, Image, type MediaStats, Table, type TrackioError, Video } from "../src/index.js";
import { encodePng, encodeWav } from "../src/io/encode.js";
import { listSpooledMedia, wrapHtml } from "../src/io/media-files.js";
import { spoolDirFor } from "../src/paths.js";
import { startFaultProxy } from "./support/fault-proxy.js";
import { callApi, queryProject } from "./support/read-api.js";
import { runSync, somethingListensOn7860, tempDir } from "./support/scenario.js";

let server: TrackioServer;
let mediaDir: string;
let seq = 0;
const project = () => `media-${process.pid}-${seq++}`;

before(async () => {
  server = await startTrackio();
  mediaDir = (await callApi<{ media_dir: string }>(server.url, "get_settings", {})).media_dir;
});
after(async () => {
  await server?.stop();
});

/** GET /file?path=<media_dir>/<file_path>, as the dashboard fetches media. */
async function served(url: string, dir: string, filePath: string): Promise<{ status: number; bytes: Buffer }> {
  const res = await fetch(`${url}file?path=${encodeURIComponent(`${dir}/${filePath}`)}`);
  return { status: res.status, bytes: Buffer.from(await res.arrayBuffer()) };
}

type MediaRef = { _type: string; file_path: string; caption: string | null };

async function metricsOf(url: string, p: string, runId: string): Promise<Map<number, Record<string, unknown>>> {
  const rows = await queryProject(url, p, `SELECT step, metrics FROM metrics WHERE run_id = '${runId}' ORDER BY step`);
  return new Map(rows.map((r) => [Number(r.step), JSON.parse(String(r.metrics)) as Record<string, unknown>]));
}

function refOf(rows: Map<number, Record<string, unknown>>, step: number, key: string): MediaRef {
  const ref = rows.get(step)?.[key];
  assert.ok(typeof ref === "object" && ref !== null, `step ${step} has ${key}`);
  return ref as MediaRef;
}

function pixels(width: number, height: number, channels: number): Uint8Array {
  return Uint8Array.from({ length: width * height * channels }, (_, i) => (i * 37 + 11) % 256);
}

// A real MP4 needs an encoder; the server stores any bytes, and sniffing needs only the
// `ftyp` box, so a header is enough to check what is stored and served.
const MP4 = Buffer.concat([Buffer.from([0, 0, 0, 0x18]), Buffer.from("ftypisom"), Buffer.alloc(12, 1)]);

describe("media values reach the server", () => {
  test("Image, Audio, Video and Html: the record references each file and /file serves its exact bytes", async () => {
    const p = project();
    const dir = tempDir("media-src");
    const pngPath = join(dir, "from-disk.png");
    const diskPng = encodePng(pixels(3, 2, 3), 3, 2, 3);
    writeFileSync(pngPath, diskPng);
    const htmlPath = join(dir, "page.html");
    writeFileSync(htmlPath, "<!doctype html><html><body>from a file</body></html>");
    const rgba = pixels(5, 4, 4);
    const tone = Float32Array.from({ length: 400 }, (_, i) => 0.3 * Math.sin(i / 7));

    const client = new Client({ baseUrl: server.writeUrl, project: p, run: "all-kinds", quiet: true });
    client.log({ loss: 0.5, disk: new Image(pngPath, { caption: "from disk" }) }, 0);
    client.log({ bytes: new Image(diskPng), raw: new Image({ data: rgba, width: 5, height: 4 }) }, 1);
    client.log({ tone: new Audio({ samples: tone, sampleRate: 8000 }, { caption: "sine" }) }, 2);
    client.log({ clip: new Video(MP4, { caption: "clip" }) }, 3);
    client.log({ frag: new Html("<b>fragment</b>"), page: Html.fromFile(htmlPath) }, 4);
    await client.close();

    const st = client.stats();
    assert.equal(st.logged, 5);
    assert.equal(st.sent, 5);
    assert.deepEqual(st.media, { logged: 7, uploaded: 7, spooled: 0, replayed: 0, written: 0, failed: 0 });
    assert.equal(st.pending, 0);

    const rows = await metricsOf(server.url, p, client.runId as string);
    const expected: [number, string, string, string | null, Buffer][] = [
      [0, "disk", "trackio.image", "from disk", diskPng],
      [1, "bytes", "trackio.image", null, diskPng],
      [1, "raw", "trackio.image", null, encodePng(rgba, 5, 4, 4)],
      [2, "tone", "trackio.audio", "sine", encodeWav(tone, 8000, 1)],
      [3, "clip", "trackio.video", "clip", MP4],
      [4, "frag", "trackio.html", null, Buffer.from(wrapHtml("<b>fragment</b>"))],
      [4, "page", "trackio.html", null, readFileSync(htmlPath)],
    ];
    const ext: Record<string, string> = { disk: "png", bytes: "png", raw: "png", tone: "wav", clip: "mp4" };
    for (const [step, key, type, caption, bytes] of expected) {
      const ref = refOf(rows, step, key);
      assert.equal(ref._type, type, key);
      assert.equal(ref.caption, caption, key);
      // Python's layout: <canonical project>/<run>/<step>/<uuid>.<ext>
      assert.match(ref.file_path, new RegExp(`^${p}/all-kinds/${step}/[0-9a-f-]{36}\\.${ext[key] ?? "html"}$`), key);
      const file = await served(server.url, mediaDir, ref.file_path);
      assert.equal(file.status, 200, `${key}: GET /file`);
      assert.ok(file.bytes.equals(bytes), `${key}: the served bytes are the logged file`);
    }
    assert.equal(rows.get(0)?.loss, 0.5);
    assert.ok(readFileSync(join(mediaDir, refOf(rows, 4, "frag").file_path), "utf8").startsWith("<!doctype html>"));
  });

  test("media in a table cell is uploaded too, and the same object twice in one record is one file", async () => {
    const p = project();
    const client = new Client({ baseUrl: server.writeUrl, project: p, run: "table", quiet: true });
    const img = new Image({ data: pixels(2, 2, 1), width: 2, height: 2, channels: 1 });
    const table = new Table({
      columns: ["id", "input"],
      data: [
        [1, img],
        [2, new Image({ data: pixels(2, 2, 3), width: 2, height: 2, channels: 3 })],
      ],
    });
    client.log({ predictions: table, again: img }, 7);
    // The same object in a later record is a new file at that step.
    client.log({ again: img }, 8);
    await client.close();
    assert.equal(client.stats().media.uploaded, 3);
    const rows = await metricsOf(server.url, p, client.runId as string);
    const cells = (refOf(rows, 7, "predictions") as unknown as { _value: { id: number; input: MediaRef }[] })._value;
    assert.equal(cells.length, 2);
    assert.equal(cells[0].input.file_path, refOf(rows, 7, "again").file_path);
    assert.notEqual(cells[0].input.file_path, cells[1].input.file_path);
    const later = refOf(rows, 8, "again").file_path;
    assert.match(later, new RegExp(`^${p}/table/8/`));
    for (const ref of [cells[0].input, cells[1].input, refOf(rows, 8, "again")]) {
      assert.equal((await served(server.url, mediaDir, ref.file_path)).status, 200, ref.file_path);
    }
  });
});

describe("bad media arguments fail at the call, and nothing logged before is lost", () => {
  test("constructors check their arguments", () => {
    const invalid = { code: "ERR_TRACKIO_INVALID_ARG" };
    assert.throws(() => new Image("/no/such/file.png"), { ...invalid, message: /file not found/ });
    assert.throws(() => new Image(Buffer.from("not an image at all")), {
      ...invalid,
      message: /format not recognised/,
    });
    assert.throws(() => new Image(encodeWav(new Int16Array(4), 8000, 1)), { ...invalid, message: /found wav/ });
    assert.throws(() => new Image({ data: new Uint8Array(10), width: 2, height: 2 }), {
      ...invalid,
      message: /need 16 bytes/,
    });
    assert.throws(() => new Image({ data: new Uint8Array(4), width: 2, height: 2, channels: 5 as 4 }), invalid);
    assert.throws(() => new Audio({ samples: new Float32Array(4), sampleRate: 0 }), {
      ...invalid,
      message: /sampleRate/,
    });
    assert.throws(() => new Audio({ samples: new Float32Array(3), sampleRate: 8000, channels: 2 }), invalid);
    assert.throws(() => new Audio({ samples: [0, "x" as unknown as number], sampleRate: 8000 }), invalid);
    assert.throws(() => new Video(Buffer.from("plain text")), invalid);
    assert.throws(() => new Html(42 as unknown as string), invalid);
    assert.throws(() => new Image(encodePng(pixels(1, 1, 3), 1, 1, 3), { caption: 3 as unknown as string }), invalid);
  });

  test("log() refuses media in config() and a payload over the record limit, keeping earlier records", async () => {
    const p = project();
    const client = new Client({
      baseUrl: server.writeUrl,
      project: p,
      run: "limits",
      ringBytes: 64 * 1024,
      quiet: true,
    });
    client.log({ loss: 1 }, 0);
    assert.throws(() => client.config({ sample: new Image(encodePng(pixels(1, 1, 3), 1, 1, 3)) }), {
      code: "ERR_TRACKIO_INVALID_ARG",
      message: /media values can only be logged with log\(\)/,
    });
    const big = new Image({ data: pixels(100, 100, 3), width: 100, height: 100, channels: 3 });
    assert.throws(() => client.log({ loss: 2, big }, 1), {
      code: "ERR_TRACKIO_INVALID_ARG",
      message: /the Image in metric "big".*pass a file path instead/,
    });
    client.log({ loss: 3 }, 2);
    await client.close();
    assert.equal(client.stats().logged, 2);
    assert.equal(client.stats().media.logged, 0);
    const rows = await metricsOf(server.url, p, client.runId as string);
    assert.deepEqual([...rows.keys()], [0, 2]);
  });

  test("a file deleted before the worker read it is reported, and the record itself is stored", async () => {
    const p = project();
    const dir = tempDir("media-gone");
    const path = join(dir, "gone.png");
    writeFileSync(path, encodePng(pixels(1, 1, 3), 1, 1, 3));
    const client = new Client({ baseUrl: server.writeUrl, project: p, run: "gone", quiet: true });
    const errors: TrackioError[] = [];
    client.on("error", (e: TrackioError) => errors.push(e));
    client.log({ loss: 1, img: new Image(path) }, 0);
    unlinkSync(path); // before the batch is due (flushIntervalMs)
    await assert.rejects(client.flush(), { code: "ERR_TRACKIO", message: /could not be made: .*ENOENT/ });
    await client.close();
    assert.equal(errors.length, 1);
    assert.equal(client.stats().media.failed, 1);
    assert.equal(client.stats().sent, 1);
  });
});

describe("files given by path", () => {
  test("a file rewritten between new Image() and the upload is reported; the server stores it as it is now", async () => {
    const p = project();
    const dir = tempDir("media-rewritten");
    const path = join(dir, "plot.png");
    const first = encodePng(pixels(2, 2, 3), 2, 2, 3);
    const second = encodePng(pixels(3, 3, 3), 3, 3, 3);
    writeFileSync(path, first);
    const client = new Client({ baseUrl: server.writeUrl, project: p, run: "rewritten", quiet: true });
    const errors: TrackioError[] = [];
    client.on("error", (e: TrackioError) => errors.push(e));
    client.log({ plot: new Image(path) }, 0);
    writeFileSync(path, second); // the next epoch's plot, before the batch is due
    await assert.rejects(client.flush(), {
      code: "ERR_TRACKIO",
      message: /plot\.png changed between new Image\(\) and the worker reading it/,
    });
    await client.close();
    assert.equal(errors.length, 1);
    assert.equal(client.stats().media.uploaded, 1);
    const rows = await metricsOf(server.url, p, client.runId as string);
    const file = await served(server.url, mediaDir, refOf(rows, 0, "plot").file_path);
    assert.ok(file.bytes.equals(second));
  });
});

describe("media when the server is away", () => {
  test("no server: files are spooled beside the records, and `trackio sync` stores both", async () => {
    const p = project();
    const spoolRoot = tempDir("media-spool");
    const deadUrl = `http://127.0.0.1:${await freePort()}/`;
    const client = new Client({
      baseUrl: deadUrl,
      project: p,
      run: "offline",
      spoolDir: spoolRoot,
      timeoutMs: 500,
      retryDeadlineMs: 500,
      quiet: true,
    });
    client.on("error", () => {});
    const rgba = pixels(3, 3, 4);
    client.log({ loss: 1, img: new Image({ data: rgba, width: 3, height: 3 }) }, 0);
    client.log({ page: new Html("<i>offline</i>") }, 1);
    await client.close().catch(() => {});
    assert.equal(client.stats().spooled, 2);
    assert.equal(client.stats().media.spooled, 2);

    const first = await runSync(["sync", "--spool", spoolRoot, "--url", server.writeUrl]);
    assert.equal(first.code, 0, first.out);
    assert.match(first.out, /1 fragment and 2 media files in/);
    assert.match(first.out, /sent 2 records from 1 fragment and 2 media files/);
    const rows = await metricsOf(server.url, p, client.runId as string);
    assert.deepEqual([...rows.keys()], [0, 1]);
    const img = refOf(rows, 0, "img");
    const file = await served(server.url, mediaDir, img.file_path);
    assert.equal(file.status, 200);
    assert.ok(file.bytes.equals(encodePng(rgba, 3, 3, 4)));
    const page = await served(server.url, mediaDir, refOf(rows, 1, "page").file_path);
    assert.equal(page.bytes.toString(), wrapHtml("<i>offline</i>"));
    // The spool is empty afterwards: a second sync has nothing to send.
    const again = await runSync(["sync", "--spool", spoolRoot, "--url", server.writeUrl]);
    assert.equal(again.code, 0, again.out);
    assert.match(again.out, /trackio sync: 0 fragments in/);
  });

  test("process.exit() right after logging: the exit hook delivers the files too", async () => {
    const p = project();
    const r = await runExitChild(server.writeUrl, p, tempDir("media-exit-spool"), 20);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(r.media, { logged: 20, uploaded: 20, spooled: 0, replayed: 0, written: 0, failed: 0 });
    await assertChildImages(server.url, p, r.runId, 20);
  });

  test("process.exit() while uploads hang: the exit deadline spools the files, and the next client uploads them", async () => {
    const proxy = await startFaultProxy(server.url);
    try {
      const p = project();
      const spoolRoot = tempDir("media-exit-spool");
      // Records go through; every upload is held for a minute; the child waits 2 s at exit.
      proxy.always({ kind: "delay", ms: 60_000, forward: "before" }, (_method, path) => path.includes("/api/upload"));
      const r = await runExitChild(proxy.url, p, spoolRoot, 5, { timeoutMs: 30_000, exitTimeoutMs: 2000 });
      assert.equal(r.code, 0, r.stderr);
      assert.doesNotMatch(r.stderr, /neither delivered nor kept/);
      const spooled = listSpooledMedia(spoolDirFor(spoolRoot, proxy.url));
      assert.equal(spooled.length, 5, "every file is in the spool");
      assert.deepEqual({ uploaded: r.media.uploaded, spooled: r.media.spooled }, { uploaded: 0, spooled: 5 });

      proxy.always(null);
      assert.equal((await replayWithNextClient(proxy.url, p, spoolRoot)).replayed, 5);
      assert.equal(listSpooledMedia(spoolDirFor(spoolRoot, proxy.url)).length, 0);
      await assertChildImages(server.url, p, r.runId, 5);
    } finally {
      await proxy.close();
    }
  });

  test("an exit deadline while the 4th of 5 uploads hangs: only the files not yet stored are spooled", async () => {
    const proxy = await startFaultProxy(server.url);
    try {
      const p = project();
      const spoolRoot = tempDir("media-exit-spool");
      let uploads = 0;
      proxy.always(
        { kind: "delay", ms: 60_000, forward: "before" },
        (method, path) => method === "POST" && path.includes("/api/upload") && ++uploads === 4,
      );
      const r = await runExitChild(proxy.url, p, spoolRoot, 5, { timeoutMs: 30_000, exitTimeoutMs: 3000 });
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(
        { logged: r.media.logged, uploaded: r.media.uploaded, spooled: r.media.spooled },
        { logged: 5, uploaded: 3, spooled: 2 },
      );
      assert.equal(listSpooledMedia(spoolDirFor(spoolRoot, proxy.url)).length, 2);
      proxy.always(null);
      assert.equal((await replayWithNextClient(proxy.url, p, spoolRoot)).replayed, 2);
      await assertChildImages(server.url, p, r.runId, 5);
    } finally {
      await proxy.close();
    }
  });

  test("close() while uploads hang tries the server once, then spools the other files at once", async () => {
    const proxy = await startFaultProxy(server.url);
    try {
      const p = project();
      const isUpload = (method: string, path: string) => method === "POST" && path.includes("/api/upload");
      proxy.always({ kind: "delay", ms: 60_000, forward: "before" }, isUpload);
      const client = new Client({
        baseUrl: proxy.url,
        writeToken: server.writeToken,
        project: p,
        run: "hanging",
        spoolDir: tempDir("media-hang-spool"),
        timeoutMs: 500,
        retryDeadlineMs: 500,
        quiet: true,
      });
      client.on("error", () => {});
      for (let step = 0; step < 20; step++) {
        client.log({ img: new Image({ data: pixels(2, 2, 3), width: 2, height: 2, channels: 3 }) }, step);
      }
      await assert.rejects(client.close(), { code: "ERR_TRACKIO_HTTP" });
      const st = client.stats();
      assert.equal(st.sent, 20, "the records went through");
      assert.deepEqual({ uploaded: st.media.uploaded, spooled: st.media.spooled }, { uploaded: 0, spooled: 20 });
      const tries = proxy.events.filter((e) => isUpload(e.method, e.path)).length;
      assert.ok(tries <= 3, `${tries} upload requests: the outage is noticed once, not once per file`);
    } finally {
      await proxy.close();
    }
  });

  test("a spooled file that cannot be read back is set aside as *.rejected and reported; close() does not hang", async () => {
    const p = project();
    const root = tempDir("media-corrupt-spool");
    const client = new Client({ baseUrl: server.writeUrl, project: p, run: "corrupt", spoolDir: root, quiet: true });
    const dir = join(spoolDirFor(root, client.url), "media");
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, "0000000000000000-1.json"), "{not json");
    writeFileSync(
      join(dir, "0000000000000000-2.json"),
      JSON.stringify({ v: 1, project: p, run: "r", run_id: "x", step: 0, file_path: `${p}/r/0/a.png` }),
    ); // no .bin beside it
    client.on("error", () => {});
    client.log({ x: 1 }, 0);
    await assert.rejects(client.close(), {
      code: "ERR_TRACKIO",
      message: /(not a spooled media entry|cannot be read)/,
    });
    assert.deepEqual(readdirSync(dir).sort(), ["0000000000000000-1.json.rejected", "0000000000000000-2.json.rejected"]);
    assert.equal(client.stats().sent, 1);
  });

  test("log() that throws ERR_TRACKIO_OVERFLOW queues nothing of its record", async () => {
    const hole = createServer(() => {}); // accepts connections, never answers
    await new Promise<void>((resolve) => hole.listen(0, "127.0.0.1", resolve));
    const port = (hole.address() as AddressInfo).port;
    const client = new Client({
      baseUrl: `http://127.0.0.1:${port}/`,
      project: project(),
      run: "overflow",
      quiet: true,
      ringBytes: 65536,
      maxOverflowBytes: 40_000,
      overflowTimeoutMs: 100,
      timeoutMs: 60_000,
      spoolDir: false,
    });
    client.on("error", () => {});
    const px = pixels(60, 60, 3);
    let returned = 0;
    let thrown: unknown = null;
    for (let i = 0; i < 100 && thrown === null; i++) {
      try {
        client.log({ x: i, img: new Image({ data: px, width: 60, height: 60, channels: 3 }) }, i);
        returned++;
      } catch (err) {
        thrown = err;
      }
    }
    const st = client.stats();
    hole.closeAllConnections?.();
    hole.close();
    void client.close().catch(() => {});
    assert.equal((thrown as TrackioError | null)?.code, "ERR_TRACKIO_OVERFLOW");
    assert.equal(st.logged, returned, "the call that threw queued no record");
    assert.equal(st.rejected, 1);
  });

  test("local mode: with no server at all, files go into $TRACKIO_DIR/media, where `trackio show` serves them", async (t) => {
    if (await somethingListensOn7860()) {
      t.skip("something listens on 127.0.0.1:7860, so the client would send to it instead of using local mode");
      return;
    }
    const trackioDir = tempDir("media-local");
    const saved = { url: process.env.TRACKIO_SERVER_URL, dir: process.env.TRACKIO_DIR };
    delete process.env.TRACKIO_SERVER_URL;
    process.env.TRACKIO_DIR = trackioDir;
    const p = project();
    let client: Client;
    try {
      client = new Client({ project: p, run: "local", spoolDir: tempDir("media-local-spool"), quiet: true });
    } finally {
      if (saved.url !== undefined) process.env.TRACKIO_SERVER_URL = saved.url;
      if (saved.dir !== undefined) process.env.TRACKIO_DIR = saved.dir;
      else delete process.env.TRACKIO_DIR;
    }
    const onWarning = () => {};
    process.on("warning", onWarning);
    const tone = new Int16Array([0, 1000, -1000, 32767, -32768, 5]);
    try {
      client.log({ tone: new Audio({ samples: tone, sampleRate: 4000 }) }, 0);
      await client.close();
    } finally {
      process.off("warning", onWarning);
    }
    assert.equal(client.stats().inboxed, 1);
    assert.equal(client.stats().media.written, 1);
    const local = await startTrackio({ dataDir: trackioDir });
    try {
      const deadline = Date.now() + 30_000;
      let rows = new Map<number, Record<string, unknown>>();
      while (rows.size === 0 && Date.now() < deadline) {
        rows = await metricsOf(local.url, p, client.runId as string).catch(() => new Map());
        if (rows.size === 0) await new Promise((r) => setTimeout(r, 200));
      }
      const ref = refOf(rows, 0, "tone");
      assert.equal(ref._type, "trackio.audio");
      assert.ok(existsSync(join(trackioDir, "media", ...ref.file_path.split("/"))));
      const file = await served(local.url, join(trackioDir, "media"), ref.file_path);
      assert.equal(file.status, 200);
      assert.ok(file.bytes.equals(encodeWav(tone, 4000, 1)));
    } finally {
      await local.stop();
    }
  });
});

const exitChild = new URL("./fixtures/media-exit-child.ts", import.meta.url).pathname;

function runExitChild(
  url: string,
  p: string,
  spoolRoot: string,
  count: number,
  options: Record<string, unknown> = {},
): Promise<{ code: number | null; runId: string; stderr: string; media: MediaStats }> {
  return new Promise((resolve, reject) => {
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      TEST_TRACKIO_URL: url,
      TEST_PROJECT: p,
      TRACKIO_SPOOL_DIR: spoolRoot,
      TEST_CLIENT_OPTIONS: JSON.stringify({ writeToken: server.writeToken, ...options }),
    };
    delete env.TRACKIO_SERVER_URL;
    const proc = spawn(process.execPath, ["--import", "tsx", exitChild, String(count)], {
      env,
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    proc.stdout.on("data", (c: Buffer) => (stdout += c.toString()));
    proc.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
    proc.once("error", reject);
    proc.once("exit", (code) =>
      resolve({
        code,
        runId: /^run (\S+)/m.exec(stdout)?.[1] ?? "",
        stderr,
        media: JSON.parse(/^media (.*)$/m.exec(stdout)?.[1] ?? "null") as MediaStats,
      }),
    );
  });
}

/** What the next client for the same server and spool replays when it starts and closes. */
async function replayWithNextClient(url: string, p: string, spoolRoot: string): Promise<MediaStats> {
  const next = new Client({
    baseUrl: url,
    writeToken: server.writeToken,
    project: p,
    spoolDir: spoolRoot,
    quiet: true,
  });
  await next.ready();
  await next.close();
  return next.stats().media;
}

/** Every step's `img` is served with the pixels the child logged (all bytes = step). */
async function assertChildImages(url: string, p: string, runId: string, count: number): Promise<void> {
  const rows = await metricsOf(url, p, runId);
  assert.deepEqual(
    [...rows.keys()],
    Array.from({ length: count }, (_, i) => i),
  );
  for (let step = 0; step < count; step++) {
    const file = await served(url, mediaDir, refOf(rows, step, "img").file_path);
    assert.equal(file.status, 200, `step ${step}`);
    assert.ok(file.bytes.equals(encodePng(new Uint8Array(48).fill(step), 4, 4, 3)), `step ${step}`);
  }
}
