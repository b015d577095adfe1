// Structured values that mirror Trackio's Python types and encode as the pinned server
// expects (trackio/histogram.py, table.py, markdown.py). Each is a plain class with a
// toJSON(): log() sends any non-numeric record through JSON.stringify, which calls it, so a
// Histogram or Table can sit anywhere in the metrics object. Encoding happens once, in the
// constructor, not in log().

import { InvalidArgError } from "../shared/errors.js";
import type { MetricValue } from "./types.js";

/** Trackio's bin limit (histogram.py). */
const MAX_BINS = 512;

/**
 * A histogram, binned as `numpy.histogram(data, bins=numBins)` bins it: equal-width bins from
 * the smallest to the largest finite value (±0.5 around a single value), each half-open
 * except the last; non-finite values are dropped.
 *
 * ```ts
 * client.log({ "weights/layer1": new Histogram(weights) }, step);
 * client.log({ latency: Histogram.fromBins([0, 1, 2], [5, 3]) });
 * ```
 */
export class Histogram {
  readonly bins: number[];
  readonly values: number[];
  /**
   * @internal Whether the edges are floats for Trackio (numpy computes them as float64, so
   * Python stores `0.0`, not `0`); edges given to fromBins follow the usual number rule.
   */
  readonly floatBins: boolean = true;

  constructor(data: ArrayLike<number>, numBins = 64) {
    if (!Number.isSafeInteger(numBins) || numBins < 1) {
      throw new InvalidArgError(`Histogram: numBins must be a positive integer, got ${String(numBins)}`);
    }
    const n = Math.min(numBins, MAX_BINS);
    let lo = Number.POSITIVE_INFINITY;
    let hi = Number.NEGATIVE_INFINITY;
    let count = 0;
    for (let i = 0; i < data.length; i++) {
      const x = data[i];
      if (typeof x !== "number" || !Number.isFinite(x)) continue;
      // On ties numpy's min and max keep the later value: it tells -0 from 0 in the edges.
      if (x <= lo) lo = x;
      if (x >= hi) hi = x;
      count++;
    }
    if (count === 0) {
      this.bins = [];
      this.values = [];
      return;
    }
    if (lo === hi) {
      lo -= 0.5;
      hi += 0.5;
    }
    // numpy.linspace: start + i * step, with the last edge exactly `hi`.
    const step = (hi - lo) / n;
    const edges = new Array<number>(n + 1);
    for (let i = 0; i < n; i++) edges[i] = lo + i * step;
    edges[n] = hi;
    // numpy.histogram refuses bins narrower than the doubles between lo and hi can tell apart
    // (and a range whose width overflows): equal edges would make empty or NaN bins.
    for (let i = 0; i < n; i++) {
      if (!(edges[i] < edges[i + 1]) || !Number.isFinite(edges[i])) {
        throw new InvalidArgError(
          `Histogram: too many bins for the data range [${lo}, ${hi}]: ${n} bins of equal finite width cannot be made (numpy.histogram refuses this too); use fewer bins`,
        );
      }
    }
    const counts = new Array<number>(n).fill(0);
    for (let i = 0; i < data.length; i++) {
      const x = data[i];
      if (typeof x !== "number" || !Number.isFinite(x)) continue;
      // numpy's order of operations, so that values on bin edges land in the same bin.
      let k = Math.floor(((x - lo) / (hi - lo)) * n);
      if (k >= n) k = n - 1;
      // numpy's correction for rounding at bin edges.
      if (k > 0 && x < edges[k]) k--;
      else if (k < n - 1 && x >= edges[k + 1]) k++;
      counts[k]++;
    }
    this.bins = edges;
    this.values = counts;
  }

  /** A histogram already binned elsewhere: `edges` has one more entry than `counts`. */
  static fromBins(edges: readonly number[], counts: readonly number[]): Histogram {
    if (edges.length !== counts.length + 1) {
      throw new InvalidArgError("Histogram.fromBins: edges must have exactly one more entry than counts");
    }
    const h = Object.create(Histogram.prototype) as { bins: number[]; values: number[]; floatBins: boolean };
    h.bins = [...edges];
    h.values = [...counts];
    h.floatBins = false;
    return h as Histogram;
  }

  toJSON(): { _type: "trackio.histogram"; bins: number[]; values: number[] } {
    return { _type: "trackio.histogram", bins: this.bins, values: this.values };
  }
}

/**
 * A table, shown in the dashboard's table view. Rows are arrays (with `columns` naming their
 * cells; cells past the named columns are keyed by position) or objects.
 *
 * ```ts
 * client.log({ predictions: new Table({ columns: ["text", "label"], data: [["hi", 1], ["yo", 0]] }) });
 * client.log({ predictions: new Table({ data: [{ text: "hi", label: 1 }] }) });
 * ```
 */
export class Table {
  readonly rows: Record<string, MetricValue>[];

  constructor(opts: {
    columns?: readonly string[];
    data: readonly (readonly MetricValue[] | Record<string, MetricValue>)[];
  }) {
    const { columns, data } = opts ?? {};
    if (!Array.isArray(data)) throw new InvalidArgError("Table: data must be an array of rows");
    this.rows = data.map((row, r) => {
      if (!Array.isArray(row)) {
        if (typeof row !== "object" || row === null)
          throw new InvalidArgError(`Table: row ${r} is not an array or object`);
        return { ...(row as Record<string, MetricValue>) };
      }
      const out: Record<string, MetricValue> = {};
      const names = columns ?? [];
      names.forEach((c, i) => {
        out[c] = i < row.length ? row[i] : null;
      });
      for (let i = names.length; i < row.length; i++) out[String(i)] = row[i];
      return out;
    });
  }

  toJSON(): { _type: "trackio.table"; _value: Record<string, MetricValue>[] } {
    return { _type: "trackio.table", _value: this.rows };
  }
}

/**
 * Markdown text, shown in the dashboard's Reports tab.
 *
 * ```ts
 * client.log({ report: new Markdown("# Epoch 3\nLoss is down **12%**.") });
 * ```
 */
export class Markdown {
  constructor(readonly text: string) {
    if (typeof text !== "string") throw new InvalidArgError("Markdown: text must be a string");
  }

  toJSON(): { _type: "trackio.markdown"; _value: string } {
    return { _type: "trackio.markdown", _value: this.text };
  }
}
