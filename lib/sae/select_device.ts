/**
 * The batch-level selection rules of `select.ts` computed on the device, for backends that cannot
 * read tensors synchronously (webgpu): the top `budget` scores of the whole batch (BatchTopK,
 * Mutual Choice) and the top `m` tokens of each latent (Feature Choice). A score is selected when
 * it is at least the budget's threshold value, so ties at the threshold may select a few more
 * than the host rules (which break ties by index); with float scores they are rare. Non-finite
 * scores (NaN, −∞) are never selected. Each mask is a constant on the gradient tape
 * (`constantOf`), as the host rules' fresh tensors are.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { constantOf } from "../tensor/ops.ts";

/** The 0/1 mask [n, f] of the top `budget` entries of `scores` [n, f], on the device. */
export function overBatchMaskOnDevice(scores: tf.Tensor2D, budget: number): tf.Tensor2D {
  const [n, f] = scores.shape;
  const b = Math.max(0, Math.min(budget, n * f));
  if (b === 0) return tf.zeros([n, f]);
  return constantOf(scores, (s) => {
    const kth = tf.topk(s.reshape([n * f]), b).values.slice([b - 1], [1]);
    return tf.cast(tf.logicalAnd(tf.greaterEqual(s, kth), tf.isFinite(s)), "float32");
  }) as tf.Tensor2D;
}

/** The 0/1 mask [n, f] of the top `m` rows (tokens) of each column (latent), on the device. */
export function perColumnMaskOnDevice(scores: tf.Tensor2D, m: number): tf.Tensor2D {
  const [n, f] = scores.shape;
  const mm = Math.max(0, Math.min(m, n));
  if (mm === 0) return tf.zeros([n, f]);
  return constantOf(scores, (s) => {
    const kth = tf.topk(tf.transpose(s), mm).values.slice([0, mm - 1], [f, 1]).reshape([1, f]);
    return tf.cast(tf.logicalAnd(tf.greaterEqual(s, kth), tf.isFinite(s)), "float32");
  }) as tf.Tensor2D;
}
