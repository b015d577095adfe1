export {
  type Alert,
  type AlertFilter,
  type AlertLevel,
  Api,
  type ApiOptions,
  type MetricRow,
  Run,
  type StoredValue,
  type SystemMetricRow,
} from "./api.js";
export { Artifact, type LogArtifactOptions } from "./artifact.js";
export { type AlertOptions, Client, type ClientStats, type MediaStats } from "./client.js";
export type { ClientOptions } from "./options.js";
export type { ManifestEntry } from "./shared/artifact.js";
export {
  AuthError,
  ClosedError,
  HttpError,
  InvalidArgError,
  NoEndpointError,
  NotFoundError,
  OverflowError,
  RejectedError,
  SpoolError,
  StatusError,
  TrackioError,
  type TrackioErrorCode,
  WorkerError,
} from "./shared/errors.js";
export {
  Audio,
  FileMedia,
  Html,
  type HtmlOptions,
  Image,
  type MediaOptions,
  type Pixels,
  type SampleArray,
  type Samples,
  Video,
} from "./values/file-media.js";
export { Histogram, Markdown, Table } from "./values/structured.js";
export {
  Trace,
  type TraceInit,
  type TraceMessage,
  type TraceSpan,
  type TraceSpanKind,
  type TraceToolCall,
  type TraceUsage,
} from "./values/trace.js";
export type { Metrics, MetricValue } from "./values/types.js";
