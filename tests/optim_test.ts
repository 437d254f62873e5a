import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { AdamW } from "../lib/tensor/optim.ts";
import { Rng } from "../lib/tensor/random.ts";

/** Two named parameters (a matrix that decays and a bias that does not) and their gradients. */
function setup(seed: number) {
  const rng = new Rng(seed);
  const params = new Map<string, tf.Variable>([
    ["w", tf.variable(tf.tensor(rng.normalArray(12), [3, 4]))],
    ["b", tf.variable(tf.tensor(rng.normalArray(4), [4]))],
  ]);
  const grads = [0, 1, 2].map(() => ({ w: rng.normalArray(12), b: rng.normalArray(4) }));
  return { params, grads };
}

function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

Deno.test("AdamW on arrays makes the updates of AdamW on tensors", async () => {
  const tensorRun = setup(1), arrayRun = setup(1);
  const optT = new AdamW({ weightDecay: 0.1 }), optA = new AdamW({ weightDecay: 0.1 });
  const values = {
    w: arrayRun.params.get("w")!.dataSync() as Float32Array,
    b: arrayRun.params.get("b")!.dataSync() as Float32Array,
  };
  for (const [i, g] of tensorRun.grads.entries()) {
    tf.tidy(() =>
      optT.apply(tensorRun.params, { w: tf.tensor(g.w, [3, 4]), b: tf.tensor(g.b) }, 1e-2)
    );
    optA.applyArrays(arrayRun.params, { values, grads: arrayRun.grads[i] }, 1e-2);
  }
  assert.ok(maxDiff(tensorRun.params.get("w")!.dataSync(), values.w) < 1e-6);
  assert.ok(maxDiff(tensorRun.params.get("b")!.dataSync(), values.b) < 1e-6);
  const state = await optA.stateTensors();
  assert.deepEqual(state["adam_m.w"].shape, [3, 4], "moments keep the parameter's shape");
  assert.ok(maxDiff((await optT.stateTensors())["adam_v.w"].data, state["adam_v.w"].data) < 1e-9);
  optT.dispose();
  optA.dispose();
});

Deno.test("AdamW moments carry over between the tensor and the array paths", () => {
  const straight = setup(2), mixed = setup(2);
  const optS = new AdamW(), optM = new AdamW();
  const grad = (g: { w: Float32Array; b: Float32Array }) => ({
    w: tf.tensor(g.w, [3, 4]),
    b: tf.tensor(g.b),
  });
  for (const g of straight.grads) tf.tidy(() => optS.apply(straight.params, grad(g), 1e-2));
  // mixed: tensor, arrays, tensor.
  tf.tidy(() => optM.apply(mixed.params, grad(mixed.grads[0]), 1e-2));
  const values = {
    w: mixed.params.get("w")!.dataSync() as Float32Array,
    b: mixed.params.get("b")!.dataSync() as Float32Array,
  };
  optM.applyArrays(mixed.params, { values, grads: mixed.grads[1] }, 1e-2);
  mixed.params.get("w")!.assign(tf.tensor(values.w, [3, 4]));
  mixed.params.get("b")!.assign(tf.tensor(values.b));
  tf.tidy(() => optM.apply(mixed.params, grad(mixed.grads[2]), 1e-2));
  for (const name of ["w", "b"]) {
    const d = maxDiff(straight.params.get(name)!.dataSync(), mixed.params.get(name)!.dataSync());
    assert.ok(d < 1e-6, `${name}: ${d}`);
  }
  assert.throws(
    () => optM.applyArrays(mixed.params, { values, grads: { nope: new Float32Array(1) } }, 1),
    /unknown parameter nope/,
  );
  optS.dispose();
  optM.dispose();
});
