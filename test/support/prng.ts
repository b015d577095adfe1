// A deterministic pseudo-random generator for tests, so that a failure reproduces.

/** Numbers in [0, 1) from a seed (xorshift32). */
export function prng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 0x100000000;
  };
}
