// File-backed values that mirror Trackio's Python media types (trackio/media/*.py): Image,
// Audio, Video and Html. In the metrics they are `{"_type":"trackio.<kind>","file_path",
// "caption"}`, and the file itself is uploaded to the server beside the record.
//
// What happens where: the constructor checks its arguments (a clear error at the call that
// caused it) and keeps a reference; log() names the file and copies the bytes into the ring
// (one copy, bounded by the ring's record limit); the worker reads files, encodes pixels to
// PNG and samples to WAV, uploads, retries, and spools what it cannot upload.

import { type Stats, statSync } from "node:fs";
import { extname, resolve } from "node:path";
import { InvalidArgError } from "../shared/errors.js";
import { type SampleArray, type SampleType, sampleTypeOf } from "../shared/samples.js";
import { sniffFormat } from "../shared/sniff.js";

export type { SampleArray, SampleType };

/** Where the bytes of a media value come from. Read by the client and the worker. */
export type MediaSource =
  | { src: "path"; path: string; size: number; mtimeMs: number }
  | { src: "bytes"; bytes: Uint8Array }
  | { src: "pixels"; bytes: Uint8Array; width: number; height: number; channels: 1 | 2 | 3 | 4 }
  | { src: "samples"; bytes: Uint8Array; dtype: SampleType; sampleRate: number; channels: number }
  | { src: "text"; bytes: Uint8Array };

export type MediaType = "image" | "audio" | "video" | "html";

/** The base of Image, Audio, Video and Html. */
export abstract class FileMedia {
  abstract readonly type: MediaType;
  readonly caption: string | null;
  /** @internal */
  readonly source: MediaSource;
  /** @internal The file extension, without the dot. */
  readonly ext: string;

  protected constructor(source: MediaSource, ext: string, caption: string | null | undefined, what: string) {
    if (caption !== undefined && caption !== null && typeof caption !== "string") {
      throw new InvalidArgError(`${what}: caption must be a string`);
    }
    this.source = source;
    this.ext = ext;
    this.caption = caption ?? null;
  }

  // log() writes a media value's JSON itself, with the file it names for that record
  // (src/values/json.ts); anywhere else there is no file to name.
  toJSON(): never {
    throw new InvalidArgError(
      `${this.constructor.name} values can only be logged with client.log() (not in a config or outside a record)`,
    );
  }
}

export interface MediaOptions {
  caption?: string | null;
}

function fileSource(path: string, what: string): Made {
  if (path === "") throw new InvalidArgError(`${what}: the file path is empty`);
  const abs = resolve(path);
  let stat: Stats | undefined;
  try {
    stat = statSync(abs);
  } catch {
    // reported below
  }
  if (stat === undefined || !stat.isFile()) throw new InvalidArgError(`${what}: file not found: ${path}`);
  const ext = extname(abs).slice(1).toLowerCase();
  if (ext === "") throw new InvalidArgError(`${what}: ${path} has no file extension to tell its format`);
  // The worker reads the file later; its size and time now tell it whether it changed since.
  return { source: { src: "path", path: abs, size: stat.size, mtimeMs: stat.mtimeMs }, ext };
}

function bytesSource(
  bytes: Uint8Array,
  allowed: readonly string[],
  what: string,
): { source: MediaSource; ext: string } {
  const ext = sniffFormat(bytes);
  if (ext === null || !allowed.includes(ext)) {
    throw new InvalidArgError(
      `${what}: the bytes are not ${allowed.join(", ")} (${ext === null ? "format not recognised" : `found ${ext}`})`,
    );
  }
  return { source: { src: "bytes", bytes }, ext };
}

type Made = { source: MediaSource; ext: string };

/** A file path or the bytes of a file in one of `formats`; null for anything else. */
function fileOrBytes(value: unknown, formats: readonly string[], what: string): Made | null {
  if (typeof value === "string") return fileSource(value, what);
  if (value instanceof Uint8Array) return bytesSource(value, formats, what);
  return null;
}

function pixelsSource(value: Pixels, what: string): Made {
  const width = positiveInt(value.width, "width", what);
  const height = positiveInt(value.height, "height", what);
  const channels = value.channels ?? 4;
  if (channels !== 1 && channels !== 2 && channels !== 3 && channels !== 4) {
    throw new InvalidArgError(`${what}: channels must be 1, 2, 3 or 4, got ${String(channels)}`);
  }
  if (!(value.data instanceof Uint8Array || value.data instanceof Uint8ClampedArray)) {
    throw new InvalidArgError(`${what}: pixel data must be a Uint8Array or Uint8ClampedArray`);
  }
  if (value.data.length !== width * height * channels) {
    throw new InvalidArgError(
      `${what}: ${width}×${height}×${channels} pixels need ${width * height * channels} bytes, got ${value.data.length}`,
    );
  }
  return { source: { src: "pixels", bytes: asBytes(value.data), width, height, channels }, ext: "png" };
}

function samplesSource(value: Samples, what: string): Made {
  const sampleRate = positiveInt(value.sampleRate, "sampleRate", what);
  const channels = positiveInt(value.channels ?? 1, "channels", what);
  let samples = value.samples;
  if (Array.isArray(samples)) {
    if (!samples.every((x) => typeof x === "number")) throw new InvalidArgError(`${what}: samples must all be numbers`);
    samples = Float64Array.from(samples);
  }
  const dtype = sampleTypeOf(samples);
  if (dtype === null) {
    throw new InvalidArgError(`${what}: samples must be a number[] or a typed array (Float32Array, Int16Array …)`);
  }
  const typed = samples as SampleArray;
  if (typed.length % channels !== 0) {
    throw new InvalidArgError(`${what}: ${typed.length} samples do not divide into ${channels} channels`);
  }
  return { source: { src: "samples", bytes: asBytes(typed), dtype, sampleRate, channels }, ext: "wav" };
}

function asBytes(view: ArrayBufferView): Uint8Array {
  return new Uint8Array(view.buffer, view.byteOffset, view.byteLength);
}

function positiveInt(value: unknown, name: string, what: string): number {
  if (!Number.isSafeInteger(value) || (value as number) <= 0) {
    throw new InvalidArgError(`${what}: ${name} must be a positive integer, got ${String(value)}`);
  }
  return value as number;
}

const IMAGE_FORMATS = ["png", "jpg", "gif", "webp", "bmp"] as const;

/** Raw pixels, row by row from the top, `channels` bytes per pixel (1 gray, 2 gray+alpha, 3 RGB, 4 RGBA). */
export interface Pixels {
  data: Uint8Array | Uint8ClampedArray;
  width: number;
  height: number;
  channels?: 1 | 2 | 3 | 4;
}

/**
 * An image, shown in the dashboard's media view (Python's `trackio.Image`).
 *
 * ```ts
 * client.log({ sample: new Image("out/sample.png", { caption: "epoch 3" }) });
 * client.log({ photo: new Image(await readFile("cat.jpg")) }); // PNG, JPEG, GIF, WebP or BMP bytes
 * client.log({ mask: new Image({ data: rgba, width: 64, height: 64 }) }); // encoded to PNG in the worker
 * ```
 */
export class Image extends FileMedia {
  readonly type = "image";

  constructor(value: string | Uint8Array | Pixels, options: MediaOptions = {}) {
    const what = "Image";
    const made =
      fileOrBytes(value, IMAGE_FORMATS, what) ??
      (typeof value === "object" && value !== null && isPixels(value) ? pixelsSource(value, what) : null);
    if (made === null) {
      throw new InvalidArgError(
        `${what}: pass a file path, the bytes of an image file, or { data, width, height, channels? }`,
      );
    }
    super(made.source, made.ext, options.caption, what);
  }
}

function isPixels(value: object): value is Pixels {
  return "data" in value && "width" in value && "height" in value;
}

/** Audio samples: interleaved when `channels` > 1. */
export interface Samples {
  samples: SampleArray | readonly number[];
  sampleRate: number;
  channels?: number;
}

const AUDIO_FORMATS = ["wav", "mp3", "ogg", "flac"] as const;

/**
 * A sound clip with a player in the dashboard (Python's `trackio.Audio`). Samples are
 * written as 16-bit PCM WAV as Trackio's Python client writes them: floats are
 * peak-normalised, other integer types rescaled.
 *
 * ```ts
 * const tone = Float32Array.from({ length: 16000 }, (_, i) => Math.sin((2 * Math.PI * 440 * i) / 16000));
 * client.log({ tone: new Audio({ samples: tone, sampleRate: 16000 }, { caption: "A4" }) });
 * client.log({ speech: new Audio("out/sample.wav") }); // or the bytes of a WAV, MP3, OGG or FLAC file
 * ```
 */
export class Audio extends FileMedia {
  readonly type = "audio";

  constructor(value: string | Uint8Array | Samples, options: MediaOptions = {}) {
    const what = "Audio";
    const made =
      fileOrBytes(value, AUDIO_FORMATS, what) ??
      (typeof value === "object" && value !== null && "samples" in value ? samplesSource(value, what) : null);
    if (made === null) {
      throw new InvalidArgError(`${what}: pass a file path, the bytes of an audio file, or { samples, sampleRate }`);
    }
    super(made.source, made.ext, options.caption, what);
  }
}

const VIDEO_FORMATS = ["mp4", "webm", "gif"] as const;

/**
 * A video with a player in the dashboard (Python's `trackio.Video`), from an MP4, WebM or GIF
 * file or its bytes. (Python also encodes raw frames through ffmpeg; encode them yourself, e.g.
 * with ffmpeg, and pass the file.)
 *
 * ```ts
 * client.log({ rollout: new Video("out/episode-12.mp4", { caption: "episode 12" }) });
 * ```
 */
export class Video extends FileMedia {
  readonly type = "video";

  constructor(value: string | Uint8Array, options: MediaOptions = {}) {
    const what = "Video";
    const made = fileOrBytes(value, VIDEO_FORMATS, what);
    if (made === null) throw new InvalidArgError(`${what}: pass a file path or the bytes of an MP4, WebM or GIF file`);
    super(made.source, made.ext, options.caption, what);
  }
}

export interface HtmlOptions extends MediaOptions {
  /** Wrap a fragment in a small styled document, as Python's `inject=True` does (default true). */
  inject?: boolean;
}

/**
 * An HTML page shown in the dashboard (Python's `trackio.Html`): a report, a chart exported
 * by a plotting library, an SVG.
 *
 * ```ts
 * client.log({ report: new Html("<h1>Results</h1><p>Accuracy is up.</p>") });
 * client.log({ chart: Html.fromFile("out/plot.html") });
 * ```
 */
export class Html extends FileMedia {
  readonly type = "html";
  /** @internal */
  readonly inject: boolean;

  constructor(html: string, options: HtmlOptions = {}) {
    if (typeof html !== "string") throw new InvalidArgError("Html: pass the HTML as a string, or use Html.fromFile()");
    super({ src: "text", bytes: Buffer.from(html, "utf8") }, "html", options.caption, "Html");
    this.inject = options.inject ?? true;
  }

  /** An `.html` file, read by the worker. */
  static fromFile(path: string, options: HtmlOptions = {}): Html {
    if (typeof path !== "string") throw new InvalidArgError("Html.fromFile: pass a file path");
    const made = fileSource(path, "Html.fromFile");
    const html = new Html("", options);
    (html as { source: MediaSource }).source = made.source;
    return html;
  }
}
