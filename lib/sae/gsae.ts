/**
 * Gradient-aware sparse autoencoder, g-SAE (Olmo et al., arXiv 2411.10397).
 *
 * A TopK SAE whose selection also looks at g = ∇ₓL, the gradient of the language model's loss
 * at the hooked activation. Each latent's score is
 *
 *   s = z ⊙ (1 + β·u),   u = |g·W_decᵀ|  ([n, d_sae]; u_i = |d_i · ∇ₓL|),
 *
 * z_i·|d_i·∇ₓL| being a first-order estimate of the loss change if latent i is dropped. The top
 * k of s fire, with values ReLU(z): the gradient changes which latents fire, not how strongly.
 * Without a gradient the selection is plain TopK; β = 0 is TopK exactly (the score is never
 * computed). The loss is TopK's, AuxK included.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { matMul } from "../tensor/ops.ts";
import { baseFields, parseConfig, z } from "./config.ts";
import type { Architecture } from "./registry.ts";
import {
  auxKTerm,
  K_AT_MOST_D_SAE,
  perRowTopKMask,
  type SelectionInput,
  SelectiveSAE,
  TOPK_FIELDS,
  withDefaultAuxK,
} from "./topk.ts";
import { maskFromTensor } from "./select.ts";

/** How |d_i · ∇ₓL| is scaled before it enters the score. */
export type GradientNormalisation = "batch_mean" | "none";

/**
 * The g-SAE's own fields (TopK's apply to the rest), with their defaults:
 *
 * - `beta` 1: with u of mean 1, a latent with an average directional derivative has its score
 *   doubled and one with twice the average tripled: a moderate push. Our choice; the notebooks
 *   sweep β.
 * - `grad_norm` "batch_mean": directional derivatives in GPT-2 small are about 1e-5 and their
 *   scale changes with layer, model and training, so with raw u a useful β would be ~1e5 and
 *   not transferable. Dividing u by its batch mean (over all tokens and latents) makes u
 *   dimensionless with mean 1, so β means the same thing everywhere. The paper does not say
 *   how it scaled the gradient; this is our choice.
 */
export const GSAE_FIELDS = {
  beta: z.number().min(0).default(1).describe(
    "selection strength β in s = z ⊙ (1 + β·u); 0 is plain TopK",
  ),
  grad_norm: z.enum(["batch_mean", "none"]).default("batch_mean").describe(
    "scaling of u = |g·W_decᵀ| before use (batch_mean: divide by its mean over the batch)",
  ),
};

/** The g-SAE config schema. */
export const GSAE_SCHEMA = z
  .strictObject({ ...baseFields(["gsae"]), ...TOPK_FIELDS, ...GSAE_FIELDS })
  .refine(K_AT_MOST_D_SAE.check, K_AT_MOST_D_SAE.error)
  .transform(withDefaultAuxK);

/** A complete g-SAE config. */
export type GSAEConfig = z.output<typeof GSAE_SCHEMA>;

/** What {@link createGSAE} needs: the sizes, anything else falls back to its default. */
export type GSAEOptions = Omit<z.input<typeof GSAE_SCHEMA>, "architecture">;

/** Options of {@link gradientAwareScores}. */
export interface ScoreOptions {
  /** Selection strength β. */
  beta: number;
  /** Scaling of u (see {@link GradientNormalisation}). */
  gradNorm: GradientNormalisation;
  /**
   * u before scaling, [n, d_sae], from `grad` and W_dec (default |g·W_decᵀ|); the Fisher g-SAE
   * passes its norm over S sampled-token gradients.
   */
  directionalNorm?: DirectionalNorm;
}

/** u from a batch's gradient input and the decoder W_dec [d_sae, d_in], [n, d_sae]. */
export type DirectionalNorm = (grad: tf.Tensor2D, wDec: tf.Tensor2D) => tf.Tensor2D;

/** The g-SAE's u = |g·W_decᵀ|. */
function absDirectional(grad: tf.Tensor2D, wDec: tf.Tensor2D): tf.Tensor2D {
  return tf.abs(matMul(grad, wDec, false, true)) as tf.Tensor2D;
}

/**
 * The g-SAE selection score s = z ⊙ (1 + β·u), u = |g·W_decᵀ| (optionally divided by its batch
 * mean), [n, d_sae]. For selection only: the result is read as plain numbers, never
 * differentiated.
 */
export function gradientAwareScores(
  input: SelectionInput & { grad: tf.Tensor2D },
  options: ScoreOptions,
): tf.Tensor2D {
  return tf.tidy(() => {
    const wDec = input.params.get("W_dec")! as tf.Tensor2D;
    let u = (options.directionalNorm ?? absDirectional)(input.grad, wDec);
    if (options.gradNorm === "batch_mean") {
      // The floor only matters for an all-zero gradient, where u stays 0 and s = z.
      u = tf.div(u, tf.maximum(tf.mean(u), 1e-30));
    }
    return tf.mul(input.z, tf.add(1, tf.mul(u, options.beta)));
  });
}

/**
 * The g-SAE's mask: top k of the gradient-aware score per token, or plain TopK when there is
 * no gradient or β = 0 (then the score is not even computed, so β = 0 is TopK bit for bit).
 */
export function gradientTopKMask(
  input: SelectionInput,
  config: Pick<GSAEConfig, "beta" | "k" | "grad_norm">,
  options: { directionalNorm?: DirectionalNorm } = {},
): tf.Tensor2D {
  if (!input.grad || config.beta === 0) return perRowTopKMask(input.z, config.k);
  const scores = gradientAwareScores({ ...input, grad: input.grad }, {
    beta: config.beta,
    gradNorm: config.grad_norm,
    directionalNorm: options.directionalNorm,
  });
  const mask = maskFromTensor(scores, { kind: "per_row", k: config.k });
  scores.dispose();
  return mask;
}

/** A g-SAE from a complete config. */
function gsaeFromConfig(config: GSAEConfig): SelectiveSAE<GSAEConfig> {
  const select = (input: SelectionInput) => gradientTopKMask(input, config);
  return new SelectiveSAE(config, {
    train: select,
    encode: select,
    auxiliary: auxKTerm(config),
  });
}

/**
 * A g-SAE. `encode(x, { grad })` and `loss({ x, grad })` select with the gradient; without one
 * they behave as TopK. Unspecified options take their defaults.
 */
export function createGSAE(options: GSAEOptions): SelectiveSAE<GSAEConfig> {
  return gsaeFromConfig(parseConfig(GSAE_SCHEMA, { ...options, architecture: "gsae" }, "gsae"));
}

/** The g-SAE in the registry. */
export const GSAE: Architecture<GSAEConfig> = {
  name: "gsae",
  source: "Olmo et al. 2024, arXiv 2411.10397",
  fields: { ...TOPK_FIELDS, ...GSAE_FIELDS },
  schema: GSAE_SCHEMA,
  create: gsaeFromConfig,
  trainsOn: "activations",
  usesGradient: true,
  saelens: { architecture: "topk" },
  fusedStep: true,
};
