import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { inflateSync } from "node:zlib";
import { venvPython } from "../scripts/trackio-server.js";
import { encodePng, encodeWav, type WavSamples } from "../src/io/encode.js";
import { MIME, sniffFormat } from "../src/shared/sniff.js";
import { prng } from "./support/prng.js";

// Everything Python has to do (decode our PNGs with Pillow, write the reference
// WAVs with Trackio, produce a JPEG and a GIF) happens in one interpreter run.
const PY = `
import json, sys, wave, warnings
import numpy as np
from PIL import Image
from trackio.media.audio import TrackioAudio

warnings.filterwarnings("ignore")
job = json.load(open(sys.argv[1]))
out = {"png": [], "wav": []}
for path in job["png"]:
    with Image.open(path) as im:
        out["png"].append({"format": im.format, "mode": im.mode, "size": list(im.size), "hex": im.tobytes().hex()})
for w in job["wav"]:
    data = np.frombuffer(open(w["raw"], "rb").read(), dtype=w["dtype"])
    if w["channels"] > 1:
        data = data.reshape(-1, w["channels"])
    TrackioAudio.write_audio(data=data.copy(), sample_rate=w["rate"], filename=w["out"], format="wav")
    with wave.open(w["out"], "rb") as wf:
        out["wav"].append({"channels": wf.getnchannels(), "width": wf.getsampwidth(),
                           "rate": wf.getframerate(), "frames": wf.getnframes(),
                           "pcm": wf.readframes(wf.getnframes()).hex()})
    with wave.open(w["ours"], "rb") as wf:
        out["wav"][-1]["ours"] = {"channels": wf.getnchannels(), "width": wf.getsampwidth(),
                                  "rate": wf.getframerate(), "frames": wf.getnframes()}
gradient = np.tile(np.arange(0, 256, 16, dtype=np.uint8), (16, 1))
Image.fromarray(np.stack([gradient, gradient.T, gradient], axis=2)).save(job["jpeg"], format="JPEG")
Image.fromarray(gradient).save(job["gif"], format="GIF")
print(json.dumps(out))
`;

type Pattern = "random" | "hgradient" | "vstripes" | "smooth" | "mixed";

function makePixels(width: number, height: number, channels: number, pattern: Pattern, seed: number): Uint8Array {
  const rand = prng(seed);
  const px = new Uint8Array(width * height * channels);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      for (let c = 0; c < channels; c++) {
        const i = (y * width + x) * channels + c;
        switch (pattern) {
          case "random":
            px[i] = Math.floor(rand() * 256);
            break;
          case "hgradient": // constant step along a row: Sub wins
            px[i] = (x * 7 + c * 40) & 0xff;
            break;
          case "vstripes": // every row equal, noisy along x: Up wins
            px[i] = (x * 97 + c * 31) ** 2 % 251;
            break;
          case "smooth": // plane in x and y: Average/Paeth territory
            px[i] = (x * 3 + y * 5 + c * 20) & 0xff;
            break;
          default: // rows alternate between the patterns above
            px[i] = y % 3 === 0 ? Math.floor(rand() * 256) : y % 3 === 1 ? (x * 11 + y) & 0xff : (x + y * 9) & 0xff;
        }
      }
    }
  }
  return px;
}

interface PngCase {
  width: number;
  height: number;
  channels: 1 | 2 | 3 | 4;
  pattern: Pattern;
  pixels: Uint8Array;
  file: Buffer;
}

interface WavCase {
  name: string;
  samples: WavSamples;
  dtype: string;
  rate: number;
  channels: number;
  file: Buffer;
}

interface WavHeader {
  channels: number;
  width: number;
  rate: number;
  frames: number;
}

interface PyResult {
  png: { format: string; mode: string; size: [number, number]; hex: string }[];
  wav: (WavHeader & { pcm: string; ours: WavHeader })[];
}

const MODES = ["", "L", "LA", "RGB", "RGBA"];
const DTYPES: [string, (n: number[]) => WavSamples][] = [
  ["float32", (v) => Float32Array.from(v)],
  ["float64", (v) => Float64Array.from(v)],
  ["int16", (v) => Int16Array.from(v)],
  ["int32", (v) => Int32Array.from(v)],
  ["uint16", (v) => Uint16Array.from(v)],
  ["uint8", (v) => Uint8Array.from(v)],
  ["int8", (v) => Int8Array.from(v)],
];

/** A peak of 1.7 and samples whose int16 value depends on float32 vs float64 arithmetic. */
const ROUNDING_SENSITIVE = [1.7, -1.4224860668182373, -0.5036652684211731, -1.3320047855377197];

function wavCases(): Omit<WavCase, "file">[] {
  const rand = prng(42);
  const noise = (n: number, scale: number) => Array.from({ length: n }, () => (rand() * 2 - 1) * scale);
  const sine = Array.from({ length: 400 }, (_, i) => 0.3 * Math.sin((2 * Math.PI * 440 * i) / 8000) + 0.01 * rand());
  const floats: [string, number[]][] = [
    ["nan and beyond range", [0.5, -0.25, Number.NaN, 3.0, -7.5, 1e-3, -1e-3, 0, 1, -1, 2.9999, -0.0]],
    ["+inf", [0.5, Number.POSITIVE_INFINITY, -0.3, Number.NaN, 1e30, -2]],
    ["-inf", [-0.5, Number.NEGATIVE_INFINITY, 0.3, 1e-40]],
    ["quiet sine (peak-normalised)", sine],
    ["random", noise(1000, 1.7)],
    ["float32-rounding-sensitive", ROUNDING_SENSITIVE],
    ["all zero and nan", [0, Number.NaN, 0, -0]],
    ["empty", []],
  ];
  const ints: Record<string, number[]> = {
    int16: [-32768, -1, 0, 1, 32767, 1234, -4321, 7],
    int32: [-2147483648, -65537, -65536, -65535, -1, 0, 1, 65535, 65536, 2147483647, 123456789, -98765432],
    uint16: [0, 1, 32767, 32768, 32769, 65535, 40000, 12],
    uint8: [0, 1, 127, 128, 129, 255, 64, 200],
    int8: [-128, -127, -1, 0, 1, 126, 127, 33],
  };
  const cases: Omit<WavCase, "file">[] = [];
  for (const channels of [1, 2]) {
    const rate = channels === 1 ? 16000 : 44100;
    for (const [dtype, make] of DTYPES) {
      const sets: [string, number[]][] = dtype.startsWith("float") ? floats : [["edge values", ints[dtype]]];
      for (const [what, values] of sets) {
        const even = values.length % channels === 0 ? values : values.concat([0]);
        cases.push({ name: `${dtype} ${what} (${channels}ch)`, samples: make(even), dtype, rate, channels });
      }
    }
  }
  return cases;
}

/** The filter type byte of every scanline in one of our PNGs. */
function filterTypes(png: Buffer, width: number, height: number, channels: number): number[] {
  const idatLen = png.readUInt32BE(33);
  assert.equal(png.toString("latin1", 37, 41), "IDAT");
  const raw = inflateSync(png.subarray(41, 41 + idatLen));
  const stride = width * channels + 1;
  assert.equal(raw.length, stride * height);
  return Array.from({ length: height }, (_, y) => raw[y * stride]);
}

const dir = mkdtempSync(join(tmpdir(), "trackio-encode-"));
const pngCases: PngCase[] = [];
const wavs: WavCase[] = [];
let py: PyResult;

before(() => {
  const sizes: [number, number, Pattern][] = [
    [1, 1, "random"],
    [37, 5, "mixed"],
    [5, 37, "random"],
    [16, 16, "hgradient"],
    [23, 9, "vstripes"],
    [20, 12, "smooth"],
  ];
  let seed = 1;
  for (const channels of [1, 2, 3, 4] as const) {
    for (const [width, height, pattern] of sizes) {
      const pixels = makePixels(width, height, channels, pattern, seed++);
      pngCases.push({ width, height, channels, pattern, pixels, file: encodePng(pixels, width, height, channels) });
    }
  }
  for (const c of wavCases()) wavs.push({ ...c, file: encodeWav(c.samples, c.rate, c.channels) });

  const job = {
    png: pngCases.map((c, i) => {
      const path = join(dir, `img${i}.png`);
      writeFileSync(path, c.file);
      return path;
    }),
    wav: wavs.map((c, i) => {
      const raw = join(dir, `wav${i}.raw`);
      const ours = join(dir, `ours${i}.wav`);
      writeFileSync(raw, new Uint8Array(c.samples.buffer, c.samples.byteOffset, c.samples.byteLength));
      writeFileSync(ours, c.file);
      return { raw, ours, out: join(dir, `ref${i}.wav`), dtype: c.dtype, channels: c.channels, rate: c.rate };
    }),
    jpeg: join(dir, "pil.jpg"),
    gif: join(dir, "pil.gif"),
  };
  const jobPath = join(dir, "job.json");
  writeFileSync(jobPath, JSON.stringify(job));
  py = JSON.parse(execFileSync(venvPython(), ["-c", PY, jobPath], { encoding: "utf8", maxBuffer: 64 << 20 }));
});

after(() => rmSync(dir, { recursive: true, force: true }));

describe("encodePng", () => {
  test("Pillow decodes every channel count and size to exactly the input pixels", () => {
    assert.equal(py.png.length, pngCases.length);
    pngCases.forEach((c, i) => {
      const got = py.png[i];
      const label = `${c.width}x${c.height}x${c.channels} ${c.pattern}`;
      assert.equal(got.format, "PNG", label);
      assert.equal(got.mode, MODES[c.channels], label);
      assert.deepEqual(got.size, [c.width, c.height], label);
      assert.equal(got.hex, Buffer.from(c.pixels).toString("hex"), label);
    });
  });

  test("writes the expected IHDR and uses every scanline filter type across the cases", () => {
    const seen = new Set<number>();
    for (const c of pngCases) {
      assert.deepEqual([...c.file.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
      assert.equal(c.file.toString("latin1", 12, 16), "IHDR");
      assert.equal(c.file.readUInt32BE(16), c.width);
      assert.equal(c.file.readUInt32BE(20), c.height);
      assert.equal(c.file[24], 8);
      assert.equal(c.file[25], [0, 0, 4, 2, 6][c.channels]);
      assert.equal(c.file.toString("latin1", c.file.length - 8, c.file.length - 4), "IEND");
      for (const f of filterTypes(c.file, c.width, c.height, c.channels)) seen.add(f);
    }
    assert.deepEqual([...seen].sort(), [0, 1, 2, 3, 4]);
  });

  test("rejects bad dimensions, channel counts and buffer lengths with RangeError", () => {
    const px = new Uint8Array(12);
    assert.throws(() => encodePng(px, 0, 4, 3), RangeError);
    assert.throws(() => encodePng(px, 4, -1, 3), RangeError);
    assert.throws(() => encodePng(px, 1.5, 2, 4), RangeError);
    assert.throws(() => encodePng(px, Number.NaN, 1, 3), RangeError);
    assert.throws(() => encodePng(px, 2, 2, 4), RangeError); // needs 16 bytes
    assert.throws(() => encodePng(px, 4, 1, 2), RangeError); // needs 8 bytes
    assert.throws(() => encodePng(px, 2, 2, 5 as 4), RangeError);
    assert.equal(encodePng(px, 2, 2, 3).length > 0, true);
  });
});

describe("encodeWav", () => {
  test("writes byte-identical files to Trackio's TrackioAudio.write_audio for every dtype", () => {
    assert.equal(py.wav.length, wavs.length);
    wavs.forEach((c, i) => {
      const ref = py.wav[i];
      assert.equal(ref.pcm, c.file.subarray(44).toString("hex"), `PCM frames: ${c.name}`);
      const header: WavHeader = { channels: c.channels, width: 2, rate: c.rate, frames: c.samples.length / c.channels };
      assert.deepEqual(ref.ours, header, `our header as read by wave: ${c.name}`);
      assert.deepEqual(
        { channels: ref.channels, width: ref.width, rate: ref.rate, frames: ref.frames },
        header,
        c.name,
      );
      assert.ok(readFileSync(join(dir, `ref${i}.wav`)).equals(c.file), `whole file: ${c.name}`);
    });
  });

  test("float32 samples are scaled in float32 arithmetic, as NumPy does", () => {
    // For these samples float64 arithmetic would land one step further from zero.
    const i = wavs.findIndex((c) => c.name === "float32 float32-rounding-sensitive (1ch)");
    const c = wavs[i];
    const ours = new Int16Array(c.file.buffer.slice(c.file.byteOffset + 44, c.file.byteOffset + c.file.length));
    const peak = Math.fround(ROUNDING_SENSITIVE[0]);
    const naive = ROUNDING_SENSITIVE.map((x) => Math.trunc((Math.fround(x) / peak) * 32767));
    assert.deepEqual([...ours], [32767, -27418, -9708, -25674]);
    assert.deepEqual(naive, [32767, -27417, -9707, -25673]);
    assert.equal(py.wav[i].pcm, c.file.subarray(44).toString("hex"));
  });

  test("rejects bad rates, channel counts and ragged interleaving with RangeError", () => {
    const s = new Int16Array(6);
    assert.throws(() => encodeWav(s, 0, 1), RangeError);
    assert.throws(() => encodeWav(s, 44100.5, 1), RangeError);
    assert.throws(() => encodeWav(s, 44100, 0), RangeError);
    assert.throws(() => encodeWav(s, 44100, 1.5), RangeError);
    assert.throws(() => encodeWav(s, 44100, 4), RangeError); // 6 % 4 !== 0
    assert.equal(encodeWav(s, 44100, 3).length, 44 + 12);
  });
});

describe("sniffFormat", () => {
  const text = (s: string) => new TextEncoder().encode(s);
  const hex = (h: string) => Buffer.from(h.replace(/\s+/g, ""), "hex");

  test("recognises files written by our encoders and by Pillow", () => {
    assert.equal(sniffFormat(pngCases[0].file), "png");
    assert.equal(sniffFormat(wavs[0].file), "wav");
    assert.equal(sniffFormat(readFileSync(join(dir, "pil.jpg"))), "jpg");
    assert.equal(sniffFormat(readFileSync(join(dir, "pil.gif"))), "gif");
  });

  test("recognises literal headers of the other formats", () => {
    const cases: [Uint8Array, string][] = [
      [hex("52494646 24080000 57454250 5650384c"), "webp"], // RIFF....WEBPVP8L
      [hex("424d 7a000000 00000000 7a000000 6c000000"), "bmp"],
      [hex("494433 04 00 00 00000000"), "mp3"], // ID3v2.4
      [hex("fffb 9064 0000"), "mp3"], // MPEG-1 layer III, 128 kbit/s, 44.1 kHz
      [hex("fff3 8464"), "mp3"], // MPEG-2 layer III
      [hex("ffe3 1804"), "mp3"], // MPEG-2.5 layer III
      [text("OggS\0\x02\0\0\0\0\0\0\0\0"), "ogg"],
      [text("fLaC\0\0\0\x22"), "flac"],
      [hex("00000020 66747970 69736f6d 00000200 69736f6d"), "mp4"], // ftypisom
      [hex("0000001c 66747970 4d344120 00000000"), "mp4"], // ftypM4A
      [hex("1a45dfa3 9f4286 81014 2f781 01"), "webm"],
    ];
    for (const [bytes, ext] of cases) {
      assert.equal(sniffFormat(bytes), ext, Buffer.from(bytes).toString("hex"));
      assert.ok(MIME[ext], ext);
    }
  });

  test("returns null for text, truncated or look-alike headers", () => {
    const nulls: Uint8Array[] = [
      text("hello, world: just some random text"),
      text("BMW is a car maker"),
      text("RIFF....AVI LIST"),
      text("<!doctype html><html>"),
      new Uint8Array(0),
      hex("ff"),
      hex("89504e47"), // truncated PNG signature
      hex("fff1 5080"), // ADTS AAC (layer bits 00)
      hex("ffeb 9064"), // reserved MPEG version 01
      hex("fffb f064"), // bad bitrate index 1111
      hex("fffb 9c64"), // reserved sample-rate index 11
      hex("ffd9 ffe0"), // JPEG end marker, not a start
      hex("00000018 66747970 61766966 00000000"), // ftypavif: an image, not mp4
    ];
    for (const bytes of nulls) assert.equal(sniffFormat(bytes), null, Buffer.from(bytes).toString("hex"));
  });

  test("never looks past the first 16 bytes", () => {
    const riff = Buffer.concat([text("RIFF\0\0\0\0"), text("WAVEfmt "), Buffer.alloc(1 << 20)]);
    assert.equal(sniffFormat(riff), "wav");
    const late = Buffer.concat([Buffer.alloc(16), text("\x89PNG\r\n\x1a\n")]);
    assert.equal(sniffFormat(late), null);
  });

  test("MIME covers every extension plus html", () => {
    for (const ext of ["png", "jpg", "gif", "webp", "bmp", "wav", "mp3", "ogg", "flac", "mp4", "webm", "html"]) {
      assert.match(MIME[ext], /^(image|audio|video|text)\/[a-z0-9.+-]+$/, ext);
    }
    assert.equal(MIME.jpg, "image/jpeg");
    assert.equal(MIME.mp3, "audio/mpeg");
    assert.equal(MIME.html, "text/html");
  });
});
