/**
 * Variables made from, and overwritten with, plain values without leaking.
 *
 * `tf.variable(t)` and `v.assign(t)` share `t`'s data rather than copy it, so the temporary `t`
 * must be disposed too, or it keeps the data alive: once per step in a training loop that is a
 * copy of the parameters per step, which on the wasm heap ends in `Aborted()`. Every variable
 * the project makes from values goes through these two functions.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";

/** A float32 variable holding `data` in `shape` (trainable unless `options.trainable` is false). */
export function variableFrom(
  data: Float32Array | Int32Array,
  shape: number[],
  options: { trainable?: boolean; name?: string } = {},
): tf.Variable {
  return tf.tidy(() =>
    tf.variable(tf.tensor(data, shape, "float32"), options.trainable ?? true, options.name)
  );
}

/**
 * Overwrite `variable` with `data` (float32). `shape` defaults to the variable's; a different
 * one is an error from `assign`, as it would be for any mismatched tensor.
 */
export function assignFrom(
  variable: tf.Variable,
  data: Float32Array | Int32Array,
  options: { shape?: number[] } = {},
): void {
  tf.tidy(() => variable.assign(tf.tensor(data, options.shape ?? variable.shape, "float32")));
}
