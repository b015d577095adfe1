// Seeded fast-check runs for the property tests. TRACKIO_PROPERTY_SEED replays a run;
// TRACKIO_PROPERTY_RUNS multiplies the number of cases (default 1: the size `npm test` runs).
// A failure message carries the seed, the shrunk counterexample and every problem found in it.

import fc from "fast-check";
import { tally } from "./property-harness.js";

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

/**
 * Check `check(value)` (which lists problems; none means the property holds) over `numRuns`
 * generated values, seeded; throws with the seed, the shrunk value and its problems.
 */
export async function checkProperty<T>(
  name: string,
  arb: fc.Arbitrary<T>,
  numRuns: number,
  check: (value: T) => Promise<string[]>,
): Promise<void> {
  let cases = 0;
  Object.assign(tally, { calls: 0, refused: 0, stored: 0, quarantined: 0 });
  const t0 = Date.now();
  const runs = numRuns * propertyScale;
  const details = await fc.check(
    fc.asyncProperty(arb, async (value) => {
      cases++;
      const problems = await check(value);
      if (problems.length > 0) throw new Error(`${problems.length} problem(s):\n  ${problems.join("\n  ")}`);
    }),
    { seed: propertySeed, numRuns: runs },
  );
  // Shrinking runs cases too: after a failure the counts include them.
  process.stdout.write(
    `property "${name}": ${cases} cases${details.failed ? " (shrinking included)" : ""}, ${tally.calls} calls: ` +
      `${tally.stored} stored, ${tally.refused} refused at the call, ${tally.quarantined} quarantined; ` +
      `seed ${propertySeed}, ${((Date.now() - t0) / 1000).toFixed(1)} s\n`,
  );
  if (details.failed) {
    throw new Error(
      `property "${name}" failed (seed ${propertySeed}; replay with TRACKIO_PROPERTY_SEED=${propertySeed}` +
        `${propertyScale > 1 ? ` TRACKIO_PROPERTY_RUNS=${propertyScale}` : ""}):\n${fc.defaultReportMessage(details)}\n` +
        `What the counterexample did: ${details.errorInstance instanceof Error ? details.errorInstance.message : String(details.errorInstance)}`,
    );
  }
}
