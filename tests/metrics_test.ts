import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { initBackend } from "../lib/backend.ts";
import { GPT2 } from "../lib/gpt2/model.ts";
import {
  activationFrequency,
  addSpliceSums,
  averageRanks,
  fvu,
  l0,
  LatentStats,
  maxDecoderCosine,
  median,
  mse,
  normalisedMse,
  quantile,
  ReconstructionStats,
  spearman,
  spliceMetrics,
  std,
  summariseSplice,
} from "../lib/metrics.ts";
import { TINY_CONFIG } from "./fixtures/tiny_workspace.ts";

await initBackend();

function close(actual: number, expected: number, tol = 1e-6, what = ""): void {
  assert.ok(
    Math.abs(actual - expected) <= tol,
    `${what} ${actual} is not within ${tol} of ${expected}`,
  );
}

// x̂ − x = [[0, −1], [0, 1]]: Σ err² = 2; Σ x² = 30; x̄ = [2, 3] so Σ‖x − x̄‖² = 4.
const X = [[1, 2], [3, 4]], X_HAT = [[1, 1], [3, 5]];

Deno.test("reconstruction metrics on a hand-computed example", () => {
  const [x, xHat] = [tf.tensor2d(X), tf.tensor2d(X_HAT)];
  close(mse(x, xHat), 0.5);
  close(normalisedMse(x, xHat), 0.5 / 7.5);
  close(fvu(x, xHat), 0.5);
  const latents = tf.tensor2d([[0, 1, 2], [0, 0, -3]]);
  close(l0(latents), 1.5);
  tf.dispose([x, xHat, latents]);
});

Deno.test("ReconstructionStats over two batches equals the metrics over their union", () => {
  const stats = new ReconstructionStats();
  for (let i = 0; i < 2; i++) {
    const [x, xHat, z] = [tf.tensor2d([X[i]]), tf.tensor2d([X_HAT[i]]), tf.tensor2d([[i, 1, 0]])];
    stats.add(x, xHat, z);
    tf.dispose([x, xHat, z]);
  }
  assert.equal(stats.tokens, 2);
  close(stats.mse, 0.5);
  close(stats.normalisedMse, 0.5 / 7.5);
  close(stats.fvu, 0.5, 1e-9, "fvu uses the mean over both batches");
  close(stats.l0, 1.5);
});

Deno.test("statistics helpers: ranks with ties, spearman, quantiles, std", () => {
  assert.deepEqual([...averageRanks([10, 20, 20, 30])], [1, 2.5, 2.5, 4]);
  // Ranks [1, 2.5, 2.5, 4] vs [1, 3, 2, 4]: cov 4.5, variances 4.5 and 5 → 4.5/√22.5
  // (scipy.stats.spearmanr([1, 2, 2, 3], [1, 3, 2, 4]) = 0.9486832980505139).
  close(spearman([1, 2, 2, 3], [1, 3, 2, 4]), 0.9486832980505139, 1e-12);
  close(spearman([1, 2, 3, 4], [10, 20, 30, 1000]), 1);
  close(spearman([1, 2, 3], [3, 2, 1]), -1);
  assert.ok(Number.isNaN(spearman([1, 1, 1], [1, 2, 3])), "constant input");
  assert.equal(median([3, 1, 2]), 2);
  assert.equal(median([4, 1, 3, 2]), 2.5);
  assert.equal(quantile([5, 1, 4, 2, 3], 0.25), 2);
  close(quantile([1, 2], 0.9), 1.9);
  assert.equal(std([2, 4, 4, 4, 5, 5, 7, 9]), 2);
  close(std([1, 2, 3, 4], { ddof: 1 }), Math.sqrt(5 / 3));
});

Deno.test("maxDecoderCosine finds a duplicated (rescaled) decoder row", () => {
  // Row 1 is row 0 scaled by 2 (cosine 1); rows 2 and 3 have cosine 0.6; row 4 is only ≤ 0.
  const wDec = tf.tensor2d([[1, 0, 0], [2, 0, 0], [0, 1, 0], [0, 0.6, 0.8], [0, 0, -1]]);
  const expected = [1, 1, 0.6, 0.6, 0];
  for (const blockRows of [undefined, 1, 2]) {
    const got = maxDecoderCosine(wDec, { blockRows });
    got.forEach((v, i) => close(v, expected[i], 1e-6, `row ${i} (block ${blockRows})`));
  }
  wDec.dispose();
});

Deno.test("LatentStats: frequencies, dead latents, median, CDF and directional derivatives", () => {
  const stats = new LatentStats(4);
  const z1 = tf.tensor2d([[1, 0, 0, 0], [2, 0, 3, 0]]);
  const z2 = tf.tensor2d([[0, 0, 1, 0], [4, 0, 0, 0]]);
  // Row 0 is not unit norm: its derivative uses the unit direction [1, 0].
  const wDec = tf.tensor2d([[2, 0], [0, 1], [1, 1], [0, -1]]);
  const grad = tf.tensor2d([[1, 2], [-3, 0]]);
  stats.add(z1, { grad, wDec });
  stats.add(z2);
  assert.deepEqual([...activationFrequency(z1)], [1, 0, 0.5, 0]);
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

const model = GPT2.random(TINY_CONFIG, 0);
const ids = tf.tensor2d(Array.from({ length: 24 }, (_, i) => (i * 17 + 3) % 50), [3, 8], "int32");
const cleanLossSum = tf.tidy(() =>
  tf.sum(model.tokenLosses(ids, model.finalResidual(ids))).dataSync()[0]
);

for (const hook of ["blocks.0.hook_resid_post", "blocks.1.hook_mlp_out"]) {
  Deno.test(`spliceMetrics at ${hook}: identity, zeros and mean reconstructions`, () => {
    const before = tf.memory().numTensors;
    const identity = spliceMetrics(model, ids, { hook, reconstruct: (x) => x });
    assert.equal(identity.tokens, 3 * 7);
    close(identity.ceClean, cleanLossSum, 1e-4, "clean CE matches tokenLosses");
    const s = summariseSplice(identity);
    close(s.deltaCe, 0, 1e-5, "ΔCE");
    close(s.kl, 0, 1e-5, "KL");
    assert.ok(Math.abs(s.ceZero - s.ceClean) > 1e-4, "zero-ablation must change the loss");
    close(s.fracRecoveredZero, 1, 1e-4, "fraction recovered vs zero");
    close(s.fracRecoveredMean, 1, 1e-3, "fraction recovered vs mean");

    const zeros = spliceMetrics(model, ids, { hook, reconstruct: (x) => tf.zerosLike(x) });
    close(zeros.ceSpliced, zeros.ceZero, 1e-4, "zeros = zero-ablation");
    close(summariseSplice(zeros).fracRecoveredZero, 0, 1e-6);
    assert.ok(zeros.kl > 0);

    const mean = spliceMetrics(model, ids, {
      hook,
      reconstruct: (x) => tf.broadcastTo(tf.mean(x, 0), x.shape),
    });
    close(mean.ceSpliced, mean.ceMean, 1e-4, "batch mean = mean-ablation");

    let sawGrad = false;
    const withGrad = spliceMetrics(model, ids, {
      hook,
      needsGradient: true,
      reconstruct: (x, grad) => {
        assert.deepEqual(grad?.shape, x.shape);
        sawGrad = true;
        return x;
      },
    });
    assert.ok(sawGrad);
    close(summariseSplice(withGrad).deltaCe, 0, 1e-5, "ΔCE with gradient");
    assert.equal(tf.memory().numTensors, before, "no leaked tensors");

    const twice = summariseSplice(addSpliceSums(identity, zeros));
    assert.equal(twice.tokens, 42);
    close(twice.ceClean, s.ceClean, 1e-9);
  });
}

Deno.test("spliceMetrics rejects a reconstruction of the wrong shape", () => {
  assert.throws(
    () =>
      spliceMetrics(model, ids, {
        hook: "blocks.0.hook_resid_post",
        reconstruct: (x) => x.slice(0, 2),
      }),
    /reconstruct returned \[2,16\], expected \[24,16\]/,
  );
});
