/**
 * Fisher g-SAE (ours): a label-free gradient-aware SAE. The g-SAE (`gsae.ts`) selects latents
 * with the gradient of the loss at the TRUE next token, which exists only where labels do. Here
 * each latent's score instead uses c_i = sqrt(d_iᵀ F d_i), F the Fisher information of the
 * model's next-token distribution p at the hook (at this token alone):
 *
 *   F = E_{y~p}[∇ₓlog p(y) ∇ₓlog p(y)ᵀ],   so   d_iᵀ F d_i = E_{y~p}[(d_i · g_y)²]
 *
 * with g_y = ∂(−log p(y | context))/∂x_t, the per-token gradient at a next token y drawn from the
 * model itself (temperature 1). d_iᵀ F d_i equals Var_{y~p}((J d_i)_y), J the Jacobian of the
 * logits at this position: how much moving along d_i changes the predicted distribution.
 *
 * Estimator: S gradients g_1 … g_S at independently sampled y_s (S = `samples`, default 4),
 *
 *   u_i = sqrt(mean_s (d_i · g_s)²),
 *
 * whose square is unbiased for c_i². Cost: S per-token backward passes from the hook per token
 * (stored beside the activations for training, drawn again at evaluation), and S products of the
 * [n, d_in] gradients with W_decᵀ per batch. Then as the g-SAE: u optionally over its batch mean,
 * s = z ⊙ (1 + β·u), the top k of s fire with values ReLU(z), TopK's loss with AuxK.
 *
 * The gradients reach the SAE as the `grad` of a batch or of `encode`, [n, S·d_in]: row t holds
 * g_1(t) … g_S(t) one after the other. S is read from the width, so a single gradient [n, d_in]
 * is S = 1, where u_i = |d_i · g| and the selection is the g-SAE's exactly (given the true-token
 * gradient it is the g-SAE's selection; this is how the Fisher SAE is evaluated with labels).
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { matMul } from "../tensor/ops.ts";
import { baseFields, parseConfig, z } from "./config.ts";
import { gradientAwareScores, gradientTopKMask, GSAE_FIELDS, type ScoreOptions } from "./gsae.ts";
import type { Architecture } from "./registry.ts";
import {
  auxKTerm,
  K_AT_MOST_D_SAE,
  type SelectionInput,
  SelectiveSAE,
  TOPK_FIELDS,
  withDefaultAuxK,
} from "./topk.ts";

/**
 * The Fisher g-SAE's own fields (TopK's and the g-SAE's `beta`, `grad_norm` apply too):
 *
 * - `samples` 4: sampled next tokens per token whose gradients estimate c_i. The relative
 *   standard error of u_i² is about sqrt(2/S) for a Gaussian directional derivative, 0.7 at
 *   S = 4; more samples cost one more backward pass each (README, Fisher g-SAE). Our choice.
 */
export const FISHER_GSAE_FIELDS = {
  ...GSAE_FIELDS,
  samples: z.number().int().min(1).default(4).describe(
    "sampled next tokens per token whose per-token gradients estimate the Fisher score",
  ),
};

/** The Fisher g-SAE config schema. */
export const FISHER_GSAE_SCHEMA = z
  .strictObject({ ...baseFields(["fisher_gsae"]), ...TOPK_FIELDS, ...FISHER_GSAE_FIELDS })
  .refine(K_AT_MOST_D_SAE.check, K_AT_MOST_D_SAE.error)
  .transform(withDefaultAuxK);

/** A complete Fisher g-SAE config. */
export type FisherGSAEConfig = z.output<typeof FISHER_GSAE_SCHEMA>;

/** What {@link createFisherGSAE} needs: the sizes, anything else falls back to its default. */
export type FisherGSAEOptions = Omit<z.input<typeof FISHER_GSAE_SCHEMA>, "architecture">;

/** Gradient samples in a `grad` of `width` columns for activations of width `dIn`. */
export function gradientSamples(width: number, dIn: number): number {
  if (width % dIn !== 0 || width === 0) {
    throw new Error(`Fisher g-SAE: a gradient of width ${width} is not S gradients of ${dIn}`);
  }
  return width / dIn;
}

/**
 * u = sqrt(mean_s (g_s·W_decᵀ)²), [n, d_sae], from `grad` [n, S·d_in] (see the module doc).
 * For selection only (never differentiated).
 */
export function fisherDirectionalNorm(grad: tf.Tensor2D, wDec: tf.Tensor2D): tf.Tensor2D {
  return tf.tidy(() => {
    const [n, width] = grad.shape, [f, d] = wDec.shape;
    const s = gradientSamples(width, d);
    const v = matMul(grad.reshape([n * s, d]) as tf.Tensor2D, wDec, false, true);
    return tf.sqrt(tf.mean(tf.square(v).reshape([n, s, f]), 1)) as tf.Tensor2D;
  });
}

/**
 * The Fisher g-SAE score: the g-SAE's {@link gradientAwareScores} with u =
 * {@link fisherDirectionalNorm}, [n, d_sae]; the g-SAE's score when S = 1.
 */
export function fisherScores(
  input: SelectionInput & { grad: tf.Tensor2D },
  options: ScoreOptions,
): tf.Tensor2D {
  return gradientAwareScores(input, { ...options, directionalNorm: fisherDirectionalNorm });
}

/** Top k per token of the Fisher score; plain TopK without a gradient or with β = 0. */
export function fisherTopKMask(
  input: SelectionInput,
  config: Pick<FisherGSAEConfig, "beta" | "k" | "grad_norm">,
): tf.Tensor2D {
  return gradientTopKMask(input, config, { directionalNorm: fisherDirectionalNorm });
}

function fisherFromConfig(config: FisherGSAEConfig): SelectiveSAE<FisherGSAEConfig> {
  const select = (input: SelectionInput) => fisherTopKMask(input, config);
  return new SelectiveSAE(config, { train: select, encode: select, auxiliary: auxKTerm(config) });
}

/**
 * A Fisher g-SAE. `encode(x, { grad })` and `loss({ x, grad })` select with the S sampled-token
 * gradients in `grad` [n, S·d_in]; without one they behave as TopK.
 */
export function createFisherGSAE(options: FisherGSAEOptions): SelectiveSAE<FisherGSAEConfig> {
  return fisherFromConfig(
    parseConfig(FISHER_GSAE_SCHEMA, { ...options, architecture: "fisher_gsae" }, "fisher_gsae"),
  );
}

/** The Fisher g-SAE in the registry. */
export const FISHER_GSAE: Architecture<FisherGSAEConfig> = {
  name: "fisher_gsae",
  source: "ours: the g-SAE score with the Fisher norm of sampled-token gradients (no labels)",
  fields: { ...TOPK_FIELDS, ...FISHER_GSAE_FIELDS },
  schema: FISHER_GSAE_SCHEMA,
  create: fisherFromConfig,
  trainsOn: "activations",
  usesGradient: true,
  sampledGradients: true,
  saelens: { architecture: "topk" },
  fusedStep: true,
};
