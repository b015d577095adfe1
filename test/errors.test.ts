// src/shared/errors.ts: codes, names, the brand-based instanceof, and the wire form that carries an
// error from the worker to the main thread.

import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  AuthError,
  ClosedError,
  fromWire,
  HttpError,
  InvalidArgError,
  NoEndpointError,
  NotFoundError,
  OverflowError,
  StatusError,
  TrackioError,
  toWire,
  type WireError,
} from "../src/shared/errors.js";

type AnyErrorClass = abstract new (...args: never[]) => TrackioError;

interface Case {
  cls: AnyErrorClass;
  name: string;
  code: string;
  make: () => TrackioError;
  status?: number;
  body?: string;
}

const CASES: Case[] = [
  { cls: TrackioError, name: "TrackioError", code: "ERR_TRACKIO", make: () => new TrackioError("base") },
  {
    cls: NoEndpointError,
    name: "NoEndpointError",
    code: "ERR_TRACKIO_NO_ENDPOINT",
    make: () => new NoEndpointError("no api"),
  },
  {
    cls: HttpError,
    name: "HttpError",
    code: "ERR_TRACKIO_HTTP",
    make: () => new HttpError("refused", { cause: Object.assign(new Error("connect"), { code: "ECONNREFUSED" }) }),
  },
  {
    cls: NotFoundError,
    name: "NotFoundError",
    code: "ERR_TRACKIO_NOT_FOUND",
    make: () => new NotFoundError("404", '{"detail":"Not Found"}'),
    status: 404,
    body: '{"detail":"Not Found"}',
  },
  {
    cls: StatusError,
    name: "StatusError",
    code: "ERR_TRACKIO_STATUS",
    make: () => new StatusError("500", 500, "boom"),
    status: 500,
    body: "boom",
  },
  {
    cls: AuthError,
    name: "AuthError",
    code: "ERR_TRACKIO_AUTH",
    make: () => new AuthError("refused", 400, '{"error":"A write_token is required"}'),
    status: 400,
    body: '{"error":"A write_token is required"}',
  },
  {
    cls: InvalidArgError,
    name: "InvalidArgError",
    code: "ERR_TRACKIO_INVALID_ARG",
    make: () => new InvalidArgError("bad"),
  },
  { cls: ClosedError, name: "ClosedError", code: "ERR_TRACKIO_CLOSED", make: () => new ClosedError("closed") },
  { cls: OverflowError, name: "OverflowError", code: "ERR_TRACKIO_OVERFLOW", make: () => new OverflowError("full") },
];

const SUBCLASSES = CASES.filter((c) => c.cls !== TrackioError);

describe("each error class", () => {
  for (const c of CASES) {
    test(`${c.name}: code, name, instanceof`, () => {
      const err = c.make();
      assert.equal(err.code, c.code);
      assert.equal(err.name, c.name);
      assert.ok(err instanceof Error);
      assert.ok(err instanceof TrackioError);
      assert.ok(err instanceof c.cls);
      for (const other of SUBCLASSES) {
        if (other.cls !== c.cls) assert.ok(!(err instanceof other.cls), `${c.name} is not a ${other.name}`);
      }
      if (c.cls !== TrackioError) assert.equal((c.cls as unknown as { code: string }).code, c.code, "static code");
      if (c.status !== undefined) assert.equal((err as unknown as { status: number }).status, c.status);
      if (c.body !== undefined) assert.equal((err as unknown as { body: string }).body, c.body);
      assert.ok(err.stack?.includes(c.name));
      assert.equal(String(err), `${c.name}: ${err.message}`);
    });
  }

  test("instanceof is false for non-errors and foreign errors", () => {
    for (const v of [null, undefined, 0, "ERR_TRACKIO", {}, new Error("x"), { code: "ERR_TRACKIO_HTTP" }]) {
      assert.ok(!(v instanceof TrackioError));
      assert.ok(!(v instanceof HttpError));
    }
  });

  test("the cause is kept", () => {
    const cause = new Error("inner");
    assert.equal(new HttpError("outer", { cause }).cause, cause);
  });
});

describe("wire form", () => {
  for (const c of CASES) {
    test(`${c.name} survives toWire → structuredClone → fromWire`, () => {
      const err = c.make();
      const wire = structuredClone(toWire(err));
      assert.equal(wire.code, c.code);
      assert.equal(wire.message, err.message);
      const back = fromWire(wire);
      assert.ok(back instanceof c.cls);
      assert.ok(back instanceof TrackioError);
      assert.equal(back.constructor, c.cls, "rebuilt as the very class");
      assert.equal(back.code, c.code);
      assert.equal(back.name, c.name);
      assert.equal(back.message, err.message);
      const b = back as unknown as { status?: number; body?: string };
      assert.equal(b.status, c.status);
      assert.equal(b.body, c.body);
      assert.deepEqual(toWire(back).status, wire.status);
      assert.deepEqual(toWire(back).body, wire.body);
    });
  }

  test("the cause crosses as text, with its code", () => {
    const err = new HttpError("no answer", {
      cause: Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:1"), { code: "ECONNREFUSED" }),
    });
    const wire = toWire(err);
    assert.equal(wire.cause, "ECONNREFUSED: connect ECONNREFUSED 127.0.0.1:1");
    const back = fromWire(wire);
    assert.ok(back.cause instanceof Error);
    assert.equal((back.cause as Error).message, wire.cause);
  });

  test("no status or body fields for errors that have none", () => {
    const wire = toWire(new ClosedError("closed"));
    assert.deepEqual(wire, { code: "ERR_TRACKIO_CLOSED", message: "closed" });
  });

  test("a foreign error becomes a plain TrackioError carrying its description", () => {
    const wire = toWire(Object.assign(new TypeError("bad thing"), { code: "ERR_X" }));
    assert.deepEqual(wire, { code: "ERR_TRACKIO", message: "ERR_X: bad thing" });
    assert.deepEqual(toWire("a string"), { code: "ERR_TRACKIO", message: "a string" });
    const back = fromWire(wire);
    assert.equal(back.constructor, TrackioError);
    assert.equal(back.code, "ERR_TRACKIO");
  });

  test("an unknown code (a newer worker) falls back to TrackioError", () => {
    const wire: WireError = { code: "ERR_TRACKIO_FROM_THE_FUTURE", message: "hm", status: 418 };
    const back = fromWire(wire);
    assert.equal(back.constructor, TrackioError);
    assert.equal(back.message, "hm");
  });

  test("missing status and body default to 0 and empty", () => {
    const back = fromWire({ code: "ERR_TRACKIO_STATUS", message: "m" }) as StatusError;
    assert.ok(back instanceof StatusError);
    assert.equal(back.status, 0);
    assert.equal(back.body, "");
  });
});

describe("a second copy of the package", () => {
  /** An object from "another copy": no shared prototype, only the Symbol.for brand. */
  function foreign(code: string, extra: object = {}): object {
    const proto = Object.create(Error.prototype, {
      [Symbol.for("trackio.error")]: {
        get(this: { code: string }) {
          return this.code;
        },
      },
    });
    return Object.assign(Object.create(proto), { code, message: "from elsewhere" }, extra);
  }

  test("a branded object passes instanceof for TrackioError and its own class only", () => {
    const http = foreign("ERR_TRACKIO_HTTP");
    assert.ok(http instanceof TrackioError);
    assert.ok(http instanceof HttpError);
    assert.ok(!(http instanceof StatusError));
    assert.ok(!(http instanceof NoEndpointError));

    const status = foreign("ERR_TRACKIO_STATUS", { status: 503, body: "busy" });
    assert.ok(status instanceof StatusError);
    assert.ok(!(status instanceof AuthError));
    assert.deepEqual(toWire(status), {
      code: "ERR_TRACKIO_STATUS",
      message: "from elsewhere",
      status: 503,
      body: "busy",
    });

    const base = foreign("ERR_TRACKIO");
    assert.ok(base instanceof TrackioError);
    for (const c of SUBCLASSES) assert.ok(!(base instanceof c.cls));
  });

  test("a brand stored as an own property works too", () => {
    const o = { [Symbol.for("trackio.error")]: "ERR_TRACKIO_CLOSED" };
    assert.ok(o instanceof ClosedError);
    assert.ok(o instanceof TrackioError);
    assert.ok(!(o instanceof OverflowError));
  });
});

describe("user subclasses", () => {
  test("an instance of a user's subclass is an instance of that subclass, and only its own are", () => {
    class MyError extends TrackioError {}
    class RetryableHttp extends HttpError {}
    assert.ok(new MyError("x") instanceof MyError, "own instance (no static code: brand !== undefined)");
    assert.ok(new MyError("x") instanceof TrackioError);
    assert.ok(new RetryableHttp("x") instanceof RetryableHttp);
    assert.ok(new RetryableHttp("x") instanceof HttpError);
    assert.ok(
      !(new HttpError("x") instanceof RetryableHttp),
      "a plain HttpError is not the subclass (inherited static code)",
    );
  });
});
