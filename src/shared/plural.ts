// Counts in messages, for both threads: "1 record", "2 records", never "1 records".

/** `n` and its noun, singular for exactly one. */
export function count(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}
