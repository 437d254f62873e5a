// Gradient checkpointing's two halves against one tf.grads through the whole chain: a chain of
// small nonlinear segments, its gradient from the kept inputs equal to the one-pass gradient,
// with a custom vector-Jacobian product too, the empty chain, and no tensor left behind.
import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { initBackend } from "../lib/tensor/backend.ts";
import { backwardThroughSegments, forwardKeepingInputs } from "../lib/gpt2/checkpointing.ts";
import { Rng } from "../lib/tensor/random.ts";

await initBackend();
const rng = new Rng(4);
const SHAPE: [number, number, number] = [2, 3, 4];
const weights = [0, 1, 2].map(() => tf.tensor2d(rng.normalArray(16, 0.7), [4, 4]));
const segment = (k: number, x: tf.Tensor3D) =>
  tf.tanh(tf.matMul(x.reshape([6, 4]), weights[k]).reshape(SHAPE)) as tf.Tensor3D;
const loss = (y: tf.Tensor3D) => tf.sum(tf.square(y));

function maxDiff(a: tf.Tensor, b: tf.Tensor): number {
  return tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]);
}

Deno.test("checkpointed gradient equals one pass through the chain, for 0 to 3 segments", () => {
  const x = tf.tensor3d(rng.normalArray(24), SHAPE);
  for (const count of [0, 1, 2, 3]) {
    const chain = (y: tf.Tensor3D) => {
      for (let k = 0; k < count; k++) y = segment(k, y);
      return y;
    };
    const expected = tf.grads((y: tf.Tensor) => loss(chain(y as tf.Tensor3D)))([x])[0];
    const before = tf.memory().numTensors;
    const { inputs, output } = forwardKeepingInputs(x, segment, { count });
    assert.equal(inputs.length, count);
    if (count > 0) assert.equal(inputs[0], x, "the first input is x itself");
    else assert.equal(output, x, "no segments: the output is x");
    const above = tf.grads((y: tf.Tensor) => loss(y as tf.Tensor3D))([output])[0] as tf.Tensor3D;
    const got = backwardThroughSegments(inputs, segment, { above });
    assert.ok(maxDiff(got, expected) < 1e-6, `${count} segments: ${maxDiff(got, expected)}`);
    assert.ok(above.isDisposed || count === 0, "above is consumed");
    tf.dispose([...inputs.slice(1), got]);
    if (output !== x) output.dispose();
    assert.equal(tf.memory().numTensors, before, `${count} segments: no tensor left behind`);
    expected.dispose();
  }
  x.dispose();
});

Deno.test("backwardThroughSegments uses the given vector-Jacobian product", () => {
  const x = tf.tensor3d(rng.normalArray(24), SHAPE);
  const { inputs, output } = forwardKeepingInputs(x, segment, { count: 2 });
  let calls = 0;
  const got = backwardThroughSegments(inputs, segment, {
    above: tf.onesLike(output),
    vjp: (f, at, dy) => {
      calls++;
      return tf.grads((y: tf.Tensor) => f(y as tf.Tensor3D))([at], dy)[0] as tf.Tensor3D;
    },
  });
  const expected =
    tf.grads((y: tf.Tensor) => tf.sum(segment(1, segment(0, y as tf.Tensor3D))))([x])[0];
  assert.equal(calls, 2);
  assert.ok(maxDiff(got, expected) < 1e-6);
  tf.dispose([x, inputs[1], output, got, expected]);
});

Deno.test("forwardKeepingInputs frees what it made when a segment throws", () => {
  const x = tf.tensor3d(rng.normalArray(24), SHAPE);
  const before = tf.memory().numTensors;
  const failing = (k: number, y: tf.Tensor3D) => {
    if (k === 2) throw new Error("segment 2 failed");
    return segment(k, y);
  };
  assert.throws(() => forwardKeepingInputs(x, failing, { count: 3 }), /segment 2 failed/);
  assert.equal(tf.memory().numTensors, before);
  assert.ok(!x.isDisposed, "the caller's x is left alone");
  x.dispose();
});
