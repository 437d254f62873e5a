/**
 * Held-out evaluation of a trained SAE on the validation split: the reconstruction spliced in at
 * the hook (ΔCE, KL, fraction of CE recovered), FVU, L0, and per-latent statistics (activation
 * frequency, mean |directional derivative|). Results are cached beside the SAE.
 *
 * Gradient-aware SAEs choose latents with the gradient of the loss, so how they are evaluated
 * matters; {@link EvalOptions.gradient} names the three ways:
 * - `true`: the gradient of the loss at the true next tokens (the paper's evaluation);
 * - `sampled`: at next tokens sampled from the model's own prediction (label-free control);
 * - `none`: no gradient; gradient-aware encoders fall back to their plain rule.
 *
 * The gradient used for the directional derivatives in the latent statistics is always the
 * true-token one.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { writeJsonAtomic } from "../../io/atomic_write.ts";
import { sampleFromLogits } from "../../gpt2/generate.ts";
import type { GPT2 } from "../../gpt2/model.ts";
import { spreadOffsets, windows } from "../../data/windows.ts";
import {
  addSpliceSums,
  type FrequencySummary,
  LatentStats,
  ReconstructionStats,
  spliceMetrics,
  type SpliceSummary,
  type SpliceSums,
  summariseSplice,
} from "../../metrics/mod.ts";
import { Rng } from "../../tensor/random.ts";
import { createSAE, disposeSAE, type SAE } from "../../sae/mod.ts";
import { storeSequences, type TrainedSAE } from "./sae_zoo.ts";
import type { Workspace } from "../shared/workspace.ts";

/** Bump when a change invalidates cached evaluations. */
export const EVAL_VERSION = 1;

/** How the encoder is run at evaluation (see the module doc). */
export type GradientSource = "true" | "sampled" | "none";

/** Options of {@link evaluateSAE}. */
export interface EvalOptions {
  /** The gradient the encoder gets (default `true`). */
  gradient?: GradientSource;
  /**
   * Run a TopK SAE's weights with g-SAE selection of this β (the control "gradient-aware
   * selection at evaluation on a plain TopK SAE"). TopK SAEs only.
   */
  selectionBeta?: number;
  /** Seed of the sampled next tokens (default 0). */
  seed?: number;
  /**
   * `val` (default): the validation split, which every reported number uses. `dev`: training-split
   * windows that the SAEs never see (between the store's windows), for choosing hyperparameters.
   */
  split?: "val" | "dev";
}

/** What {@link evaluateSAE} measures. */
export interface SAEEvaluation extends SpliceSummary {
  /** The SAE's label and the evaluation mode, e.g. `gsae-k32-s0 / gradient none`. */
  name: string;
  /** FVU of the reconstruction. */
  fvu: number;
  /** Σ(x̂ − x)² / Σx². */
  normalisedMse: number;
  /** Mean active latents per token. */
  l0: number;
  /** Activation-frequency summary over the evaluation tokens. */
  frequency: FrequencySummary;
  /** Per-latent: activation frequency. */
  frequencies: number[];
  /** Per-latent: mean |∇L·d̂ᵢ| over tokens where the latent fired (NaN → null in JSON). */
  meanAbsDerivFiring: (number | null)[];
  /** Per-latent: mean |∇L·d̂ᵢ| over all evaluation tokens. */
  meanAbsDerivAll: number[];
}

/** The validation windows every evaluation uses: `profile.sae.evalSequences`, spread evenly. */
export function evalOffsets(ws: Workspace): number[] {
  const seq = ws.model.config.n_positions;
  return spreadOffsets(ws.val.length, ws.profile.sae.evalSequences, seq);
}

/**
 * Development windows in the training split for choosing hyperparameters: each lies midway
 * between two consecutive windows of the SAE store ({@link trainStore}), so no SAE trained on it.
 */
export function devOffsets(ws: Workspace): number[] {
  const seq = ws.model.config.n_positions;
  const store = spreadOffsets(ws.train.length, storeSequences(ws), seq);
  const count = Math.min(ws.profile.sae.evalSequences, store.length - 1);
  return spreadOffsets(store.length - 1, count, 1).map((j) => {
    if (store[j + 1] - store[j] < 2 * seq) {
      throw new Error(`the store's windows are too dense for development windows between them`);
    }
    return Math.floor((store[j] + store[j + 1]) / 2);
  });
}

/** Evaluates `trained` on the validation windows (cached in the SAE's folder). */
export async function evaluateSAE(
  ws: Workspace,
  trained: TrainedSAE,
  options: EvalOptions = {},
): Promise<SAEEvaluation> {
  const { gradient, mode, key, file } = evalCacheEntry(ws, trained.dir, options);
  const cached = await readCachedEval(file, key);
  if (cached) return cached.result;
  const sae = options.selectionBeta === undefined
    ? trained.sae
    : withGradientSelection(trained.sae, options.selectionBeta);
  try {
    const result = { name: `${trained.label} / ${mode}`, ...run(ws, sae, gradient, options) };
    await writeJsonAtomic(file, { key, result });
    return result;
  } finally {
    if (sae !== trained.sae) disposeSAE(sae);
  }
}

/** Where the evaluation of the SAE in `dir` in `options`' mode is cached, and its key. */
function evalCacheEntry(ws: Workspace, dir: string, options: EvalOptions) {
  const gradient = options.gradient ?? "true";
  const mode = `gradient ${gradient}` +
    (options.selectionBeta !== undefined ? `, g-SAE selection β=${options.selectionBeta}` : "") +
    (gradient === "sampled" ? `, seed ${options.seed ?? 0}` : "");
  const split = options.split ?? "val";
  const key = { version: EVAL_VERSION, mode, split, sequences: ws.profile.sae.evalSequences };
  const file = `${dir}/eval-${split}-${mode.replace(/[^\w.=-]+/g, "_")}.json`;
  return { gradient, mode, key, file };
}

async function readCachedEval(
  file: string,
  key: Record<string, unknown>,
): Promise<{ result: SAEEvaluation } | null> {
  try {
    const cached = JSON.parse(await Deno.readTextFile(file));
    if (JSON.stringify(cached.key) === JSON.stringify(key)) return cached;
  } catch { /* not evaluated yet */ }
  return null;
}

/**
 * Whether the evaluation of the SAE cached in `dir` in `options`' mode is cached (what
 * {@link evaluateSAE} would read rather than compute); the SAE itself is not loaded.
 */
export async function isEvaluated(
  ws: Workspace,
  dir: string,
  options: EvalOptions = {},
): Promise<boolean> {
  const { key, file } = evalCacheEntry(ws, dir, options);
  return (await readCachedEval(file, key)) !== null;
}

function run(
  ws: Workspace,
  sae: SAE,
  gradient: GradientSource,
  options: EvalOptions,
): Omit<SAEEvaluation, "name"> {
  const { model, hook } = ws;
  const seq = model.config.n_positions;
  const [data, offsets] = options.split === "dev"
    ? [ws.train, devOffsets(ws)]
    : [ws.val, evalOffsets(ws)];
  const recon = new ReconstructionStats(), latentStats = new LatentStats(sae.config.d_sae);
  const wDec = sae.params.get("W_dec")! as tf.Tensor2D;
  const rng = new Rng(options.seed ?? 0);
  let sums: SpliceSums | null = null;
  for (let i = 0; i < offsets.length; i += 8) {
    const ids = windows(data, offsets.slice(i, i + 8), seq);
    const sampled = gradient === "sampled" ? sampleTargets(model, ids, rng) : undefined;
    // The sampled-target gradient selects latents; the statistics need the true-token one.
    const trueGrad = sampled ? trueGradient(model, ids, hook) : undefined;
    try {
      const s = spliceMetrics(model, ids, {
        hook,
        needsGradient: true,
        gradientTargets: sampled,
        reconstruct: (x, grad) => {
          const latents = sae.encode(x, gradient === "none" ? {} : { grad });
          const xHat = sae.decode(latents);
          recon.add(x, xHat, latents);
          latentStats.add(latents, { grad: trueGrad ?? grad, wDec });
          return xHat;
        },
      });
      sums = sums ? addSpliceSums(sums, s) : s;
    } finally {
      tf.dispose([ids, ...(sampled ? [sampled] : []), ...(trueGrad ? [trueGrad] : [])]);
    }
  }
  const deriv = latentStats.meanAbsDerivative();
  return {
    ...summariseSplice(sums!),
    fvu: recon.fvu,
    normalisedMse: recon.normalisedMse,
    l0: recon.l0,
    frequency: latentStats.summary(),
    frequencies: Array.from(latentStats.frequencies()),
    meanAbsDerivFiring: Array.from(deriv.whenFiring, (v) => Number.isFinite(v) ? v : null),
    meanAbsDerivAll: Array.from(deriv.allTokens),
  };
}

/** ∇ₓ of the true-token loss at `hook`, flattened to [b·t, d]. */
function trueGradient(model: GPT2, ids: tf.Tensor2D, hook: string): tf.Tensor2D {
  const g = model.gradAtHook(ids, hook);
  const flat = g.gradient.reshape([-1, g.gradient.shape[2]]) as tf.Tensor2D;
  tf.dispose(Object.values(g) as tf.Tensor[]);
  return flat;
}

/**
 * Next tokens [b, t − 1] sampled (temperature 1) from the clean model's prediction at each
 * position: the gradient at these needs no labels.
 */
export function sampleTargets(model: GPT2, ids: tf.Tensor2D, rng: Rng): tf.Tensor2D {
  const [b, t] = ids.shape, vocab = model.config.vocab_size;
  // dataSync outside tf.tidy: tidy walks a returned typed array element by element (seconds here).
  const logitsT = tf.tidy(() => model.unembed(model.finalResidual(ids)));
  const logits = logitsT.dataSync() as Float32Array;
  logitsT.dispose();
  const out = new Int32Array(b * (t - 1));
  for (let r = 0; r < b; r++) {
    for (let p = 0; p < t - 1; p++) {
      const o = (r * t + p) * vocab;
      out[r * (t - 1) + p] = sampleFromLogits(logits.subarray(o, o + vocab), 1, rng);
    }
  }
  return tf.tensor2d(out, [b, t - 1], "int32");
}

/**
 * A g-SAE with a TopK SAE's weights: the same encoder and decoder, with the g-SAE selection
 * rule of strength `beta`. Dispose it with `disposeSAE` (the TopK SAE is untouched).
 */
export function withGradientSelection(topk: SAE, beta: number): SAE {
  if (topk.config.architecture !== "topk") {
    throw new Error(`withGradientSelection needs a topk SAE, got ${topk.config.architecture}`);
  }
  const g = createSAE({ ...topk.config, architecture: "gsae", beta });
  for (const [name, v] of topk.params) {
    const target = g.params.get(name);
    if (!target) throw new Error(`withGradientSelection: g-SAE has no parameter ${name}`);
    target.assign(v);
  }
  return g;
}
