// The webgpu backend against wasm+blas on the same work: a tiny GPT-2's per-token loss, its
// hook gradient and a parameter gradient through the embedding, and one training step of TopK
// and of g-SAE (on wasm+blas the fused step, on webgpu the stock tfjs path); a tiny store build,
// one evaluation (spliced CE and KL, reconstruction and latent statistics) and one step of the
// batch-level rules (Mutual Choice, gradient Feature Choice, with aux_zipf), which read tensors
// asynchronously or select on the device there; then that webgpu leaves no tensor behind. Runs
// on any adapter, llvmpipe included (CI has no GPU); skipped, with the reason printed, where
// Deno offers none.
import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { type BackendName, initBackend } from "../lib/tensor/backend.ts";
import { loadBlas } from "../lib/tensor/blas.ts";
import { GPT2 } from "../lib/gpt2/model.ts";
import { Rng } from "../lib/tensor/random.ts";
import { createSAE, disposeSAE } from "../lib/sae/mod.ts";
import { type ActivationData, trainSAE } from "../lib/sae/trainer.ts";
import { requestWebGPUAdapter } from "../lib/tensor/webgpu_adapter.ts";
import { TINY_CONFIG } from "./fixtures/tiny_workspace.ts";
import { buildStore, openStore } from "../lib/store/mod.ts";
import {
  LatentStats,
  ReconstructionStats,
  referenceActivation,
  referenceGradient,
  splicedSums,
  spliceReference,
} from "../lib/metrics/mod.ts";

const adapter = await requestWebGPUAdapter();
const skip = typeof adapter === "string" ? adapter : undefined;
if (skip) console.log(`webgpu_test: skipped: ${skip}`);
const REFERENCE: BackendName = loadBlas() ? "wasm+blas" : "wasm";

/** Largest |a − b| over the largest |b|: float32 agreement at the scale of the values. */
function relativeError(a: Float32Array, b: Float32Array): number {
  assert.equal(a.length, b.length);
  let diff = 0, scale = 0;
  for (let i = 0; i < a.length; i++) {
    diff = Math.max(diff, Math.abs(a[i] - b[i]));
    scale = Math.max(scale, Math.abs(b[i]));
  }
  return diff / Math.max(scale, 1e-30);
}

async function read(t: tf.Tensor): Promise<Float32Array> {
  return Float32Array.from(await t.data());
}

/** Per-token losses, the hook's activation and gradient, and the embedding's gradient. */
async function lmNumbers(model: GPT2, ids: tf.Tensor2D): Promise<Record<string, Float32Array>> {
  const losses = tf.tidy(() => model.tokenLosses(ids, model.finalResidual(ids)));
  const g = model.gradAtHook(ids, "blocks.0.hook_resid_post");
  const { value, grads } = tf.variableGrads(() => model.meanLoss(ids), [
    model.p("wte.weight") as tf.Variable,
  ]);
  const out = {
    losses: await read(losses),
    activation: await read(g.activation),
    hookGradient: await read(g.gradient),
    wteGradient: await read(Object.values(grads)[0]),
  };
  tf.dispose([losses, value, ...Object.values(g), ...Object.values(grads)]);
  return out;
}

function activations(): ActivationData {
  const n = 128, d = 16;
  const rng = new Rng(11);
  const x = rng.normalArray(n * d);
  for (let i = 0; i < x.length; i++) x[i] += (i % d) * 0.1;
  return { kind: "activations", x, grad: rng.normalArray(n * d, 1e-3), n, d };
}

const SAE_CONFIG = {
  batchSize: 64,
  lr: 1e-2,
  warmupSteps: 1,
  minLrRatio: 0.5,
  seed: 3,
  deadWindowTokens: 64,
  bDecInit: "mean" as const,
  logEvery: 1,
  checkpointEvery: 0,
};

/** The SAE's parameters after `steps` steps, and tf.memory().numTensors after each step. */
async function saeAfter(
  architecture: "topk" | "gsae" | "mutual_choice" | "gradient_feature_choice",
  steps: number,
) {
  const sae = createSAE({ architecture, d_in: 16, d_sae: 64, seed: 2, k: 4 });
  const counts: number[] = [];
  await trainSAE(sae, activations(), { ...SAE_CONFIG, tokens: steps * 64 }, {
    log: () => {},
    onStep: () => counts.push(tf.memory().numTensors),
  });
  const params: Record<string, Float32Array> = {};
  for (const [name, v] of sae.params) params[name] = await read(v);
  disposeSAE(sae);
  return { params, counts };
}

/** A tiny store (two chunks) built in a temporary folder: its rows. */
async function storeRows(model: GPT2, data: Int32Array) {
  const dir = await Deno.makeTempDir({ prefix: "gsae_webgpu_store_" });
  try {
    await buildStore(model, data, {
      dir,
      hook: "blocks.0.hook_resid_post",
      tokens: 60,
      modelId: "random-3",
      chunkTokens: 30,
      batchSequences: 2,
      log: () => {},
    });
    const { x, grad, loss } = await (await openStore(dir)).loadAll();
    return { x, grad, loss };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** One evaluation batch: spliced sums, reconstruction and latent statistics of a TopK SAE. */
async function evaluationNumbers(model: GPT2, ids: tf.Tensor2D): Promise<Record<string, number>> {
  const sae = createSAE({ architecture: "topk", d_in: 16, d_sae: 64, seed: 4, k: 4 });
  const hook = "blocks.0.hook_resid_post";
  const ref = await spliceReference(model, ids, { hook, needsGradient: true, chunkRows: 8 });
  const recon = new ReconstructionStats(), stats = new LatentStats(64);
  const { x, grad, latents, xHat } = tf.tidy(() => {
    const x = referenceActivation(ref), grad = referenceGradient(ref)!;
    const latents = sae.encode(x);
    return { x, grad, latents, xHat: sae.decode(latents) };
  });
  await recon.add(x, xHat, latents);
  await stats.add(latents, { grad, wDec: sae.params.get("W_dec") as tf.Tensor2D });
  const sums = await splicedSums(model, ref, xHat);
  tf.dispose([x, grad, latents, xHat]);
  disposeSAE(sae);
  const deriv = stats.meanAbsDerivative().allTokens;
  return {
    ...sums,
    fvu: recon.fvu,
    l0: recon.l0,
    deriv0: deriv[0],
    derivSum: deriv.reduce((a, b) => a + b),
  };
}

Deno.test({
  name: `webgpu agrees with ${REFERENCE}: tiny GPT-2 loss and gradients, TopK and g-SAE step`,
  ignore: skip !== undefined,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await initBackend({ backend: REFERENCE });
    const model = GPT2.random({ ...TINY_CONFIG, n_layer: 2 }, 3, 0.3);
    const rng = new Rng(5);
    const ids = tf.tensor2d(
      Int32Array.from({ length: 2 * 16 }, () => rng.int(50)),
      [2, 16],
      "int32",
    );
    const want = await lmNumbers(model, ids);
    const wantSAE = { topk: await saeAfter("topk", 1), gsae: await saeAfter("gsae", 1) };

    const info = await initBackend({ backend: "webgpu" });
    console.log(`webgpu_test: ${info.details}`);
    const got = await lmNumbers(model, ids);
    for (const [name, values] of Object.entries(want)) {
      const err = relativeError(got[name], values);
      assert.ok(err < 1e-4, `${name}: relative error ${err.toExponential(2)}`);
    }
    for (const architecture of ["topk", "gsae"] as const) {
      const { params } = await saeAfter(architecture, 1);
      for (const [name, values] of Object.entries(wantSAE[architecture].params)) {
        const err = relativeError(params[name], values);
        assert.ok(err < 1e-4, `${architecture} ${name}: relative error ${err.toExponential(2)}`);
      }
    }

    // No tensor outlives a step, on the device path.
    const before = tf.memory().numTensors;
    for (const architecture of ["topk", "gsae"] as const) {
      const { counts } = await saeAfter(architecture, 3);
      assert.ok(
        counts.every((c) => c === counts[0]),
        `${architecture}: tensors per step ${counts}`,
      );
    }
    assert.equal(tf.memory().numTensors, before, "tensors left after the SAE runs");
    await lmNumbers(model, ids);
    assert.equal(tf.memory().numTensors, before, "tensors left after the model's passes");
    ids.dispose();
    model.dispose();
    await initBackend({ backend: REFERENCE });
  },
});

Deno.test({
  name: `webgpu agrees with ${REFERENCE}: a tiny store build, an evaluation, batch-level rules`,
  ignore: skip !== undefined,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await initBackend({ backend: REFERENCE });
    const model = GPT2.random({ ...TINY_CONFIG, n_layer: 2 }, 3, 0.3);
    const rng = new Rng(6);
    const data = Int32Array.from({ length: 16 * 6 }, () => rng.int(50));
    const ids = tf.tensor2d(data.subarray(0, 3 * 16), [3, 16], "int32");
    const archs = ["mutual_choice", "gradient_feature_choice"] as const;
    const want = {
      store: await storeRows(model, data),
      evaluation: await evaluationNumbers(model, ids),
      sae: {} as Record<string, Record<string, Float32Array>>,
    };
    // Two steps: aux_zipf needs firing frequencies from a step before.
    for (const a of archs) want.sae[a] = (await saeAfter(a, 2)).params;

    await initBackend({ backend: "webgpu" });
    const before = tf.memory().numTensors;
    const store = await storeRows(model, data);
    for (const key of ["x", "grad", "loss"] as const) {
      const err = relativeError(store[key], want.store[key]);
      assert.ok(err < 1e-4, `store ${key}: relative error ${err.toExponential(2)}`);
    }
    const evaluation = await evaluationNumbers(model, ids);
    for (const [key, value] of Object.entries(want.evaluation)) {
      const err = Math.abs(evaluation[key] - value) / Math.max(Math.abs(value), 1e-6);
      assert.ok(err < 1e-4, `evaluation ${key}: ${evaluation[key]} vs ${value}`);
    }
    for (const architecture of archs) {
      const { params, counts } = await saeAfter(architecture, 2);
      for (const [name, values] of Object.entries(want.sae[architecture])) {
        const err = relativeError(params[name], values);
        assert.ok(err < 1e-4, `${architecture} ${name}: relative error ${err.toExponential(2)}`);
      }
      assert.ok(
        counts.length === 2 && counts[0] === counts[1],
        `${architecture}: tensors per step ${counts}`,
      );
    }
    assert.equal(tf.memory().numTensors, before, "tensors left after store, evaluation, steps");
    ids.dispose();
    model.dispose();
    await initBackend({ backend: REFERENCE });
  },
});
