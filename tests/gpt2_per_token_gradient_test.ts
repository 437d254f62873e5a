// The per-token gradient (lib/gpt2/model.ts, gradAtHook's `perToken`): at every position it is
// the gradient of that position's own next-token loss alone, checked against one backward pass per
// position; the losses are unchanged, and it differs from the summed-window gradient.
import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { initBackend } from "../lib/tensor/backend.ts";
import { GPT2 } from "../lib/gpt2/model.ts";
import { Rng } from "../lib/tensor/random.ts";
import { TINY_CONFIG } from "./fixtures/tiny_workspace.ts";

await initBackend();

Deno.test("gradAtHook perToken: ∂L_t/∂x_t at every t, one backward pass per position agrees", () => {
  const model = GPT2.random({ ...TINY_CONFIG, n_layer: 3 }, 4, 0.3);
  const [b, t, d] = [2, 12, TINY_CONFIG.n_embd];
  const rng = new Rng(9);
  const ids = tf.tensor2d(Int32Array.from({ length: b * t }, () => rng.int(50)), [b, t], "int32");
  const hook = "blocks.0.hook_resid_post";
  const summed = model.gradAtHook(ids, hook);
  const own = model.gradAtHook(ids, hook, { perToken: true });
  const fast = own.gradient.arraySync() as number[][][];
  assert.deepEqual(own.losses.dataSync(), summed.losses.dataSync(), "values unchanged");

  // Reference: for each position p, the gradient of Σ_sequences L_p alone, read at position p.
  const state = model.runToHook(ids, hook);
  let maxDiff = 0, scale = 0, maxSummedDiff = 0;
  const summedArr = summed.gradient.arraySync() as number[][][];
  for (let p = 0; p < t - 1; p++) {
    const onlyP = tf.tidy(() => {
      const weights = tf.oneHot(tf.fill([b], p, "int32"), t - 1).toFloat();
      return tf.grad((x: tf.Tensor) =>
        tf.sum(tf.mul(
          model.tokenLosses(
            ids,
            model.runFromHook(hook, { ...state, activation: x as tf.Tensor3D }),
          ),
          weights,
        ))
      )(state.activation).arraySync() as number[][][];
    });
    for (let s = 0; s < b; s++) {
      for (let j = 0; j < d; j++) {
        maxDiff = Math.max(maxDiff, Math.abs(fast[s][p][j] - onlyP[s][p][j]));
        scale = Math.max(scale, Math.abs(onlyP[s][p][j]));
        maxSummedDiff = Math.max(maxSummedDiff, Math.abs(summedArr[s][p][j] - onlyP[s][p][j]));
      }
    }
  }
  assert.ok(maxDiff < 1e-5 * scale, `per-token vs reference: max |Δ| ${maxDiff} (scale ${scale})`);
  assert.ok(maxSummedDiff > 1e-2 * scale, "the summed-window gradient is a different quantity");
  tf.dispose([ids, ...Object.values(summed), ...Object.values(own), ...Object.values(state)]);
  model.dispose();
});
