/**
 * Held-out evaluation of a trained SAE on the validation split: the reconstruction spliced in at
 * the hook (ΔCE, KL, fraction of CE recovered), FVU, L0, and per-latent statistics (activation
 * frequency, mean |directional derivative|). Results are cached beside the SAE.
 *
 * Gradient-aware SAEs choose latents with the gradient of the loss, so how they are evaluated
 * matters; {@link EvalOptions.gradient} names the three ways:
 * - `true`: the gradient of the loss at the true next tokens (the paper's evaluation);
 * - `sampled`: at next tokens sampled from the model's own prediction (label-free control);
 * - `none`: no gradient; gradient-aware encoders fall back to their plain rule;
 * - `fisher`: S per-token gradients per token at next tokens sampled from the model (no label),
 *   [n, S·d]: the Fisher g-SAE's own selection (`fisher_gsae.ts`); Fisher g-SAEs only.
 *
 * The gradient used for the directional derivatives in the latent statistics is always the
 * true-token one.
 *
 * @module
 */
import { JsonFileError, readJsonFileIfExists, z } from "../../io/json_file.ts";
import * as tf from "@tensorflow/tfjs";
import { writeJsonAtomic } from "../../io/atomic_write.ts";
import {
  addSpliceSums,
  type FrequencySummary,
  LatentStats,
  ReconstructionStats,
  referenceActivation,
  referenceGradient,
  splicedSums,
  type SpliceSummary,
  type SpliceSums,
  summariseSplice,
} from "../../metrics/mod.ts";
import { createSAE, disposeSAE, type SAE } from "../../sae/mod.ts";
import type { TrainedSAE } from "./sae_zoo.ts";
import { evalReference } from "./eval_reference.ts";
import type { Workspace } from "../shared/workspace.ts";

/** Bump when a change invalidates cached evaluations (the numbers, not only the time, change). */
export const EVAL_VERSION = 3;

/** How the encoder is run at evaluation (see the module doc). */
export type GradientSource = "true" | "token" | "sampled" | "none" | "fisher";

/** Gradients per token of the `fisher` mode when {@link EvalOptions.samples} is not given. */
export const DEFAULT_FISHER_SAMPLES = 4;

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
  /** Sampled gradients per token of the `fisher` mode (default {@link DEFAULT_FISHER_SAMPLES}). */
  samples?: number;
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
  /** Relative reconstruction bias γ = Σ‖x̂‖² / Σ x̂·x (Gated paper; < 1: shrinkage). */
  shrinkage: number;
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
    const result = {
      name: `${trained.label} / ${mode}`,
      ...(await run(ws, sae, gradient, options)),
    };
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
    (gradient === "sampled" ? `, seed ${options.seed ?? 0}` : "") +
    (gradient === "fisher"
      ? `, S ${options.samples ?? DEFAULT_FISHER_SAMPLES}, seed ${options.seed ?? 0}`
      : "");
  const split = options.split ?? "val";
  const sequences = split === "dev" ? ws.profile.sae.devSequences : ws.profile.sae.evalSequences;
  const key = { version: EVAL_VERSION, mode, split, sequences };
  const file = `${dir}/eval-${split}-${mode.replace(/[^\w.=-]+/g, "_")}.json`;
  return { gradient, mode, key, file };
}

/** A cached evaluation as read back: the headline numbers are checked, the rest passes through. */
const cachedEvalSchema = z.object({
  key: z.record(z.string(), z.unknown()),
  result: z.looseObject({
    name: z.string(),
    deltaCe: z.number(),
    kl: z.number(),
    fvu: z.number(),
    l0: z.number(),
    frequencies: z.array(z.number()),
  }),
});

async function readCachedEval(
  file: string,
  key: Record<string, unknown>,
): Promise<{ result: SAEEvaluation } | null> {
  let cached;
  try {
    cached = await readJsonFileIfExists(file, cachedEvalSchema);
  } catch (error) {
    // A damaged cache entry is evaluated again (and rewritten), and says why.
    if (!(error instanceof JsonFileError)) throw error;
    console.warn(`evaluation: ${error.message}; evaluating again`);
    return null;
  }
  if (cached && JSON.stringify(cached.key) === JSON.stringify(key)) {
    return cached as unknown as { result: SAEEvaluation };
  }
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

async function run(
  ws: Workspace,
  sae: SAE,
  gradient: GradientSource,
  options: EvalOptions,
): Promise<Omit<SAEEvaluation, "name">> {
  const batches = await evalReference(ws, {
    split: options.split ?? "val",
    ...(gradient === "sampled" ? { sampledSeed: options.seed ?? 0 } : {}),
    ...(gradient === "token" ? { perToken: true } : {}),
    ...(gradient === "fisher"
      ? {
        sampledSeed: options.seed ?? 0,
        fisherSamples: options.samples ?? DEFAULT_FISHER_SAMPLES,
      }
      : {}),
  });
  const recon = new ReconstructionStats(), latentStats = new LatentStats(sae.config.d_sae);
  const wDec = sae.params.get("W_dec")! as tf.Tensor2D;
  let sums: SpliceSums | null = null;
  for (const { reference, trueGradient } of batches) {
    // Reads are asynchronous (any backend) and cannot sit inside tf.tidy: keep what they need.
    const { x, latents, xHat, statsGrad } = tf.tidy(() => {
      const x = referenceActivation(reference);
      // [n, d], or [n, S·d] for the `fisher` mode's S gradients per token.
      const grad = gradient === "fisher"
        ? tf.tensor2d(reference.gradient!, [x.shape[0], reference.gradient!.length / x.shape[0]])
        : referenceGradient(reference);
      const latents = sae.encode(x, gradient === "none" ? {} : { grad });
      const xHat = sae.decode(latents);
      const statsGrad = trueGradient === reference.gradient
        ? grad!
        : tf.tensor2d(trueGradient, x.shape);
      return { x, latents, xHat, statsGrad };
    });
    try {
      await recon.add(x, xHat, latents);
      await latentStats.add(latents, { grad: statsGrad, wDec });
      const s = await splicedSums(ws.model, reference, xHat);
      sums = sums ? addSpliceSums(sums, s) : s;
    } finally {
      tf.dispose([x, latents, xHat, statsGrad]);
    }
  }
  const deriv = latentStats.meanAbsDerivative();
  return {
    ...summariseSplice(sums!),
    fvu: recon.fvu,
    normalisedMse: recon.normalisedMse,
    shrinkage: recon.shrinkage,
    l0: recon.l0,
    frequency: latentStats.summary(),
    frequencies: Array.from(latentStats.frequencies()),
    meanAbsDerivFiring: Array.from(deriv.whenFiring, (v) => Number.isFinite(v) ? v : null),
    meanAbsDerivAll: Array.from(deriv.allTokens),
  };
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
