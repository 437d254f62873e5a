/**
 * Text generation (greedy or sampled), for the training reports' samples.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { Rng } from "../tensor/random.ts";
import type { GPT2 } from "./model.ts";

/**
 * Continue `prompt` (model ids) by `maxNewTokens`. Temperature 0 is greedy; otherwise samples
 * from softmax(logits / temperature) with a seeded generator. Keeps the last n_positions ids.
 * `excludeIds` are never generated (e.g. a reduced vocabulary's out-of-vocabulary id, which
 * stands for thousands of rare words and would otherwise dominate greedy text).
 */
export function generate(
  model: GPT2,
  prompt: ArrayLike<number>,
  options: { maxNewTokens: number; temperature?: number; seed?: number; excludeIds?: number[] },
): number[] {
  const ids = Array.from(prompt);
  const rng = new Rng(options.seed ?? 0);
  const temperature = options.temperature ?? 0;
  for (let i = 0; i < options.maxNewTokens; i++) {
    const context = ids.slice(-model.config.n_positions);
    // Read outside tf.tidy: tidy walks a returned typed array element by element.
    const lastT = tf.tidy(() => {
      const { logits } = model.forward(tf.tensor2d(context, [1, context.length], "int32"));
      return logits.slice([0, context.length - 1, 0], [1, 1, -1]);
    });
    const last = lastT.dataSync() as Float32Array;
    lastT.dispose();
    for (const id of options.excludeIds ?? []) last[id] = -Infinity;
    ids.push(temperature === 0 ? argmax(last) : sampleFromLogits(last, temperature, rng));
  }
  return ids.slice(prompt.length);
}

function argmax(x: Float32Array): number {
  let best = 0;
  for (let i = 1; i < x.length; i++) if (x[i] > x[best]) best = i;
  return best;
}

/** A draw from softmax(logits / temperature) with `rng` (logits of one position). */
export function sampleFromLogits(logits: Float32Array, temperature: number, rng: Rng): number {
  let max = -Infinity;
  for (const v of logits) max = Math.max(max, v);
  const p = Float64Array.from(logits, (v) => Math.exp((v - max) / temperature));
  let total = 0;
  for (const v of p) total += v;
  let u = rng.uniform() * total;
  for (let i = 0; i < p.length; i++) {
    u -= p[i];
    if (u <= 0) return i;
  }
  return p.length - 1;
}
