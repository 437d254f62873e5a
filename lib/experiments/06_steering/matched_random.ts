/**
 * Random directions matched to the activations, the control each steered latent is paired with:
 * a draw from N(0, Σ), Σ the covariance of the activations at the hook, normalised to a unit
 * vector (notebook 01's distribution-matched directions, centred: a steering direction is a
 * displacement, not a point). Such a direction lies where the activations vary, as decoder rows
 * do, so "a latent steers better than chance" is measured against directions of the same kind,
 * steered at the same α. An isotropic direction would put most of its norm where the activations
 * barely vary.
 *
 * The direction paired with latent i at seed s is drawn from its own generator (s, i), so latent
 * i's control is the same direction in every SAE of the seed, whatever else is sampled.
 *
 * @module
 */
import { type Gaussian, gaussianSampler, sampleGaussian } from "../shared/gaussian.ts";
import { Rng } from "../../tensor/random.ts";

/**
 * Unit rows [keys·d]: row i a centred draw from N(0, `g.cov`) with the generator of
 * (`seed`, `keys[i]`).
 */
export function matchedRandomDirections(
  g: Gaussian,
  keys: readonly number[],
  seed: number,
): Float32Array {
  const sampler = { ...gaussianSampler(g), mean: new Float64Array(g.d) };
  const out = new Float32Array(keys.length * g.d);
  keys.forEach((key, i) => {
    const rng = new Rng((seed * 1_000_003 + key * 7919 + 11) | 0);
    const v = sampleGaussian(sampler, rng);
    const norm = Math.hypot(...v);
    if (!(norm > 0)) throw new Error(`matchedRandomDirections: zero draw for key ${key}`);
    for (let j = 0; j < g.d; j++) out[i * g.d + j] = v[j] / norm;
  });
  return out;
}
