/**
 * A multivariate Gaussian fitted to activations, and exact sampling from it: the
 * distribution-matched ("covariance-adjusted", Lee & Heimersheim 2024) random directions of
 * the directional-derivative experiment (`directional.ts`).
 *
 * Everything is float64 and plain JavaScript: d is the model width (≤ 1600 for GPT-2 XL), so the
 * O(d³) Cholesky factorisation runs once per layer and each draw costs O(d²).
 *
 * @module
 */
import type { Rng } from "../../tensor/random.ts";

/** A Gaussian in d dims: mean [d] and covariance [d·d], row-major, float64. */
export interface Gaussian {
  /** Dimension. */
  d: number;
  /** Mean. */
  mean: Float64Array;
  /** Covariance, row-major. */
  cov: Float64Array;
}

/** Sample mean and covariance (ddof 1) of `rows` [n·d], row-major, computed in float64. */
export function empiricalGaussian(rows: ArrayLike<number>, d: number): Gaussian {
  const n = rows.length / d;
  const mu = new Float64Array(d), cov = new Float64Array(d * d), c = new Float64Array(d);
  for (let r = 0; r < n; r++) for (let j = 0; j < d; j++) mu[j] += rows[r * d + j] / n;
  for (let r = 0; r < n; r++) {
    for (let j = 0; j < d; j++) c[j] = rows[r * d + j] - mu[j];
    for (let i = 0; i < d; i++) for (let j = 0; j <= i; j++) cov[i * d + j] += c[i] * c[j];
  }
  for (let i = 0; i < d; i++) {
    for (let j = 0; j <= i; j++) cov[j * d + i] = cov[i * d + j] /= n - 1;
  }
  return { d, mean: mu, cov };
}

/** Lower-triangular L with LLᵀ = a [d·d] (row-major); throws unless a is positive definite. */
export function cholesky(a: ArrayLike<number>, d: number): Float64Array {
  const l = new Float64Array(d * d);
  for (let i = 0; i < d; i++) {
    for (let j = 0; j <= i; j++) {
      let s = a[i * d + j];
      for (let k = 0; k < j; k++) s -= l[i * d + k] * l[j * d + k];
      if (i > j) l[i * d + j] = s / l[j * d + j];
      else if (s > 0) l[i * d + i] = Math.sqrt(s);
      else throw new Error(`cholesky: not positive definite (pivot ${i} is ${s})`);
    }
  }
  return l;
}

/** A sampler for N(mean, cov + εI): the mean and a Cholesky factor. */
export interface GaussianSampler {
  /** Dimension. */
  d: number;
  /** Mean. */
  mean: Float64Array;
  /** L with LLᵀ = cov + εI, row-major. */
  factor: Float64Array;
}

/** Factor `g` for sampling; ε = `jitter`·tr(Σ)/d keeps a rank-deficient Σ factorable. */
export function gaussianSampler(g: Gaussian, options: { jitter?: number } = {}): GaussianSampler {
  let trace = 0;
  for (let i = 0; i < g.d; i++) trace += g.cov[i * g.d + i];
  const eps = (options.jitter ?? 1e-6) * trace / g.d;
  const a = Float64Array.from(g.cov);
  for (let i = 0; i < g.d; i++) a[i * g.d + i] += eps;
  return { d: g.d, mean: g.mean, factor: cholesky(a, g.d) };
}

/** One draw μ + Lz, z ~ N(0, I), from `rng`. */
export function sampleGaussian(sampler: GaussianSampler, rng: Rng): Float64Array {
  const { d, factor } = sampler;
  const z = Float64Array.from({ length: d }, () => rng.normal());
  const y = Float64Array.from(sampler.mean);
  for (let i = 0; i < d; i++) for (let k = 0; k <= i; k++) y[i] += factor[i * d + k] * z[k];
  return y;
}
