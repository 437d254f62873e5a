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
 * {@link jumpReluExtrasToFile} and {@link jumpReluExtrasFromFile} convert.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import {
  type BaseSAEConfig,
  decodeLinear,
  normaliseRows,
  param,
  preActivations,
  removeParallelComponent,
  type SAE,
  type SAEBatch,
  type SAELossResult,
  type SAETrainContext,
  sumSquaredError,
  tiedInit,
} from "./base.ts";
import type { DecoderBiasInit } from "./topk.ts";

/** JumpReLU SAE options. */
export interface JumpReLUConfig extends BaseSAEConfig {
  /** λ, the weight of the L0 penalty. */
  l0_coefficient: number;
  /** ε, the width of the rectangle kernel in the threshold's straight-through gradients. */
  bandwidth: number;
  /** θ at initialisation, the same for every latent. */
  initial_threshold: number;
  /** Keep decoder rows at unit norm (renormalise after each step, project the gradient). */
  unit_norm_decoder: boolean;
  /** How the trainer initialises b_dec from a data sample. */
  b_dec_init: DecoderBiasInit;
}

/**
 * Defaults for {@link JumpReLUConfig}, for activations scaled to unit mean squared norm
 * (E‖x‖² = 1, the paper's convention; ε and θ₀ are in those units).
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
export const JUMPRELU_DEFAULTS = {
  l0_coefficient: 1e-3,
  bandwidth: 0.001,
  initial_threshold: 0.001,
  unit_norm_decoder: true,
  b_dec_init: "mean" as DecoderBiasInit,
  seed: 0,
};

/** What {@link createJumpReLU} needs: the sizes; anything else falls back to its default. */
export type JumpReLUOptions = Pick<JumpReLUConfig, "d_in" | "d_sae"> & Partial<JumpReLUConfig>;

/** A complete JumpReLU config from partial options and {@link JUMPRELU_DEFAULTS}. */
export function resolveJumpReLUConfig(options: JumpReLUOptions): JumpReLUConfig {
  return { ...JUMPRELU_DEFAULTS, ...options, architecture: "jumprelu" };
}

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
export class JumpReLUSAE implements SAE {
  /** Its configuration. */
  readonly config: JumpReLUConfig;
  /** W_enc, b_enc, W_dec, b_dec and log_threshold [d_sae]. */
  readonly params: Map<string, tf.Variable>;

  /** @param config a complete config ({@link resolveJumpReLUConfig}). */
  constructor(config: JumpReLUConfig) {
    this.config = config;
    this.params = tiedInit(config.d_in, config.d_sae, config.seed);
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

  /** x̂ = f·W_dec + b_dec. */
  decode(latents: tf.Tensor2D): tf.Tensor2D {
    return decodeLinear(this.params, latents);
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

  /** With `unit_norm_decoder`, remove the decoder gradient's component along each row. */
  adjustGradients(grads: Record<string, tf.Tensor>): void {
    const g = grads["W_dec"];
    if (!this.config.unit_norm_decoder || !g) return;
    const wDec = this.params.get("W_dec")! as tf.Tensor2D;
    grads["W_dec"] = removeParallelComponent(wDec, g as tf.Tensor2D);
    g.dispose();
  }

  /** With `unit_norm_decoder`, put the decoder rows back on the unit sphere. */
  afterStep(): void {
    if (this.config.unit_norm_decoder) normaliseRows(this.params.get("W_dec")!);
  }
}

/**
 * A JumpReLU SAE; unspecified options take {@link JUMPRELU_DEFAULTS}. Initial weights: tied
 * (random unit-norm decoder rows, W_enc = W_decᵀ, zero biases; b_dec is then set from the data
 * by the trainer) and θ = `initial_threshold` everywhere.
 */
export function createJumpReLU(options: JumpReLUOptions): JumpReLUSAE {
  return new JumpReLUSAE(resolveJumpReLUConfig(options));
}

/** A tensor as it is written to or read from a file. */
export interface FileTensor {
  /** Its shape. */
  shape: number[];
  /** Its values, row-major. */
  data: Float32Array;
}

/**
 * The parameters a SAELens JumpReLU file stores differently from `params`: `threshold` = θ =
 * exp(log_threshold). W_enc, b_enc, W_dec and b_dec keep their names and layout.
 */
export function jumpReluExtrasToFile(params: Map<string, tf.Variable>): Record<string, FileTensor> {
  const logTheta = params.get("log_threshold");
  if (!logTheta) throw new Error("jumpReluExtrasToFile: no log_threshold parameter");
  const data = (logTheta.dataSync() as Float32Array).map(Math.exp);
  return { threshold: { shape: [...logTheta.shape], data } };
}

/**
 * The inverse of {@link jumpReluExtrasToFile}: `log_threshold` from a file's `threshold`. A zero
 * threshold becomes the smallest normal float32 (it fires at the same tokens up to 1e-38);
 * negative ones cannot be represented by log θ and throw.
 */
export function jumpReluExtrasFromFile(
  tensors: Map<string, FileTensor> | Record<string, FileTensor>,
): Record<string, FileTensor> {
  const threshold = tensors instanceof Map ? tensors.get("threshold") : tensors["threshold"];
  if (!threshold) throw new Error("jumpReluExtrasFromFile: the file has no `threshold` tensor");
  const data = new Float32Array(threshold.data.length);
  for (let i = 0; i < data.length; i++) {
    const t = threshold.data[i];
    if (!(t >= 0)) throw new Error(`jumpReluExtrasFromFile: threshold[${i}] = ${t} is not ≥ 0`);
    data[i] = Math.log(Math.max(t, 1.1754944e-38));
  }
  return { log_threshold: { shape: [...threshold.shape], data } };
}
