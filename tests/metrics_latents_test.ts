import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { initBackend } from "../lib/tensor/backend.ts";
import { LatentStats, maxDecoderCosine } from "../lib/metrics/latents.ts";
import { activationFrequency } from "../lib/metrics/reconstruction.ts";
import { close } from "./metrics_fixtures.ts";

await initBackend();

Deno.test("maxDecoderCosine finds a duplicated (rescaled) decoder row", async () => {
  // Row 1 is row 0 scaled by 2 (cosine 1); rows 2 and 3 have cosine 0.6; row 4 is only ≤ 0.
  const wDec = tf.tensor2d([[1, 0, 0], [2, 0, 0], [0, 1, 0], [0, 0.6, 0.8], [0, 0, -1]]);
  const expected = [1, 1, 0.6, 0.6, 0];
  for (const blockRows of [undefined, 1, 2]) {
    const got = await maxDecoderCosine(wDec, { blockRows });
    got.forEach((v, i) => close(v, expected[i], 1e-6, `row ${i} (block ${blockRows})`));
  }
  wDec.dispose();
});

Deno.test("LatentStats: frequencies, dead latents, median, CDF and directional derivatives", async () => {
  const stats = new LatentStats(4);
  const z1 = tf.tensor2d([[1, 0, 0, 0], [2, 0, 3, 0]]);
  const z2 = tf.tensor2d([[0, 0, 1, 0], [4, 0, 0, 0]]);
  // Row 0 is not unit norm: its derivative uses the unit direction [1, 0].
  const wDec = tf.tensor2d([[2, 0], [0, 1], [1, 1], [0, -1]]);
  const grad = tf.tensor2d([[1, 2], [-3, 0]]);
  await stats.add(z1, { grad, wDec });
  await stats.add(z2);
  assert.deepEqual([...await activationFrequency(z1)], [1, 0, 0.5, 0]);
  assert.equal(stats.tokens, 4);
  assert.deepEqual([...stats.frequencies()], [0.75, 0, 0.5, 0]);
  assert.deepEqual(stats.deadLatents(), [1, 3]);
  close(stats.meanActivationWhenFiring()[0], 7 / 3);
  assert.equal(stats.fractionAbove(0.6), 0.25);
  const summary = stats.summary();
  assert.equal(summary.dead, 2);
  assert.equal(summary.deadFraction, 0.5);
  assert.equal(summary.medianFrequency, 0.25);
  assert.equal(summary.fractionAbove10pct, 0.5);
  assert.equal(summary.l0, 1.25);
  assert.deepEqual(stats.frequencyCdf(), {
    frequency: [0, 0, 0.5, 0.75],
    fraction: [0.25, 0.5, 0.75, 1],
  });
  assert.deepEqual(stats.frequencyCdf({ points: 2 }), {
    frequency: [0, 0.75],
    fraction: [0.25, 1],
  });
  // g·d̂: token 0 → [1, 2, 3/√2, −2]; token 1 → [−3, 0, −3/√2, 0].
  const { whenFiring, allTokens } = stats.meanAbsDerivative();
  assert.equal(stats.gradTokens, 2);
  close(whenFiring[0], 2, 1e-6);
  assert.ok(Number.isNaN(whenFiring[1]), "never fired");
  close(whenFiring[2], 3 / Math.SQRT2, 1e-6);
  close(allTokens[1], 1, 1e-6);
  close(allTokens[2], 3 / Math.SQRT2, 1e-6);
  close(allTokens[3], 1, 1e-6);
  tf.dispose([z1, z2, wDec, grad]);
});
