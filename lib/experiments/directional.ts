/**
 * Experiment 1, the paper's Fig. 2: is the loss more sensitive along "feature-like" directions
 * than along random ones? For every scored token t (every position but each sequence's last,
 * whose gradient is 0) with gradient g_t = ∇ₓL at a hook, we draw one fresh unit direction of
 * each kind and record |g_t·u|:
 *
 * - `activation_difference`: u ∝ x_i − x_j for the activations of two random tokens (any
 *   position of the sampled sequences) at the same hook: a combination of feature directions,
 *   if features are linear;
 * - `isotropic`: u uniform on the sphere (a normalised N(0, I) draw);
 * - `distribution_matched`: u ∝ y − μ with y ~ N(μ, Σ), the activations' empirical mean and
 *   covariance (Lee & Heimersheim's covariance-adjusted baseline), sampled as μ + Lz with
 *   LLᵀ = Σ + εI. The mean cancels in u; and as x_i − x_j has covariance 2Σ, this baseline has
 *   the activation differences' second moments, so what separates the two is non-Gaussian
 *   structure.
 *
 * L is each sequence's summed next-token loss (what `GPT2.gradAtHook` differentiates), so g_t
 * includes position t's effect on every later token's loss.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { FigureSpec } from "../figures.ts";
import { type GPT2, type HookKind, hookName } from "../gpt2/model.ts";
import { windows } from "../lm_train.ts";
import { mean, quantile, std } from "../metrics.ts";
import { Rng } from "../random.ts";

/** The three kinds of direction, in the order reports and figures show them. */
export const DIRECTION_KINDS = [
  "activation_difference",
  "isotropic",
  "distribution_matched",
] as const;
/** One of {@link DIRECTION_KINDS}. */
export type DirectionKind = typeof DIRECTION_KINDS[number];

/** Options of {@link directionalDerivatives}. */
export interface DirectionalOptions {
  /** Number of sequences, spread evenly over `data` (see {@link spreadOffsets}). */
  sequences: number;
  /** Seeds the directions and the activation pairs; each layer draws from its own stream. */
  seed: number;
  /** Layers to measure (default: all). */
  layers?: number[];
  /** Tokens per sequence (default: the model's n_positions). */
  seqLen?: number;
  /** Hook kind at each layer (default `resid_post`, the paper's). */
  hookKind?: HookKind;
  /** Sequences per gradient pass (default 8). */
  batchSize?: number;
  /** Ridge ε added to Σ before the Cholesky, relative to tr(Σ)/d (default 1e-6). */
  jitter?: number;
}

/** Summary of |g·u| for one kind of direction at one layer. */
export interface KindStats {
  /** Mean of |g_t·u_t| over tokens. */
  mean: number;
  /** Standard deviation over tokens (ddof 1). */
  std: number;
  /** std/√n: treats tokens as independent, which they are not within a sequence (see
   * {@link bootstrapDirectional} for sequence-level intervals). */
  sem: number;
  /** Tokens. */
  n: number;
  /** mean / the isotropic mean at the same layer. */
  ratioToIsotropic: number;
}

/** One layer's measurements. */
export interface DirectionalLayer {
  /** Layer index. */
  layer: number;
  /** The hook measured. */
  hook: string;
  /** Statistics per kind. */
  stats: Record<DirectionKind, KindStats>;
  /** |g_t·u_t| per scored token, per kind (same token order for every kind). */
  values: Record<DirectionKind, number[]>;
  /** ‖g_t‖ per scored token: the isotropic expectation is ‖g_t‖·{@link expectedAbsCoordinate}. */
  gradNorms: number[];
  /** Index of each scored token's sequence, for the sequence-level bootstrap. */
  sequenceOf: number[];
  /** Wall time for this layer. */
  seconds: number;
}

/** Result of {@link directionalDerivatives}. */
export interface DirectionalResult {
  /** The hook kind measured at each layer. */
  hookKind: HookKind;
  /** Sequences used. */
  sequences: number;
  /** Tokens per sequence. */
  seqLen: number;
  /** The seed. */
  seed: number;
  /** One entry per layer, in the order asked. */
  layers: DirectionalLayer[];
}

/**
 * `count` window starts spread evenly over `dataLength` tokens (first at 0, last at the end), so
 * the windows come from many different documents and do not overlap when the data is long enough.
 */
export function spreadOffsets(dataLength: number, count: number, seqLen: number): number[] {
  const span = dataLength - seqLen;
  if (span < 0 || count < 1) {
    throw new Error(`cannot take ${count} windows of ${seqLen} tokens from ${dataLength} tokens`);
  }
  return Array.from(
    { length: count },
    (_, i) => count === 1 ? 0 : Math.floor(i * span / (count - 1)),
  );
}

/** E|u₁| for u uniform on the unit sphere in d dims: Γ(d/2) / (√π Γ((d+1)/2)). */
export function expectedAbsCoordinate(d: number): number {
  // r(d) = Γ(d/2)/Γ((d+1)/2) obeys r(d + 2) = r(d)·d/(d + 1), from r(1) = √π and r(2) = 2/√π.
  let r = d % 2 === 1 ? Math.sqrt(Math.PI) : 2 / Math.sqrt(Math.PI);
  for (let k = d % 2 === 1 ? 1 : 2; k < d; k += 2) r *= k / (k + 1);
  return r / Math.sqrt(Math.PI);
}

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

/**
 * Measure |∇ₓL·u| for the three {@link DIRECTION_KINDS} at each layer's hook, one fresh
 * direction of each kind per scored token, over `options.sequences` windows of `data`
 * (model token ids, e.g. the validation split).
 */
export function directionalDerivatives(
  model: GPT2,
  data: Int32Array,
  options: DirectionalOptions,
): DirectionalResult {
  const seqLen = options.seqLen ?? model.config.n_positions;
  const hookKind = options.hookKind ?? "resid_post";
  const offsets = spreadOffsets(data.length, options.sequences, seqLen);
  const layers = options.layers ?? Array.from({ length: model.config.n_layer }, (_, i) => i);
  const result = layers.map((layer) => {
    const t0 = performance.now();
    const hook = hookName(layer, hookKind);
    const found = collect(model, data, { hook, offsets, seqLen, batchSize: options.batchSize });
    const rng = new Rng((options.seed * 1_000_003 + layer * 7919 + 1) | 0);
    const sampler = gaussianSampler(empiricalGaussian(found.acts, found.d), options);
    const measured = measure(found, sampler, rng);
    const stats = Object.fromEntries(
      DIRECTION_KINDS.map((k) => [k, kindStats(measured.values[k], measured.values.isotropic)]),
    ) as Record<DirectionKind, KindStats>;
    const seconds = (performance.now() - t0) / 1000;
    return { layer, hook, stats, ...measured, sequenceOf: found.sequenceOf, seconds };
  });
  return { hookKind, sequences: offsets.length, seqLen, seed: options.seed, layers: result };
}

interface Collected {
  d: number;
  /** Activations at every position [tokens·d]. */
  acts: Float32Array;
  /** Gradients at the scored positions [scored·d]. */
  grads: Float32Array;
  sequenceOf: number[];
}

function collect(
  model: GPT2,
  data: Int32Array,
  o: { hook: string; offsets: number[]; seqLen: number; batchSize?: number },
): Collected {
  const { seqLen: t, offsets } = o;
  // Every hook (residual stream, attention and MLP outputs) is n_embd wide.
  const d = model.config.n_embd;
  const acts = new Float32Array(offsets.length * t * d);
  const grads = new Float32Array(offsets.length * (t - 1) * d);
  const sequenceOf: number[] = [];
  const bs = o.batchSize ?? 8;
  for (let s0 = 0; s0 < offsets.length; s0 += bs) {
    const batch = offsets.slice(s0, s0 + bs);
    const ids = windows(data, batch, t);
    const g = model.gradAtHook(ids, o.hook);
    const [a, grad] = [g.activation.dataSync(), g.gradient.dataSync()];
    tf.dispose([ids, ...Object.values(g)]);
    acts.set(a, s0 * t * d);
    for (let b = 0; b < batch.length; b++) {
      // Drop each sequence's last position: it has no target, so its gradient is 0.
      grads.set(grad.subarray(b * t * d, (b * t + t - 1) * d), (s0 + b) * (t - 1) * d);
      for (let p = 0; p < t - 1; p++) sequenceOf.push(s0 + b);
    }
  }
  return { d, acts, grads, sequenceOf };
}

function measure(c: Collected, sampler: GaussianSampler, rng: Rng) {
  const { d, acts, grads } = c;
  const pool = acts.length / d, n = grads.length / d;
  const values = Object.fromEntries(DIRECTION_KINDS.map((k) => [k, [] as number[]])) as Record<
    DirectionKind,
    number[]
  >;
  const gradNorms: number[] = [];
  const absCos = (g: Float32Array, u: ArrayLike<number>) => {
    let dot = 0, uu = 0;
    for (let j = 0; j < d; j++) (dot += g[j] * u[j], uu += u[j] * u[j]);
    return Math.abs(dot) / Math.sqrt(uu);
  };
  const diff = new Float64Array(d);
  for (let t = 0; t < n; t++) {
    const g = grads.subarray(t * d, (t + 1) * d);
    gradNorms.push(Math.hypot(...g));
    let norm = 0;
    // Redraw the rare pair of identical activations (e.g. a repeated first token).
    while (norm === 0) {
      const [i, j] = [rng.int(pool), rng.int(pool)];
      for (let k = 0; k < d; k++) diff[k] = acts[i * d + k] - acts[j * d + k];
      norm = Math.hypot(...diff);
    }
    values.activation_difference.push(absCos(g, diff));
    values.isotropic.push(absCos(g, Float64Array.from({ length: d }, () => rng.normal())));
    const y = sampleGaussian(sampler, rng);
    for (let k = 0; k < d; k++) y[k] -= sampler.mean[k];
    values.distribution_matched.push(absCos(g, y));
  }
  return { values, gradNorms };
}

function kindStats(values: number[], isotropic: number[]): KindStats {
  const m = mean(values), s = std(values, { ddof: 1 });
  return {
    mean: m,
    std: s,
    sem: s / Math.sqrt(values.length),
    n: values.length,
    ratioToIsotropic: m / mean(isotropic),
  };
}

/** A bootstrap interval for one layer and kind. */
export interface DirectionalInterval {
  /** Layer index. */
  layer: number;
  /** Kind of direction. */
  kind: DirectionKind;
  /** Interval for the mean |g·u|. */
  mean: [number, number];
  /** Interval for the ratio of means to the isotropic mean (paired: same resampled tokens). */
  ratioToIsotropic: [number, number];
}

/**
 * Percentile bootstrap intervals per layer and kind, resampling whole sequences with replacement
 * (tokens of one sequence share context, so a token-level bootstrap would be too narrow). Kinds
 * are resampled together, so ratios are paired.
 */
export function bootstrapDirectional(
  result: DirectionalResult,
  options: { resamples?: number; seed?: number; level?: number } = {},
): DirectionalInterval[] {
  const rng = new Rng(options.seed ?? 0);
  const resamples = options.resamples ?? 1000, alpha = (1 - (options.level ?? 0.95)) / 2;
  const out: DirectionalInterval[] = [];
  for (const layer of result.layers) {
    const seqs = Math.max(...layer.sequenceOf) + 1;
    const count = new Float64Array(seqs);
    const sums = DIRECTION_KINDS.map(() => new Float64Array(seqs));
    layer.sequenceOf.forEach((s, t) => {
      count[s]++;
      DIRECTION_KINDS.forEach((k, i) => sums[i][s] += layer.values[k][t]);
    });
    const means = DIRECTION_KINDS.map(() => new Float64Array(resamples));
    for (let r = 0; r < resamples; r++) {
      const picks = Array.from({ length: seqs }, () => rng.int(seqs));
      const n = picks.reduce((a, s) => a + count[s], 0);
      sums.forEach((sum, i) => means[i][r] = picks.reduce((a, s) => a + sum[s], 0) / n);
    }
    const iso = means[DIRECTION_KINDS.indexOf("isotropic")];
    const interval = (v: ArrayLike<number>): [number, number] => [
      quantile(v, alpha),
      quantile(v, 1 - alpha),
    ];
    DIRECTION_KINDS.forEach((kind, i) =>
      out.push({
        layer: layer.layer,
        kind,
        mean: interval(means[i]),
        ratioToIsotropic: interval(means[i].map((m, r) => m / iso[r])),
      })
    );
  }
  return out;
}

const KIND_LABELS: Record<DirectionKind, string> = {
  activation_difference: "activation differences",
  isotropic: "isotropic random",
  distribution_matched: "distribution-matched random",
};

/**
 * Fig. 2 as a Plotly spec: grouped bars of mean |∇L·u| per layer and kind on a log axis, with
 * bootstrap intervals when `intervals` are given, else ±1 SEM.
 */
export function directionalFigure(
  result: DirectionalResult,
  options: { intervals?: DirectionalInterval[]; title?: string } = {},
): FigureSpec {
  const x = result.layers.map((l) => `layer ${l.layer}`);
  const data = DIRECTION_KINDS.map((kind) => {
    const y = result.layers.map((l) => l.stats[kind].mean);
    const found = result.layers.map((l) =>
      options.intervals?.find((iv) => iv.layer === l.layer && iv.kind === kind)
    );
    const errorY = found.every((iv) => iv)
      ? {
        type: "data",
        symmetric: false,
        array: found.map((iv, i) => iv!.mean[1] - y[i]),
        arrayminus: found.map((iv, i) => y[i] - iv!.mean[0]),
      }
      : { type: "data", array: result.layers.map((l) => l.stats[kind].sem) };
    return { type: "bar", name: KIND_LABELS[kind], x, y, error_y: errorY };
  });
  return {
    data,
    layout: {
      title: { text: options.title ?? `Directional derivatives at ${result.hookKind}` },
      barmode: "group",
      xaxis: { title: { text: `hook (blocks.L.hook_${result.hookKind})` } },
      yaxis: { title: { text: "mean |∇L · u|" }, type: "log" },
    },
  };
}
