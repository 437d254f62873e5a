// The webgpu backend against wasm+blas on the same work: a tiny GPT-2's per-token loss, its
// hook gradient and a parameter gradient through the embedding, and one training step of TopK
// and of g-SAE (on wasm+blas the fused step, on webgpu the stock tfjs path); then that a few
// webgpu steps leave no tensor behind. Runs on any adapter, llvmpipe included (CI has no GPU);
// skipped, with the reason printed, where Deno offers none.
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
async function saeAfter(architecture: "topk" | "gsae", steps: number) {
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
