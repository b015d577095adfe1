// Every failure a user can see is a TrackioError with a stable `code`, as in undici and
// Node itself. Errors made in the worker cross to the main thread as plain data (structured
// clone drops prototypes and own fields), so each class can be rebuilt from its wire form,
// and `instanceof` checks a Symbol.for brand so that it also holds across copies of this
// package loaded twice (ESM + CJS, bundled + installed).

const kBrand = Symbol.for("trackio.error");

export type TrackioErrorCode =
  | "ERR_TRACKIO"
  | "ERR_TRACKIO_NO_ENDPOINT"
  | "ERR_TRACKIO_HTTP"
  | "ERR_TRACKIO_NOT_FOUND"
  | "ERR_TRACKIO_STATUS"
  | "ERR_TRACKIO_AUTH"
  | "ERR_TRACKIO_INVALID_ARG"
  | "ERR_TRACKIO_CLOSED"
  | "ERR_TRACKIO_OVERFLOW"
  | "ERR_TRACKIO_REJECTED"
  | "ERR_TRACKIO_WORKER"
  | "ERR_TRACKIO_SPOOL";

export class TrackioError extends Error {
  readonly code: TrackioErrorCode = "ERR_TRACKIO";

  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }

  static override [Symbol.hasInstance](value: unknown): boolean {
    // `this` is the class on the right of instanceof (deliberately the subclass, not
    // TrackioError): TrackioError accepts every code, a subclass of ours only its own code,
    // and a user's subclass what the prototype chain says.
    // biome-ignore lint/complexity/noThisInStatic: see above
    const cls = this as unknown as { code?: string } & ((...args: never[]) => unknown);
    if (typeof value !== "object" || value === null) return false;
    if (Function.prototype[Symbol.hasInstance].call(cls, value)) return true;
    const brand = (value as Record<symbol, unknown>)[kBrand];
    if (brand === undefined) return false;
    return (cls as unknown) === TrackioError || (Object.hasOwn(cls, "code") && brand === cls.code);
  }

  get [kBrand](): string {
    return this.code;
  }
}

/** The server does not offer Trackio's HTTP API (`GET /version` with `api_version` 1). */
export class NoEndpointError extends TrackioError {
  static readonly code = "ERR_TRACKIO_NO_ENDPOINT";
  override readonly code = "ERR_TRACKIO_NO_ENDPOINT";
}

/** The request never got an HTTP answer: connection refused, reset, DNS, timeout. */
export class HttpError extends TrackioError {
  static readonly code = "ERR_TRACKIO_HTTP";
  override readonly code = "ERR_TRACKIO_HTTP";
}

/** The server answered 404 (an unknown API name or path), or the read API found no such project. */
export class NotFoundError extends TrackioError {
  static readonly code = "ERR_TRACKIO_NOT_FOUND";
  override readonly code = "ERR_TRACKIO_NOT_FOUND";
  readonly status = 404;
  constructor(
    message: string,
    readonly body: string,
  ) {
    super(message);
  }
}

/** The server answered with a status that is neither success nor one of the cases above. */
export class StatusError extends TrackioError {
  static readonly code = "ERR_TRACKIO_STATUS";
  override readonly code = "ERR_TRACKIO_STATUS";
  constructor(
    message: string,
    readonly status: number,
    readonly body: string,
  ) {
    super(message);
  }
}

/** The server refused the write token or the Hugging Face token. */
export class AuthError extends TrackioError {
  static readonly code = "ERR_TRACKIO_AUTH";
  override readonly code = "ERR_TRACKIO_AUTH";
  constructor(
    message: string,
    readonly status: number,
    readonly body: string,
  ) {
    super(message);
  }
}

/** A call was given something it cannot accept; nothing else was affected. */
export class InvalidArgError extends TrackioError {
  static readonly code = "ERR_TRACKIO_INVALID_ARG";
  override readonly code = "ERR_TRACKIO_INVALID_ARG";
}

/** The client was closed before the operation could finish. */
export class ClosedError extends TrackioError {
  static readonly code = "ERR_TRACKIO_CLOSED";
  override readonly code = "ERR_TRACKIO_CLOSED";
}

/** log() could not queue a record: ring and overflow buffer stayed full past the bound. */
export class OverflowError extends TrackioError {
  static readonly code = "ERR_TRACKIO_OVERFLOW";
  override readonly code = "ERR_TRACKIO_OVERFLOW";
}

/**
 * The server refused a record on its own while it accepted the others: the record was set
 * aside in a quarantine file of the spool (counted in `stats().quarantined`), never resent.
 */
export class RejectedError extends TrackioError {
  static readonly code = "ERR_TRACKIO_REJECTED";
  override readonly code = "ERR_TRACKIO_REJECTED";
}

/** The worker thread could not be started (its file is missing or does not load). */
export class WorkerError extends TrackioError {
  static readonly code = "ERR_TRACKIO_WORKER";
  override readonly code = "ERR_TRACKIO_WORKER";
}

/** The spool directory cannot be created or written. */
export class SpoolError extends TrackioError {
  static readonly code = "ERR_TRACKIO_SPOOL";
  override readonly code = "ERR_TRACKIO_SPOOL";
}

/** What crosses a thread boundary in place of an error. */
export interface WireError {
  code: string;
  message: string;
  status?: number;
  body?: string;
  cause?: string;
}

export function toWire(err: unknown): WireError {
  if (err instanceof TrackioError) {
    const e = err as TrackioError & { status?: number; body?: string };
    const wire: WireError = { code: e.code, message: e.message };
    if (typeof e.status === "number") wire.status = e.status;
    if (typeof e.body === "string") wire.body = e.body;
    if (e.cause !== undefined) wire.cause = describeCause(e.cause);
    return wire;
  }
  return { code: "ERR_TRACKIO", message: describeCause(err) };
}

export function fromWire(wire: WireError): TrackioError {
  const cause = wire.cause === undefined ? undefined : { cause: new Error(wire.cause) };
  const status = wire.status ?? 0;
  const body = wire.body ?? "";
  switch (wire.code) {
    case NoEndpointError.code:
      return new NoEndpointError(wire.message, cause);
    case HttpError.code:
      return new HttpError(wire.message, cause);
    case NotFoundError.code:
      return new NotFoundError(wire.message, body);
    case StatusError.code:
      return new StatusError(wire.message, status, body);
    case AuthError.code:
      return new AuthError(wire.message, status, body);
    case InvalidArgError.code:
      return new InvalidArgError(wire.message);
    case ClosedError.code:
      return new ClosedError(wire.message);
    case OverflowError.code:
      return new OverflowError(wire.message);
    case RejectedError.code:
      return new RejectedError(wire.message, cause);
    case WorkerError.code:
      return new WorkerError(wire.message, cause);
    case SpoolError.code:
      return new SpoolError(wire.message, cause);
    default:
      return new TrackioError(wire.message, cause);
  }
}

function describeCause(err: unknown): string {
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code;
    return typeof code === "string" ? `${code}: ${err.message}` : err.message;
  }
  return String(err);
}
