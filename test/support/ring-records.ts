// Deterministic records for the two-thread ring test (test/ring.test.ts): the main thread
// produces them, test/support/ring-consumer.ts checks what it reads against the same function.

export interface GenRecord {
  seq: number;
  step: number;
  time: number;
  /** Key names of a numeric record (empty for a JSON record). */
  keys: string[];
  values: number[];
  /** Non-null: a JSON record with this text. */
  json: string | null;
  /** The metrics JSON text the consumer should produce for this record. */
  text: string;
}

const KEY_POOL = Array.from({ length: 40 }, (_, j) => (j % 5 === 0 ? `λ_${j}` : `k_${j}`));

export function genRecord(seq: number): GenRecord {
  const step = seq * 2 + 1;
  const time = 1_700_000_000_000 + seq;
  if (seq % 3 === 0) {
    const json = JSON.stringify({ seq, s: "é☃🎉".repeat(seq % 13), ok: seq % 2 === 0 });
    return { seq, step, time, keys: [], values: [], json, text: json };
  }
  const n = seq % 6;
  const keys: string[] = [];
  const values: number[] = [];
  const obj: Record<string, number> = {};
  for (let i = 0; i < n; i++) {
    const key = KEY_POOL[(seq + i * 7) % KEY_POOL.length];
    const value = i % 2 === 0 ? seq / 4 + i : -seq - i * 0.5;
    keys.push(key);
    values.push(value);
    obj[key] = value;
  }
  return { seq, step, time, keys, values, json: null, text: JSON.stringify(obj) };
}

/** FNV-1a over a string, continuing from `h`. */
export function hashString(h: number, s: string): number {
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 16777619);
  return h >>> 0;
}

export const HASH_SEED = 2166136261;

/** The checksum contribution of one record, the same on both sides. */
export function hashRecord(h: number, seq: number, step: number, text: string): number {
  return hashString(h, `${seq}|${step}|${text};`);
}
