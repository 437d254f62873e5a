/**
 * Reconstruction metrics of an SAE on activations x [n, d] and reconstructions x̂ [n, d]: MSE,
 * normalised MSE and FVU as (differentiable) scalar tensors, L0 and per-latent activation
 * frequency for one batch, and {@link ReconstructionStats} to accumulate them exactly over many
 * batches. FVU is defined here once: training losses, the fused step (its host-array
 * denominator) and evaluation all use it.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";

/** Below this, FVU's denominator (the variance of x) is taken as this: a constant batch. */
const FVU_FLOOR = 1e-12;

/** MSE: mean over tokens and dimensions of (x̂ − x)². */
export function mse(x: tf.Tensor2D, xHat: tf.Tensor2D): tf.Scalar {
  return tf.tidy(() => tf.mean(tf.squaredDifference(xHat, x)));
}

/** Normalised MSE: Σ(x̂ − x)² / Σx² — the error relative to predicting x̂ = 0. */
export function normalisedMse(x: tf.Tensor2D, xHat: tf.Tensor2D): tf.Scalar {
  return tf.tidy(() => tf.div(tf.sum(tf.squaredDifference(xHat, x)), tf.sum(tf.square(x))));
}

/**
 * FVU (fraction of variance unexplained): Σₙ‖xₙ − x̂ₙ‖² / Σₙ‖xₙ − x̄‖², where x̄ is the mean of
 * x over the tokens given — the error relative to predicting the mean activation; scale-free,
 * Gao et al.'s "normalised MSE". Differentiable: the TopK family's reconstruction loss, AuxK and
 * e2e's reconstruction term are this.
 */
export function fvu(x: tf.Tensor2D, xHat: tf.Tensor2D): tf.Scalar {
  return tf.tidy(() => {
    const err = tf.sum(tf.square(tf.sub(x, xHat)));
    const centred = tf.sum(tf.square(tf.sub(x, tf.mean(x, 0, true))));
    return tf.div(err, tf.maximum(centred, FVU_FLOOR));
  });
}

/**
 * {@link fvu}'s denominator for rows [n, d] on the host (float64 sums): Σ over rows and
 * columns of (x − column mean)², at least the floor {@link fvu} uses. FVU = Σ(x − x̂)² / this.
 */
export function fvuDenominator(x: Float32Array, n: number, d: number): number {
  const mean = new Float64Array(d);
  for (let t = 0; t < n; t++) for (let c = 0; c < d; c++) mean[c] += x[t * d + c];
  for (let c = 0; c < d; c++) mean[c] /= n;
  let s = 0;
  for (let t = 0; t < n; t++) {
    for (let c = 0; c < d; c++) s += (x[t * d + c] - mean[c]) ** 2;
  }
  return Math.max(s, FVU_FLOOR);
}

/** L0: mean over tokens of the number of non-zero latents. */
export function l0(latents: tf.Tensor2D): tf.Scalar {
  return tf.tidy(() => tf.mean(tf.sum(tf.cast(tf.notEqual(latents, 0), "float32"), 1)));
}

/** Activation frequency of each latent in one batch: fraction of its tokens where it is non-zero. */
export async function activationFrequency(latents: tf.Tensor2D): Promise<Float32Array> {
  const t = tf.tidy(() => tf.mean(tf.cast(tf.notEqual(latents, 0), "float32"), 0));
  try {
    return await t.data() as Float32Array;
  } finally {
    t.dispose();
  }
}

/**
 * Accumulates the sums behind {@link mse}, {@link normalisedMse}, {@link fvu} and {@link l0} over
 * many batches (in float64), so the ratios are over all tokens seen; x̄ in FVU is the mean over
 * all of them.
 */
export class ReconstructionStats {
  /** Tokens seen. */
  tokens = 0;
  /** Tokens whose latents were given (the L0 denominator). */
  latentTokens = 0;
  #sumSqErr = 0;
  #sumSq = 0;
  #sumX: Float64Array | null = null;
  #nonZero = 0;
  #sumDot = 0;
  #sumSqHat = 0;

  /**
   * Adds a batch: x and x̂ [n, d], and optionally its latents [n, d_sae] for L0. Reads the sums
   * asynchronously (any backend); the tensors must stay alive until it resolves.
   */
  async add(x: tf.Tensor2D, xHat: tf.Tensor2D, latents?: tf.Tensor2D): Promise<void> {
    const [n, d] = x.shape;
    const sumsT = tf.tidy(() => [
      tf.sum(tf.squaredDifference(x, xHat)),
      tf.sum(tf.square(x)),
      tf.sum(x, 0),
      tf.sum(tf.mul(x, xHat)),
      tf.sum(tf.square(xHat)),
      ...(latents ? [tf.sum(tf.cast(tf.notEqual(latents, 0), "float32"))] : []),
    ]);
    let sums: ArrayLike<number>[];
    try {
      sums = await Promise.all(sumsT.map((t) => t.data()));
    } finally {
      tf.dispose(sumsT);
    }
    const [err, sq] = [sums[0][0], sums[1][0]], colSum = sums[2];
    const [dot, sqHat] = [sums[3][0], sums[4][0]];
    this.#sumX ??= new Float64Array(d);
    if (this.#sumX.length !== d) {
      throw new Error(`ReconstructionStats: width ${d}, expected ${this.#sumX.length}`);
    }
    for (let j = 0; j < d; j++) this.#sumX[j] += colSum[j];
    this.#sumSqErr += err;
    this.#sumSq += sq;
    this.#sumDot += dot;
    this.#sumSqHat += sqHat;
    this.tokens += n;
    if (latents) {
      this.#nonZero += sums[5][0];
      this.latentTokens += latents.shape[0];
    }
  }

  /** Mean squared error per element over everything seen. */
  get mse(): number {
    return this.#sumSqErr / (this.tokens * (this.#sumX?.length ?? NaN));
  }

  /** Σ(x̂ − x)² / Σx² over everything seen. */
  get normalisedMse(): number {
    return this.#sumSqErr / this.#sumSq;
  }

  /** Σ‖x − x̂‖² / Σ‖x − x̄‖², using Σ‖x − x̄‖² = Σ‖x‖² − n‖x̄‖². */
  get fvu(): number {
    let meanSq = 0;
    for (const s of this.#sumX ?? []) meanSq += (s / this.tokens) ** 2;
    return this.#sumSqErr / Math.max(this.#sumSq - this.tokens * meanSq, FVU_FLOOR);
  }

  /**
   * The Gated paper's relative reconstruction bias γ = argmin_γ Σ‖x̂/γ − x‖² = Σ‖x̂‖² / Σ x̂·x
   * (arXiv 2404.16014, §5.1): below 1 when reconstructions are shrunk towards zero, as an L1
   * penalty does; 1 without bias.
   */
  get shrinkage(): number {
    return this.#sumSqHat / this.#sumDot;
  }

  /** Mean non-zero latents per token (NaN when no latents were given). */
  get l0(): number {
    return this.#nonZero / this.latentTokens;
  }
}
