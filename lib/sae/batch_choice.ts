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
  K_AT_MOST_D_SAE,
  perRowTopKMask,
  residualReconstructionLoss,
  type SelectionInput,
  SelectiveSAE,
  TOPK_FIELDS,
  withDefaultAuxK,
} from "./topk.ts";
import { gradientAwareScores, gradientTopKMask, GSAE_FIELDS } from "./gsae.ts";
import { baseFields, parseConfig, z } from "./config.ts";
import type { Architecture } from "./registry.ts";
import { maskFromTensor, perRowMaskOnDevice, topkPerRow } from "./select.ts";
import { tensorsOnHost } from "../tensor/backend.ts";
import { constantOf } from "../tensor/ops.ts";

/** The four batch-allocation architectures. */
export const BATCH_CHOICE_NAMES = [
  "mutual_choice",
  "feature_choice",
  "gradient_mutual_choice",
  "gradient_feature_choice",
] as const;

/** One of {@link BATCH_CHOICE_NAMES}. */
export type BatchChoiceArchitecture = typeof BATCH_CHOICE_NAMES[number];

/**
 * The batch choices' own fields, with defaults: `aux_zipf_coefficient` 1/32 (AuxK's weight in
 * Gao et al. 2024, since the term plays the same role; Ayonrinde's value is not in our copy of
 * the paper) and `zipf_alpha` 1 (the classic Zipf exponent; our choice, since the paper's form
 * is not in our copy either). They also take the g-SAE's fields (β and grad_norm apply to the
 * gradient versions only) and TopK's but `aux_coefficient`, whose place the Zipf term takes.
 */
export const BATCH_CHOICE_FIELDS = {
  aux_zipf_coefficient: z.number().min(0).default(1 / 32).describe("weight of aux_zipf_loss"),
  zipf_alpha: z.number().positive().default(1).describe(
    "exponent α of the Zipf target p_r ∝ 1 / r^α",
  ),
};

const { aux_coefficient: _auxK, ...TOPK_FIELDS_BUT_AUX } = TOPK_FIELDS;
const FIELDS = { ...TOPK_FIELDS_BUT_AUX, ...GSAE_FIELDS, ...BATCH_CHOICE_FIELDS };

/** The batch-choice config schema (any of the four names). */
export const BATCH_CHOICE_SCHEMA = z
  .strictObject({ ...baseFields(BATCH_CHOICE_NAMES), ...FIELDS })
  .refine(K_AT_MOST_D_SAE.check, K_AT_MOST_D_SAE.error)
  .transform(withDefaultAuxK);

/** A complete batch-choice config. */
export type BatchChoiceConfig = z.output<typeof BATCH_CHOICE_SCHEMA>;

/** What the factories need: the sizes, anything else falls back to its default. */
export type BatchChoiceOptions = Omit<z.input<typeof BATCH_CHOICE_SCHEMA>, "architecture">;

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
  if (!tensorsOnHost()) {
    // No synchronous reads on this backend: the same picks on the device (main picks rank −∞,
    // which the device rule never selects).
    const aux = constantOf(input.z, (zt) =>
      perRowMaskOnDevice(
        tf.where(tf.greater(input.mask, 0), tf.fill([n, f], -Infinity), zt) as tf.Tensor2D,
        options.auxK,
        under,
      ));
    return residualReconstructionLoss(input, aux);
  }
  // Host backends (wasm, cpu): read inside the synchronous loss; the exact host rule.
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

/** A batch-choice SAE from a complete config. */
function batchChoiceFromConfig(config: BatchChoiceConfig): SelectiveSAE<BatchChoiceConfig> {
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

/** A batch-choice SAE of the given architecture; unspecified options take their defaults. */
export function createBatchChoice(
  architecture: BatchChoiceArchitecture,
  options: BatchChoiceOptions,
): SelectiveSAE<BatchChoiceConfig> {
  return batchChoiceFromConfig(
    parseConfig(BATCH_CHOICE_SCHEMA, { ...options, architecture }, architecture),
  );
}

/** The registry entry of one batch choice. */
function batchChoice(name: BatchChoiceArchitecture): Architecture<BatchChoiceConfig> {
  const gradient = name.startsWith("gradient_");
  return {
    name,
    source: gradient
      ? "ours: the g-SAE score allocated over the batch"
      : "Ayonrinde 2024, arXiv 2411.02124",
    fields: FIELDS,
    schema: BATCH_CHOICE_SCHEMA,
    create: batchChoiceFromConfig,
    trainsOn: "activations",
    usesGradient: gradient,
    saelens: { architecture: "topk" },
    fusedStep: false,
  };
}

/** The four batch choices in the registry. */
export const BATCH_CHOICES = {
  mutual_choice: batchChoice("mutual_choice"),
  feature_choice: batchChoice("feature_choice"),
  gradient_mutual_choice: batchChoice("gradient_mutual_choice"),
  gradient_feature_choice: batchChoice("gradient_feature_choice"),
};

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
