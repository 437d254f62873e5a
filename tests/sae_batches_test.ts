// Training batches (lib/sae/batches.ts): seeded, epoch-complete order and row gathering.
import assert from "node:assert/strict";
import { batchIndices, gatherRowArray } from "../lib/sae/batches.ts";

Deno.test("batchIndices covers every row once per epoch, and is a pure function of seed and step", () => {
  const n = 50, config = { batchSize: 20, seed: 4 };
  // 5 steps = 100 rows = exactly 2 epochs, with batches straddling the epoch boundary.
  const all = Array.from({ length: 5 }, (_, s) => [...batchIndices(config, s, n)]).flat();
  for (const epoch of [all.slice(0, n), all.slice(n)]) {
    assert.deepEqual([...epoch].sort((a, b) => a - b), Array.from({ length: n }, (_, i) => i));
  }
  assert.notDeepEqual(all.slice(0, n), all.slice(n), "each epoch has its own order");
  // Out of order and repeated calls give the same batches (the permutation cache is invisible).
  assert.deepEqual([...batchIndices(config, 3, n)], all.slice(60, 80));
  assert.deepEqual([...batchIndices(config, 0, n)], all.slice(0, 20));
  assert.notDeepEqual([...batchIndices({ ...config, seed: 5 }, 0, n)], all.slice(0, 20));
});

Deno.test("gatherRowArray copies the requested rows in order", () => {
  const src = Float32Array.from({ length: 12 }, (_, i) => i); // 4 rows of 3
  assert.deepEqual([...gatherRowArray(src, Int32Array.from([2, 0, 2]), 3)], [
    6,
    7,
    8,
    0,
    1,
    2,
    6,
    7,
    8,
  ]);
});
