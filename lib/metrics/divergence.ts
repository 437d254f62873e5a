/**
 * KL divergence between next-token distributions, the one implementation: evaluation's KL(clean ‖
 * spliced) and e2e training's loss both use it.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";

/**
 * Per row, KL(p ‖ q) = Σ_v p(v)·(log p(v) − log q(v)), from log-probabilities `logP` and `logQ`
 * [rows, vocab]; [rows], in nats.
 */
export function klDivergence(logP: tf.Tensor2D, logQ: tf.Tensor2D): tf.Tensor1D {
  return tf.tidy(() => tf.sum(tf.mul(tf.exp(logP), tf.sub(logP, logQ)), 1) as tf.Tensor1D);
}
