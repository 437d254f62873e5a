// e2e-TopK's spliced KL in pieces (window groups, block segments, chunks of positions) equals the
// one-pass KL in value and gradient, leaves no tensor behind, and the embedded models' shapes keep
// the one-pass code.
import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { initBackend } from "../lib/tensor/backend.ts";
import { GPT2 } from "../lib/gpt2/model.ts";
import {
  type GPT2Config,
  layersPerGradientPass,
  positionsPerKLPass,
  windowsPerGradientPass,
} from "../lib/gpt2/config.ts";
import { splicedKL, type SplicedKLLimits } from "../lib/sae/e2e_kl.ts";
import { klDivergence } from "../lib/metrics/divergence.ts";
import { createSAE, disposeSAE } from "../lib/sae/mod.ts";
import type { SAEBatch, SAETrainContext } from "../lib/sae/base.ts";

await initBackend();

const CONFIG: GPT2Config = {
  vocab_size: 40,
  n_positions: 16,
  n_embd: 16,
  n_layer: 4,
  n_head: 2,
  layer_norm_epsilon: 1e-5,
  activation_function: "gelu_new",
};
const B = 3, T = 16;
const PIECES: SplicedKLLimits = { windowsPerPass: 2, layersPerPass: 1, positionsPerPass: 7 };

function setup(model: GPT2, hook: string) {
  const ids = tf.tensor2d(
    Int32Array.from({ length: B * T }, (_, i) => (i * 7 + (i % 5)) % CONFIG.vocab_size),
    [B, T],
    "int32",
  );
  const state = model.runToHook(ids, hook);
  const cleanLogProbs = tf.tidy(() => {
    const logits = model.unembed(model.runFromHook(hook, state));
    return tf.logSoftmax(
      logits.slice([0, 0, 0], [B, T - 1, CONFIG.vocab_size]).reshape([
        B * (T - 1),
        CONFIG.vocab_size,
      ]),
    ) as tf.Tensor2D;
  });
  // A perturbed activation, as a reconstruction would be.
  const noise = tf.randomNormal(state.activation.shape, 0, 0.3, "float32", 11);
  const activation = tf.add(state.activation, noise) as tf.Tensor3D;
  noise.dispose();
  return {
    ids,
    state,
    cleanLogProbs,
    activation,
    dispose: () => tf.dispose([ids, state.activation, state.residual!, cleanLogProbs, activation]),
  };
}

/** Value and gradient of the spliced KL with respect to `activation` through a variable. */
function klAndGrad(model: GPT2, hook: string, s: ReturnType<typeof setup>, l: SplicedKLLimits) {
  const v = tf.variable(s.activation);
  const { value, grads } = tf.variableGrads(
    () => tf.mul(splicedKL(model, tf.mul(v, 1) as tf.Tensor3D, { hook, ...s, ...l }), 2),
    [v],
  );
  const out = { value: value.dataSync()[0], grad: grads[v.name].dataSync() as Float32Array };
  tf.dispose([value, grads[v.name], v]);
  return out;
}

function maxRelDiff(a: Float32Array, b: Float32Array): number {
  let scale = 0, diff = 0;
  for (let i = 0; i < a.length; i++) {
    scale = Math.max(scale, Math.abs(a[i]));
    diff = Math.max(diff, Math.abs(a[i] - b[i]));
  }
  return diff / scale;
}

for (
  const hook of ["blocks.1.hook_resid_post", "blocks.0.hook_mlp_out", "blocks.2.hook_attn_out"]
) {
  Deno.test(`the spliced KL in pieces equals the one-pass KL at ${hook}, and frees its tensors`, () => {
    const model = GPT2.random(CONFIG, 5, 0.3);
    const s = setup(model, hook);
    const plain = klAndGrad(model, hook, s, {});
    const before = tf.memory().numTensors;
    const pieces = klAndGrad(model, hook, s, PIECES);
    assert.equal(tf.memory().numTensors, before, "tensors left behind");
    assert.ok(plain.value > 0);
    assert.ok(
      Math.abs(pieces.value - plain.value) <= 1e-5 * plain.value,
      `${pieces.value} vs ${plain.value}`,
    );
    const rel = maxRelDiff(plain.grad, pieces.grad);
    assert.ok(rel < 1e-4, `gradients differ by ${rel} of their largest entry`);
    // The last position has no next token: no gradient there.
    const d = CONFIG.n_embd;
    for (let w = 0; w < B; w++) {
      const last = pieces.grad.subarray(((w + 1) * T - 1) * d, (w + 1) * T * d);
      assert.ok(last.every((g) => g === 0));
    }
    s.dispose();
    model.dispose();
  });
}

Deno.test("under the default limits a small model takes the one-pass code, bit for bit", () => {
  const model = GPT2.random(CONFIG, 5, 0.3);
  const hook = "blocks.1.hook_resid_post";
  const s = setup(model, hook);
  // e2e-TopK's loss before the pieces existed, verbatim.
  const old = tf.tidy(() => {
    const h = model.runFromHook(hook, { ...s.state, activation: s.activation });
    const logits = model.unembed(h.slice([0, 0, 0], [B, T - 1, CONFIG.n_embd]));
    const logQ = tf.logSoftmax(logits.reshape([B * (T - 1), logits.shape[2]])) as tf.Tensor2D;
    return tf.mean(klDivergence(s.cleanLogProbs, logQ)).dataSync()[0];
  });
  const now = tf.tidy(() => splicedKL(model, s.activation, { hook, ...s }).dataSync()[0]);
  assert.equal(now, old);
  s.dispose();
  model.dispose();
});

Deno.test("the limits keep the embedded models in one pass and split GPT-2's shapes", () => {
  const embedded = { ...CONFIG, vocab_size: 4096, n_positions: 128, n_layer: 6, n_head: 6 };
  // An e2e batch of the smoke/default profiles: 1,024 tokens = 8 windows × 127 positions.
  assert.equal(windowsPerGradientPass(embedded, 8), 8);
  assert.ok(layersPerGradientPass(embedded, 8) >= embedded.n_layer);
  assert.equal(positionsPerKLPass(embedded, 8 * 127), 8 * 127);
  // …and of 4,096 tokens (32 windows).
  assert.equal(windowsPerGradientPass(embedded, 32), 32);
  assert.ok(layersPerGradientPass(embedded, 32) >= embedded.n_layer);
  assert.equal(positionsPerKLPass(embedded, 32 * 127), 32 * 127);
  const gpt2 = { ...CONFIG, vocab_size: 50_257, n_positions: 1024, n_layer: 12, n_head: 12 };
  assert.equal(windowsPerGradientPass(gpt2, 1), 1);
  assert.equal(windowsPerGradientPass(gpt2, 4), 2);
  assert.equal(layersPerGradientPass(gpt2, 1), 2);
  assert.equal(positionsPerKLPass(gpt2, 1023), 333);
});

Deno.test("an e2e-TopK SAE's gradients are the same with the KL in pieces", () => {
  const model = GPT2.random(CONFIG, 5, 0.3);
  const hook = "blocks.1.hook_resid_post";
  const s = setup(model, hook);
  const sae = createSAE({
    architecture: "e2e_topk",
    d_in: CONFIG.n_embd,
    d_sae: 48,
    seed: 1,
    k: 6,
  });
  const ctx: SAETrainContext = {
    tokensSinceFired: new Float32Array(48),
    deadWindowTokens: 1024,
    firingFrequency: new Float32Array(48),
    step: 0,
  };
  const x = s.state.activation.reshape([B * T, CONFIG.n_embd]) as tf.Tensor2D;
  const grads = (limits?: SplicedKLLimits) => {
    const batch: SAEBatch = {
      x,
      lm: { model, hook, ids: s.ids, state: s.state, cleanLogProbs: s.cleanLogProbs, limits },
    };
    const { value, grads } = tf.variableGrads(() => sae.loss(batch, ctx).loss, [
      ...sae.params.values(),
    ]);
    const out = Object.fromEntries(
      [...sae.params].map(([n, p]) => [n, grads[p.name].dataSync() as Float32Array]),
    );
    const loss = value.dataSync()[0];
    tf.dispose([value, ...Object.values(grads)]);
    return { loss, grads: out };
  };
  const plain = grads();
  const before = tf.memory().numTensors;
  const pieces = grads(PIECES);
  assert.equal(tf.memory().numTensors, before, "tensors left behind");
  assert.ok(Math.abs(pieces.loss - plain.loss) <= 1e-5 * plain.loss);
  for (const name of ["W_enc", "W_dec", "b_enc", "b_dec"]) {
    const rel = maxRelDiff(plain.grads[name], pieces.grads[name]);
    assert.ok(rel < 1e-4, `${name}: gradients differ by ${rel} of their largest entry`);
  }
  x.dispose();
  disposeSAE(sae);
  s.dispose();
  model.dispose();
});
