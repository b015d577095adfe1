// The small messages a new user meets first, each asserted word for word: a string step, a
// value too large for the ring (and that the advice given works), a URL without http://, the
// close() summary's singular, and `quiet`.

import assert from "node:assert/strict";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { startTrackio, type TrackioServer } from "../scripts/trackio-server.js";
import { Client } from "../src/index.js";
import { queryProject, sqlString } from "./support/read-api.js";
import { stderrOf } from "./support/stderr.js";

process.env.TRACKIO_SPOOL_DIR = mkdtempSync(join(tmpdir(), "trackio-spool-"));

let server: TrackioServer;
before(async () => {
  server = await startTrackio();
});
after(async () => {
  await server?.stop();
});

describe("messages a new user sees", () => {
  test('a string step "5" is reported as a string', async () => {
    const client = new Client({ baseUrl: server.writeUrl, project: "newcomer", run: "step", quiet: true });
    assert.throws(() => client.log({ loss: 1 }, "5" as unknown as number), {
      code: "ERR_TRACKIO_INVALID_ARG",
      message: 'log(): step must be a non-negative integer, got "5" (a string)',
    });
    assert.throws(() => client.log({ loss: 1 }, 1.5), {
      message: "log(): step must be a non-negative integer, got 1.5",
    });
    assert.throws(() => client.alert({ title: "t", step: "2" as unknown as number }), {
      message: 'alert(): step must be a non-negative integer, got "2" (a string)',
    });
    await client.close();
  });

  test("a value too large for the ring names the metric and says what to do, and the advice works", async () => {
    const blob = "x".repeat(5_000_000);
    const client = new Client({ baseUrl: server.writeUrl, project: "newcomer", run: "large", quiet: true });
    let message = "";
    assert.throws(
      () => client.log({ loss: 1, blob }, 0),
      (err: Error & { code?: string }) => {
        message = err.message;
        return err.code === "ERR_TRACKIO_INVALID_ARG";
      },
    );
    assert.equal(
      message,
      'log(): metric "blob" is too large for the ring: its record is 5000056 bytes, over the limit of 4194304 bytes (a quarter of ringBytes); ' +
        "raise ringBytes (new Client({ ringBytes: 33554432 })), or write the data to a file and log it as media by path " +
        "(new Image(path), Audio(path), Video(path) or Html.fromFile(path): the worker reads the file, up to 2 GiB)",
    );
    await client.close();

    // Following the advice: the same record with the suggested ring is stored.
    const bigger = new Client({
      baseUrl: server.writeUrl,
      project: "newcomer",
      run: "large-ok",
      ringBytes: 33554432,
      quiet: true,
    });
    bigger.log({ loss: 1, blob }, 0);
    await bigger.close();
    const rows = await queryProject(
      server.url,
      "newcomer",
      `SELECT length(json_extract(metrics, '$.blob')) AS n FROM metrics WHERE run_id = ${sqlString(bigger.runId as string)}`,
    );
    assert.deepEqual(rows, [{ n: 5_000_000 }]);
  });

  test('baseUrl "localhost:7911" says it needs http:// and suggests the URL', () => {
    assert.throws(() => new Client({ baseUrl: "localhost:7911" }), {
      code: "ERR_TRACKIO_INVALID_ARG",
      message:
        'baseUrl must be an http(s) URL, got "localhost:7911"; it needs http:// or https:// in front, e.g. "http://localhost:7911"',
    });
    assert.throws(() => new Client({ baseUrl: "127.0.0.1:7911/?write_token=secret" }), {
      message:
        'baseUrl is not a valid URL: "127.0.0.1:7911/?write_token=***"; it needs http:// or https:// in front, e.g. "http://127.0.0.1:7911/?write_token=***"',
    });
    assert.throws(() => new Client({ baseUrl: "ftp://example.com/" }), {
      message: 'baseUrl must be an http(s) URL, got "ftp://example.com/"',
    });
  });

  test('close() says "1 record sent", and "2 records sent"', async () => {
    for (const n of [1, 2]) {
      const client = new Client({ baseUrl: server.writeUrl, project: "newcomer", run: `summary-${n}` });
      for (let step = 0; step < n; step++) client.log({ loss: 1 }, step);
      const err = await stderrOf(() => client.close());
      assert.equal(
        err,
        `trackio: run "summary-${n}": ${n} ${n === 1 ? "record" : "records"} sent; dashboard: ${server.url}?project=newcomer\n`,
      );
    }
  });

  test("quiet: true prints nothing: no run-name line, no alert echo, no summary", async () => {
    const loud = await stderrOf(async () => {
      const client = new Client({ baseUrl: server.writeUrl, project: "newcomer" });
      client.log({ loss: 1 }, 0);
      await client.close();
    });
    assert.match(loud, /^trackio: no run name given, logging to run "[a-z]+-[a-z]+-\d+" of project "newcomer"\n/);

    const quiet = await stderrOf(async () => {
      const client = new Client({ baseUrl: server.writeUrl, project: "newcomer", quiet: true });
      client.log({ loss: 1 }, 0);
      client.alert({ title: "Loss spike", text: "quiet", level: "error" });
      await client.close();
      assert.equal(client.stats().sent, 2);
    });
    assert.equal(quiet, "");
  });
});
