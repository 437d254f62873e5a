import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { initBackend } from "../lib/backend.ts";
import type { GPT2Config } from "../lib/gpt2/config.ts";
import { GPT2 } from "../lib/gpt2/model.ts";
import { mean, std } from "../lib/metrics.ts";
import { Rng } from "../lib/random.ts";
import {
  bootstrapDirectional,
  cholesky,
  DIRECTION_KINDS,
  directionalDerivatives,
  directionalFigure,
  empiricalGaussian,
  expectedAbsCoordinate,
  type Gaussian,
  gaussianSampler,
  sampleGaussian,
  spreadOffsets,
} from "../lib/experiments/directional.ts";
import {
  firstOrderFigure,
  firstOrderVsNorm,
  perturbationRadius,
} from "../lib/experiments/first_order.ts";

await initBackend();

const CONFIG: GPT2Config = {
  vocab_size: 50,
  n_positions: 16,
  n_embd: 16,
  n_layer: 2,
  n_head: 2,
  layer_norm_epsilon: 1e-5,
  activation_function: "gelu_new",
};
const model = GPT2.random(CONFIG, 7, 0.3);
const rng = new Rng(11);
const DATA = Int32Array.from({ length: 4000 }, () => rng.int(CONFIG.vocab_size));

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

Deno.test("expectedAbsCoordinate: closed forms and a Monte Carlo check", () => {
  assert.ok(Math.abs(expectedAbsCoordinate(1) - 1) < 1e-12);
  assert.ok(Math.abs(expectedAbsCoordinate(2) - 2 / Math.PI) < 1e-12);
  assert.ok(Math.abs(expectedAbsCoordinate(3) - 0.5) < 1e-12);
  const d = 16, r = new Rng(3), draws: number[] = [];
  for (let i = 0; i < 20000; i++) {
    const z = Array.from({ length: d }, () => r.normal());
    draws.push(Math.abs(z[0]) / Math.hypot(...z));
  }
  // 20 000 draws: the standard error is about 0.001.
  assert.ok(Math.abs(mean(draws) - expectedAbsCoordinate(d)) < 0.005);
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
  const ids = tf.tensor2d(DATA.subarray(0, 32 * 16), [32, 16], "int32");
  const { activation } = model.runToHook(ids, "blocks.0.hook_resid_post");
  const acts = empiricalGaussian(activation.dataSync(), 16);
  tf.dispose([ids, activation]);
  const got = sampleMoments(acts, 40000, 9);
  const scale = Math.sqrt(Math.max(...acts.cov));
  assert.ok(maxDiff(got.mean, acts.mean) < 0.05 * scale);
  assert.ok(maxDiff(got.cov, acts.cov) < 0.05 * scale ** 2);
});

Deno.test("spreadOffsets spreads windows evenly and checks the data is long enough", () => {
  assert.deepEqual(spreadOffsets(100, 3, 10), [0, 45, 90]);
  assert.deepEqual(spreadOffsets(100, 1, 10), [0]);
  assert.throws(() => spreadOffsets(5, 2, 10));
});

const directional = directionalDerivatives(model, DATA, { sequences: 24, seed: 1 });

Deno.test("directionalDerivatives: shapes, finite values, isotropic ratio 1", () => {
  assert.equal(directional.layers.length, 2);
  for (const layer of directional.layers) {
    const n = 24 * 15;
    assert.equal(layer.gradNorms.length, n);
    assert.equal(layer.sequenceOf.length, n);
    for (const kind of DIRECTION_KINDS) {
      const s = layer.stats[kind];
      assert.equal(layer.values[kind].length, n);
      assert.ok(layer.values[kind].every((v) => Number.isFinite(v) && v >= 0));
      assert.equal(s.n, n);
      assert.ok(
        s.mean > 0 && Number.isFinite(s.std) && Math.abs(s.sem - s.std / Math.sqrt(n)) < 1e-12,
      );
    }
    assert.equal(layer.stats.isotropic.ratioToIsotropic, 1);
  }
});

Deno.test("directionalDerivatives: isotropic mean |g·u| ≈ mean ‖g‖·E|u₁| within sampling error", () => {
  const d = CONFIG.n_embd, c = expectedAbsCoordinate(d);
  for (const layer of directional.layers) {
    const n = layer.gradNorms.length;
    const expected = mean(layer.gradNorms) * c;
    // Given g, |g·u| has variance ‖g‖²(E u₁² − c²) = ‖g‖²(1/d − c²).
    const variance = layer.gradNorms.reduce((s, g) => s + g * g * (1 / d - c * c), 0) / n ** 2;
    const z = (layer.stats.isotropic.mean - expected) / Math.sqrt(variance);
    assert.ok(Math.abs(z) < 4, `layer ${layer.layer}: z = ${z}`);
  }
});

Deno.test("bootstrapDirectional intervals bracket the means; the figure has grouped log bars", () => {
  const intervals = bootstrapDirectional(directional, { resamples: 200, seed: 2 });
  assert.equal(intervals.length, 2 * DIRECTION_KINDS.length);
  for (const iv of intervals) {
    const m = directional.layers[iv.layer].stats[iv.kind].mean;
    assert.ok(iv.mean[0] <= m && m <= iv.mean[1], `${iv.kind} layer ${iv.layer}`);
  }
  const fig = directionalFigure(directional, { intervals });
  assert.equal(fig.data.length, 3);
  assert.equal((fig.layout!.yaxis as { type: string }).type, "log");
  assert.equal(fig.layout!.barmode, "group");
  assert.equal((fig.data[0].error_y as { arrayminus: number[] }).arrayminus.length, 2);
});

Deno.test("directionalDerivatives is deterministic for a seed", () => {
  const again = directionalDerivatives(model, DATA, { sequences: 24, seed: 1 });
  assert.deepEqual(
    again.layers.map((l) => l.values),
    directional.layers.map((l) => l.values),
  );
  const other = directionalDerivatives(model, DATA, { sequences: 24, seed: 2, layers: [1] });
  assert.notDeepEqual(other.layers[0].values, directional.layers[1].values);
});

Deno.test("perturbationRadius is uniform with mean m and std m/2", () => {
  const v = Array.from({ length: 10001 }, (_, i) => i / 10000);
  const r = v.map((x) => perturbationRadius(2, x));
  assert.ok(Math.abs(mean(r) - 2) < 1e-3);
  assert.ok(Math.abs(std(r) - 1) < 1e-3);
  assert.ok(Math.min(...r) > 0);
});

const HOOKS = ["blocks.0.hook_mlp_out", "blocks.0.hook_resid_post", "blocks.1.hook_resid_post"];
const firstOrder = firstOrderVsNorm(model, DATA, {
  hooks: HOOKS,
  magnitudes: [1e-3, 0.3],
  perturbations: 100,
  replicas: 20,
  seed: 4,
});

Deno.test("firstOrderVsNorm: tiny perturbations are predicted by the first-order estimate", () => {
  assert.equal(firstOrder.hooks.length, 3);
  assert.equal(firstOrder.sequences, 5);
  for (const h of firstOrder.hooks) {
    const [tiny, large] = h.points;
    assert.equal(tiny.n, 100);
    assert.ok(tiny.magnitude === 1e-3 * h.medianNorm && h.medianNorm > 0);
    assert.ok(tiny.spearmanFirstOrder > 0.95, `${h.hook}: ${tiny.spearmanFirstOrder}`);
    assert.ok(tiny.spearmanSigned > 0.95, `${h.hook}: ${tiny.spearmanSigned}`);
    // The exactness check: ΔL ≈ ∇L·δ up to second-order terms.
    assert.ok(tiny.relativeError < 0.05, `${h.hook}: relative error ${tiny.relativeError}`);
    assert.ok(Number.isFinite(tiny.spearmanNorm) && Number.isFinite(large.spearmanFirstOrder));
    assert.ok(large.relativeError > tiny.relativeError);
    assert.ok(tiny.samples.position.every((p) => p >= 0 && p < CONFIG.n_positions - 1));
  }
});

Deno.test("firstOrderVsNorm is deterministic for a seed; the figure has two panels", () => {
  const again = firstOrderVsNorm(model, DATA, {
    hooks: HOOKS.slice(0, 1),
    magnitudes: [1e-3, 0.3],
    perturbations: 100,
    replicas: 20,
    seed: 4,
  });
  assert.deepEqual(again.hooks[0].points, firstOrder.hooks[0].points);
  const fig = firstOrderFigure(firstOrder);
  assert.equal(fig.data.length, 2 * HOOKS.length);
  assert.equal(fig.data.filter((t) => t.xaxis === "x2").length, HOOKS.length);
  assert.equal((fig.layout!.xaxis as { type: string }).type, "log");
});
