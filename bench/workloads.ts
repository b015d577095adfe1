// The four workloads: what one step logs, and how much numeric work it does first.

import type { WorkloadName } from "./types.js";

export type Metrics = Record<string, number | string | boolean | null | Record<string, number | string>>;

export interface Workload {
  name: WorkloadName;
  title: string;
  /** Whole steps between awaits on setImmediate; 0 = a loop that never yields. */
  yieldEvery: number;
  /** µs of numeric work per step before logging (spin(), calibrated per machine); 0 for none. */
  workUs: number;
  make(i: number, x: number): Metrics;
}

/** Numeric work: `iters` dependent multiply-adds and divisions. */
export function spin(iters: number, seed: number): number {
  let x = seed;
  for (let k = 0; k < iters; k++) x = x * 0.999999 + 1 / (k + 1 + seed);
  return x;
}

/** Iterations of spin() that take about `targetNs`, measured on this machine. */
export function calibrateSpin(targetNs = 1000): number {
  let iters = 64;
  let acc = 0;
  for (let round = 0; round < 8; round++) {
    const reps = 20_000;
    const t0 = performance.now();
    for (let i = 0; i < reps; i++) acc += spin(iters, i);
    const perCall = ((performance.now() - t0) * 1e6) / reps;
    iters = Math.max(1, Math.round((iters * targetNs) / perCall));
  }
  return acc === -1 ? 0 : iters;
}

const w1: Workload = {
  name: "w1",
  title: "hot loop, 4 numeric metrics",
  yieldEvery: 0,
  workUs: 0,
  make: (i) => ({ loss: 1 / (i + 1), acc: i * 1e-6, lr: 0.001, grad_norm: (i % 97) * 0.01 }),
};

const w2: Workload = {
  name: "w2",
  title: "hot loop, 32 numeric metrics",
  yieldEvery: 0,
  workUs: 0,
  make: (i) => {
    const a = 1 / (i + 1);
    // biome-ignore format: eight metrics per line
    return {
      m00: a, m01: a + 1, m02: a + 2, m03: a + 3, m04: a + 4, m05: a + 5, m06: a + 6, m07: a + 7,
      m08: a + 8, m09: a + 9, m10: a + 10, m11: a + 11, m12: a + 12, m13: a + 13, m14: a + 14, m15: a + 15,
      m16: a + 16, m17: a + 17, m18: a + 18, m19: a + 19, m20: a + 20, m21: a + 21, m22: a + 22, m23: a + 23,
      m24: a + 24, m25: a + 25, m26: a + 26, m27: a + 27, m28: a + 28, m29: a + 29, m30: a + 30, m31: a + 31,
    };
  },
};

const w3: Workload = {
  name: "w3",
  title: "~1 µs work/step, yields every 1000",
  yieldEvery: 1000,
  workUs: 1,
  make: (i, x) => ({ loss: x, acc: i * 1e-6, lr: 0.001, grad_norm: (i % 97) * 0.01 }),
};

const PHASES = ["train", "eval"];

const w4: Workload = {
  name: "w4",
  title: "mixed values (general codec path)",
  yieldEvery: 0,
  workUs: 0,
  make: (i) => ({
    loss: 1 / (i + 1),
    phase: PHASES[i & 1],
    note: i % 100 === 0 ? "checkpoint" : "",
    ok: true,
    info: { epoch: i >> 10, tag: "resnet" },
  }),
};

// A training loop at 100k and 10k steps/s: the cost of logging as a share of a step.
const w5: Workload = {
  name: "w5",
  title: "10 µs work/step (100k steps/s), yields every 1000",
  yieldEvery: 1000,
  workUs: 10,
  make: w3.make,
};

const w6: Workload = {
  name: "w6",
  title: "100 µs work/step (10k steps/s), yields every 1000",
  yieldEvery: 1000,
  workUs: 100,
  make: w3.make,
};

export const WORKLOADS: Record<WorkloadName, Workload> = { w1, w2, w3, w4, w5, w6 };
