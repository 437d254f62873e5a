/**
 * Reconstruction metrics of an SAE on activations x [n, d] and reconstructions x̂ [n, d]: MSE,
 * normalised MSE, FVU, L0 and per-latent activation frequency for one batch, and
 * {@link ReconstructionStats} to accumulate them exactly over many batches.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";

/** Reads a scalar tensor expression to a number, freeing every intermediate. */
function scalar(fn: () => tf.Tensor): number {
  return tf.tidy(() => fn().dataSync()[0]);
}

/** MSE: mean over tokens and dimensions of (x̂ − x)². */
export function mse(x: tf.Tensor2D, xHat: tf.Tensor2D): number {
  return scalar(() => tf.mean(tf.squaredDifference(xHat, x)));
}

/** Normalised MSE: mean((x̂ − x)²) / mean(x²) — the error relative to predicting x̂ = 0. */
export function normalisedMse(x: tf.Tensor2D, xHat: tf.Tensor2D): number {
  return scalar(() => tf.div(tf.sum(tf.squaredDifference(xHat, x)), tf.sum(tf.square(x))));
}

/**
 * FVU (fraction of variance unexplained): Σₙ‖xₙ − x̂ₙ‖² / Σₙ‖xₙ − x̄‖², where x̄ is the mean of
 * x over the tokens given — the error relative to predicting the mean activation.
 */
export function fvu(x: tf.Tensor2D, xHat: tf.Tensor2D): number {
  return scalar(() =>
    tf.div(tf.sum(tf.squaredDifference(x, xHat)), tf.sum(tf.square(tf.sub(x, tf.mean(x, 0, true)))))
  );
}

/** L0: mean over tokens of the number of non-zero latents. */
export function l0(latents: tf.Tensor2D): number {
  return scalar(() => tf.mean(tf.sum(tf.cast(tf.notEqual(latents, 0), "float32"), 1)));
}

/** Activation frequency of each latent in one batch: fraction of its tokens where it is non-zero. */
export function activationFrequency(latents: tf.Tensor2D): Float32Array {
  return tf.tidy(() =>
    tf.mean(tf.cast(tf.notEqual(latents, 0), "float32"), 0).dataSync() as Float32Array
  );
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

  /** Adds a batch: x and x̂ [n, d], and optionally its latents [n, d_sae] for L0. */
  add(x: tf.Tensor2D, xHat: tf.Tensor2D, latents?: tf.Tensor2D): void {
    const [n, d] = x.shape;
    const [err, sq, colSum] = tf.tidy(() =>
      [
        tf.sum(tf.squaredDifference(x, xHat)).dataSync()[0],
        tf.sum(tf.square(x)).dataSync()[0],
        tf.sum(x, 0).dataSync(),
      ] as const
    );
    this.#sumX ??= new Float64Array(d);
    if (this.#sumX.length !== d) {
      throw new Error(`ReconstructionStats: width ${d}, expected ${this.#sumX.length}`);
    }
    for (let j = 0; j < d; j++) this.#sumX[j] += colSum[j];
    this.#sumSqErr += err;
    this.#sumSq += sq;
    this.tokens += n;
    if (latents) {
      this.#nonZero += scalar(() => tf.sum(tf.cast(tf.notEqual(latents, 0), "float32")));
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
    return this.#sumSqErr / (this.#sumSq - this.tokens * meanSq);
  }

  /** Mean non-zero latents per token (NaN when no latents were given). */
  get l0(): number {
    return this.#nonZero / this.latentTokens;
  }
}
