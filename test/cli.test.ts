// The `trackio` command: help, version, usage errors, `status`, `sync --project/--run`, and
// what sync says while the server does not answer. Run in-process (main() from src/cli.ts,
// with separate output and error streams) and as a child process for exit codes and streams,
// against a real Trackio server where records are sent.
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { cpSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { basename, join } from "node:path";
import { Writable } from "node:stream";
import { after, before, describe, test } from "node:test";
import { freePort, startTrackio, type TrackioServer } from "../scripts/trackio-server.js";
import { main } from "../src/cli.js";
import { EXIT_SET_ASIDE } from "../src/cli-sync.js";
import { Client, Html } from "../src/index.js";
import { BatchBuilder } from "../src/io/batch.js";
import { listSpooledMedia, spoolMedia } from "../src/io/media-files.js";
import { FragmentWriter, listFragments, readFragment } from "../src/io/spool.js";
import { parseServerUrl } from "../src/options.js";
import { spoolDirFor } from "../src/paths.js";
import type { WorkerSettings } from "../src/shared/protocol.js";
import { startFaultProxy } from "./support/fault-proxy.js";
import { runRows } from "./support/read-api.js";
import { spooledLines, tempDir, waitFor } from "./support/scenario.js";

const repo = new URL("..", import.meta.url).pathname;
const version = (JSON.parse(readFileSync(join(repo, "package.json"), "utf8")) as { version: string }).version;
const binTs = join(repo, "src", "bin.ts");

let server: TrackioServer;
before(async () => {
  server = await startTrackio();
});
after(async () => {
  await server?.stop();
});

interface Ran {
  code: number | null;
  out: string;
  err: string;
}

function sink(tty = false): Writable & { text: string } {
  const s = new Writable({
    write(chunk, _enc, done) {
      s.text += chunk.toString();
      done();
    },
  }) as Writable & { text: string; isTTY?: boolean };
  s.text = "";
  if (tty) s.isTTY = true;
  return s;
}

/** The command in-process, its two streams kept apart. */
async function cli(args: string[], opts: { tty?: boolean } = {}): Promise<Ran> {
  const out = sink();
  const err = sink(opts.tty);
  const code = await main(args, out, err);
  return { code, out: out.text, err: err.text };
}

/** The command as a child process; `firstErrAt` is when stderr first said something (ms after the start). */
function child(args: string[], entry = [binTs]): Promise<Ran & { firstErrAt: number | null }> {
  return new Promise((resolve, reject) => {
    const env = { ...process.env };
    delete env.TRACKIO_SERVER_URL;
    delete env.TRACKIO_SPOOL_DIR;
    const pre = entry[0].endsWith(".ts") ? ["--import", "tsx"] : [];
    const started = performance.now();
    const proc = spawn(process.execPath, [...pre, ...entry, ...args], { env, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    let firstErrAt: number | null = null;
    proc.stdout.on("data", (d) => (out += d));
    proc.stderr.on("data", (d) => {
      firstErrAt ??= performance.now() - started;
      err += d;
    });
    const timer = setTimeout(() => {
      proc.kill("SIGKILL");
      reject(new Error(`trackio ${args.join(" ")} did not exit within 90 s; stderr: ${err}`));
    }, 90_000);
    proc.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, out, err, firstErrAt });
    });
  });
}

const OVERVIEW_COMMANDS = [
  "Commands:",
  "  sync      send the records waiting in the spool to a Trackio server",
  "  status    list what waits in the spool, per server, project and run",
  "  help      show this help, or a command's: npx trackio help sync",
  "  version   print this package's version (also --version, -v)",
].join("\n");

describe("help, version and usage errors", () => {
  test("help, --help, -h and a bare `trackio` print the overview of the commands, exit 0", async () => {
    for (const args of [["help"], ["--help"], ["-h"], []]) {
      const r = await cli(args);
      assert.equal(r.code, 0, args.join(" "));
      assert.equal(r.err, "");
      assert.ok(r.out.startsWith(`trackio ${version}: the command of Trackio's Node.js client\n\n`), r.out);
      assert.ok(r.out.includes("Usage: npx trackio <command> [options]\n"), r.out);
      assert.ok(r.out.includes(OVERVIEW_COMMANDS), r.out);
      assert.ok(r.out.includes("`trackio show` comes with Trackio's Python\npackage (pip install trackio)"), r.out);
    }
  });

  test("each command's --help, -h and `help <command>` print its usage, exit 0", async () => {
    for (const [command, first] of [
      ["sync", "Usage: npx trackio sync [options]\n"],
      ["status", "Usage: npx trackio status [options]\n"],
    ]) {
      const a = await cli([command, "--help"]);
      const b = await cli([command, "-h"]);
      const c = await cli(["help", command]);
      assert.equal(a.code, 0);
      assert.ok(a.out.startsWith(first), a.out);
      assert.deepEqual([b.code, b.out], [0, a.out]);
      assert.deepEqual([c.code, c.out], [0, a.out]);
    }
    const sync = (await cli(["sync", "--help"])).out;
    assert.ok(sync.includes("  --project NAME   send only this project's records; the others stay in the spool\n"));
    assert.ok(sync.includes("  --wait SECONDS   how long to keep trying a server that does not answer (default 60)\n"));
    assert.ok(
      sync.includes(
        "sync sends every directory under --spool\nto --url, so records reach the server they were logged for only when --url is that server's\nURL.",
      ),
      sync,
    );
    const status = (await cli(["status", "--help"])).out;
    assert.ok(status.includes("  --json           print it as JSON, for scripts\n"), status);
  });

  test("--version, -v and version print package.json's version", async () => {
    for (const args of [["--version"], ["-v"], ["version"]]) {
      const r = await cli(args);
      assert.deepEqual(r, { code: 0, out: `${version}\n`, err: "" });
    }
  });

  test("an unknown command or option, a missing value, a Python command: one line on stderr, exit 2", async () => {
    const cases: [string[], string][] = [
      [["frobnicate"], 'trackio: unknown command "frobnicate". See `npx trackio help` for the commands.'],
      [["--frobnicate"], "trackio: unknown option --frobnicate. See `npx trackio help` for the commands."],
      [["sync", "--frobnicate"], "trackio sync: unknown option --frobnicate. See `npx trackio help sync`."],
      [["status", "-x"], "trackio status: unknown option -x. See `npx trackio help status`."],
      [["sync", "--spool"], "trackio sync: --spool needs a value (a directory). See `npx trackio help sync`."],
      [["sync", "--project"], "trackio sync: --project needs a value (a project name). See `npx trackio help sync`."],
      [["status", "--spool"], "trackio status: --spool needs a value (a directory). See `npx trackio help status`."],
      // A value that starts with "-" is the option's value, not an option of its own.
      [["sync", "--wait", "-1"], 'trackio sync: --wait takes a number of seconds (0 or more), got "-1".'],
      [["status", "--spool", "-x"], "trackio status: the spool directory -x does not exist."],
      [
        ["sync", "--spool", "--url", "http://x/"],
        'trackio sync: unexpected argument "http://x/". See `npx trackio help sync`.',
      ],
      [["sync", "extra"], 'trackio sync: unexpected argument "extra". See `npx trackio help sync`.'],
      [["sync", "--quiet=yes"], "trackio sync: --quiet takes no value (got --quiet=yes)."],
      [["sync", "--wait", "soon"], 'trackio sync: --wait takes a number of seconds (0 or more), got "soon".'],
      [
        ["sync", "--url", "localhost:7911"],
        'trackio sync: --url must be an http(s) URL, got "localhost:7911"; it needs http:// or https:// in front, e.g. "http://localhost:7911"',
      ],
      [["help", "nope"], 'trackio help: no help for "nope"; the commands are sync, status, help, version.'],
      [
        ["show"],
        "trackio: `show` is the dashboard of Trackio's Python package, not a command of this Node.js one: `pip install trackio`, then `trackio show`. See `npx trackio help`.",
      ],
      [
        ["freeze"],
        "trackio: `trackio freeze` is a command of Trackio's Python package (pip install trackio), not of this Node.js one. See `npx trackio help`.",
      ],
    ];
    for (const [args, message] of cases) {
      const r = await cli(args);
      assert.deepEqual(r, { code: 2, out: "", err: `${message}\n` }, args.join(" "));
    }
  });

  test("a --spool path that does not exist, or is a file: a clear error, exit 2, nothing sent", async () => {
    const missing = join(tempDir("cli-missing"), "no-such-spool");
    const file = join(tempDir("cli-file"), "a-file");
    writeFileSync(file, "x");
    for (const command of ["sync", "status"]) {
      const r = await cli([command, "--spool", missing]);
      assert.deepEqual(r, {
        code: 2,
        out: "",
        err: `trackio ${command}: the spool directory ${missing} does not exist.\n`,
      });
      const f = await cli([command, "--spool", file]);
      assert.deepEqual(f, { code: 2, out: "", err: `trackio ${command}: --spool ${file} is not a directory.\n` });
    }
  });

  test("as a child process: exit codes 0 and 2, and errors on stderr", async () => {
    const v = await child(["--version"]);
    assert.deepEqual([v.code, v.out, v.err], [0, `${version}\n`, ""]);
    const h = await child(["help"]);
    assert.equal(h.code, 0);
    assert.ok(h.out.includes(OVERVIEW_COMMANDS), h.out);
    const u = await child(["show"]);
    assert.equal(u.code, 2);
    assert.equal(u.out, "");
    assert.match(u.err, /^trackio: `show` is the dashboard of Trackio's Python package.*\n$/);
    const o = await child(["sync", "--bogus"]);
    assert.deepEqual(
      [o.code, o.out, o.err],
      [2, "", "trackio sync: unknown option --bogus. See `npx trackio help sync`.\n"],
    );
  });

  test("--version from a build laid out as an installed tarball (node_modules/trackio/dist/src/bin.js)", async () => {
    const pkg = join(tempDir("cli-installed"), "node_modules", "trackio");
    mkdirSync(pkg, { recursive: true });
    const tsc = spawnSync(
      process.execPath,
      [
        join(repo, "node_modules/typescript/bin/tsc"),
        "-p",
        join(repo, "tsconfig.build.json"),
        "--outDir",
        join(pkg, "dist"),
      ],
      { encoding: "utf8" },
    );
    assert.equal(tsc.status, 0, tsc.stdout + tsc.stderr);
    cpSync(join(repo, "package.json"), join(pkg, "package.json"));
    symlinkSync(join(repo, "node_modules"), join(pkg, "node_modules"));
    const r = await child(["--version"], [join(pkg, "dist", "src", "bin.js")]);
    assert.deepEqual([r.code, r.out, r.err], [0, `${version}\n`, ""]);
  });
});

// Fragment lines exactly as the worker writes them (BatchBuilder), with fixed timestamps.
const T0 = Date.UTC(2026, 10, 30, 17, 1, 2);

// log_ids are unique per project on the server: one client id per run.
function runLines(project: string, run: string, steps: number[], clientId = `c${process.pid}${run}`): string[] {
  const b = new BatchBuilder({
    project,
    run,
    runId: `${project}-${run}-id`,
    clientId,
    configJson: "null",
  } as WorkerSettings);
  for (const s of steps) b.add(`{"loss":${s}}`, s, T0 + s * 1000, s);
  return b.take();
}

function range(from: number, to: number): number[] {
  return Array.from({ length: to - from }, (_, k) => from + k);
}

describe("status", () => {
  test("per server directory, project and run: records, media, quarantined lines, oldest and newest", async () => {
    const root = tempDir("cli-status");
    const here = spoolDirFor(root, "http://127.0.0.1:7860/");
    const w = new FragmentWriter(here, "0000000000000001");
    w.write([...runLines("alpha", "r1", [0, 1, 2]), ...runLines("beta", "r2", [5])]);
    w.write([...runLines("alpha", "r1", [3]), "not json at all"]);
    w.quarantine(runLines("alpha", "r1", [9]));
    const target = { project: "alpha", run: "r1", run_id: "alpha-r1-id", step: 1, file_path: "alpha/r1/1/x.png" };
    spoolMedia(here, "c1-7", target, { name: "x.png", contentType: "image/png", bytes: new Uint8Array([1, 2, 3]) });
    const there = spoolDirFor(root, "https://example.com/");
    new FragmentWriter(there, "0000000000000002").write(runLines("gamma", "r9", [0, 1]));

    const r = await cli(["status", "--spool", root]);
    assert.equal(r.code, 0, r.err);
    assert.equal(r.err, "");
    assert.equal(
      r.out,
      [
        `trackio status: 7 records, 1 media file, 1 quarantined line in ${root}`,
        "",
        `${basename(here)} (2 fragments)`,
        "  PROJECT             RUN  RECORDS  DAMAGED  MEDIA  QUARANTINED  OLDEST … NEWEST (UTC)",
        "  alpha               r1         4        0      1            1  2026-11-30 17:01:02 … 2026-11-30 17:01:11",
        "  beta                r2         1        0      0            0  2026-11-30 17:01:07 … 2026-11-30 17:01:07",
        "  (unreadable lines)             0        1      0            0  - … -",
        "",
        `${basename(there)} (1 fragment)`,
        "  PROJECT  RUN  RECORDS  DAMAGED  MEDIA  QUARANTINED  OLDEST … NEWEST (UTC)",
        "  gamma    r9         2        0      0            0  2026-11-30 17:01:02 … 2026-11-30 17:01:03",
        "",
        "Send them with `npx trackio sync --url URL` (see `npx trackio help sync`).",
        "Quarantined lines are not sent again: the output of the sync that set them aside says why.",
        "",
      ].join("\n"),
    );

    const j = await cli(["status", "--spool", root, "--json"]);
    assert.equal(j.code, 0);
    const parsed = JSON.parse(j.out) as {
      records: number;
      dirs: { path: string; fragments: number; runs: Record<string, unknown>[] }[];
    };
    assert.equal(parsed.records, 7);
    assert.deepEqual(
      parsed.dirs.map((d) => [d.path, d.fragments]),
      [
        [here, 2],
        [there, 1],
      ],
    );
    assert.deepEqual(parsed.dirs[0].runs[0], {
      project: "alpha",
      run: "r1",
      records: 4,
      system: 0,
      media: 1,
      quarantined: 1,
      damaged: 0,
      oldest: "2026-11-30T17:01:02+00:00",
      newest: "2026-11-30T17:01:11+00:00",
    });
    // status only reads.
    assert.equal(listFragments(here).length, 2);
  });

  test("an empty spool, and one server's directory given as --spool", async () => {
    const root = tempDir("cli-status-empty");
    assert.deepEqual(await cli(["status", "--spool", root]), {
      code: 0,
      out: `trackio status: nothing waits in ${root}\n`,
      err: "",
    });
    const dir = spoolDirFor(root, "http://127.0.0.1:7860/");
    new FragmentWriter(dir, "0000000000000003").write(runLines("solo", "r", [0]));
    const r = await cli(["status", "--spool", dir]);
    assert.equal(r.code, 0);
    assert.match(
      r.out,
      new RegExp(
        `^trackio status: 1 record, 0 media files, 0 quarantined lines in ${dir}\\n\\n${basename(dir)} \\(1 fragment\\)\\n`,
      ),
    );
  });
});

test("`trackio status | head -1`: a reader that stops early ends nothing in error", async () => {
  const root = tempDir("cli-epipe");
  const lines: string[] = [];
  for (let k = 0; k < 3000; k++) lines.push(...runLines(`many-runs-${k}`, `r${k}`, [0]));
  new FragmentWriter(spoolDirFor(root, "http://127.0.0.1:7860/"), "0000000000000008").write(lines);
  const r = spawnSync(
    "bash",
    ["-c", `"${process.execPath}" --import tsx "${binTs}" status --spool "${root}" | head -1; exit \${PIPESTATUS[0]}`],
    { encoding: "utf8" },
  );
  assert.equal(r.stdout, `trackio status: 3000 records, 0 media files, 0 quarantined lines in ${root}\n`);
  assert.equal(r.stderr, "");
  assert.equal(r.status, 0);
});

describe("sync --project / --run", () => {
  test("only the selected lines are sent; the others stay in their fragments, in order; each record stored once", async () => {
    const root = tempDir("cli-filter");
    const url = parseServerUrl(server.writeUrl).displayUrl;
    const here = spoolDirFor(root, url);
    const a = `cli-a-${process.pid}`;
    const b = `cli-b-${process.pid}`;
    const r1 = runLines(a, "r1", range(0, 10));
    const r3 = runLines(a, "r3", range(0, 5));
    const b2 = runLines(b, "r2", range(0, 15));
    // One fragment mixing three runs of two projects, line by line, and one with one run.
    const mixed: string[] = [];
    for (let k = 0; k < 10; k++) mixed.push(r1[k], b2[k], ...(k < 5 ? [r3[k]] : []));
    const w = new FragmentWriter(here, "0000000000000004");
    const [fragment] = [w.write(mixed), w.write(b2.slice(10))];
    const elsewhere = spoolDirFor(root, "http://127.0.0.1:9/");
    new FragmentWriter(elsewhere, "0000000000000005").write(runLines(b, "r2", range(15, 20)));

    const first = await cli(["sync", "--spool", root, "--url", server.writeUrl, "--project", a, "--run", "r1"]);
    assert.equal(first.code, 0, first.out + first.err);
    assert.equal(
      first.out,
      [
        `trackio sync: 1 fragment in ${root} → ${url} (only project ${JSON.stringify(a)}, run "r1")`,
        `  ${basename(here)}: 10 records in 1 fragment (logged for this URL)`,
        "  sent 10 records (fragment 1 of 1)",
        "trackio sync: sent 10 records from 1 fragment; 25 lines of other projects or runs stay in the spool",
        "",
      ].join("\n"),
    );
    assert.equal(first.err, "");
    assert.deepEqual(
      readFragment(fragment),
      mixed.filter((l) => !r1.includes(l)),
      "the other runs' lines, as they were",
    );
    assert.equal((await runRows(server.url, a, `${a}-r1-id`)).rows, 10);
    assert.equal((await runRows(server.url, a, `${a}-r3-id`)).rows, 0);
    assert.equal((await runRows(server.url, b, `${b}-r2-id`)).rows, 0);

    const second = await cli(["sync", "--spool", root, "--url", server.writeUrl, "--project", a]);
    assert.equal(second.code, 0, second.out);
    assert.match(
      second.out,
      /\ntrackio sync: sent 5 records from 1 fragment; 20 lines of other projects or runs stay in the spool\n$/,
    );
    assert.deepEqual(readFragment(fragment), b2.slice(0, 10));
    assert.equal((await runRows(server.url, a, `${a}-r3-id`)).rows, 5);

    const none = await cli(["sync", "--spool", root, "--url", server.writeUrl, "--project", "no-such-project"]);
    assert.equal(none.code, 0);
    assert.match(
      none.out,
      new RegExp(
        `trackio sync: nothing of project "no-such-project" waits in ${root}; \`npx trackio status\` lists what does\\n$`,
      ),
    );

    // Everything else, from both server directories: the listing says which is whose.
    const rest = await cli(["sync", "--spool", root, "--url", server.writeUrl]);
    assert.equal(rest.code, 0, rest.out);
    const lines = rest.out.split("\n");
    assert.deepEqual(lines.slice(0, 4), [
      `trackio sync: 3 fragments in ${root} → ${url}`,
      `  ${basename(here)}: 15 records in 2 fragments (logged for this URL)`,
      `  ${basename(elsewhere)}: 5 records in 1 fragment (logged for another server URL)`,
      `  1 directory holds records logged for another server URL: they are sent to ${url} too (pass one directory as --spool to send only it)`,
    ]);
    assert.equal(lines.at(-2), "trackio sync: sent 20 records from 3 fragments");
    assert.deepEqual(spooledLines(root), { fragments: 0, lines: 0 });
    for (const [project, run, n] of [
      [a, "r1", 10],
      [a, "r3", 5],
      [b, "r2", 20],
    ] as const) {
      const rows = await runRows(server.url, project, `${project}-${run}-id`);
      assert.equal(rows.rows, n, `${project}/${run}`);
      assert.equal(rows.distinctLogIds, n, `${project}/${run} once each`);
    }
  });
  test("a project or run named with a leading '-' is the value of --project / --run, as --project=-x is", async () => {
    const root = tempDir("cli-dash");
    const here = spoolDirFor(root, parseServerUrl(server.writeUrl).displayUrl);
    const p = `-p${process.pid}`;
    const dash = runLines(p, "-r", range(0, 4));
    const other = runLines(p, "r", range(0, 3));
    const fragment = new FragmentWriter(here, "0000000000000006").write([...dash, ...other]);

    const first = await cli(["sync", "--spool", root, "--url", server.writeUrl, "--project", p, "--run", "-r"]);
    assert.equal(first.code, 0, first.out + first.err);
    assert.match(first.out, /\ntrackio sync: sent 4 records from 1 fragment; 3 lines of other projects or runs stay/);
    assert.deepEqual(readFragment(fragment), other);
    assert.equal((await runRows(server.url, p, `${p}--r-id`)).rows, 4);

    const second = await cli(["sync", `--spool=${root}`, `--url=${server.writeUrl}`, `--project=${p}`, "--run=r"]);
    assert.equal(second.code, 0, second.out + second.err);
    assert.match(second.out, /\ntrackio sync: sent 3 records from 1 fragment\n$/);
    assert.equal((await runRows(server.url, p, `${p}-r-id`)).rows, 3);
    assert.deepEqual(spooledLines(root), { fragments: 0, lines: 0 });
  });
});

test("a record the server refuses during sync: set aside, and the message names the sync command for its directory, server and selection", async (t) => {
  const before = process.env.TRACKIO_WRITE_TOKEN;
  delete process.env.TRACKIO_WRITE_TOKEN;
  t.after(() => {
    if (before !== undefined) process.env.TRACKIO_WRITE_TOKEN = before;
  });
  const root = tempDir("cli-refused");
  const url = parseServerUrl(server.writeUrl).displayUrl;
  const here = spoolDirFor(root, url);
  const p = `cli-refused-${process.pid}`;
  // Trackio answers 500 "Integer exceeds 64-bit range" for this value, alone.
  const big = new BatchBuilder({
    project: p,
    run: "r",
    runId: `${p}-r-id`,
    clientId: "big",
    configJson: "null",
  } as WorkerSettings);
  big.add('{"loss":18446744073709551616}', 3, T0 + 3000, 3);
  const fragment = new FragmentWriter(here, "0000000000000007").write([
    ...runLines(p, "r", range(0, 3)),
    ...big.take(),
  ]);

  // The token travels in the URL, not in $TRACKIO_WRITE_TOKEN: the command needs --token.
  const r = await cli(["sync", "--spool", root, "--url", server.writeUrl, "--project", p, "--run", "r"]);
  assert.equal(r.code, EXIT_SET_ASIDE, r.out + r.err);
  const aside = fragment.replace(/\.jsonl$/, ".quarantined.jsonl");
  const command = `npx trackio sync --spool ${here} --url ${url} --token TOKEN --project ${p} --run r`;
  assert.ok(
    r.out.includes(
      `; set aside in ${aside}. They are not sent again: fix or delete the lines, then rename the file to *.jsonl and run \`${command}\`\n`,
    ),
    r.out,
  );
  assert.equal((await runRows(server.url, p, `${p}-r-id`)).rows, 3);
});

test("sync --project sends that project's spooled media files only; the others stay", async () => {
  const root = tempDir("cli-media");
  const dead = `http://127.0.0.1:${await freePort()}/`;
  const projects = [`cli-media-a-${process.pid}`, `cli-media-b-${process.pid}`];
  for (const project of projects) {
    const client = new Client({ baseUrl: dead, project, run: "r", spoolDir: root, retryDeadlineMs: 300, quiet: true });
    client.on("error", () => {});
    client.log({ page: new Html(`<i>${project}</i>`) }, 0);
    await client.close().catch(() => {});
    assert.equal(client.stats().media.spooled, 1);
  }
  const dir = spoolDirFor(root, dead);
  const r = await cli(["sync", "--spool", root, "--url", server.writeUrl, "--project", projects[0]]);
  assert.equal(r.code, 0, r.out + r.err);
  assert.match(r.out, new RegExp(`^trackio sync: 1 fragment and 1 media file in ${root} → `));
  assert.match(
    r.out,
    /\ntrackio sync: sent 1 record from 1 fragment and 1 media file; 1 line of other projects or runs stays in the spool\n$/,
  );
  const left = listSpooledMedia(dir).map(
    (e) => (JSON.parse(readFileSync(e.meta, "utf8")) as { project: string }).project,
  );
  assert.deepEqual(left, [projects[1]]);
  const rest = await cli(["sync", "--spool", root, "--url", server.writeUrl]);
  assert.equal(rest.code, 0, rest.out);
  assert.match(rest.out, /\ntrackio sync: sent 1 record from 1 fragment and 1 media file\n$/);
  assert.deepEqual(listSpooledMedia(dir), []);
});

describe("sync against a server that does not answer", () => {
  function spoolOf(n: number): string {
    const root = tempDir("cli-dead");
    new FragmentWriter(spoolDirFor(root, "http://127.0.0.1:1/"), "0000000000000006").write(
      runLines(`cli-dead-${process.pid}`, "r", range(0, n)),
    );
    return root;
  }

  test("a warning at the first failed attempt, then a line every 5 s; exit 1, the spool kept", async () => {
    const root = spoolOf(30);
    const port = await freePort();
    const url = `http://127.0.0.1:${port}/`;
    const r = await child(["sync", "--spool", root, "--url", url, "--wait", "12"]);
    assert.equal(r.code, 1, r.out + r.err);
    const errLines = r.err.split("\n");
    assert.equal(
      errLines[0],
      `trackio sync: no answer from ${url} (connect ECONNREFUSED 127.0.0.1:${port}); trying for up to 12 s (--wait). Nothing is lost: the records stay in the spool until the server has them.`,
    );
    const progress = errLines.slice(1, -1);
    assert.ok(progress.length >= 1, r.err);
    for (const line of progress) {
      assert.match(line, new RegExp(`^  still trying ${url}: \\d+ s of up to 12 s, \\d+ failed attempts?$`));
    }
    assert.equal(errLines.at(-1), "");
    assert.ok(!r.err.includes("\r"), "no in-place updates when stderr is not a terminal");
    assert.ok(r.firstErrAt !== null && r.firstErrAt < 10_000, `the warning came at ${r.firstErrAt} ms`);
    assert.match(
      r.out,
      new RegExp(
        `trackio sync: sent 0 records from 0 fragments\\ntrackio sync: stopped: ERR_TRACKIO_HTTP: GET ${url}version got no answer: ECONNREFUSED .*; the rest stays in the spool\\n$`,
      ),
    );
    assert.deepEqual(spooledLines(root), { fragments: 1, lines: 30 });
  });

  test("--quiet: no listing, no warning, no progress; the result and the reason it stopped", async () => {
    const root = spoolOf(3);
    const url = `http://127.0.0.1:${await freePort()}/`;
    const r = await child(["sync", "--spool", root, "--url", url, "--wait", "3", "--quiet"]);
    assert.equal(r.code, 1);
    assert.equal(r.err, "");
    const out = r.out.split("\n");
    assert.equal(out.length, 3, r.out);
    assert.equal(out[0], "trackio sync: sent 0 records from 0 fragments");
    assert.match(out[1], /^trackio sync: stopped: ERR_TRACKIO_HTTP: .*ECONNREFUSED.*; the rest stays in the spool$/);
  });

  test("on a terminal the progress line is updated in place, and cleared at the end", async () => {
    const root = spoolOf(3);
    const port = await freePort();
    const url = `http://127.0.0.1:${port}/`;
    const r = await cli(["sync", "--spool", root, "--url", url, "--wait", "5"], { tty: true });
    assert.equal(r.code, 1);
    assert.match(
      r.err,
      new RegExp(
        `^trackio sync: no answer from ${url} \\(connect ECONNREFUSED 127\\.0\\.0\\.1:${port}\\); trying for up to 5 s \\(--wait\\)\\. Nothing is lost: the records stay in the spool until the server has them\\.\\n(\\r\\x1b\\[2K  still trying ${url}: \\d s of up to 5 s, \\d+ failed attempts?)+\\r\\x1b\\[2K$`,
      ),
      JSON.stringify(r.err),
    );
  });

  test("a server that answers 503 to everything: the warning says so", async () => {
    const root = spoolOf(3);
    const proxy = await startFaultProxy(server.url);
    try {
      proxy.always({ kind: "status", status: 503 }, () => true);
      const r = await cli(["sync", "--spool", root, "--url", proxy.url, "--wait", "2"]);
      assert.equal(r.code, 1, r.out + r.err);
      assert.equal(
        r.err.split("\n")[0],
        `trackio sync: ${proxy.url} answers HTTP 503; trying for up to 2 s (--wait). Nothing is lost: the records stay in the spool until the server has them.`,
      );
      assert.match(
        r.out,
        /trackio sync: stopped: ERR_TRACKIO_STATUS: GET .*version answered HTTP 503: .*; the rest stays in the spool\n$/,
      );
      assert.deepEqual(spooledLines(root), { fragments: 1, lines: 3 });
    } finally {
      await proxy.close();
    }
  });

  test("the server comes back while sync retries: it says so, and every record is stored once", async () => {
    const project = `cli-back-${process.pid}`;
    const root = tempDir("cli-back");
    const lines = runLines(project, "r", range(0, 40));
    new FragmentWriter(spoolDirFor(root, "http://127.0.0.1:1/"), "0000000000000007").write(lines);
    const proxy = await startFaultProxy(server.url);
    try {
      await proxy.refuse();
      const out = sink();
      const err = sink();
      const running = main(["sync", "--spool", root, "--url", proxy.url, "--token", server.writeToken], out, err);
      await waitFor(
        "the warning",
        () => err.text.includes("Nothing is lost"),
        30_000,
        () => err.text,
      );
      await proxy.accept();
      const code = await running;
      assert.equal(code, 0, out.text + err.text);
      assert.match(err.text, new RegExp(`^trackio sync: no answer from ${proxy.url} \\(connect ECONNREFUSED`));
      // The sending line may come after it, if sync is still at it when its turn comes.
      assert.match(
        err.text,
        new RegExp(
          `\\n  ${proxy.url} answers again \\(after \\d+ s\\); sending\\n(  sending fragment 1 of 1: .*\\n)*$`,
        ),
      );
      assert.match(out.text, /\ntrackio sync: sent 40 records from 1 fragment\n$/);
      const rows = await runRows(server.url, project, `${project}-r-id`);
      assert.deepEqual([rows.rows, rows.distinctLogIds], [40, 40]);
    } finally {
      await proxy.close();
    }
  });
});

test("a long sync shows where it stands: one line rewritten in place on a terminal, counting each request's records", async () => {
  const project = `cli-progress-${process.pid}`;
  const root = tempDir("cli-progress");
  const w = new FragmentWriter(spoolDirFor(root, "http://127.0.0.1:1/"), "0000000000000008");
  for (let f = 0; f < 3; f++) w.write(runLines(project, "r", range(f * 600, f * 600 + 600)));
  const proxy = await startFaultProxy(server.url);
  try {
    // Each request (500 lines at most) waits 700 ms: 6 requests, about 4 s.
    proxy.always(
      { kind: "delay", ms: 700, forward: "before" },
      (method, path) => method === "POST" && path.includes("bulk_log"),
    );
    const r = await cli(["sync", "--spool", root, "--url", proxy.url, "--token", server.writeToken], { tty: true });
    assert.equal(r.code, 0, r.out + r.err);
    const ticks = r.err.split("\r\x1b[2K").filter((t) => t !== "");
    assert.ok(ticks.length >= 2, JSON.stringify(r.err));
    for (const t of ticks) assert.match(t, /^ {2}sending fragment [123] of 3: \d+ records? sent \(\d+ s\)$/);
    assert.ok(r.err.endsWith("\r\x1b[2K"), "the line is cleared at the end");
    const counts = ticks.map((t) => Number(/: (\d+) record/.exec(t)?.[1]));
    assert.deepEqual(
      counts,
      [...counts].sort((a, b) => a - b),
      "the count only grows",
    );
    assert.match(r.out, /\ntrackio sync: sent 1800 records from 3 fragments\n$/);
    const rows = await runRows(server.url, project, `${project}-r-id`);
    assert.deepEqual([rows.rows, rows.distinctLogIds], [1800, 1800]);
  } finally {
    await proxy.close();
  }
});
