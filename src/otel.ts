// `trackio/otel`: an OpenTelemetry SpanExporter that logs finished spans as Trackio traces,
// one trace per root span, through a Client's log() (so through the same ring and worker as
// every record: export() never waits on the network).
//
//   const exporter = new TrackioSpanExporter(client);
//   const provider = new BasicTracerProvider({ spanProcessors: [new BatchSpanProcessor(exporter)] });
//
// Children end (and are exported) before their root: they wait here, by trace id, until the
// root ends, then the whole tree is one Trace. A span whose parent is in another process
// (a remote parent) is a root here. A span that ends after its root was logged is logged as
// a trace of its own (metadata `late: true`), and at shutdown() the trees whose root never
// ended are logged with `incomplete: true`: no span is dropped without a trace of it.
//
// Types only from @opentelemetry/*: this module runs without them installed, and the main
// entry ("trackio") never loads it.

import type { ReadableSpan, SpanExporter } from "@opentelemetry/sdk-trace-base";
import { Client, type ClientOptions } from "./client.js";
import { hrMs, type MappedSpan, mapSpan } from "./otel-genai.js";
import { ClosedError, InvalidArgError } from "./shared/errors.js";
import { Trace, type TraceMessage } from "./values/trace.js";
import type { Metrics } from "./values/types.js";

/** What the exporter needs of a Client (any object with a matching `log` and `flush`). */
export interface TraceLogger {
  log(metrics: Metrics, step?: number, timestamp?: number | Date): void;
  flush(): Promise<void>;
}

type ExportResult = Parameters<Parameters<SpanExporter["export"]>[1]>[0];
const SUCCESS = 0 as ExportResult["code"];
const FAILED = 1 as ExportResult["code"];

export interface TrackioSpanExporterOptions {
  /** The metric name traces are logged under (default `"trace"`). */
  key?: string;
  /**
   * The step of each trace: a number, or a function called at each trace (e.g. returning the
   * step of your training loop). Default: log()'s own, one past the highest step so far.
   */
  step?: number | (() => number | undefined);
  /** Spans kept while their root has not ended, before the oldest tree is logged as incomplete (default 10000). */
  maxPendingSpans?: number;
}

/** A span kept until its root ends. */
interface Pending {
  span: ReadableSpan;
  parentId: string | null;
}

/** Trees of finished spans remembered (by trace id) so that a span ending late finds its parent. */
const REMEMBERED_TRACES = 1000;

function parentOf(span: ReadableSpan): { id: string | null; remote: boolean } {
  const ctx = span.parentSpanContext;
  if (ctx !== undefined) return { id: ctx.spanId, remote: ctx.isRemote === true };
  // @opentelemetry/sdk-trace-base 1.x had parentSpanId instead.
  const legacy = (span as { parentSpanId?: string }).parentSpanId;
  return { id: typeof legacy === "string" && legacy !== "" ? legacy : null, remote: false };
}

export class TrackioSpanExporter implements SpanExporter {
  /** The Client traces are logged through. */
  readonly client: TraceLogger;
  readonly #owned: Client | null;
  readonly #key: string;
  readonly #step: TrackioSpanExporterOptions["step"];
  readonly #maxPending: number;
  /** trace id → span id → span, for trees whose root has not ended. */
  readonly #pending = new Map<string, Map<string, Pending>>();
  #pendingCount = 0;
  /** trace id → ids of its spans already logged. */
  readonly #logged = new Map<string, Set<string>>();
  #shutdown = false;

  /**
   * @param target the Client to log through (yours to close), or options for a Client the
   *   exporter makes and closes at shutdown()
   */
  constructor(target: TraceLogger | ClientOptions = {}, options: TrackioSpanExporterOptions = {}) {
    const { key = "trace", step, maxPendingSpans = 10_000 } = options ?? {};
    if (typeof key !== "string" || key === "")
      throw new InvalidArgError("TrackioSpanExporter: key must be a non-empty string");
    if (step !== undefined && typeof step !== "function" && !(Number.isSafeInteger(step) && step >= 0))
      throw new InvalidArgError("TrackioSpanExporter: step must be a non-negative integer or a function");
    if (!Number.isSafeInteger(maxPendingSpans) || maxPendingSpans < 1)
      throw new InvalidArgError("TrackioSpanExporter: maxPendingSpans must be a positive integer");
    const given = typeof (target as Partial<TraceLogger>)?.log === "function";
    this.#owned = given ? null : new Client(target as ClientOptions);
    this.client = given ? (target as TraceLogger) : (this.#owned as Client);
    this.#key = key;
    this.#step = step;
    this.#maxPending = maxPendingSpans;
  }

  /** Called by the span processor with finished spans; logs each tree whose root is among them. */
  export(spans: ReadableSpan[], resultCallback: (result: ExportResult) => void): void {
    if (this.#shutdown) {
      resultCallback({
        code: FAILED,
        error: new ClosedError("TrackioSpanExporter: export() after shutdown(); the spans were not logged"),
      });
      return;
    }
    let error: Error | undefined;
    for (const span of spans) {
      try {
        this.#add(span);
      } catch (err) {
        error ??= err instanceof Error ? err : new Error(String(err));
      }
    }
    resultCallback(error === undefined ? { code: SUCCESS } : { code: FAILED, error });
  }

  /** Waits until every trace logged so far is stored (the Client's flush()). Trees still open stay open. */
  async forceFlush(): Promise<void> {
    await this.client.flush();
  }

  /** Logs the trees whose root never ended (as incomplete), then flushes, or closes a Client of its own. */
  async shutdown(): Promise<void> {
    if (this.#shutdown) return;
    this.#shutdown = true;
    let error: unknown;
    for (const traceId of [...this.#pending.keys()]) {
      try {
        this.#logIncomplete(traceId);
      } catch (err) {
        error ??= err;
      }
    }
    if (this.#owned !== null) await this.#owned.close();
    else await this.client.flush();
    if (error !== undefined) throw error;
  }

  #add(span: ReadableSpan): void {
    const traceId = span.spanContext().traceId;
    const id = span.spanContext().spanId;
    const parent = parentOf(span);
    const logged = this.#logged.get(traceId);
    const root = parent.id === null || parent.remote;
    const late = !root && logged?.has(parent.id as string) === true;
    let spans = this.#pending.get(traceId);
    if (spans === undefined) this.#pending.set(traceId, (spans = new Map()));
    spans.set(id, { span, parentId: parent.id });
    this.#pendingCount++;
    if (root || late) this.#logTree(traceId, id, late ? { late: true, parent_span_id: parent.id } : {});
    else if (this.#pendingCount > this.#maxPending) {
      const oldest = this.#pending.keys().next().value as string;
      this.#logIncomplete(oldest);
    }
  }

  /** The span `headId` and its pending descendants, logged as one trace. */
  #logTree(traceId: string, headId: string, extra: Record<string, unknown>): void {
    const spans = this.#pending.get(traceId) as Map<string, Pending>;
    const children = new Map<string, string[]>();
    for (const [id, p] of spans) {
      if (p.parentId === null) continue;
      const list = children.get(p.parentId);
      if (list === undefined) children.set(p.parentId, [id]);
      else list.push(id);
    }
    const tree = new Set<string>();
    const stack = [headId];
    while (stack.length > 0) {
      const id = stack.pop() as string;
      if (tree.has(id)) continue;
      tree.add(id);
      stack.push(...(children.get(id) ?? []));
    }
    // In the order the spans ended: what orders spans that started in the same microsecond.
    this.#log(
      traceId,
      [...spans.keys()].filter((id) => tree.has(id)),
      headId,
      extra,
    );
  }

  /** Every pending span of a trace whose root has not ended, as one trace. */
  #logIncomplete(traceId: string): void {
    const spans = this.#pending.get(traceId) as Map<string, Pending>;
    const ids = [...spans.keys()];
    const heads = ids.filter((id) => !spans.has(spans.get(id)?.parentId ?? ""));
    this.#log(traceId, ids, heads[0] ?? ids[0], { incomplete: true });
  }

  #log(traceId: string, ids: string[], headId: string, extra: Record<string, unknown>): void {
    const spans = this.#pending.get(traceId) as Map<string, Pending>;
    const start = hrMs((spans.get(headId) as Pending).span.startTime);
    const inTree = new Set(ids);
    const mapped: MappedSpan[] = [];
    for (const id of ids) {
      const p = spans.get(id) as Pending;
      // A span whose parent is not in this trace is one of its roots.
      mapped.push(mapSpan(p.span, p.parentId !== null && inTree.has(p.parentId) && id !== headId ? p.parentId : null));
      spans.delete(id);
      this.#pendingCount--;
    }
    if (spans.size === 0) this.#pending.delete(traceId);
    let logged = this.#logged.get(traceId);
    if (logged === undefined) {
      this.#logged.set(traceId, (logged = new Set()));
      if (this.#logged.size > REMEMBERED_TRACES) this.#logged.delete(this.#logged.keys().next().value as string);
    }
    for (const id of ids) logged.add(id);

    // By start; a parent before its children when their starts are equal to the microsecond.
    const byId = new Map(mapped.map((m) => [m.span.id, m]));
    const depth = new Map<string, number>();
    const depthOf = (id: string): number => {
      let d = depth.get(id);
      if (d === undefined) {
        const parent = byId.get(id)?.span.parent_id;
        depth.set(id, 0); // a cycle of ids stops here
        d = typeof parent === "string" && inTree.has(parent) ? depthOf(parent) + 1 : 0;
        depth.set(id, d);
      }
      return d;
    };
    mapped.sort(
      (a, b) =>
        (a.span.start_time as string).localeCompare(b.span.start_time as string) ||
        depthOf(a.span.id) - depthOf(b.span.id),
    );
    const top = mapped.find((m) => m.span.id === headId) as MappedSpan;
    const metadata: Record<string, unknown> = { otel_trace_id: traceId, ...extra };
    const conversation = mapped.find((m) => m.conversationId !== null)?.conversationId;
    if (conversation !== undefined) metadata.session_id = conversation;
    try {
      const trace = new Trace({ messages: conversationOf(top, mapped), metadata, spans: mapped.map((m) => m.span) });
      const step = typeof this.#step === "function" ? this.#step() : this.#step;
      // The record's time is when the request started (where Trackio keeps a client's time:
      // the spool and the local inbox; its HTTP API stamps rows on arrival).
      this.client.log({ [this.#key]: trace }, step, Math.floor(start));
    } catch (err) {
      // A span processor reports a failed export only to OpenTelemetry's diag logger, which
      // is silent by default.
      process.emitWarning(
        `TrackioSpanExporter: the trace of root span ${headId} (trace ${traceId}) was not logged: ${err instanceof Error ? err.message : String(err)}`,
        { code: "TRACKIO_OTEL_EXPORT" },
      );
      throw err;
    }
  }
}

/**
 * The trace's messages: the root's own conversation when it records one (an agent span),
 * else the last model call's (its input holds the history, its output the answer).
 */
function conversationOf(top: MappedSpan, spans: MappedSpan[]): TraceMessage[] {
  const own = [...(top.input ?? []), ...(top.output ?? [])];
  if (own.length > 0) return own;
  let last: MappedSpan | undefined;
  for (const m of spans) {
    if (m.input === null && m.output === null) continue;
    if (last === undefined || (m.span.end_time as string) >= (last.span.end_time as string)) last = m;
  }
  return last === undefined ? [] : [...(last.input ?? []), ...(last.output ?? [])];
}
