/**
 * Steering strength from a latent's own activations: α at quantile q is the q-quantile of the
 * latent's activation over the tokens where it fires, times its decoder row's norm, i.e. the
 * norm of what the latent adds to the reconstruction at that quantile. Latents are steered as
 * strongly as they act, rather than all at one fraction of the residual norm, which would be
 * far beyond some latents' range and within others'.
 *
 * Activations come from plain selection (no gradient): steering is something done without
 * labels, and g-SAE's activation values are the same function of x whichever latents it picks.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { StrengthAlpha } from "./steering.ts";

/**
 * The `quantiles` (each in [0, 1]) of `values` by linear interpolation between order statistics
 * (NumPy's default): q maps to rank q·(n − 1). An empty list is an error.
 */
export function quantilesOf(values: ArrayLike<number>, quantiles: readonly number[]): number[] {
  if (values.length === 0) throw new RangeError("quantilesOf: no values");
  const sorted = Float64Array.from(values).sort(), n = sorted.length;
  return quantiles.map((q) => {
    if (!(q >= 0 && q <= 1)) throw new RangeError(`quantilesOf: quantile ${q} is not in [0, 1]`);
    const r = q * (n - 1), lo = Math.floor(r), hi = Math.min(n - 1, lo + 1);
    return sorted[lo] + (r - lo) * (sorted[hi] - sorted[lo]);
  });
}

/** An SAE as far as this module needs it: plain encoding and its decoder. */
interface Encoder {
  encode(x: tf.Tensor2D): tf.Tensor2D;
  params: Map<string, tf.Variable>;
}

/**
 * Every latent's non-zero activations on the rows of `x` [n, d] under plain selection, in row
 * order (encoded `batchRows` rows at a time, default 2048; only the non-zeros are kept).
 */
export async function firingActivations(
  sae: Encoder,
  x: tf.Tensor2D,
  options: { batchRows?: number } = {},
): Promise<number[][]> {
  const batch = options.batchRows ?? 2048, [n] = x.shape;
  let out: number[][] | null = null;
  for (let s = 0; s < n; s += batch) {
    const rows = Math.min(batch, n - s);
    const z = tf.tidy(() => sae.encode(x.slice([s, 0], [rows, -1]) as tf.Tensor2D));
    const m = z.shape[1];
    let values: Float32Array;
    try {
      values = await z.data() as Float32Array;
    } finally {
      z.dispose();
    }
    out ??= Array.from({ length: m }, () => []);
    for (let r = 0; r < rows; r++) {
      for (let j = 0; j < m; j++) {
        const v = values[r * m + j];
        if (v !== 0) out[j].push(v);
      }
    }
  }
  if (!out) throw new RangeError("firingActivations: no rows");
  return out;
}

/**
 * α of each of `latents` at each of `quantiles`: the quantile of its activations where it fired
 * (`activations`, from {@link firingActivations}) times the norm of its decoder row. A latent
 * that never fired is an error.
 */
export async function quantileAlphas(
  sae: Encoder,
  activations: number[][],
  options: { latents: readonly number[]; quantiles: readonly number[] },
): Promise<number[][]> {
  const wDec = sae.params.get("W_dec");
  if (!wDec) throw new Error("quantileAlphas: the SAE has no W_dec");
  const normT = tf.tidy(() => tf.norm(wDec, "euclidean", 1));
  let norms: Float32Array;
  try {
    norms = await normT.data() as Float32Array;
  } finally {
    normT.dispose();
  }
  return options.latents.map((l) => {
    if (!activations[l]?.length) throw new RangeError(`quantileAlphas: latent ${l} never fired`);
    return quantilesOf(activations[l], options.quantiles).map((v) => v * norms[l]);
  });
}

/**
 * Per latent, the strengths to steer it at: every quantile for the first `sweepLatents`, the
 * main quantile for the rest.
 */
export function strengthPlan(
  alphas: number[][],
  budget: { quantiles: readonly number[]; mainQuantile: number; sweepLatents: number },
): StrengthAlpha[][] {
  const main = budget.quantiles.indexOf(budget.mainQuantile);
  return alphas.map((a, i) =>
    i < budget.sweepLatents
      ? budget.quantiles.map((q, j) => ({ strength: q, alpha: a[j] }))
      : [{ strength: budget.mainQuantile, alpha: a[main] }]
  );
}
