import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { initBackend } from "../lib/tensor/backend.ts";
import { GPT2 } from "../lib/gpt2/model.ts";
import { Rng } from "../lib/tensor/random.ts";
import {
  cholesky,
  empiricalGaussian,
  type Gaussian,
  gaussianSampler,
  sampleGaussian,
} from "../lib/experiments/shared/gaussian.ts";
import { TINY_CONFIG } from "./fixtures/tiny_workspace.ts";

await initBackend();

/** Samples from `sampler`, as rows [n·d], and their empirical moments. */
function sampleMoments(g: Gaussian, n: number, seed: number): Gaussian {
  const sampler = gaussianSampler(g), r = new Rng(seed);
  const rows = new Float64Array(n * g.d);
  for (let i = 0; i < n; i++) rows.set(sampleGaussian(sampler, r), i * g.d);
  return empiricalGaussian(rows, g.d);
}

/** Largest |a − b| over the entries of two arrays. */
function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  return Math.max(...Array.from(a, (x, i) => Math.abs(x - b[i])));
}

Deno.test("empiricalGaussian: mean and ddof-1 covariance of known rows", () => {
  const g = empiricalGaussian([1, 2, 3, 6, 5, 10], 2);
  assert.deepEqual(Array.from(g.mean), [3, 6]);
  assert.deepEqual(Array.from(g.cov), [4, 8, 8, 16]);
});

Deno.test("cholesky factors a positive definite matrix and rejects an indefinite one", () => {
  const a = [4, 2, 0.4, 2, 3, 0.5, 0.4, 0.5, 2];
  const l = cholesky(a, 3);
  const back = Array.from({ length: 9 }, (_, k) => {
    const [i, j] = [Math.floor(k / 3), k % 3];
    return [0, 1, 2].reduce((s, m) => s + l[i * 3 + m] * l[j * 3 + m], 0);
  });
  assert.ok(maxDiff(back, a) < 1e-12);
  assert.equal(l[1], 0, "upper triangle is zero");
  assert.throws(() => cholesky([1, 2, 2, 1], 2), /not positive definite/);
});

Deno.test("gaussianSampler's ridge makes a rank-deficient covariance factorable", () => {
  // Rows on a line: the covariance has rank 1.
  const g = empiricalGaussian([0, 0, 1, 1, 2, 2, 3, 3], 2);
  assert.throws(() => cholesky(g.cov, 2), /not positive definite/);
  const s = gaussianSampler(g);
  assert.ok(s.factor.every(Number.isFinite));
});

Deno.test("the distribution-matched sampler reproduces a known Gaussian's mean and covariance", () => {
  const known: Gaussian = {
    d: 3,
    mean: Float64Array.from([1, -2, 0.5]),
    cov: Float64Array.from([2, 0.6, 0, 0.6, 1, -0.3, 0, -0.3, 0.5]),
  };
  const got = sampleMoments(known, 40000, 5);
  // Standard errors at n = 40 000 are below 0.015 for every entry.
  assert.ok(maxDiff(got.mean, known.mean) < 0.05, `mean ${got.mean}`);
  assert.ok(maxDiff(got.cov, known.cov) < 0.06, `cov ${got.cov}`);
});

Deno.test("the sampler matches real activations' mean and covariance", () => {
  const model = GPT2.random(
    { ...TINY_CONFIG, n_layer: 1 },
    7,
    0.3,
  );
  const rng = new Rng(11);
  const ids = tf.tensor2d(Int32Array.from({ length: 512 }, () => rng.int(50)), [32, 16], "int32");
  const { activation } = model.runToHook(ids, "blocks.0.hook_resid_post");
  const acts = empiricalGaussian(activation.dataSync(), 16);
  tf.dispose([ids, activation]);
  model.dispose();
  const got = sampleMoments(acts, 40000, 9);
  const scale = Math.sqrt(Math.max(...acts.cov));
  assert.ok(maxDiff(got.mean, acts.mean) < 0.05 * scale);
  assert.ok(maxDiff(got.cov, acts.cov) < 0.05 * scale ** 2);
});
