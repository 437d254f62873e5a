/**
 * Notebook 01, the paper's Fig. 2: is the loss more sensitive along "feature-like" directions
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
 *   LLᵀ = Σ + εI (`gaussian.ts`). The mean cancels in u; and as x_i − x_j has covariance 2Σ,
 *   this baseline has the activation differences' second moments, so what separates the two is
 *   non-Gaussian structure. We take y − μ rather than y − x_i (a real activation moved towards
 *   the draw), so the baseline contains no real activation at all.
 *
 * L is each sequence's summed next-token loss (what `GPT2.gradAtHook` differentiates), so g_t
 * includes position t's effect on every later token's loss; all layers' gradients come from one
 * backward pass (`GPT2.gradAtHooks`), taken a few blocks at a time for GPT-2's long windows
 * (`layersPerGradientPass`). Bootstrap intervals and the summary over seeds are in
 * `directional_summary.ts`, the figure in `directional_figure.ts`.
 *
 * @module
 */
import { layersPerGradientPass, windowsPerPass } from "../../gpt2/config.ts";
import { type GPT2, type HookKind, hookName } from "../../gpt2/model.ts";
import { jitteredOffsets, spreadOffsets, windows } from "../../data/windows.ts";
import { mean, std } from "../../metrics/mod.ts";
import { Rng } from "../../tensor/random.ts";
import { takeAll } from "../../tensor/read.ts";
import {
  empiricalGaussian,
  type GaussianSampler,
  gaussianSampler,
  sampleGaussian,
} from "../shared/gaussian.ts";

/** The three kinds of direction, in the order reports and figures show them. */
export const DIRECTION_KINDS = [
  "activation_difference",
  "isotropic",
  "distribution_matched",
] as const;
/** One of {@link DIRECTION_KINDS}. */
export type DirectionKind = typeof DIRECTION_KINDS[number];

/** Options of {@link measureDirectionalDerivatives}. */
export interface DirectionalOptions {
  /** Number of sequences, spread evenly over `data` (see {@link spreadOffsets}). */
  sequences: number;
  /** Seeds the directions and the activation pairs; each layer draws from its own stream. */
  seed: number;
  /**
   * When given, each window starts at a random point of its slot ({@link jitteredOffsets}), so
   * different seeds measure different tokens; otherwise the windows are evenly spread.
   */
  windowSeed?: number;
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
  /**
   * std/√n: treats tokens as independent, which they are not within a sequence (see
   * `bootstrapDirectional` in `directional_summary.ts` for sequence-level intervals).
   */
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
  /** Wall time of this layer's direction sampling (the shared gradient pass is not in it). */
  seconds: number;
}

/** Result of {@link measureDirectionalDerivatives}. */
export interface DirectionalResult {
  /** The hook kind measured at each layer. */
  hookKind: HookKind;
  /** Sequences used. */
  sequences: number;
  /** Start of each sequence in the data. */
  offsets: number[];
  /** Tokens per sequence. */
  seqLen: number;
  /** The seed. */
  seed: number;
  /** One entry per layer, in the order asked. */
  layers: DirectionalLayer[];
  /** Wall time in all. */
  seconds: number;
}

/** E|u₁| for u uniform on the unit sphere in d dims: Γ(d/2) / (√π Γ((d+1)/2)). */
export function expectedAbsCoordinate(d: number): number {
  // r(d) = Γ(d/2)/Γ((d+1)/2) obeys r(d + 2) = r(d)·d/(d + 1), from r(1) = √π and r(2) = 2/√π.
  let r = d % 2 === 1 ? Math.sqrt(Math.PI) : 2 / Math.sqrt(Math.PI);
  for (let k = d % 2 === 1 ? 1 : 2; k < d; k += 2) r *= k / (k + 1);
  return r / Math.sqrt(Math.PI);
}

/**
 * Measure |∇ₓL·u| for the three {@link DIRECTION_KINDS} at each layer's hook, one fresh
 * direction of each kind per scored token, over `options.sequences` windows of `data`
 * (model token ids, e.g. the validation split).
 */
export async function measureDirectionalDerivatives(
  model: GPT2,
  data: Int32Array,
  options: DirectionalOptions,
): Promise<DirectionalResult> {
  const seqLen = options.seqLen ?? model.config.n_positions;
  const hookKind = options.hookKind ?? "resid_post";
  const offsets = options.windowSeed === undefined
    ? spreadOffsets(data.length, options.sequences, seqLen)
    : jitteredOffsets(data.length, options.sequences, { seqLen, seed: options.windowSeed });
  const layers = options.layers ?? Array.from({ length: model.config.n_layer }, (_, i) => i);
  const t0 = performance.now();
  const hooks = layers.map((layer) => hookName(layer, hookKind));
  const collected = await collect(model, data, {
    hooks,
    offsets,
    seqLen,
    batchSize: options.batchSize,
  });
  const result = layers.map((layer, i) => {
    const t1 = performance.now();
    const found = collected[i];
    const rng = new Rng((options.seed * 1_000_003 + layer * 7919 + 1) | 0);
    const sampler = gaussianSampler(empiricalGaussian(found.acts, found.d), options);
    const measured = measure(found, sampler, rng);
    const stats = Object.fromEntries(
      DIRECTION_KINDS.map((k) => [k, kindStats(measured.values[k], measured.values.isotropic)]),
    ) as Record<DirectionKind, KindStats>;
    const seconds = (performance.now() - t1) / 1000;
    return { layer, hook: hooks[i], stats, ...measured, sequenceOf: found.sequenceOf, seconds };
  });
  return {
    hookKind,
    sequences: offsets.length,
    offsets,
    seqLen,
    seed: options.seed,
    layers: result,
    seconds: (performance.now() - t0) / 1000,
  };
}

interface Collected {
  d: number;
  /** Activations at every position [tokens·d]. */
  acts: Float32Array;
  /** Gradients at the scored positions [scored·d]. */
  grads: Float32Array;
  sequenceOf: number[];
}

async function collect(
  model: GPT2,
  data: Int32Array,
  o: { hooks: string[]; offsets: number[]; seqLen: number; batchSize?: number },
): Promise<Collected[]> {
  const { seqLen: t, offsets } = o;
  // Every hook (residual stream, attention and MLP outputs) is n_embd wide.
  const d = model.config.n_embd;
  const out = o.hooks.map(() => ({
    d,
    acts: new Float32Array(offsets.length * t * d),
    grads: new Float32Array(offsets.length * (t - 1) * d),
    sequenceOf: [] as number[],
  }));
  const bs = o.batchSize ?? windowsPerPass(model.config, 8);
  for (let s0 = 0; s0 < offsets.length; s0 += bs) {
    const batch = offsets.slice(s0, s0 + bs);
    const ids = windows(data, batch, t);
    // GPT-2's 1,024-token windows: a few blocks per backward pass, to fit the wasm heap.
    const layersPerPass = layersPerGradientPass(model.config, batch.length);
    const pairs = model.gradAtHooks(ids, o.hooks, { layersPerPass });
    const arrays = await takeAll(pairs.flatMap((p) => [p.activation, p.gradient]));
    const found = pairs.map((_, h) => ({ activation: arrays[2 * h], gradient: arrays[2 * h + 1] }));
    ids.dispose();
    found.forEach(({ activation, gradient }, h) => {
      out[h].acts.set(activation, s0 * t * d);
      for (let b = 0; b < batch.length; b++) {
        // Drop each sequence's last position: it has no target, so its gradient is 0.
        const rows = gradient.subarray(b * t * d, (b * t + t - 1) * d);
        out[h].grads.set(rows, (s0 + b) * (t - 1) * d);
        for (let p = 0; p < t - 1; p++) out[h].sequenceOf.push(s0 + b);
      }
    });
  }
  return out;
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
