/**
 * JumpReLU SAE (Rajamanoharan et al., "Jumping Ahead: Improving Reconstruction Fidelity with
 * JumpReLU Sparse Autoencoders", arXiv 2407.14435).
 *
 * z = (x − b_dec)·W_enc + b_enc, f = z ⊙ H(z − θ), x̂ = f·W_dec + b_dec, with θ = exp(log_threshold)
 * per latent. Loss = ‖x − x̂‖² + λ·L0, L0 = Σᵢ H(zᵢ − θᵢ), both averaged over tokens.
 *
 * H has no useful derivative, so both pieces use the paper's straight-through estimators with a
 * rectangle kernel K(u) = 1[|u| ≤ ½] of bandwidth ε:
 *   ∂f/∂θ = −(θ/ε)·K((z − θ)/ε),  ∂H(z − θ)/∂θ = −(1/ε)·K((z − θ)/ε),
 *   ∂f/∂z = H(z − θ),             ∂H(z − θ)/∂z = 0 (the L0 term trains only θ).
 * The threshold is stored as log θ (as SAELens trains it), so it stays positive; autodiff of
 * exp supplies the factor θ in ∂/∂log θ = θ·∂/∂θ. SAELens files store `threshold` = θ instead:
 * {@link THRESHOLD_IN_FILE} converts.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import {
  decodeLinear,
  LinearDecoderSAE,
  param,
  preActivations,
  sumSquaredError,
  tiedInit,
} from "./base.ts";
import type { SAEBatch, SAELossResult, SAETrainContext } from "./base.ts";
import { baseFields, decoderBiasInit, parseConfig, z } from "./config.ts";
import type { Architecture, SaelensRenamed } from "./registry.ts";

/**
 * The JumpReLU SAE's fields, with defaults for activations scaled to unit mean squared norm
 * (E‖x‖² = 1, the paper's convention; ε and θ₀ are in those units):
 *
 * - `l0_coefficient` 1e-3 (our estimate, not a paper value): λ is the squared error one more
 *   firing latent must remove to pay for itself. At E‖x‖² = 1 and the L0 of 32-64 this project
 *   compares at, the last latents a token uses remove roughly 1e-3 each, so this λ should land
 *   near that L0. The paper sweeps λ; sweep it too.
 * - `bandwidth` 0.001 and `initial_threshold` 0.001: the paper's values.
 * - `unit_norm_decoder` true: the loss is unchanged by W_dec·c, W_enc/c, b_enc/c, θ/c, so
 *   without a constraint the scale of z could drift against the fixed ε and θ₀; unit-norm
 *   decoder rows pin it.
 * - `b_dec_init` mean: the data mean, set by the trainer.
 */
export const JUMPRELU_FIELDS = {
  l0_coefficient: z.number().min(0).default(1e-3).describe("λ, the weight of the L0 penalty"),
  bandwidth: z.number().positive().default(0.001).describe(
    "ε, the width of the rectangle kernel in the threshold's straight-through gradients",
  ),
  initial_threshold: z.number().positive().default(0.001).describe(
    "θ at initialisation, the same for every latent",
  ),
  unit_norm_decoder: z.boolean().default(true).describe(
    "keep decoder rows at unit norm (renormalise after each step, project the gradient)",
  ),
  b_dec_init: decoderBiasInit.default("mean").describe(
    "how the trainer initialises b_dec from a data sample",
  ),
};

/** The JumpReLU config schema. */
export const JUMPRELU_SCHEMA = z.strictObject({ ...baseFields(["jumprelu"]), ...JUMPRELU_FIELDS });

/** A complete JumpReLU config. */
export type JumpReLUConfig = z.output<typeof JUMPRELU_SCHEMA>;

/** What {@link createJumpReLU} needs: the sizes; anything else falls back to its default. */
export type JumpReLUOptions = Omit<z.input<typeof JUMPRELU_SCHEMA>, "architecture">;

/** Options of the straight-through estimators. */
export interface StraightThroughOptions {
  /** ε, the rectangle kernel's width. */
  bandwidth: number;
}

/** K((z − θ)/ε) = 1[|z − θ| ≤ ε/2], as 0/1 floats. */
function rectangle(z: tf.Tensor, theta: tf.Tensor, bandwidth: number): tf.Tensor {
  return tf.cast(tf.lessEqual(tf.abs(tf.sub(z, theta)), bandwidth / 2), "float32");
}

/**
 * JumpReLU f = z ⊙ H(z − θ) for z [n, d_sae] and θ [d_sae], with gradients ∂f/∂z = H(z − θ)
 * and ∂f/∂θ = −(θ/ε)·K((z − θ)/ε) (paper's straight-through estimator).
 */
export function jumpRelu(
  z: tf.Tensor2D,
  theta: tf.Tensor1D,
  options: StraightThroughOptions,
): tf.Tensor2D {
  const eps = options.bandwidth;
  const f = tf.customGrad((zIn, thetaIn, save) => {
    const [zz, th] = [zIn as tf.Tensor2D, thetaIn as tf.Tensor1D];
    // Saved tensors outlive the caller's tidy, which the gradient pass may run after.
    (save as tf.GradSaveFunc)([zz, th]);
    return {
      value: tf.mul(zz, tf.step(tf.sub(zz, th), 0)),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [sz, sth] = saved;
        const dz = tf.mul(dy, tf.step(tf.sub(sz, sth), 0));
        const kernelSum = tf.sum(tf.mul(dy, rectangle(sz, sth, eps)), 0);
        return [dz, tf.mul(kernelSum, tf.div(sth, -eps))];
      },
    };
  });
  return f(z, theta) as tf.Tensor2D;
}

/**
 * H(z − θ) for z [n, d_sae] and θ [d_sae], with ∂/∂θ = −(1/ε)·K((z − θ)/ε) and no gradient to z
 * (the paper's L0 estimator). z is read, not differentiated: nothing flows back into it.
 */
export function thresholdStep(
  z: tf.Tensor2D,
  theta: tf.Tensor1D,
  options: StraightThroughOptions,
): tf.Tensor2D {
  const eps = options.bandwidth;
  const f = tf.customGrad((thetaIn, save) => {
    const th = thetaIn as tf.Tensor1D;
    (save as tf.GradSaveFunc)([z, th]);
    return {
      value: tf.step(tf.sub(z, th), 0),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [sz, sth] = saved;
        return [tf.div(tf.sum(tf.mul(dy, rectangle(sz, sth, eps)), 0), -eps)];
      },
    };
  });
  return f(theta) as tf.Tensor2D;
}

/** A JumpReLU SAE; build one with {@link createJumpReLU}. */
export class JumpReLUSAE extends LinearDecoderSAE<JumpReLUConfig> {
  /**
   * @param config a complete config ({@link JUMPRELU_SCHEMA}). Parameters: W_enc, b_enc, W_dec,
   * b_dec and log_threshold [d_sae].
   */
  constructor(config: JumpReLUConfig) {
    super(config, tiedInit(config.d_in, config.d_sae, config.seed));
    const logTheta = new Float32Array(config.d_sae).fill(Math.log(config.initial_threshold));
    this.params.set("log_threshold", param("log_threshold", logTheta, [config.d_sae]));
  }

  /** θ = exp(log_threshold), [d_sae]. */
  threshold(): tf.Tensor1D {
    return tf.exp(this.params.get("log_threshold")!) as tf.Tensor1D;
  }

  /** Latents f = z ⊙ 1[z > θ], [n, d_sae]. */
  encode(x: tf.Tensor2D): tf.Tensor2D {
    return tf.tidy(() => {
      const z = preActivations(this.params, x);
      return tf.mul(z, tf.step(tf.sub(z, this.threshold()), 0));
    });
  }

  /** ‖x − x̂‖² + λ·L0. Parts: `mse` (summed over d_in, mean over tokens) and `l0`. */
  loss(batch: SAEBatch, _ctx?: SAETrainContext): SAELossResult {
    const { x } = batch;
    const opts = { bandwidth: this.config.bandwidth };
    const z = preActivations(this.params, x);
    const theta = this.threshold();
    const latents = jumpRelu(z, theta, opts);
    const mse = sumSquaredError(x, decodeLinear(this.params, latents));
    const l0Loss = tf.mean(tf.sum(thresholdStep(z, theta, opts), 1)) as tf.Scalar;
    const loss = tf.add(mse, tf.mul(l0Loss, this.config.l0_coefficient)) as tf.Scalar;
    return { loss, parts: { mse, l0: l0Loss }, latents };
  }

  /** Decoder rows stay at unit norm only with `unit_norm_decoder`. */
  override unitNormDecoder(): boolean {
    return this.config.unit_norm_decoder;
  }
}

/**
 * A JumpReLU SAE; unspecified options take their defaults. Initial weights: tied (random
 * unit-norm decoder rows, W_enc = W_decᵀ, zero biases; b_dec is then set from the data by the
 * trainer) and θ = `initial_threshold` everywhere.
 */
export function createJumpReLU(options: JumpReLUOptions): JumpReLUSAE {
  return new JumpReLUSAE(
    parseConfig(JUMPRELU_SCHEMA, { ...options, architecture: "jumprelu" }, "jumprelu"),
  );
}

/**
 * How SAELens files store the threshold: as θ itself (`threshold`), where our parameter is
 * log θ (`log_threshold`). Every other parameter keeps its name and layout. A file's θ must be
 * positive and finite: log θ cannot represent the rest.
 */
export const THRESHOLD_IN_FILE: SaelensRenamed = {
  file: "threshold",
  toFile: (logTheta) => logTheta.map(Math.exp),
  fromFile: (theta, where) => {
    const bad = theta.findIndex((v) => !(v > 0 && Number.isFinite(v)));
    if (bad >= 0) {
      throw new Error(`${where}: threshold[${bad}] = ${theta[bad]}: log_threshold needs θ > 0`);
    }
    return theta.map(Math.log);
  },
};

/** The JumpReLU SAE in the registry. */
export const JUMPRELU: Architecture<JumpReLUConfig> = {
  name: "jumprelu",
  source: "Rajamanoharan et al. 2024, arXiv 2407.14435",
  fields: JUMPRELU_FIELDS,
  schema: JUMPRELU_SCHEMA,
  create: (config) => new JumpReLUSAE(config),
  trainsOn: "activations",
  usesGradient: false,
  saelens: { architecture: "jumprelu", renamed: { log_threshold: THRESHOLD_IN_FILE } },
  fusedStep: false,
};
