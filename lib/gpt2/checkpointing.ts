/**
 * Gradient checkpointing over a chain of segments of blocks: the one rule behind every backward
 * pass through GPT-2's blocks that does not fit in memory in one piece (`layersPerGradientPass`
 * in `config.ts`). A forward pass without gradient keeps only each segment's input; the backward
 * pass then goes from the top down, recomputing each segment under a gradient and carrying the
 * gradient at its output to its input by one vector-Jacobian product. The gradient equals one
 * pass's; the extra cost is a second forward pass through the segments.
 *
 * Used by `GPT2.gradAtHook` and `GPT2.gradAtHooks` (whose backward pass also collects the hooks
 * inside each segment, so it keeps its own loop over {@link forwardKeepingInputs}'s inputs) and
 * by e2e-TopK's KL (`lib/sae/e2e_kl.ts`, which back-propagates inside a custom gradient and so
 * passes its own vector-Jacobian product).
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";

/** Segment `k` of a chain applied to its input `x`: the input of segment `k + 1`. */
export type Segment = (k: number, x: tf.Tensor3D) => tf.Tensor3D;

/** `dy`-weighted gradient of `f` at `x`: ∂⟨f(x), dy⟩/∂x. */
export type VectorJacobianProduct = (
  f: (x: tf.Tensor3D) => tf.Tensor3D,
  x: tf.Tensor3D,
  dy: tf.Tensor3D,
) => tf.Tensor3D;

/**
 * Segments `0` … `count − 1` on `x` without gradient, each in its own `tf.tidy`: `inputs[k]` is
 * segment k's input (`inputs[0]` is `x` itself) and `output` the last one's output (`x` when
 * `count` is 0, and then `inputs` is empty). The caller owns `x` and disposes the rest.
 */
export function forwardKeepingInputs(
  x: tf.Tensor3D,
  segment: Segment,
  options: { count: number },
): { inputs: tf.Tensor3D[]; output: tf.Tensor3D } {
  const inputs: tf.Tensor3D[] = [];
  let output = x;
  try {
    for (let k = 0; k < options.count; k++) {
      const input = output;
      inputs.push(input);
      output = tf.tidy(() => segment(k, input));
    }
  } catch (err) {
    tf.dispose(inputs.slice(1));
    throw err;
  }
  return { inputs, output };
}

/**
 * The gradient at `inputs[0]`, given `above`, the gradient at the output of the segment whose
 * input is `inputs[inputs.length − 1]`: back through the segments from the top down, each
 * recomputed from its kept input (see {@link forwardKeepingInputs}). Takes ownership of `above`
 * (returned as is when `inputs` is empty). `options.vjp` replaces `tf.grads` (e2e-TopK's KL
 * calls this from inside a custom gradient, where a plain `tf.grads` would replace the outer
 * tape).
 */
export function backwardThroughSegments(
  inputs: tf.Tensor3D[],
  segment: Segment,
  options: { above: tf.Tensor3D; vjp?: VectorJacobianProduct },
): tf.Tensor3D {
  const vjp = options.vjp ?? tapeVJP;
  let gradient = options.above;
  for (let k = inputs.length - 1; k >= 0; k--) {
    const above = gradient;
    try {
      gradient = vjp((x) => segment(k, x), inputs[k], above);
    } finally {
      above.dispose();
    }
  }
  return gradient;
}

function tapeVJP(
  f: (x: tf.Tensor3D) => tf.Tensor3D,
  x: tf.Tensor3D,
  dy: tf.Tensor3D,
): tf.Tensor3D {
  return tf.tidy(() => tf.grads((y: tf.Tensor) => f(y as tf.Tensor3D))([x], dy)[0]) as tf.Tensor3D;
}
