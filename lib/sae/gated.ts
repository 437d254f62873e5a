/**
 * Gated SAE (Rajamanoharan et al., "Improving Dictionary Learning with Gated Sparse
 * Autoencoders", arXiv 2404.16014), with the parameter names of SAELens's "gated" architecture.
 *
 * π_gate = (x − b_dec)·W_enc + b_gate, π_mag = (x − b_dec)·(W_enc ⊙ exp(r_mag)) + b_mag,
 * f = 1[π_gate > 0] ⊙ ReLU(π_mag), x̂ = f·W_dec + b_dec.
 *
 * Loss = ‖x − x̂‖² + λ·Σᵢ ReLU(π_gate)ᵢ·‖dᵢ‖ + ‖x − x̂_frozen(ReLU(π_gate))‖², each term summed
 * over its dimensions and averaged over tokens. The Heaviside has zero gradient, so the gate
 * learns only from the L1 and auxiliary terms; the auxiliary reconstruction uses a frozen copy
 * of W_dec and b_dec, so it sends no gradient into the decoder (both as in the paper).
 *
 * The L1 is weighted by the decoder row norms (the form SAELens trains, after Anthropic's April
 * 2024 update) instead of the paper's plain L1 under a unit-norm decoder constraint; with the
 * weighting the constraint is optional (`unit_norm_decoder`).
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { matMul } from "../tensor/ops.ts";
import { decodeLinear, LinearDecoderSAE, param, sumSquaredError, tiedInit } from "./base.ts";
import type { SAEBatch, SAELossResult, SAETrainContext } from "./base.ts";
import { l0 } from "../metrics/reconstruction.ts";
import { baseFields, decoderBiasInit, parseConfig, z } from "./config.ts";
import type { Architecture } from "./registry.ts";

/**
 * The Gated SAE's fields, with defaults that assume activations scaled to unit mean squared
 * norm (E‖x‖² = 1), the JumpReLU paper's convention by the same authors:
 *
 * - `l1_coefficient` 5/√d_in ({@link defaultGatedL1}), filled in when not given.
 * - `l1_norm_gradient` false: the Gated authors' advice (LessWrong discussion of the paper) for
 *   a norm-weighted penalty beside a frozen auxiliary decoder: the auxiliary decoder is frozen,
 *   so freeze the norms in the penalty too, or the penalty shrinks decoder rows and nothing
 *   resists it.
 * - `unit_norm_decoder` false: the norm-weighted L1 makes the constraint unnecessary.
 * - `b_dec_init` mean: the data mean, set by the trainer.
 */
export const GATED_FIELDS = {
  l1_coefficient: z.number().min(0).optional().describe(
    "λ, the weight of the decoder-norm-weighted L1 of ReLU(π_gate) (default 5/√d_in)",
  ),
  l1_norm_gradient: z.boolean().default(false).describe(
    "whether the L1 term's decoder-norm weights pass gradient into W_dec",
  ),
  unit_norm_decoder: z.boolean().default(false).describe(
    "keep decoder rows at unit norm (the paper's original constraint)",
  ),
  b_dec_init: decoderBiasInit.default("mean").describe(
    "how the trainer initialises b_dec from a data sample",
  ),
};

/**
 * Default λ: 5/√d_in (0.18 for GPT-2's d_in = 768). Anthropic's April 2024 update trains the
 * same decoder-norm-weighted L1 with λ = 5 on activations scaled to E‖x‖ = √d_in; the L1 scales
 * with the activations and the squared error with their square, so the same trade-off at
 * E‖x‖² = 1 is λ = 5/√d_in. The Gated paper sweeps λ; sweep it too.
 */
export function defaultGatedL1(dIn: number): number {
  return 5 / Math.sqrt(dIn);
}

/** The Gated config schema. */
export const GATED_SCHEMA = z
  .strictObject({ ...baseFields(["gated"]), ...GATED_FIELDS })
  .transform((c) => ({ ...c, l1_coefficient: c.l1_coefficient ?? defaultGatedL1(c.d_in) }));

/** A complete Gated config. */
export type GatedConfig = z.output<typeof GATED_SCHEMA>;

/** What {@link createGated} needs: the sizes; anything else falls back to its default. */
export type GatedOptions = Omit<z.input<typeof GATED_SCHEMA>, "architecture">;

/** The two encoder pre-activations of a Gated SAE, each [n, d_sae]. */
export interface GatedPreActivations {
  /** π_gate = (x − b_dec)·W_enc + b_gate. */
  piGate: tf.Tensor2D;
  /** π_mag = (x − b_dec)·(W_enc ⊙ exp(r_mag)) + b_mag. */
  piMag: tf.Tensor2D;
}

/** π_gate and π_mag for activations x [n, d_in]. */
export function gatedPreActivations(
  params: Map<string, tf.Variable>,
  x: tf.Tensor2D,
): GatedPreActivations {
  const p = (name: string) => params.get(name)!;
  const projected = matMul(tf.sub(x, p("b_dec")) as tf.Tensor2D, p("W_enc"));
  // exp(r_mag) scales W_enc column by column, so (x − b_dec)·(W_enc ⊙ exp(r_mag)) equals the
  // shared projection scaled per latent: one matmul serves both paths, with equal gradients.
  return {
    piGate: tf.add(projected, p("b_gate")),
    piMag: tf.add(tf.mul(projected, tf.exp(p("r_mag"))), p("b_mag")),
  };
}

/** f = 1[π_gate > 0] ⊙ ReLU(π_mag); the step has zero gradient (tfjs's Step kernel). */
export function gatedLatents(pre: GatedPreActivations): tf.Tensor2D {
  return tf.mul(tf.step(pre.piGate, 0), tf.relu(pre.piMag));
}

/**
 * a·W_dec + b_dec with W_dec and b_dec frozen: gradient reaches `latents` (dy·W_decᵀ) but
 * none reaches the decoder. The decoder is read inside a custom gradient, where tfjs records
 * nothing, so the backward pass also skips the W_dec-gradient matmul a zero mask would waste.
 */
export function frozenDecode(
  params: Map<string, tf.Variable>,
  latents: tf.Tensor2D,
): tf.Tensor2D {
  const wDec = params.get("W_dec")! as tf.Tensor2D;
  const bDec = params.get("b_dec")!;
  const f = tf.customGrad((a) => ({
    value: tf.add(matMul(a as tf.Tensor2D, wDec), bDec),
    gradFunc: (dy: tf.Tensor) => [matMul(dy as tf.Tensor2D, wDec, false, true)],
  }));
  return f(latents) as tf.Tensor2D;
}

/** Euclidean norm of each row of a [rows, cols] matrix, [rows]. */
function rowNorms(w: tf.Tensor2D): tf.Tensor1D {
  return tf.sqrt(tf.sum(tf.square(w), 1));
}

/**
 * Mean over tokens of Σᵢ aᵢ·‖dᵢ‖ for gate activations a [n, d_sae] and decoder rows dᵢ. With
 * `normGradient` false the norms are constants: no gradient reaches W_dec from this term.
 */
export function decoderWeightedL1(
  gateActs: tf.Tensor2D,
  wDec: tf.Tensor2D,
  options: { normGradient: boolean },
): tf.Scalar {
  if (options.normGradient) return tf.mean(tf.sum(tf.mul(gateActs, rowNorms(wDec)), 1));
  const [n, dSae] = gateActs.shape;
  const f = tf.customGrad((a, save) => {
    const norms = rowNorms(wDec);
    (save as tf.GradSaveFunc)([norms]);
    return {
      value: tf.mean(tf.sum(tf.mul(a as tf.Tensor2D, norms), 1)),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => [
        tf.broadcastTo(tf.mul(saved[0], tf.div(dy, n)).reshape([1, dSae]), [n, dSae]),
      ],
    };
  });
  return f(gateActs) as tf.Scalar;
}

/** A Gated SAE; build one with {@link createGated}. */
export class GatedSAE extends LinearDecoderSAE<GatedConfig> {
  /**
   * @param config a complete config ({@link GATED_SCHEMA}). Parameters: W_enc (= W_gate),
   * b_gate, r_mag, b_mag, W_dec, b_dec, by SAELens name.
   */
  constructor(config: GatedConfig) {
    super(config, gatedInit(config));
  }

  /** Latents f = 1[π_gate > 0] ⊙ ReLU(π_mag), [n, d_sae]. */
  encode(x: tf.Tensor2D): tf.Tensor2D {
    return tf.tidy(() => gatedLatents(gatedPreActivations(this.params, x)));
  }

  /**
   * ‖x − x̂‖² + λ·L1 + aux. Parts: `mse` and `aux` (each summed over d_in, mean over tokens),
   * `l1` (before λ) and `l0`.
   */
  loss(batch: SAEBatch, _ctx?: SAETrainContext): SAELossResult {
    const { x } = batch;
    const pre = gatedPreActivations(this.params, x);
    const latents = gatedLatents(pre);
    const mse = sumSquaredError(x, decodeLinear(this.params, latents));
    const gateActs = tf.relu(pre.piGate);
    const wDec = this.params.get("W_dec")! as tf.Tensor2D;
    const l1 = decoderWeightedL1(gateActs, wDec, { normGradient: this.config.l1_norm_gradient });
    const aux = sumSquaredError(x, frozenDecode(this.params, gateActs));
    const loss = tf.addN([mse, tf.mul(l1, this.config.l1_coefficient), aux]) as tf.Scalar;
    return { loss, parts: { mse, l1, aux, l0: l0(latents) }, latents };
  }

  /** Decoder rows stay at unit norm only with `unit_norm_decoder`. */
  override unitNormDecoder(): boolean {
    return this.config.unit_norm_decoder;
  }
}

/**
 * Initial weights: decoder rows random and unit norm, W_enc = W_decᵀ, r_mag = 0 (so the two
 * paths start equal), b_gate = b_mag = 0 (as SAELens initialises them). b_dec starts at 0 and is
 * set from the data by the trainer (`b_dec_init`).
 */
function gatedInit(config: GatedConfig): Map<string, tf.Variable> {
  const tied = tiedInit(config.d_in, config.d_sae, config.seed);
  tied.get("b_enc")!.dispose();
  const zeros = () => new Float32Array(config.d_sae);
  return new Map([
    ["W_enc", tied.get("W_enc")!],
    ["b_gate", param("b_gate", zeros(), [config.d_sae])],
    ["r_mag", param("r_mag", zeros(), [config.d_sae])],
    ["b_mag", param("b_mag", zeros(), [config.d_sae])],
    ["W_dec", tied.get("W_dec")!],
    ["b_dec", tied.get("b_dec")!],
  ]);
}

/** A Gated SAE; unspecified options take their defaults. */
export function createGated(options: GatedOptions): GatedSAE {
  return new GatedSAE(parseConfig(GATED_SCHEMA, { ...options, architecture: "gated" }, "gated"));
}

/** The Gated SAE in the registry. */
export const GATED: Architecture<GatedConfig> = {
  name: "gated",
  source: "Rajamanoharan et al. 2024, arXiv 2404.16014",
  fields: GATED_FIELDS,
  schema: GATED_SCHEMA,
  create: (config) => new GatedSAE(config),
  trainsOn: "activations",
  usesGradient: false,
  saelens: { architecture: "gated" },
  fusedStep: false,
};
