// `npx tsx bench/wake-cost.ts`: what it costs a thread's CPU to wake up and do nothing, after
// idling 0, 1, 5 and 30 ms (a timer each time; 0 is a setImmediate, which never idles). The
// worker idles while Trackio stores each request and wakes for the answer; on the VMs this
// bench runs on, that wake alone costs far more than on bare metal (README, Performance).
// CPU from /proc/thread-self/schedstat, over many wakes.

import { setTimeout as sleep, setImmediate as turn } from "node:timers/promises";
import { threadCpuNs } from "./measure.js";

async function main(): Promise<void> {
  for (const gapMs of [0, 1, 5, 30]) {
    const wakes = gapMs === 0 ? 5000 : Math.min(500, Math.round(3000 / gapMs));
    const cpu0 = threadCpuNs();
    for (let i = 0; i < wakes; i++) {
      if (gapMs === 0) await turn();
      else await sleep(gapMs);
    }
    const perWakeUs = (threadCpuNs() - cpu0) / wakes / 1000;
    process.stdout.write(`idle ${gapMs} ms: ${perWakeUs.toFixed(1)} µs of CPU a wake (${wakes} wakes)\n`);
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`wake-cost: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
