// Dependency-free PNG and WAV encoders used by the worker thread to turn raw
// pixel / sample buffers into the files Trackio stores as media.

import { Buffer } from "node:buffer";
import { crc32, deflateSync } from "node:zlib";
import type { SampleArray } from "../shared/samples.js";

const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
/** PNG colour type for 1, 2, 3, 4 channels: gray, gray+alpha, RGB, RGBA. */
const COLOR_TYPE = [0, 0, 4, 2, 6] as const;
/** Largest width/height a PNG header can carry (2^31 - 1). */
const PNG_MAX_DIM = 0x7fffffff;

function isPositiveInt(n: number, max = Number.MAX_SAFE_INTEGER): boolean {
  return Number.isInteger(n) && n > 0 && n <= max;
}

function pngChunk(type: string, data: Uint8Array): Buffer {
  const chunk = Buffer.alloc(12 + data.length);
  chunk.writeUInt32BE(data.length, 0);
  chunk.write(type, 4, 4, "latin1");
  chunk.set(data, 8);
  chunk.writeUInt32BE(crc32(chunk.subarray(4, 8 + data.length)), 8 + data.length);
  return chunk;
}

/** `v` (0..255) as a signed byte's magnitude: libpng's "sum of absolute differences" cost. */
function cost(v: number): number {
  return v < 128 ? v : 256 - v;
}

/**
 * Writes the row of `px` starting at `row` into `out` as a filter byte followed
 * by the filtered bytes, using filter `type` (0 None, 1 Sub, 2 Up, 3 Average,
 * 4 Paeth) with the previous row read from `up` at offset `upAt` (all zeros for
 * the first row), and returns the row's cost for choosing between filters.
 * One tight loop per filter keeps this cheap.
 */
function filterRow(
  type: number,
  px: Uint8Array,
  row: number,
  up: Uint8Array,
  upAt: number,
  rowBytes: number,
  bpp: number,
  out: Uint8Array,
): number {
  out[0] = type;
  let sum = 0;
  let i = 0;
  switch (type) {
    case 0:
      for (; i < rowBytes; i++) sum += cost((out[i + 1] = px[row + i]));
      break;
    case 1:
      for (; i < bpp; i++) sum += cost((out[i + 1] = px[row + i]));
      for (; i < rowBytes; i++) sum += cost((out[i + 1] = (px[row + i] - px[row + i - bpp]) & 0xff));
      break;
    case 2:
      for (; i < rowBytes; i++) sum += cost((out[i + 1] = (px[row + i] - up[upAt + i]) & 0xff));
      break;
    case 3:
      for (; i < bpp; i++) sum += cost((out[i + 1] = (px[row + i] - (up[upAt + i] >>> 1)) & 0xff));
      for (; i < rowBytes; i++) {
        sum += cost((out[i + 1] = (px[row + i] - ((px[row + i - bpp] + up[upAt + i]) >>> 1)) & 0xff));
      }
      break;
    default:
      // With a = c = 0 in the first pixel, Paeth predicts b.
      for (; i < bpp; i++) sum += cost((out[i + 1] = (px[row + i] - up[upAt + i]) & 0xff));
      for (; i < rowBytes; i++) {
        const a = px[row + i - bpp];
        const b = up[upAt + i];
        const c = up[upAt + i - bpp];
        // Distances of p = a + b - c to a, b and c.
        const pa = Math.abs(b - c);
        const pb = Math.abs(a - c);
        const pc = Math.abs(a + b - 2 * c);
        const pred = pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
        sum += cost((out[i + 1] = (px[row + i] - pred) & 0xff));
      }
  }
  return sum;
}

/**
 * Encodes 8-bit pixels (row-major, channels interleaved) as a PNG file.
 * Colour type follows the channel count: 1 gray, 2 gray+alpha, 3 RGB, 4 RGBA.
 * Each row gets the filter with the smallest sum of absolute differences.
 */
export function encodePng(pixels: Uint8Array, width: number, height: number, channels: 1 | 2 | 3 | 4): Buffer {
  if (!isPositiveInt(width, PNG_MAX_DIM) || !isPositiveInt(height, PNG_MAX_DIM)) {
    throw new RangeError(`encodePng: width and height must be positive integers (got ${width}x${height})`);
  }
  if (channels !== 1 && channels !== 2 && channels !== 3 && channels !== 4) {
    throw new RangeError(`encodePng: channels must be 1, 2, 3 or 4 (got ${channels})`);
  }
  const rowBytes = width * channels;
  if (pixels.length !== rowBytes * height) {
    throw new RangeError(
      `encodePng: expected ${rowBytes * height} bytes for ${width}x${height}x${channels}, got ${pixels.length}`,
    );
  }

  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header[8] = 8; // bit depth
  header[9] = COLOR_TYPE[channels];
  // compression 0 (deflate), filter method 0 (adaptive), interlace 0 (none): already zero.

  const stride = rowBytes + 1;
  const raw = new Uint8Array(stride * height);
  const scratch = new Uint8Array(stride);
  const zeros = new Uint8Array(rowBytes);
  for (let y = 0; y < height; y++) {
    const row = y * rowBytes;
    const up = y > 0 ? pixels : zeros;
    const upAt = y > 0 ? row - rowBytes : 0;
    const dest = raw.subarray(y * stride, (y + 1) * stride);
    let best = filterRow(0, pixels, row, up, upAt, rowBytes, channels, dest);
    for (let type = 1; type <= 4 && best > 0; type++) {
      const sum = filterRow(type, pixels, row, up, upAt, rowBytes, channels, scratch);
      if (sum < best) {
        best = sum;
        dest.set(scratch);
      }
    }
  }

  return Buffer.concat([
    PNG_SIGNATURE,
    pngChunk("IHDR", header),
    pngChunk("IDAT", deflateSync(raw)),
    pngChunk("IEND", new Uint8Array(0)),
  ]);
}

export type WavSamples = SampleArray;

const FLOAT32_MAX = 3.4028234663852886e38;
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/**
 * Converts samples to 16-bit PCM exactly like Trackio's Python
 * `TrackioAudio.ensure_int16_pcm`: floats go through `np.nan_to_num` (NaN → 0,
 * ±Inf → ± the dtype's largest finite value), are peak-normalised when the peak
 * is non-zero, scaled by 32767 and truncated toward zero — with float32 inputs
 * rounded to float32 after every step, as NumPy computes them in float32.
 * Integer types are rescaled with the same integer formulas.
 */
function toInt16(samples: WavSamples): Int16Array {
  const n = samples.length;
  if (samples instanceof Int16Array) return samples;
  const out = new Int16Array(n);
  if (samples instanceof Float32Array || samples instanceof Float64Array) {
    const f32 = samples instanceof Float32Array;
    const big = f32 ? FLOAT32_MAX : Number.MAX_VALUE;
    const round = f32 ? Math.fround : (x: number) => x;
    const clean = new Float64Array(n);
    let peak = 0;
    for (let i = 0; i < n; i++) {
      const x = samples[i];
      const v = Number.isNaN(x) ? 0 : x === Infinity ? big : x === -Infinity ? -big : x;
      clean[i] = v;
      const abs = Math.abs(v);
      if (abs > peak) peak = abs;
    }
    for (let i = 0; i < n; i++) {
      let v = clean[i];
      if (peak > 0) v = round(v / peak);
      v = round(v * 32767);
      out[i] = Math.trunc(Math.min(32767, Math.max(-32768, v)));
    }
    return out;
  }
  if (samples instanceof Int32Array) {
    for (let i = 0; i < n; i++) out[i] = samples[i] >> 16; // floor division by 65536
  } else if (samples instanceof Uint16Array) {
    for (let i = 0; i < n; i++) out[i] = samples[i] - 32768;
  } else if (samples instanceof Uint8Array) {
    for (let i = 0; i < n; i++) out[i] = samples[i] * 257 - 32768;
  } else if (samples instanceof Int8Array) {
    for (let i = 0; i < n; i++) out[i] = samples[i] * 256;
  } else {
    throw new TypeError("encodeWav: unsupported sample array type");
  }
  return out;
}

/**
 * Encodes interleaved samples as a 16-bit PCM RIFF/WAVE file (the same bytes
 * Python's `wave` module writes for Trackio's `TrackioAudio.write_audio`).
 */
export function encodeWav(samples: WavSamples, sampleRate: number, channels: number): Buffer {
  if (!isPositiveInt(sampleRate, 0xffffffff)) {
    throw new RangeError(`encodeWav: sampleRate must be a positive integer (got ${sampleRate})`);
  }
  if (!isPositiveInt(channels, 0xffff)) {
    throw new RangeError(`encodeWav: channels must be a positive integer (got ${channels})`);
  }
  if (samples.length % channels !== 0) {
    throw new RangeError(`encodeWav: ${samples.length} samples do not divide into ${channels} channels`);
  }
  const dataBytes = samples.length * 2;
  if (dataBytes > 0xffffffff - 36) throw new RangeError("encodeWav: audio too long for a WAV file");
  const blockAlign = channels * 2;
  const byteRate = sampleRate * blockAlign;
  if (byteRate > 0xffffffff) throw new RangeError("encodeWav: sampleRate * channels too large for a WAV header");

  const pcm = toInt16(samples);
  const file = Buffer.alloc(44 + dataBytes);
  file.write("RIFF", 0, "latin1");
  file.writeUInt32LE(36 + dataBytes, 4);
  file.write("WAVE", 8, "latin1");
  file.write("fmt ", 12, "latin1");
  file.writeUInt32LE(16, 16); // fmt chunk size
  file.writeUInt16LE(1, 20); // PCM
  file.writeUInt16LE(channels, 22);
  file.writeUInt32LE(sampleRate, 24);
  file.writeUInt32LE(byteRate, 28);
  file.writeUInt16LE(blockAlign, 32);
  file.writeUInt16LE(16, 34); // bits per sample
  file.write("data", 36, "latin1");
  file.writeUInt32LE(dataBytes, 40);
  if (LITTLE_ENDIAN) file.set(new Uint8Array(pcm.buffer, pcm.byteOffset, dataBytes), 44);
  else for (let i = 0; i < pcm.length; i++) file.writeInt16LE(pcm[i], 44 + 2 * i);
  return file;
}
