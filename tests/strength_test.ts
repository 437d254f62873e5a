import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { initBackend } from "../lib/tensor/backend.ts";
import {
  firingActivations,
  quantileAlphas,
  quantilesOf,
  strengthPlan,
} from "../lib/experiments/06_steering/strength.ts";

await initBackend();

Deno.test("quantilesOf: linear interpolation between order statistics", () => {
  // Sorted 1, 2, 3, 4, 10: rank q·4.
  const q = quantilesOf([4, 1, 10, 3, 2], [0, 0.5, 0.9, 1]);
  [1, 3, 7.6, 10].forEach((v, i) => assert.ok(Math.abs(q[i] - v) < 1e-12, `${q}`));
  assert.deepStrictEqual(quantilesOf([5], [0.5, 0.99]), [5, 5]);
  assert.throws(() => quantilesOf([], [0.5]), /no values/);
  assert.throws(() => quantilesOf([1], [1.5]), /1.5 is not in \[0, 1\]/);
});

Deno.test("firingActivations and quantileAlphas on a hand-made encoder", async () => {
  // A "SAE" whose encoder is ReLU(x) (plain selection) and whose decoder rows have norms 2 and 1.
  const params = new Map([["W_dec", tf.variable(tf.tensor2d([[0, 2], [1, 0]]))]]);
  const sae = { encode: (x: tf.Tensor2D) => tf.relu(x) as tf.Tensor2D, params };
  const x = tf.tensor2d([[1, 0], [3, -1], [0, 2], [2, 0], [5, 0]]);
  try {
    const acts = await firingActivations(sae, x, { batchRows: 2 });
    assert.deepStrictEqual(acts, [[1, 3, 2, 5], [2]]);
    // Latent 0 fired 1, 2, 3, 5: the median is 2.5, times its decoder norm 2.
    const alphas = await quantileAlphas(sae, acts, { latents: [0, 1], quantiles: [0.5, 1] });
    assert.deepStrictEqual(alphas, [[5, 10], [2, 2]]);
    await assert.rejects(
      () => quantileAlphas(sae, [[1], []], { latents: [1], quantiles: [0.5] }),
      /latent 1 never fired/,
    );
  } finally {
    x.dispose();
    params.get("W_dec")!.dispose();
  }
});

Deno.test("strengthPlan: every quantile for the sweep latents, the main one for the rest", () => {
  const plan = strengthPlan([[1, 2, 3], [4, 5, 6]], {
    quantiles: [0.5, 0.9, 0.99],
    mainQuantile: 0.9,
    sweepLatents: 1,
  });
  assert.deepStrictEqual(plan, [
    [{ strength: 0.5, alpha: 1 }, { strength: 0.9, alpha: 2 }, { strength: 0.99, alpha: 3 }],
    [{ strength: 0.9, alpha: 5 }],
  ]);
});
