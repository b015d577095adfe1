// npm run bench:media: what log() costs on the main thread when a record carries a media
// value, and how fast the worker stores the files, against a real Trackio server. Each case
// logs 2,500 records (the first 500 are warm-up and not timed) and then closes the client.
// Times include process.hrtime.bigint() itself (about 1–2 µs here), which the numeric
// reference line shows; `npm run bench` measures plain log() without that overhead.

import { readFileSync } from "node:fs";
import { startTrackio } from "../scripts/trackio-server.js";
import { Audio, Client, Image } from "../src/index.js";

const N = 2500;
const WARMUP = 500;
const PNG_FILE = new URL("../docs/screenshots/metrics.png", import.meta.url).pathname;

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

const cases: [string, () => Image | Audio | null][] = [
  ["4 numbers (reference)", () => null],
  [
    "Image, 64×64 RGBA pixels (16 KiB)",
    () => new Image({ data: new Uint8Array(64 * 64 * 4).fill(7), width: 64, height: 64 }),
  ],
  ["Image, a PNG file by path", () => new Image(PNG_FILE)],
  [
    "Audio, 1 s of float32 samples at 16 kHz (64 KiB)",
    () => new Audio({ samples: new Float32Array(16000).fill(0.1), sampleRate: 16000 }),
  ],
];

const server = await startTrackio();
try {
  console.log(
    `PNG file: ${Math.round(readFileSync(PNG_FILE).length / 1024)} KiB; ${N - WARMUP} timed log() calls per case`,
  );
  console.log("| case | log() p50 ns | p99 ns | close() ms | files stored/s |");
  console.log("|---|--:|--:|--:|--:|");
  for (const [name, make] of cases) {
    const client = new Client({
      baseUrl: server.writeUrl,
      project: "bench-media",
      run: name.replace(/\W+/g, "-"),
      quiet: true,
    });
    const values = Array.from({ length: N }, () => make());
    const times: number[] = [];
    const start = performance.now();
    for (let i = 0; i < N; i++) {
      const v = values[i];
      const t0 = process.hrtime.bigint();
      if (v === null) client.log({ a: i, b: 1, c: 2, d: 3 }, i);
      else client.log({ loss: i, v }, i);
      const dt = Number(process.hrtime.bigint() - t0);
      if (i >= WARMUP) times.push(dt);
    }
    const closeStart = performance.now();
    await client.close();
    const end = performance.now();
    const st = client.stats();
    if (st.sent !== N || st.media.uploaded !== st.media.logged) throw new Error(`${name}: not everything was stored`);
    const rate = st.media.uploaded > 0 ? Math.round(st.media.uploaded / ((end - start) / 1000)) : "–";
    console.log(
      `| ${name} | ${percentile(times, 50)} | ${percentile(times, 99)} | ${Math.round(end - closeStart)} | ${rate} |`,
    );
  }
} finally {
  await server.stop();
}
