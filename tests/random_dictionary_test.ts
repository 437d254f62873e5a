import assert from "node:assert/strict";
import { initBackend } from "../lib/tensor/backend.ts";
import { randomDictionaryLevel } from "../lib/experiments/05_splitting/random_dictionary.ts";

await initBackend();

Deno.test("randomDictionaryLevel: (n − 2) / n in 3 dims, seeded, rises with n", async () => {
  // In 3 dims a random unit vector's cosine with a fixed one is uniform on [−1, 1]
  // (Archimedes), so the max of n − 1 of them has mean (n − 2) / n.
  for (const n of [3, 11]) {
    const level = (await randomDictionaryLevel(n, 3, { draws: 4000, seed: 1 })).mean;
    assert.ok(Math.abs(level - (n - 2) / n) < 0.01, `n = ${n}: ${level} vs ${(n - 2) / n}`);
  }
  const a = await randomDictionaryLevel(64, 16, { seed: 2 }),
    b = await randomDictionaryLevel(64, 16, { seed: 2 });
  assert.deepEqual(a, b);
  assert.equal(a.draws.length, 5);
  assert.ok((await randomDictionaryLevel(512, 16)).mean > a.mean);
  await assert.rejects(() => randomDictionaryLevel(1, 3), /n ≥ 2/);
});
