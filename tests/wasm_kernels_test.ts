// The fused wasm kernels (lib/tensor/wasm_kernels.ts) against the stock tfjs formulation of the same
// ops (lib/tensor/ops.ts with the kernels switched off): values and gradients.
import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { initBackend } from "../lib/tensor/backend.ts";
import {
  causalSoftmax,
  crossEntropy,
  embeddingLookup,
  geluNew,
  splitHeads,
} from "../lib/tensor/ops.ts";
import { Rng } from "../lib/tensor/random.ts";
import { hasKernel, KERNELS, setWasmKernelsEnabled } from "../lib/tensor/wasm_kernels.ts";

await initBackend();
const ON_WASM = tf.getBackend() === "wasm";
const rng = new Rng(5);
const rand = (shape: number[], scale = 1) =>
  tf.tensor(rng.normalArray(shape.reduce((a, b) => a * b, 1), scale), shape);

/** f's value and its gradient (with a random upstream gradient) for each input, as arrays. */
function valueAndGrads(f: (...xs: tf.Tensor[]) => tf.Tensor, xs: tf.Tensor[], dy: tf.Tensor) {
  return tf.tidy(() => {
    const value = f(...xs).dataSync().slice();
    const grads = tf.grads((...ys: tf.Tensor[]) => f(...ys))(xs, dy).map((g) =>
      g.dataSync().slice()
    );
    return { value, grads };
  });
}

/** The same with the kernels on and off; asserts the kernels really ran. */
function compare(
  name: string,
  kernel: string,
  f: (...xs: tf.Tensor[]) => tf.Tensor,
  xs: tf.Tensor[],
  dy: tf.Tensor,
  tol: number,
) {
  setWasmKernelsEnabled(false);
  const want = valueAndGrads(f, xs, dy);
  setWasmKernelsEnabled(true);
  assert.ok(hasKernel(kernel), `${name}: kernel ${kernel} is installed`);
  const got = valueAndGrads(f, xs, dy);
  const close = (a: ArrayLike<number>, b: ArrayLike<number>, what: string) => {
    assert.equal(a.length, b.length);
    let scale = 0, worst = 0;
    for (let i = 0; i < a.length; i++) {
      scale = Math.max(scale, Math.abs(b[i]));
      worst = Math.max(worst, Math.abs(a[i] - b[i]));
    }
    assert.ok(worst <= tol * Math.max(scale, 1e-30), `${name} ${what}: ${worst} vs scale ${scale}`);
  };
  close(got.value, want.value, "value");
  got.grads.forEach((g, i) => close(g, want.grads[i], `gradient ${i}`));
}

Deno.test("fused kernels equal the stock ops: cross-entropy, gelu_new, causal softmax", () => {
  if (!ON_WASM) return console.log(`skipped: backend ${tf.getBackend()} has no wasm kernels`);
  const [n, v] = [37, 300];
  const logits = rand([n, v], 4);
  const targets = tf.tensor1d(Int32Array.from({ length: n }, () => rng.int(v)), "int32");
  compare(
    "crossEntropy",
    KERNELS.crossEntropy,
    (l) => crossEntropy(l as tf.Tensor2D, targets),
    [logits],
    rand([n]),
    1e-5,
  );
  const x = rand([3, 5, 64], 2);
  compare("geluNew", KERNELS.geluGrad, (t) => geluNew(t), [x], rand([3, 5, 64]), 1e-5);
  const t = 9;
  const mask = tf.tensor2d(
    Float32Array.from({ length: t * t }, (_, i) => (i % t > Math.floor(i / t) ? -1e9 : 0)),
    [t, t],
  );
  compare(
    "causalSoftmax",
    KERNELS.causalSoftmaxGrad,
    (s) => causalSoftmax(s, 0.3, mask),
    [rand([2, 3, t, t], 3)],
    rand([2, 3, t, t]),
    1e-5,
  );
  setWasmKernelsEnabled(true);
});

Deno.test("fused kernels equal the stock ops: embedding lookup and q|k|v head split", () => {
  if (!ON_WASM) return console.log(`skipped: backend ${tf.getBackend()} has no wasm kernels`);
  const table = rand([11, 6]);
  const ids = tf.tensor2d([[3, 0, 10], [3, 7, 1]], [2, 3], "int32");
  compare(
    "embeddingLookup",
    KERNELS.gatherRows,
    (w) => embeddingLookup(w, ids),
    [table],
    rand([2, 3, 6]),
    1e-6,
  );
  const [b, t, heads, hd] = [2, 5, 3, 4];
  const qkv = rand([b, t, 3 * heads * hd]);
  // A sum weighting q, k and v differently, so every part's gradient is checked.
  const f = (z: tf.Tensor) => {
    const [q, k, v] = splitHeads(z, heads);
    return tf.addN([q, tf.mul(k, 2), tf.mul(v, -3)]);
  };
  compare("splitHeads", KERNELS.takeHeads, f, [qkv], rand([b, heads, t, hd]), 1e-6);
  setWasmKernelsEnabled(true);
});

Deno.test("fused kernels reject out-of-range ids and targets, and leak no tensors", () => {
  if (!ON_WASM) return console.log(`skipped: backend ${tf.getBackend()} has no wasm kernels`);
  const before = tf.memory().numTensors;
  const logits = rand([4, 8]);
  tf.tidy(() => {
    const targets = tf.tensor1d([1, 2, 3, 7], "int32");
    tf.grad((l: tf.Tensor) => crossEntropy(l as tf.Tensor2D, targets))(logits).dataSync();
  });
  logits.dispose();
  assert.equal(tf.memory().numTensors, before);
  assert.throws(
    () => tf.tidy(() => crossEntropy(rand([2, 8]) as tf.Tensor2D, tf.tensor1d([0, 8], "int32"))),
    /target 8 of row 1 is outside \[0, 8\)/,
  );
  assert.throws(
    () => tf.tidy(() => embeddingLookup(rand([4, 2]), tf.tensor1d([4], "int32"))),
    /id 4 is outside \[0, 4\)/,
  );
});

Deno.test("cross-entropy stays exact where the target's probability underflows", () => {
  if (!ON_WASM) return console.log(`skipped: backend ${tf.getBackend()} has no wasm kernels`);
  // Row 0: target 200 nats below the best logit (p ≈ e^-200 = 0 in float32); row 1: ordinary.
  const logits = tf.tensor2d([[0, 200, 1, -3], [0.5, -0.25, 2, 1]]);
  const targets = tf.tensor1d([0, 3], "int32");
  const want = [
    Math.log(1 + Math.exp(-200) + Math.exp(-199) + Math.exp(-203)) + 200,
    Math.log(Math.exp(0.5) + Math.exp(-0.25) + Math.exp(2) + Math.exp(1)) - 1,
  ];
  const got = tf.tidy(() => crossEntropy(logits, targets).dataSync());
  for (let r = 0; r < 2; r++) assert.ok(Math.abs(got[r] - want[r]) < 1e-4 * want[r], `row ${r}`);
  tf.dispose([logits, targets]);
});

Deno.test("identity shares bytes on wasm, and the original's disposal leaves the copy intact", () => {
  if (!ON_WASM) return console.log(`skipped: backend ${tf.getBackend()} has no wasm kernels`);
  const before = tf.memory().numDataBuffers;
  const a = tf.tensor1d([1, 2, 3, 4]);
  const b = tf.clone(a);
  assert.equal(tf.memory().numDataBuffers - before, 1, "one buffer for both tensors");
  a.dispose();
  assert.deepEqual(Array.from(b.dataSync()), [1, 2, 3, 4]);
  b.dispose();
  assert.equal(tf.memory().numDataBuffers, before);
});
