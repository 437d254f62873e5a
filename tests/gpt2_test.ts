import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { initBackend } from "../lib/tensor/backend.ts";
import { loadGPT2 } from "../lib/gpt2/checkpoint.ts";
import { GPT2 } from "../lib/gpt2/model.ts";
import type { GPT2Config } from "../lib/gpt2/config.ts";
import { readSafetensors } from "../lib/io/safetensors.ts";
import { namedGrads } from "../lib/tensor/optim.ts";

await initBackend();

const FIXTURE = new URL("./fixtures/gpt2_ref/", import.meta.url).pathname;
const reference = await readSafetensors(`${FIXTURE}reference.safetensors`);
const hooks: string[] = JSON.parse(await Deno.readTextFile(`${FIXTURE}reference.json`)).hooks;
const { model: refModel } = await loadGPT2(`${FIXTURE}model`);
const refIds = tf.tensor2d(reference.tensors.get("ids")!.data as Int32Array, [2, 16], "int32");

function refTensor(name: string): tf.Tensor {
  const t = reference.tensors.get(name);
  if (!t) throw new Error(`fixture lacks ${name}`);
  return tf.tensor(t.data, t.shape);
}

function maxAbsDiff(a: tf.Tensor, b: tf.Tensor): number {
  return tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]);
}

function maxAbs(a: tf.Tensor): number {
  return tf.tidy(() => tf.max(tf.abs(a)).dataSync()[0]);
}

Deno.test("logits and per-token loss match the PyTorch reference", () => {
  const { logits } = refModel.forward(refIds);
  assert.ok(maxAbsDiff(logits, refTensor("logits")) < 2e-5, "logits");
  const losses = refModel.tokenLosses(refIds, refModel.finalResidual(refIds));
  assert.ok(maxAbsDiff(losses, refTensor("loss")) < 2e-5, "per-token loss");
});

Deno.test("hook activations and gradients match the PyTorch reference", () => {
  for (const hook of hooks) {
    const g = refModel.gradAtHook(refIds, hook);
    const expected = refTensor(`grad.${hook}`);
    // Relative to the gradient's scale, so a gradient off by a constant factor fails.
    const tol = 1e-4 * maxAbs(expected);
    assert.ok(maxAbsDiff(g.activation, refTensor(`act.${hook}`)) < 2e-5, `${hook} activation`);
    assert.ok(maxAbsDiff(g.gradient, expected) < tol, `${hook} gradient`);
    assert.ok(maxAbsDiff(g.losses, refTensor("loss")) < 2e-5, `${hook} losses`);
  }
});

const SMALL: GPT2Config = {
  vocab_size: 37,
  n_positions: 12,
  n_embd: 16,
  n_layer: 3,
  n_head: 2,
  layer_norm_epsilon: 1e-5,
  activation_function: "gelu_new",
};

Deno.test("hook gradient equals central finite differences", () => {
  const model = GPT2.random(SMALL, 3, 0.3);
  const ids = tf.tensor2d(
    [[1, 5, 9, 2, 33, 7, 7, 0], [4, 4, 12, 30, 1, 2, 3, 36]],
    [2, 8],
    "int32",
  );
  for (
    const hook of ["blocks.1.hook_resid_post", "blocks.1.hook_mlp_out", "blocks.2.hook_attn_out"]
  ) {
    const g = model.gradAtHook(ids, hook);
    const x = g.activation.arraySync() as number[][][];
    const grad = g.gradient.arraySync() as number[][][];
    const total = (act: number[][][]) =>
      tf.tidy(() => {
        const h = model.runFromHook(hook, { activation: tf.tensor3d(act), residual: g.residual });
        return tf.sum(model.tokenLosses(ids, h)).dataSync()[0];
      });
    // float32 forward passes: a step of 1e-2 keeps rounding error well below the tolerance.
    const eps = 1e-2;
    for (const [b, t, i] of [[0, 0, 3], [0, 5, 0], [1, 2, 15], [1, 6, 7], [0, 7, 1]]) {
      const plus = structuredClone(x), minus = structuredClone(x);
      plus[b][t][i] += eps;
      minus[b][t][i] -= eps;
      const fd = (total(plus) - total(minus)) / (2 * eps);
      const err = Math.abs(fd - grad[b][t][i]);
      assert.ok(
        err < 2e-3 + 2e-2 * Math.abs(fd),
        `${hook} [${b},${t},${i}]: fd ${fd} vs grad ${grad[b][t][i]}`,
      );
    }
    // The last position has no next token: nothing depends on it.
    assert.equal(maxAbs(g.gradient.slice([0, 7, 0], [2, 1, 16])), 0);
  }
});

Deno.test("splicing the cached activation reproduces the clean logits", () => {
  const model = GPT2.random(SMALL, 5, 0.2);
  const ids = tf.tensor2d([[3, 1, 4, 1, 5, 9, 2, 6]], [1, 8], "int32");
  const { logits } = model.forward(ids);
  for (const hook of model.hookNames()) {
    const state = model.runToHook(ids, hook);
    const spliced = model.unembed(model.runFromHook(hook, state));
    assert.equal(maxAbsDiff(spliced, logits), 0, hook);
  }
});

Deno.test("running from a hook through a block stops at that block's resid_post", () => {
  const model = GPT2.random(SMALL, 5, 0.2);
  const ids = tf.tensor2d([[3, 1, 4, 1, 5, 9, 2, 6]], [1, 8], "int32");
  const state = model.runToHook(ids, "blocks.0.hook_mlp_out");
  const through = model.runFromHook("blocks.0.hook_mlp_out", state, { throughLayer: 1 });
  const clean = model.runToHook(ids, "blocks.1.hook_resid_post").activation;
  assert.equal(maxAbsDiff(through, clean), 0);
  assert.throws(
    () => model.runFromHook("blocks.1.hook_resid_pre", { activation: clean }, { throughLayer: 0 }),
    /throughLayer must be a block from 1 to 2, got 0/,
  );
});

Deno.test("gradAtHook a block per backward pass equals one pass, per token too", () => {
  const model = GPT2.random(SMALL, 7, 0.3);
  const ids = tf.tensor2d([[3, 1, 4, 1, 5, 9, 2, 6], [2, 7, 1, 8, 2, 8, 1, 8]], [2, 8], "int32");
  const targets = tf.tensor2d([[1, 2, 3, 4, 5, 6, 7], [7, 6, 5, 4, 3, 2, 1]], [2, 7], "int32");
  for (const hook of ["blocks.0.hook_resid_post", "blocks.0.hook_mlp_out"]) {
    for (const perToken of [false, true]) {
      const one = model.gradAtHook(ids, hook, { perToken, targets });
      const before = tf.memory().numTensors;
      const seg = model.gradAtHook(ids, hook, { perToken, targets, layersPerPass: 1 });
      const made = Object.keys(seg).length;
      assert.equal(tf.memory().numTensors, before + made, `${hook}: tensors left behind`);
      assert.equal(maxAbsDiff(seg.losses, one.losses), 0);
      assert.ok(maxAbsDiff(seg.gradient, one.gradient) < 1e-5 * maxAbs(one.gradient), hook);
      tf.dispose([...Object.values(one), ...Object.values(seg)] as tf.Tensor[]);
    }
  }
});

Deno.test("a replacement hook changes only what follows it", () => {
  const model = GPT2.random(SMALL, 6, 0.2);
  const ids = tf.tensor2d([[3, 1, 4, 1, 5, 9, 2, 6]], [1, 8], "int32");
  const hook = "blocks.1.hook_resid_mid";
  const { logits, cache } = model.forward(ids, {
    hooks: { [hook]: (x) => tf.mul(x, 0) as tf.Tensor3D },
    cache: [hook, "blocks.0.hook_resid_post"],
  });
  assert.equal(maxAbs(cache.get(hook)!), 0);
  const clean = model.runToHook(ids, "blocks.0.hook_resid_post").activation;
  assert.equal(maxAbsDiff(cache.get("blocks.0.hook_resid_post")!, clean), 0);
  const spliced = model.unembed(model.runFromHook(hook, { activation: tf.zeros([1, 8, 16]) }));
  assert.equal(maxAbsDiff(spliced, logits), 0);
});

Deno.test("bad hook names and over-long sequences give clear errors", () => {
  const model = GPT2.random(SMALL, 1);
  assert.throws(
    () => model.parseHook("blocks.9.hook_resid_post"),
    /unknown hook.*blocks\.<0\.\.2>/,
  );
  assert.throws(() => model.parseHook("blocks.0.hook_resid"), /unknown hook/);
  const long = tf.zeros([1, 13], "int32") as tf.Tensor2D;
  assert.throws(() => model.embed(long), /13 tokens exceeds the model's 12 positions/);
  const state = model.runToHook(tf.zeros([1, 4], "int32") as tf.Tensor2D, "blocks.0.hook_mlp_out");
  assert.throws(
    () => model.runFromHook("blocks.0.hook_mlp_out", { activation: state.activation }),
    /needs the residual/,
  );
});

Deno.test("training gradients of every parameter match finite differences", () => {
  const model = GPT2.random({ ...SMALL, n_layer: 1 }, 8, 0.3);
  const ids = tf.tensor2d([[1, 2, 3, 4, 5, 6]], [1, 6], "int32");
  const { grads } = namedGrads(() => model.meanLoss(ids), model.params);
  for (
    const name of [
      "wte.weight",
      "wpe.weight",
      "h.0.attn.c_attn.weight",
      "h.0.mlp.c_proj.bias",
      "ln_f.weight",
    ]
  ) {
    const v = model.params.get(name)!;
    const values = v.dataSync().slice();
    const g = grads[name].dataSync();
    const index = name === "wte.weight" ? 2 * 16 + 3 : 5; // wte row 2 is used as input and output
    const lossAt = (delta: number) => {
      const changed = values.slice();
      changed[index] += delta;
      v.assign(tf.tensor(changed, v.shape));
      return model.meanLoss(ids).dataSync()[0];
    };
    const eps = 1e-2;
    const fd = (lossAt(eps) - lossAt(-eps)) / (2 * eps);
    v.assign(tf.tensor(values, v.shape));
    assert.ok(
      Math.abs(fd - g[index]) < 1e-3 + 2e-2 * Math.abs(fd),
      `${name}: fd ${fd} vs ${g[index]}`,
    );
  }
});
