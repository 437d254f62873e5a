/**
 * ReLU-L1 SAE: the "baseline SAE" of the Gated SAE paper (Rajamanoharan et al., arXiv 2404.16014,
 * §2), the comparator of its headline claim, and SAELens's "standard" architecture.
 *
 * f = ReLU((x − b_dec)·W_enc + b_enc), x̂ = f·W_dec + b_dec,
 * loss = ‖x − x̂‖² + λ·Σᵢ fᵢ·‖dᵢ‖, each term summed over its dimensions and averaged over tokens.
 *
 * The paper trains the plain L1 Σᵢ fᵢ under unit-norm decoder rows; with `unit_norm_decoder` (the
 * default) ‖dᵢ‖ = 1 and the two are the same. Without the constraint the L1 is weighted by the row
 * norms (SAELens's later form), so shrinking f against growing rows cannot dodge the penalty.
 *
 * The L1 penalty shrinks every active latent towards zero; the Gated paper's remedy is to decide
 * which latents fire separately from how strongly. This is the SAE that shows the shrinkage.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import {
  decodeLinear,
  LinearDecoderSAE,
  preActivations,
  sumSquaredError,
  tiedInit,
} from "./base.ts";
import type { SAEBatch, SAELossResult, SAETrainContext } from "./base.ts";
import { l0 } from "../metrics/reconstruction.ts";
import { baseFields, decoderBiasInit, parseConfig, z } from "./config.ts";
import { decoderWeightedL1, defaultGatedL1 } from "./gated.ts";
import type { Architecture } from "./registry.ts";

/**
 * The ReLU-L1 SAE's fields:
 * - `l1_coefficient` λ, default 5/√d_in as Gated's ({@link defaultGatedL1}: the same trade-off for
 *   activations scaled to E‖x‖² = 1); sweep it, as the Gated paper does for both.
 * - `unit_norm_decoder` true: the paper's constraint.
 * - `b_dec_init` mean: the data mean, set by the trainer.
 */
export const RELU_L1_FIELDS = {
  l1_coefficient: z.number().min(0).optional().describe(
    "λ, the weight of the L1 of the latents (decoder-norm-weighted; default 5/√d_in)",
  ),
  unit_norm_decoder: z.boolean().default(true).describe(
    "keep decoder rows at unit norm (the Gated paper's baseline constraint)",
  ),
  b_dec_init: decoderBiasInit.default("mean").describe(
    "how the trainer initialises b_dec from a data sample",
  ),
};

/** The ReLU-L1 config schema. */
export const RELU_L1_SCHEMA = z
  .strictObject({ ...baseFields(["relu_l1"]), ...RELU_L1_FIELDS })
  .transform((c) => ({ ...c, l1_coefficient: c.l1_coefficient ?? defaultGatedL1(c.d_in) }));

/** A complete ReLU-L1 config. */
export type ReluL1Config = z.output<typeof RELU_L1_SCHEMA>;

/** What {@link createReluL1} needs: the sizes; anything else falls back to its default. */
export type ReluL1Options = Omit<z.input<typeof RELU_L1_SCHEMA>, "architecture">;

/** A ReLU-L1 SAE; build one with {@link createReluL1}. */
export class ReluL1SAE extends LinearDecoderSAE<ReluL1Config> {
  /** @param config a complete config ({@link RELU_L1_SCHEMA}); tied initial weights. */
  constructor(config: ReluL1Config) {
    super(config, tiedInit(config.d_in, config.d_sae, config.seed));
  }

  /** Latents f = ReLU((x − b_dec)·W_enc + b_enc), [n, d_sae]. */
  encode(x: tf.Tensor2D): tf.Tensor2D {
    return tf.tidy(() => tf.relu(preActivations(this.params, x)));
  }

  /** ‖x − x̂‖² + λ·L1. Parts: `mse` (summed over d_in, mean over tokens), `l1` (before λ), `l0`. */
  loss(batch: SAEBatch, _ctx?: SAETrainContext): SAELossResult {
    const latents = tf.relu(preActivations(this.params, batch.x)) as tf.Tensor2D;
    const mse = sumSquaredError(batch.x, decodeLinear(this.params, latents));
    const wDec = this.params.get("W_dec")! as tf.Tensor2D;
    const l1 = decoderWeightedL1(latents, wDec, { normGradient: !this.config.unit_norm_decoder });
    const loss = tf.add(mse, tf.mul(l1, this.config.l1_coefficient)) as tf.Scalar;
    return { loss, parts: { mse, l1, l0: l0(latents) }, latents };
  }

  /** Decoder rows stay at unit norm with `unit_norm_decoder` (the default). */
  override unitNormDecoder(): boolean {
    return this.config.unit_norm_decoder;
  }
}

/** A ReLU-L1 SAE; unspecified options take their defaults. */
export function createReluL1(options: ReluL1Options): ReluL1SAE {
  return new ReluL1SAE(
    parseConfig(RELU_L1_SCHEMA, { ...options, architecture: "relu_l1" }, "relu_l1"),
  );
}

/** The ReLU-L1 SAE in the registry (SAELens's "standard" architecture). */
export const RELU_L1: Architecture<ReluL1Config> = {
  name: "relu_l1",
  source: "Rajamanoharan et al. 2024, arXiv 2404.16014, §2 (the Gated paper's baseline SAE)",
  fields: RELU_L1_FIELDS,
  schema: RELU_L1_SCHEMA,
  create: (config) => new ReluL1SAE(config),
  trainsOn: "activations",
  usesGradient: false,
  saelens: { architecture: "standard" },
  fusedStep: false,
};
