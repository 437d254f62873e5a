/**
 * Batch-level allocations of the TopK budget: Mutual Choice and Feature Choice (Ayonrinde,
 * "Adaptive sparse allocation with mutual choice & feature choice sparse autoencoders",
 * arXiv 2411.02124), and their gradient-aware versions (ours: the same allocations applied to
 * the g-SAE score; no published library has them).
 *
 * - Mutual Choice: the batch shares one budget of k·n activations; the top k·n entries of the
 *   n × d_sae score matrix fire (the same rule as BatchTopK). Tokens may get more or fewer than k.
 * - Feature Choice: each latent takes its top m tokens of the batch, m = ⌊k·n / d_sae⌋ and at
 *   least 1 (floor so the batch never exceeds k·n activations; the minimum so small batches do
 *   not switch every latent off). A latent fires on at most m tokens.
 * - Gradient versions: the same rules on s = z ⊙ (1 + β·u) (see `gsae.ts`); plain z without ∇ₓL.
 *
 * Inference: `encode` uses per-token TopK with the same k (on s when given a gradient). A batch
 * rule makes a token's latents depend on the other tokens in the batch and is undefined for a
 * single token; BatchTopK solves this with a threshold estimated in training, and per-token TopK
 * is the simplest honest stand-in with the same average L0. `loss` uses the batch rules.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { SAETrainContext } from "./base.ts";
import {
  type AuxiliaryInput,
  perRowTopKMask,
  residualReconstructionLoss,
  type SelectionInput,
  SelectiveSAE,
} from "./topk.ts";
import {
  gradientAwareScores,
  gradientTopKMask,
  type GSAEConfig,
  resolveGSAEConfig,
} from "./gsae.ts";
import { maskFromTensor, topkPerRow } from "./select.ts";

/** The four batch-allocation architectures. */
export type BatchChoiceArchitecture =
  | "mutual_choice"
  | "feature_choice"
  | "gradient_mutual_choice"
  | "gradient_feature_choice";

/**
 * Batch-choice options: the g-SAE ones (β and grad_norm apply to the gradient versions only)
 * without `aux_coefficient`, whose place the Zipf term takes.
 */
export interface BatchChoiceConfig extends Omit<GSAEConfig, "architecture" | "aux_coefficient"> {
  /** Which allocation, and whether it scores with the gradient. */
  architecture: BatchChoiceArchitecture;
  /** Weight of aux_zipf_loss. */
  aux_zipf_coefficient: number;
  /** Exponent α of the Zipf target p_r ∝ 1 / r^α. */
  zipf_alpha: number;
}

/**
 * Defaults: `aux_zipf_coefficient` 1/32 (AuxK's weight in Gao et al. 2024, since the term plays
 * the same role; Ayonrinde's value is not in our copy of the paper) and `zipf_alpha` 1 (the
 * classic Zipf exponent; our choice, since the paper's form is not in our copy either).
 */
export const BATCH_CHOICE_DEFAULTS = {
  aux_zipf_coefficient: 1 / 32,
  zipf_alpha: 1,
};

/** What the factories need: the sizes, anything else falls back to its default. */
export type BatchChoiceOptions =
  & Pick<BatchChoiceConfig, "d_in" | "d_sae">
  & Partial<BatchChoiceConfig>;

/** Feature Choice's per-latent token budget m = max(1, ⌊k·n / d_sae⌋), at most n. */
export function featureChoiceBudget(n: number, options: { k: number; dSae: number }): number {
  return Math.min(n, Math.max(1, Math.floor((options.k * n) / options.dSae)));
}

/**
 * Latents whose firing frequency is below their Zipf target. Sort frequencies descending
 * (ties: lower index first); rank r (1-based) has target p_r = M · r^−α / Σ_s s^−α, with M the
 * total firing mass Σ_i freq_i, so the target has the same mass as the observed distribution.
 * All-zero frequencies (nothing measured yet) give no under-used latent.
 */
export function underusedLatents(frequency: Float32Array, alpha: number): Uint8Array {
  const f = frequency.length;
  const out = new Uint8Array(f);
  let mass = 0;
  for (let i = 0; i < f; i++) mass += frequency[i];
  if (!(mass > 0)) return out;
  const order = Array.from({ length: f }, (_, i) => i);
  order.sort((a, b) => frequency[b] - frequency[a] || a - b);
  let harmonic = 0;
  for (let r = 1; r <= f; r++) harmonic += r ** -alpha;
  for (let r = 1; r <= f; r++) {
    const i = order[r - 1];
    if (frequency[i] < (mass * r ** -alpha) / harmonic) out[i] = 1;
  }
  return out;
}

/**
 * aux_zipf_loss (our definition; the paper's exact form is not in our copy). AuxK generalised
 * from dead latents to under-used ones ({@link underusedLatents}, from the trainer's running
 * `ctx.firingFrequency`): per token, the top `auxK` under-used latents by z that the main
 * selection did not already pick reconstruct the detached residual, normalised as AuxK. The
 * latents are unweighted: the simplest form, and it is AuxK when the under-used latents are
 * exactly the dead ones. 0 when no latent is under-used. Where the observed distribution is
 * flatter than Zipf at its head, the most frequent latents also fall below target and join in:
 * the term pulls the distribution toward the Zipf shape wherever it falls short of it.
 */
export function auxZipfLoss(
  input: AuxiliaryInput,
  ctx: SAETrainContext,
  options: { auxK: number; alpha: number },
): tf.Scalar {
  const under = underusedLatents(ctx.firingFrequency, options.alpha);
  if (!under.some((v) => v)) return tf.scalar(0);
  const [n, f] = input.z.shape;
  const z = Float32Array.from(input.z.dataSync());
  const main = input.mask.dataSync();
  // Entries already selected rank last and are dropped afterwards, so they are never aux picks.
  for (let i = 0; i < z.length; i++) if (main[i]) z[i] = -Infinity;
  const aux = topkPerRow(z, { n, f, k: options.auxK, eligible: under });
  for (let i = 0; i < aux.length; i++) if (main[i]) aux[i] = 0;
  return residualReconstructionLoss(input, tf.tensor2d(aux, [n, f]));
}

/** The training mask of a batch-choice SAE: its allocation on z, or on s when ∇ₓL is given. */
export function batchChoiceMask(input: SelectionInput, config: BatchChoiceConfig): tf.Tensor2D {
  const gradientAware = config.architecture.startsWith("gradient_");
  const useScore = gradientAware && input.grad !== undefined && config.beta !== 0;
  const scores = useScore
    ? gradientAwareScores({ ...input, grad: input.grad! }, {
      beta: config.beta,
      gradNorm: config.grad_norm,
    })
    : input.z;
  const [n, f] = input.z.shape;
  const mask = config.architecture.endsWith("mutual_choice")
    ? maskFromTensor(scores, { kind: "over_batch", budget: config.k * n })
    : maskFromTensor(scores, {
      kind: "per_column",
      m: featureChoiceBudget(n, { k: config.k, dSae: f }),
    });
  if (useScore) scores.dispose();
  return mask;
}

/** The inference mask: per-token TopK on z, or the g-SAE rule for gradient versions. */
function inferenceMask(input: SelectionInput, config: BatchChoiceConfig): tf.Tensor2D {
  return config.architecture.startsWith("gradient_")
    ? gradientTopKMask(input, config)
    : perRowTopKMask(input.z, config.k);
}

/** A complete batch-choice config from partial options and the defaults. */
export function resolveBatchChoiceConfig(
  architecture: BatchChoiceArchitecture,
  options: BatchChoiceOptions,
): BatchChoiceConfig {
  const { aux_coefficient: _unused, ...base } = resolveGSAEConfig({ ...options, architecture });
  return { ...base, ...BATCH_CHOICE_DEFAULTS, ...options, architecture };
}

/** A batch-choice SAE of the given architecture (the registry maps the four names here). */
export function createBatchChoice(
  architecture: BatchChoiceArchitecture,
  options: BatchChoiceOptions,
): SelectiveSAE<BatchChoiceConfig> {
  const config = resolveBatchChoiceConfig(architecture, options);
  return new SelectiveSAE(config, {
    train: (input) => batchChoiceMask(input, config),
    encode: (input) => inferenceMask(input, config),
    auxiliary: (input, ctx) => ({
      name: "aux_zipf",
      weight: config.aux_zipf_coefficient,
      loss: auxZipfLoss(input, ctx, { auxK: config.aux_k, alpha: config.zipf_alpha }),
    }),
  });
}

/** Mutual Choice (Ayonrinde 2024): the top k·n entries of the batch fire. */
export function createMutualChoice(options: BatchChoiceOptions): SelectiveSAE<BatchChoiceConfig> {
  return createBatchChoice("mutual_choice", options);
}

/** Feature Choice (Ayonrinde 2024): each latent fires on its top m tokens of the batch. */
export function createFeatureChoice(options: BatchChoiceOptions): SelectiveSAE<BatchChoiceConfig> {
  return createBatchChoice("feature_choice", options);
}

/** Mutual Choice on the g-SAE score (ours). */
export function createGradientMutualChoice(
  options: BatchChoiceOptions,
): SelectiveSAE<BatchChoiceConfig> {
  return createBatchChoice("gradient_mutual_choice", options);
}

/** Feature Choice on the g-SAE score (ours). */
export function createGradientFeatureChoice(
  options: BatchChoiceOptions,
): SelectiveSAE<BatchChoiceConfig> {
  return createBatchChoice("gradient_feature_choice", options);
}
