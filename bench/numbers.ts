// `npx tsx bench/numbers.ts`: what writeNumber (src/io/json-bytes.ts) costs a value, for the
// three kinds of double in a W1 record and two under 1e-6, beside String(x) with its bytes
// copied in: the part of the worker's entry writing that turns numbers into text. Medians of 31 passes over 65,536
// values each, after 30 passes of warm-up.

import { writeAscii, writeNumber } from "../src/io/json-bytes.js";

const N = 1 << 16;
const KINDS: [string, (i: number) => number][] = [
  ["1/(i+1), 16-17 digits", (i) => 1 / (i + 1)],
  ["i·1e-6, few digits", (i) => i * 1e-6],
  ["(i % 97)·0.01, 1-17 digits", (i) => (i % 97) * 0.01],
  // Not in W1: values under 1e-6 (a decayed learning rate, a small gradient), written with an exponent.
  ["1e-7/(i+1), 16-17 digits", (i) => 1e-7 / (i + 1)],
  ["(i % 999 + 1)·1e-9, few digits", (i) => ((i % 999) + 1) * 1e-9],
];
const buf = new Uint8Array(64 * 1024 * 1024);

function median(pass: () => void): number {
  for (let r = 0; r < 30; r++) pass();
  const times: number[] = [];
  for (let r = 0; r < 31; r++) {
    const t0 = process.hrtime.bigint();
    pass();
    times.push(Number(process.hrtime.bigint() - t0));
  }
  times.sort((a, b) => a - b);
  return times[15] / N;
}

for (const [name, make] of KINDS) {
  const xs = Float64Array.from({ length: N }, (_, i) => make(i));
  const ours = median(() => {
    let p = 0;
    for (let j = 0; j < N; j++) p = writeNumber(buf, p, xs[j]);
  });
  const string = median(() => {
    let p = 0;
    for (let j = 0; j < N; j++) p = writeAscii(buf, p, String(xs[j]));
  });
  process.stdout.write(
    `${name.padEnd(32)} writeNumber ${ours.toFixed(1)} ns a value, String(x) ${string.toFixed(1)} ns\n`,
  );
}
