/**
 * Activations and loss gradients at several hooks at once, for experiments that measure every
 * layer (`directional.ts`): one forward and one backward pass instead of `GPT2.gradAtHook`'s one
 * pass per hook, which for a small model is dominated by the unembedding and its gradient.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { GPT2 } from "../gpt2/model.ts";

/**
 * Activations at each of `hooks` and the gradient of each sequence's summed next-token loss with
 * respect to them, [batch·seq·d] per hook, from one forward and one backward pass (a zero tensor
 * added at every hook carries the gradient), where `GPT2.gradAtHook` would take one pass per hook.
 */
export function gradientsAtHooks(
  model: GPT2,
  ids: tf.Tensor2D,
  hooks: string[],
): { activation: Float32Array; gradient: Float32Array }[] {
  const [b, t] = ids.shape, d = model.config.n_embd;
  const captured = new Map<string, tf.Tensor>();
  const zeros = hooks.map(() => tf.zeros([b, t, d]));
  try {
    const grads = tf.grads((...probes: tf.Tensor[]) => {
      const fns = Object.fromEntries(hooks.map((h, i) => [h, (a: tf.Tensor3D) => {
        captured.set(h, tf.keep(a));
        return tf.add(a, probes[i]) as tf.Tensor3D;
      }]));
      return tf.sum(model.tokenLosses(ids, model.finalResidual(ids, { hooks: fns })));
    })(zeros);
    const out = hooks.map((h, i) => ({
      activation: captured.get(h)!.dataSync() as Float32Array,
      gradient: grads[i].dataSync() as Float32Array,
    }));
    tf.dispose(grads);
    return out;
  } finally {
    tf.dispose([...zeros, ...captured.values()]);
  }
}
