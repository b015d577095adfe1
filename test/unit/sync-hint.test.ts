// src/io/sync-hint.ts: the `npx trackio sync` command the messages print for kept records, and
// what they say about who sends them.

import assert from "node:assert/strict";
import { test } from "node:test";
import { syncCommand, whoSends } from "../../src/io/sync-hint.js";
import { AuthError, HttpError, NoEndpointError, StatusError } from "../../src/shared/errors.js";

const target = {
  spoolDir: "/tmp/spool/127.0.0.1_7860-abc",
  displayUrl: "http://127.0.0.1:7860/",
  writeToken: null,
  project: "my-project",
  run: "it's run 1",
};

test("the command: the server's spool directory, its URL, the run; quoted for a shell only where needed", () => {
  assert.equal(
    syncCommand(target),
    "npx trackio sync --spool /tmp/spool/127.0.0.1_7860-abc --url http://127.0.0.1:7860/ --project my-project --run 'it'\\''s run 1'",
  );
  assert.equal(
    syncCommand({ ...target, spoolDir: "/home/me/my spool", project: undefined, run: undefined }),
    "npx trackio sync --spool '/home/me/my spool' --url http://127.0.0.1:7860/",
  );
});

test("--token TOKEN only when sync would not find the token in $TRACKIO_WRITE_TOKEN; the token is never printed", (t) => {
  const before = process.env.TRACKIO_WRITE_TOKEN;
  t.after(() => {
    if (before === undefined) delete process.env.TRACKIO_WRITE_TOKEN;
    else process.env.TRACKIO_WRITE_TOKEN = before;
  });
  process.env.TRACKIO_WRITE_TOKEN = "secret";
  const withToken = { ...target, writeToken: "secret", run: "r" };
  assert.equal(syncCommand(withToken), `${syncCommand({ ...target, run: "r" })}`);
  delete process.env.TRACKIO_WRITE_TOKEN;
  assert.equal(
    syncCommand(withToken),
    "npx trackio sync --spool /tmp/spool/127.0.0.1_7860-abc --url http://127.0.0.1:7860/ --token TOKEN --project my-project --run r",
  );
  assert.ok(!syncCommand(withToken).includes("secret"));
});

test("who sends kept records: the client after an outage; the command after a refused token or a server that is not Trackio", () => {
  const t = { ...target, run: "r" };
  const cmd = syncCommand(t);
  assert.equal(
    whoSends(new HttpError("no answer"), t),
    `they are sent when the server answers again, or with \`${cmd}\``,
  );
  assert.equal(
    whoSends(new StatusError("refused", 400, ""), t, true),
    `it is sent when the server accepts records again, or with \`${cmd}\``,
  );
  assert.equal(
    whoSends(new AuthError("refused", 400, ""), t),
    `this client cannot send them with its write token; with the right one, \`${cmd.replace(" --project", " --token TOKEN --project")}\` does`,
  );
  assert.equal(
    whoSends(new NoEndpointError("not Trackio"), t),
    `this client does not send them again; \`${cmd.replace("--url http://127.0.0.1:7860/", "--url URL")}\` does, with URL a Trackio server that takes them`,
  );
});
