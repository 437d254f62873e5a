import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { initBackend } from "../lib/tensor/backend.ts";
import { Rng } from "../lib/tensor/random.ts";
import { AdamW } from "../lib/tensor/optim.ts";
import { preActivations, type SAE, type SAETrainContext } from "../lib/sae/base.ts";
import { topkOverBatch, topkPerColumn, topkPerRow } from "../lib/sae/select.ts";
import { createTopK, defaultAuxK } from "../lib/sae/topk.ts";
import { createGSAE } from "../lib/sae/gsae.ts";
import {
  createFeatureChoice,
  createGradientFeatureChoice,
  createGradientMutualChoice,
  createMutualChoice,
  featureChoiceBudget,
  underusedLatents,
} from "../lib/sae/batch_choice.ts";
import {
  plantedDirections,
  recoveredFeatures,
  sampleMechanism,
  sampleSynthetic,
  trainOnArrays,
} from "../lib/sae/synthetic.ts";

await initBackend();

// ---------------------------------------------------------------- selection on plain arrays

/** Scores with many ties (a few integer levels), some negative, and optionally a NaN. */
function tiedScores(n: number, f: number, seed: number, withNaN = false): Float32Array {
  const rng = new Rng(seed);
  const s = new Float32Array(n * f);
  for (let i = 0; i < s.length; i++) s[i] = rng.int(7) - 2;
  if (withNaN) s[3] = NaN;
  return s;
}

/** Full-sort reference order: higher score first, NaN last, lower index first among equals. */
function byScoreThenIndex(score: (i: number) => number) {
  const key = (i: number) => (Number.isNaN(score(i)) ? -Infinity : score(i));
  return (a: number, b: number) => (key(a) === key(b) ? a - b : key(b) - key(a));
}

function referencePerRow(s: Float32Array, n: number, f: number, k: number, eligible?: Uint8Array) {
  const mask = new Float32Array(n * f);
  for (let r = 0; r < n; r++) {
    const cols = [...Array(f).keys()].filter((c) => !eligible || eligible[c]);
    cols.sort(byScoreThenIndex((c) => s[r * f + c]));
    for (const c of cols.slice(0, k)) mask[r * f + c] = 1;
  }
  return mask;
}

function count(mask: Float32Array, from = 0, to = mask.length, stride = 1): number {
  let c = 0;
  for (let i = from; i < to; i += stride) c += mask[i];
  return c;
}

Deno.test("topkPerRow keeps exactly k per row and matches a full sort (ties, NaN, eligibility)", () => {
  for (const [n, f, k, seed] of [[20, 64, 5, 1], [7, 33, 1, 2], [5, 16, 16, 3], [9, 40, 12, 4]]) {
    const s = tiedScores(n, f, seed, seed === 2);
    const mask = topkPerRow(s, { n, f, k });
    for (let r = 0; r < n; r++) assert.equal(count(mask, r * f, (r + 1) * f), k);
    assert.deepEqual(mask, referencePerRow(s, n, f, k));
  }
  const [n, f] = [6, 30];
  const s = tiedScores(n, f, 5);
  const eligible = Uint8Array.from({ length: f }, (_, c) => (c % 3 === 0 ? 1 : 0)); // 10 columns
  assert.deepEqual(topkPerRow(s, { n, f, k: 4, eligible }), referencePerRow(s, n, f, 4, eligible));
  const fewer = topkPerRow(s, { n, f, k: 25, eligible }); // fewer eligible than k: all of them
  for (let r = 0; r < n; r++) assert.equal(count(fewer, r * f, (r + 1) * f), 10);
  assert.throws(() => topkPerRow(s, { n, f: 29, k: 2 }), /expected 6×29/);
});

Deno.test("topkOverBatch keeps exactly the budget and matches a full sort of the matrix", () => {
  // The last two are large enough for the sampled pre-filter (with ties, and without).
  const cases = [[16, 64, 80, 1], [10, 20, 1, 2], [8, 8, 64, 3], [12, 50, 333, 4], [
    256,
    256,
    1000,
    5,
  ]];
  for (const [n, f, budget, seed] of [...cases, [256, 256, 1000, -1]]) {
    const s = seed < 0 ? new Rng(6).normalArray(n * f) : tiedScores(n, f, seed, seed === 4);
    const mask = topkOverBatch(s, { n, f, budget });
    assert.equal(count(mask), budget);
    const order = [...Array(n * f).keys()].sort(byScoreThenIndex((i) => s[i]));
    const reference = new Float32Array(n * f);
    for (const i of order.slice(0, budget)) reference[i] = 1;
    assert.deepEqual(mask, reference);
  }
  // All-equal scores: the first `budget` flat indices.
  const flat = topkOverBatch(new Float32Array(12), { n: 3, f: 4, budget: 5 });
  assert.deepEqual([...flat], [1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0]);
});

Deno.test("topkPerColumn keeps at most m rows per column and matches a full sort", () => {
  for (const [n, f, m, seed] of [[32, 16, 3, 1], [5, 40, 5, 2], [10, 7, 1, 3], [4, 9, 6, 4]]) {
    const s = tiedScores(n, f, seed);
    const mask = topkPerColumn(s, { n, f, m });
    const reference = new Float32Array(n * f);
    for (let c = 0; c < f; c++) {
      assert.ok(count(mask, c, n * f, f) <= m);
      const rows = [...Array(n).keys()].sort(byScoreThenIndex((r) => s[r * f + c]));
      for (const r of rows.slice(0, m)) reference[r * f + c] = 1;
    }
    assert.deepEqual(mask, reference);
  }
});

// ---------------------------------------------------------------- SAE helpers

const D_IN = 16, D_SAE = 64, N = 48;

function randomBatch(seed: number, n = N, dIn = D_IN): { x: tf.Tensor2D; grad: tf.Tensor2D } {
  const rng = new Rng(seed);
  return {
    x: tf.tensor2d(rng.normalArray(n * dIn), [n, dIn]),
    grad: tf.tensor2d(rng.normalArray(n * dIn, 1e-5), [n, dIn]),
  };
}

function context(dSae: number, dead: number[] = []): SAETrainContext {
  const tokensSinceFired = new Float32Array(dSae);
  for (const i of dead) tokensSinceFired[i] = 1000;
  return {
    tokensSinceFired,
    deadWindowTokens: 1000,
    firingFrequency: new Float32Array(dSae),
    step: 0,
  };
}

/** Loss value, named parts and latents as plain numbers. */
function evaluate(sae: SAE, batch: { x: tf.Tensor2D; grad?: tf.Tensor2D }, ctx: SAETrainContext) {
  return tf.tidy(() => {
    const r = sae.loss(batch, ctx);
    const parts = Object.fromEntries(Object.entries(r.parts).map(([k, v]) => [k, v.dataSync()[0]]));
    return { loss: r.loss.dataSync()[0], parts, latents: r.latents.dataSync() as Float32Array };
  });
}

/** The gradient of `part` of the loss with respect to W_enc, [d_in, d_sae] as numbers. */
function gradOfPart(sae: SAE, batch: { x: tf.Tensor2D }, ctx: SAETrainContext, part: string) {
  return tf.tidy(() => {
    const wEnc = sae.params.get("W_enc")!;
    const { grads } = tf.variableGrads(() => sae.loss(batch, ctx).parts[part], [wEnc]);
    return grads[wEnc.name].dataSync() as Float32Array;
  });
}

function columnIsZero(g: Float32Array, column: number, rows: number, cols: number): boolean {
  for (let r = 0; r < rows; r++) if (g[r * cols + column] !== 0) return false;
  return true;
}

// ---------------------------------------------------------------- TopK and g-SAE

Deno.test("defaults: aux_k = d_in/2, TopK constants documented", () => {
  assert.equal(defaultAuxK(768), 384);
  const sae = createTopK({ d_in: D_IN, d_sae: D_SAE });
  assert.equal(sae.config.aux_k, 8);
  assert.equal(sae.config.k, 32);
  assert.equal(sae.config.aux_coefficient, 1 / 32);
  assert.equal(sae.config.architecture, "topk");
  assert.equal(sae.config.b_dec_init, "geometric_median");
});

Deno.test("configs: unknown fields, wrong types and out-of-range values are errors naming the field", () => {
  assert.throws(
    () => createGSAE({ d_in: D_IN, d_sae: D_SAE, beeta: 2 } as never),
    /invalid gsae SAE config: Unrecognized key: "beeta"/,
  );
  assert.throws(() => createTopK({ d_in: D_IN, d_sae: D_SAE, k: 0 }), /k: Too small/);
  assert.throws(() => createTopK({ d_in: D_IN, d_sae: 8, k: 9 }), /k: must be at most d_sae/);
  assert.throws(
    () => createGSAE({ d_in: D_IN, d_sae: D_SAE, beta: "1" as never }),
    /beta: Invalid input: expected number/,
  );
  assert.throws(() => createTopK({ d_in: 0, d_sae: D_SAE }), /d_in: Too small/);
});

Deno.test("g-SAE with β = 0 equals TopK bit for bit, with and without a gradient", () => {
  const topk = createTopK({ d_in: D_IN, d_sae: D_SAE, k: 6, seed: 7 });
  const gsae = createGSAE({ d_in: D_IN, d_sae: D_SAE, k: 6, seed: 7, beta: 0 });
  const batch = randomBatch(1);
  const ctx = context(D_SAE, [3, 9, 20]);
  for (const grad of [undefined, batch.grad]) {
    const a = tf.tidy(() => topk.encode(batch.x, { grad }).dataSync());
    const b = tf.tidy(() => gsae.encode(batch.x, { grad }).dataSync());
    assert.deepEqual(b, a);
    assert.deepEqual(
      evaluate(gsae, { x: batch.x, grad }, ctx),
      evaluate(topk, { x: batch.x, grad }, ctx),
    );
  }
});

Deno.test("g-SAE: a gradient along a latent's decoder row makes it fire; values are ReLU(z)", () => {
  const k = 4, beta = 20;
  const gsae = createGSAE({ d_in: D_IN, d_sae: D_SAE, k, seed: 11, beta });
  const topk = createTopK({ d_in: D_IN, d_sae: D_SAE, k, seed: 11 });
  const { x } = randomBatch(2);
  // Token t's ∇ₓL lies along latent (t mod 8)'s decoder row, at GPT-2-like scale (1e-5).
  const favoured = (t: number) => t % 8;
  const wDec = gsae.params.get("W_dec")!.dataSync();
  const g = new Float32Array(N * D_IN);
  for (let t = 0; t < N; t++) {
    for (let d = 0; d < D_IN; d++) g[t * D_IN + d] = 1e-5 * wDec[favoured(t) * D_IN + d];
  }
  const grad = tf.tensor2d(g, [N, D_IN]);
  const withGrad = tf.tidy(() => gsae.encode(x, { grad }).dataSync());
  const plain = tf.tidy(() => topk.encode(x).dataSync());
  const z = tf.tidy(() => preActivations(gsae.params, x).dataSync());
  const tokens = [...Array(N).keys()];
  const fires = (a: Float32Array | Int32Array | Uint8Array) =>
    tokens.filter((t) => a[t * D_SAE + favoured(t)] > 0).length;
  const positive = tokens.filter((t) => z[t * D_SAE + favoured(t)] > 0).length;
  console.log(
    `  favoured latent fires on ${fires(withGrad)} tokens (TopK: ${
      fires(plain)
    }; z > 0: ${positive})`,
  );
  assert.ok(fires(withGrad) >= 3 * fires(plain), `${fires(withGrad)} vs ${fires(plain)}`);
  assert.ok(fires(withGrad) >= 0.5 * positive, `${fires(withGrad)} of ${positive} positive`);
  for (let t = 0; t < N; t++) {
    let active = 0;
    for (let i = 0; i < D_SAE; i++) {
      const v = withGrad[t * D_SAE + i];
      if (v !== 0) {
        active++;
        assert.equal(v, Math.max(0, z[t * D_SAE + i]));
      }
    }
    assert.ok(active <= k);
  }
  // With grad_norm "none" a 1e-5 gradient is far too small to change anything at this β.
  const raw = createGSAE({ d_in: D_IN, d_sae: D_SAE, k, seed: 11, beta, grad_norm: "none" });
  assert.deepEqual(tf.tidy(() => raw.encode(x, { grad }).dataSync()), plain);
});

Deno.test("AuxK: zero with every latent alive; with dead latents its gradient reaches only their columns", () => {
  const sae = createTopK({ d_in: D_IN, d_sae: D_SAE, k: 4, aux_k: 6, seed: 5 });
  const batch = randomBatch(3);
  assert.equal(evaluate(sae, batch, context(D_SAE)).parts.auxk, 0);
  const dead = [1, 5, 8, 13, 21, 34, 55];
  const ctx = context(D_SAE, dead);
  assert.ok(evaluate(sae, batch, ctx).parts.auxk > 0);
  const g = gradOfPart(sae, batch, ctx, "auxk");
  for (let i = 0; i < D_SAE; i++) {
    if (!dead.includes(i)) assert.ok(columnIsZero(g, i, D_IN, D_SAE), `alive column ${i}`);
  }
  assert.ok(dead.filter((i) => !columnIsZero(g, i, D_IN, D_SAE)).length >= dead.length - 1);
});

// ---------------------------------------------------------------- Mutual and Feature Choice

Deno.test("Mutual Choice fires exactly k·n entries per batch; Feature Choice at most m per latent", () => {
  const k = 3, batch = randomBatch(4), ctx = context(D_SAE);
  for (const make of [createMutualChoice, createGradientMutualChoice]) {
    const sae = make({ d_in: D_IN, d_sae: D_SAE, k, seed: 2 });
    const { latents } = evaluate(sae, batch, ctx);
    assert.equal(latents.filter((v) => v > 0).length, k * N, sae.config.architecture);
    const rows = tf.tidy(() => sae.encode(batch.x).dataSync());
    for (let t = 0; t < N; t++) {
      assert.ok(rows.slice(t * D_SAE, (t + 1) * D_SAE).filter((v) => v > 0).length <= k);
    }
  }
  const m = featureChoiceBudget(N, { k, dSae: D_SAE });
  assert.equal(m, Math.floor((k * N) / D_SAE));
  assert.equal(featureChoiceBudget(10, { k: 1, dSae: 64 }), 1);
  for (const make of [createFeatureChoice, createGradientFeatureChoice]) {
    const sae = make({ d_in: D_IN, d_sae: D_SAE, k, seed: 2 });
    const { latents } = evaluate(sae, batch, ctx);
    for (let i = 0; i < D_SAE; i++) {
      assert.ok(count(latents.map((v) => (v > 0 ? 1 : 0)), i, N * D_SAE, D_SAE) <= m);
    }
  }
});

Deno.test("aux_zipf: Zipf under-use, zero before any firing, gradient only in under-used latents", () => {
  // Frequencies 0.4, 0.3, 0.2, 0.1 against targets 0.48, 0.24, 0.16, 0.12: ranks 1 and 4 are under.
  assert.deepEqual([...underusedLatents(Float32Array.of(0.2, 0.1, 0.4, 0.3), 1)], [0, 1, 1, 0]);
  assert.deepEqual([...underusedLatents(new Float32Array(5), 1)], [0, 0, 0, 0, 0]);
  const sae = createMutualChoice({ d_in: D_IN, d_sae: D_SAE, k: 3, aux_k: 4, seed: 9 });
  const batch = randomBatch(5);
  assert.equal(evaluate(sae, batch, context(D_SAE)).parts.aux_zipf, 0);
  const ctx = context(D_SAE);
  for (let i = 0; i < D_SAE; i++) ctx.firingFrequency[i] = i < 32 ? 0.1 : 0.001; // a flat head
  const under = underusedLatents(ctx.firingFrequency, 1);
  assert.ok(evaluate(sae, batch, ctx).parts.aux_zipf > 0);
  const g = gradOfPart(sae, batch, ctx, "aux_zipf");
  for (let i = 0; i < D_SAE; i++) {
    if (!under[i]) assert.ok(columnIsZero(g, i, D_IN, D_SAE), `latent ${i} is not under-used`);
  }
});

Deno.test("decoder rows stay unit norm after every AdamW step", () => {
  const batch = randomBatch(6);
  for (
    const sae of [
      createTopK({ d_in: D_IN, d_sae: D_SAE, k: 4, seed: 1 }),
      createGSAE({ d_in: D_IN, d_sae: D_SAE, k: 4, seed: 1 }),
      createMutualChoice({ d_in: D_IN, d_sae: D_SAE, k: 4, seed: 1 }),
    ]
  ) {
    const optimiser = new AdamW();
    const names = [...sae.params.keys()], vars = names.map((n) => sae.params.get(n)!);
    const ctx = context(D_SAE, [0, 1, 2]);
    for (let step = 0; step < 3; step++) {
      tf.tidy(() => {
        const { grads } = tf.variableGrads(() => sae.loss(batch, ctx).loss, vars);
        const named = Object.fromEntries(names.map((n, i) => [n, grads[vars[i].name]]));
        sae.adjustGradients?.(named);
        optimiser.apply(sae.params, named, 1e-2);
        sae.afterStep?.();
      });
      const norms = tf.tidy(() => tf.norm(sae.params.get("W_dec")!, "euclidean", 1).dataSync());
      for (const v of norms) assert.ok(Math.abs(v - 1) < 1e-5, `${sae.config.architecture}: ${v}`);
    }
    optimiser.dispose();
  }
});

// ---------------------------------------------------------------- synthetic ground truth

Deno.test("TopK and g-SAE recover ≥ 90 % of 64 planted directions in R^32", async () => {
  const dIn = 32, features = 64;
  const directions = plantedDirections(features, { dIn, seed: 1 });
  const data = sampleSynthetic(directions, {
    dIn,
    n: 4096,
    activePerToken: 4,
    gradWeight: new Float32Array(features).fill(1),
    seed: 2,
  });
  for (
    const sae of [
      createTopK({ d_in: dIn, d_sae: 128, k: 5, seed: 3 }),
      createGSAE({ d_in: dIn, d_sae: 128, k: 5, seed: 3 }),
    ]
  ) {
    const started = performance.now();
    await trainOnArrays(sae, data, {
      epochs: 20,
      batchSize: 256,
      lr: 1e-2,
      seed: 4,
      useGrad: true,
    });
    const found = recoveredFeatures(sae, directions).length;
    const seconds = ((performance.now() - started) / 1000).toFixed(1);
    console.log(`  ${sae.config.architecture}: ${found}/${features} recovered (${seconds} s)`);
    assert.ok(found >= 0.9 * features, `${sae.config.architecture}: ${found}/${features}`);
  }
});

Deno.test("mechanism in miniature: g-SAE recovers more small-but-important directions than TopK", async () => {
  // 48 loud features (2 per token, magnitude ~1, no gradient) and 16 quiet ones (1 per token,
  // magnitude ~0.3, all of the gradient), noise 0.1, k = 3. TopK's third slot goes to whatever
  // fits the noise best; the g-SAE's goes to the quiet feature, so only it learns those.
  const { data, directions, quietIds } = sampleMechanism({
    dIn: 32,
    loud: 48,
    quiet: 16,
    loudActive: 2,
    quietScale: 0.3,
    noise: 0.1,
    n: 4096,
    seed: 1,
  });
  const quietFound: Record<string, number> = {};
  for (
    const sae of [
      createTopK({ d_in: 32, d_sae: 128, k: 3, seed: 3 }),
      createGSAE({ d_in: 32, d_sae: 128, k: 3, seed: 3, beta: 0.5 }),
    ]
  ) {
    const started = performance.now();
    await trainOnArrays(sae, data, {
      epochs: 60,
      batchSize: 256,
      lr: 3e-3,
      seed: 4,
      useGrad: true,
    });
    const found = recoveredFeatures(sae, directions);
    const quiet = found.filter((j) => quietIds.includes(j)).length;
    quietFound[sae.config.architecture] = quiet;
    const seconds = ((performance.now() - started) / 1000).toFixed(1);
    console.log(
      `  ${sae.config.architecture}: loud ${
        found.length - quiet
      }/48, quiet ${quiet}/16 (${seconds} s)`,
    );
  }
  assert.ok(quietFound.gsae > quietFound.topk, JSON.stringify(quietFound));
  assert.ok(quietFound.gsae - quietFound.topk >= 4, JSON.stringify(quietFound));
});
