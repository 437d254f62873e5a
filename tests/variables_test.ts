// variableFrom / assignFrom: the values land, and no temporary tensor outlives the call (the
// leak they exist to prevent).
import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { initBackend } from "../lib/tensor/backend.ts";
import { assignFrom, variableFrom } from "../lib/tensor/variables.ts";

await initBackend();

Deno.test("variableFrom holds the values and leaves only the variable behind", () => {
  const before = tf.memory().numTensors;
  const v = variableFrom(Float32Array.of(1, 2, 3, 4), [2, 2], { trainable: false, name: "v_t" });
  assert.equal(tf.memory().numTensors, before + 1);
  assert.deepEqual(Array.from(v.dataSync()), [1, 2, 3, 4]);
  assert.deepEqual(v.shape, [2, 2]);
  assert.equal(v.trainable, false);
  assert.equal(v.dtype, "float32");
  v.dispose();
  assert.equal(tf.memory().numTensors, before);
});

Deno.test("assignFrom overwrites in place, repeatedly, without leaking", () => {
  const v = variableFrom(new Float32Array(6), [2, 3]);
  const before = tf.memory().numTensors;
  for (let i = 0; i < 5; i++) assignFrom(v, Float32Array.from({ length: 6 }, (_, j) => i + j));
  assert.equal(tf.memory().numTensors, before);
  assert.deepEqual(Array.from(v.dataSync()), [4, 5, 6, 7, 8, 9]);
  assert.equal(v.trainable, true);
  v.dispose();
});

Deno.test("assignFrom with a shape other than the variable's is an error", () => {
  const v = variableFrom(new Float32Array(6), [2, 3]);
  const before = tf.memory().numTensors;
  assert.throws(() => assignFrom(v, new Float32Array(6), { shape: [3, 2] }));
  assert.equal(tf.memory().numTensors, before);
  v.dispose();
});
