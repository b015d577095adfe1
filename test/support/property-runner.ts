// Seeded fast-check runs for the property tests. TRACKIO_PROPERTY_SEED replays a run;
// TRACKIO_PROPERTY_RUNS multiplies the number of cases (default 1: the size `npm test` runs).
// A failure message carries the seed, the shrunk counterexample and every problem found in it.

import fc from "fast-check";

export const DEFAULT_SEED = 20261130;

function envNumber(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === "") return fallback;
  const n = Number(raw);
  if (!Number.isSafeInteger(n)) throw new Error(`${name} must be an integer, got ${JSON.stringify(raw)}`);
  return n;
}

export const propertySeed = envNumber("TRACKIO_PROPERTY_SEED", DEFAULT_SEED);
/** The scale of a run: each property runs `scale` times its default number of cases. */
export const propertyScale = Math.max(1, envNumber("TRACKIO_PROPERTY_RUNS", 1));

export interface PropertyResult {
  cases: number;
  records: number;
}

/**
 * Check `check(value)` (which lists problems; none means the property holds) over `numRuns`
 * generated values, seeded; throws with the seed, the shrunk value and its problems.
 */
export async function checkProperty<T>(
  name: string,
  arb: fc.Arbitrary<T>,
  numRuns: number,
  size: (value: T) => number,
  check: (value: T) => Promise<string[]>,
): Promise<PropertyResult> {
  const result: PropertyResult = { cases: 0, records: 0 };
  const runs = numRuns * propertyScale;
  const details = await fc.check(
    fc.asyncProperty(arb, async (value) => {
      result.cases++;
      result.records += size(value);
      const problems = await check(value);
      if (problems.length > 0) throw new Error(`${problems.length} problem(s):\n  ${problems.join("\n  ")}`);
    }),
    { seed: propertySeed, numRuns: runs, endOnFailure: false },
  );
  if (details.failed) {
    throw new Error(
      `property "${name}" failed (seed ${propertySeed}; replay with TRACKIO_PROPERTY_SEED=${propertySeed}` +
        `${propertyScale > 1 ? ` TRACKIO_PROPERTY_RUNS=${propertyScale}` : ""}):\n${fc.defaultReportMessage(details)}\n` +
        `What the counterexample did: ${details.errorInstance instanceof Error ? details.errorInstance.message : String(details.errorInstance)}`,
    );
  }
  process.stdout.write(`# property "${name}": ${result.cases} cases, ${result.records} calls, seed ${propertySeed}\n`);
  return result;
}
