/**
 * The random-dictionary level of the max-cosine statistic: the mean over n random unit vectors in
 * d dimensions of each one's largest cosine with another. A trained dictionary whose mean max
 * cosine sits at this level has no more clustered directions than chance, so notebook 05 reports
 * every SAE's value beside the level for its own number of live latents.
 *
 * Isotropic unit vectors are normalised standard normal draws; the expectation has no simple
 * closed form in general (for d = 3 each cosine is uniform on [−1, 1], so the level is
 * (n − 2) / n; the tests check that), so it is estimated by sampling: `draws` dictionaries from
 * a seeded generator, and the mean of their means.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { maxDecoderCosine } from "../../metrics/mod.ts";
import { Rng } from "../../tensor/random.ts";

/** The sampled level and the value of each draw. */
export interface RandomDictionaryLevel {
  /** Mean over draws of the dictionary's mean max cosine. */
  mean: number;
  /** Each draw's mean max cosine. */
  draws: number[];
}

/**
 * Mean max cosine of `n` isotropic random unit vectors in `d` dimensions, averaged over
 * `options.draws` dictionaries (default 5) drawn from `options.seed` (default 0).
 */
export async function randomDictionaryLevel(
  n: number,
  d: number,
  options: { draws?: number; seed?: number } = {},
): Promise<RandomDictionaryLevel> {
  if (!Number.isInteger(n) || n < 2 || !Number.isInteger(d) || d < 1) {
    throw new RangeError(`randomDictionaryLevel: need n ≥ 2 vectors in d ≥ 1 dims, got ${n}, ${d}`);
  }
  const rng = new Rng(((options.seed ?? 0) * 65_537 + n * 31 + d) | 0);
  const draws: number[] = [];
  for (let i = 0; i < (options.draws ?? 5); i++) {
    const rows = Float32Array.from({ length: n * d }, () => rng.normal());
    const w = tf.tensor2d(rows, [n, d]);
    try {
      const max = await maxDecoderCosine(w);
      draws.push(max.reduce((s, v) => s + v, 0) / n);
    } finally {
      w.dispose();
    }
  }
  return { mean: draws.reduce((s, v) => s + v, 0) / draws.length, draws };
}
