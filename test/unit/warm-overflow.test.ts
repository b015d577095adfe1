// warmOverflowPath (src/producer.ts): the paths log() takes once the ring is full run once per
// process, on a scratch ring, before any client's loop; see `npm run bench -- --stalls`.

import assert from "node:assert/strict";
import { test } from "node:test";
import { warmOverflowPath } from "../../src/producer.js";

test("the warm-up goes through the overflow and back into the ring, and asks for the clock, once per process", () => {
  const warm = warmOverflowPath();
  assert.ok(warm !== null, "nothing in this process ran it before");
  // Each round overflows the 4 KiB scratch ring; what overflowed moves into the ring as the
  // rounds free it, so every record of the first rounds is read back.
  assert.ok(warm.overflowed > 0, `overflowed ${warm.overflowed}`);
  assert.ok(warm.read > warm.logged - warm.overflowed, `read ${warm.read} of ${warm.logged}`);
  assert.ok(warm.read <= warm.logged);
  assert.equal(warm.clockAsked, true);
  assert.equal(warmOverflowPath(), null);
});
