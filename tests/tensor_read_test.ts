import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { initBackend } from "../lib/tensor/backend.ts";
import { takeAll, takeData } from "../lib/tensor/read.ts";

await initBackend();

Deno.test("takeData and takeAll read values and dispose the tensors", async () => {
  const before = tf.memory().numTensors;
  assert.deepEqual([...await takeData(tf.tensor1d([1, 2.5, -3]))], [1, 2.5, -3]);
  const [a, b] = await takeAll([tf.scalar(4), tf.tensor2d([[1, 2], [3, 4]])]);
  assert.deepEqual([...a], [4]);
  assert.deepEqual([...b], [1, 2, 3, 4]);
  assert.equal(tf.memory().numTensors, before, "no tensor left behind");
});

Deno.test("takeData rejects a disposed tensor", async () => {
  const t = tf.scalar(1);
  t.dispose();
  await assert.rejects(() => takeData(t), /disposed/);
});
