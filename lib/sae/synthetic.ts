/**
 * Synthetic data with known ground truth for testing SAEs, and training on it with the one trainer.
 *
 * Data: x = Σ_j c_j f_j over a few active planted directions f_j (unit, random in R^d_in), with
 * positive magnitudes c_j. A synthetic loss gradient g = Σ_{j active} γ_j f_j marks some
 * directions as important to "the model" whatever their magnitude, which is the situation
 * g-SAEs are built for. Recovery: a planted direction counts as found when some decoder row has
 * cosine above a threshold (0.9 by default) with it.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { Rng } from "../tensor/random.ts";
import { normaliseRowsInPlace, type SAE } from "./base.ts";
import type { DecoderBiasInit } from "./config.ts";
import { initialiseDecoderBias } from "./topk.ts";
import { trainSAE } from "./trainer.ts";

/** `count` unit random directions in R^dIn, row-major [count, dIn]. */
export function plantedDirections(
  count: number,
  options: { dIn: number; seed: number },
): Float32Array {
  const dirs = new Rng(options.seed).normalArray(count * options.dIn);
  normaliseRowsInPlace(dirs, count, options.dIn);
  return dirs;
}

/** How tokens are drawn from planted directions. */
export interface SyntheticSpec {
  /** Width of the directions and of x. */
  dIn: number;
  /** Tokens to draw. */
  n: number;
  /** Distinct active features per token, chosen uniformly. */
  activePerToken: number;
  /** Per-feature magnitude scale s_j: c_j = s_j · U(0.5, 1.5). Default 1 for every feature. */
  scale?: Float32Array;
  /** Per-feature gradient weight γ_j in g = Σ_{j active} γ_j f_j. Default 0 (g = 0). */
  gradWeight?: Float32Array;
  /** Standard deviation of isotropic Gaussian noise added to x (default 0). */
  noise?: number;
  /** Seed of the draws. */
  seed: number;
}

/** Synthetic activations, gradients and their ground truth. */
export interface SyntheticData {
  /** Activations [n, dIn]. */
  x: Float32Array;
  /** Synthetic ∇ₓL [n, dIn]. */
  grad: Float32Array;
  /** Active feature ids [n, activePerToken]. */
  active: Int32Array;
  /** Tokens. */
  n: number;
  /** Width. */
  dIn: number;
}

/** Draw tokens from planted `directions` [features, dIn]. */
export function sampleSynthetic(directions: Float32Array, spec: SyntheticSpec): SyntheticData {
  const { dIn, n, activePerToken: a } = spec;
  const features = directions.length / dIn;
  if (a > features) throw new Error("sampleSynthetic: more active features than features");
  const rng = new Rng(spec.seed);
  const x = new Float32Array(n * dIn), grad = new Float32Array(n * dIn);
  const active = new Int32Array(n * a);
  const ids = Int32Array.from({ length: features }, (_, i) => i);
  for (let t = 0; t < n; t++) {
    // A partial Fisher-Yates shuffle picks `a` distinct features.
    for (let i = 0; i < a; i++) {
      const j = i + rng.int(features - i);
      [ids[i], ids[j]] = [ids[j], ids[i]];
      const id = ids[i];
      active[t * a + i] = id;
      const c = (spec.scale?.[id] ?? 1) * (0.5 + rng.uniform());
      const gamma = spec.gradWeight?.[id] ?? 0;
      for (let d = 0; d < dIn; d++) {
        x[t * dIn + d] += c * directions[id * dIn + d];
        grad[t * dIn + d] += gamma * directions[id * dIn + d];
      }
    }
    if (spec.noise) { for (let d = 0; d < dIn; d++) x[t * dIn + d] += spec.noise * rng.normal(); }
  }
  return { x, grad, active, n, dIn };
}

/** The "mechanism in miniature": loud unimportant features and quiet important ones. */
export interface MechanismSpec {
  /** Input width. */
  dIn: number;
  /** Loud features (magnitude ~1, no gradient). */
  loud: number;
  /** Quiet features (magnitude `quietScale`, gradient weight 1). */
  quiet: number;
  /** Loud features active per token; every token also has exactly one quiet feature. */
  loudActive: number;
  /** Magnitude scale of the quiet features relative to the loud ones. */
  quietScale: number;
  /** Isotropic noise standard deviation. */
  noise: number;
  /** Tokens. */
  n: number;
  /** Seed of directions and draws. */
  seed: number;
}

/**
 * Tokens with `loudActive` loud features, one quiet feature and noise; g comes from the quiet
 * feature only (γ = 1), so the quiet features matter to "the model" and the loud ones do not.
 * Directions [loud + quiet, dIn]: loud first, then quiet (ids `loud … loud + quiet − 1`).
 */
export function sampleMechanism(
  spec: MechanismSpec,
): { data: SyntheticData; directions: Float32Array; quietIds: number[] } {
  const { dIn, loud, quiet, n } = spec;
  const directions = plantedDirections(loud + quiet, { dIn, seed: spec.seed });
  const a = sampleSynthetic(directions.subarray(0, loud * dIn), {
    dIn,
    n,
    activePerToken: spec.loudActive,
    noise: spec.noise,
    seed: spec.seed + 1,
  });
  const b = sampleSynthetic(directions.subarray(loud * dIn), {
    dIn,
    n,
    activePerToken: 1,
    scale: new Float32Array(quiet).fill(spec.quietScale),
    gradWeight: new Float32Array(quiet).fill(1),
    seed: spec.seed + 2,
  });
  const width = spec.loudActive + 1;
  const active = new Int32Array(n * width);
  for (let t = 0; t < n; t++) {
    active.set(a.active.subarray(t * spec.loudActive, (t + 1) * spec.loudActive), t * width);
    active[t * width + spec.loudActive] = loud + b.active[t];
  }
  const x = a.x.map((v, i) => v + b.x[i]);
  const quietIds = Array.from({ length: quiet }, (_, i) => loud + i);
  return { data: { x, grad: b.grad, active, n, dIn }, directions, quietIds };
}

/** For each planted direction, the largest cosine with any row of `wDec` [dSae, dIn]. */
export function maxCosines(
  directions: Float32Array,
  wDec: Float32Array,
  options: { dIn: number },
): Float32Array {
  const { dIn } = options;
  const features = directions.length / dIn, dSae = wDec.length / dIn;
  const rowNorms = new Float32Array(dSae);
  for (let r = 0; r < dSae; r++) {
    let s = 0;
    for (let d = 0; d < dIn; d++) s += wDec[r * dIn + d] ** 2;
    rowNorms[r] = Math.sqrt(s) || 1;
  }
  const best = new Float32Array(features).fill(-1);
  for (let j = 0; j < features; j++) {
    for (let r = 0; r < dSae; r++) {
      let dot = 0;
      for (let d = 0; d < dIn; d++) dot += directions[j * dIn + d] * wDec[r * dIn + d];
      best[j] = Math.max(best[j], dot / rowNorms[r]);
    }
  }
  return best;
}

/** Indices of planted directions recovered by the SAE's decoder (max cosine > threshold). */
export function recoveredFeatures(
  sae: SAE,
  directions: Float32Array,
  options: { threshold?: number } = {},
): number[] {
  const wDec = sae.params.get("W_dec")!.dataSync() as Float32Array;
  const cos = maxCosines(directions, wDec, { dIn: sae.config.d_in });
  const threshold = options.threshold ?? 0.9;
  return [...cos.keys()].filter((j) => cos[j] > threshold);
}

/** Options of {@link trainOnArrays}. */
export interface TrainOptions {
  /** Passes over the data. */
  epochs: number;
  /** Tokens per step. */
  batchSize: number;
  /** Constant AdamW learning rate. */
  lr: number;
  /** Seed of the shuffling. */
  seed: number;
  /** Pass the synthetic gradient to the loss (gradient-aware SAEs use it). */
  useGrad: boolean;
  /** Dead-latent window in tokens (default: a quarter of an epoch, to exercise AuxK). */
  deadWindowTokens?: number;
  /** b_dec initialisation (default: the SAE config's `b_dec_init`, else the mean). */
  bDecInit?: DecoderBiasInit;
}

/**
 * Trains `sae` on synthetic data with the one trainer (`trainSAE`): `epochs` passes in seeded
 * shuffled mini-batches at a constant learning rate, b_dec initialised from all of the data.
 * Returns the last step's loss.
 */
export async function trainOnArrays(
  sae: SAE,
  data: SyntheticData,
  options: TrainOptions,
): Promise<number> {
  const { n, dIn } = data;
  const method = options.bDecInit ??
    ((sae.config as { b_dec_init?: DecoderBiasInit }).b_dec_init ?? "mean");
  const all = tf.tensor2d(data.x, [n, dIn]);
  await initialiseDecoderBias(sae, all, { method });
  all.dispose();
  const steps = options.epochs * Math.floor(n / options.batchSize);
  const result = await trainSAE(
    sae,
    { kind: "activations", x: data.x, grad: options.useGrad ? data.grad : undefined, n, d: dIn },
    {
      tokens: steps * options.batchSize,
      batchSize: options.batchSize,
      lr: options.lr,
      warmupSteps: 0,
      minLrRatio: 1,
      seed: options.seed,
      deadWindowTokens: options.deadWindowTokens ?? Math.max(1, Math.floor(n / 4)),
      bDecInit: "none",
      logEvery: 1,
      checkpointEvery: 0,
    },
    { log: () => {} },
  );
  return result.history.at(-1)!.loss;
}
