// The values log() takes, as types (apart from the classes, so that they import nothing).

/** A value Trackio stores: what its Python client accepts, in JSON terms. */
export type MetricValue =
  | number
  | string
  | boolean
  | null
  | MetricValue[]
  | { [key: string]: MetricValue }
  // Histogram, Table, Markdown, Image, Audio, Video, Html: encoded through their toJSON().
  | { toJSON(): unknown };
export type Metrics = Record<string, MetricValue>;
