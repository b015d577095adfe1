export { type AlertOptions, Client, type ClientStats } from "./client.js";
export {
  AuthError,
  ClosedError,
  HttpError,
  InvalidArgError,
  NoEndpointError,
  NotFoundError,
  OverflowError,
  StatusError,
  TrackioError,
  type TrackioErrorCode,
} from "./errors.js";
export { Histogram, Markdown, Table } from "./media.js";
export type { ClientOptions } from "./options.js";
export type { Metrics, MetricValue } from "./values.js";
