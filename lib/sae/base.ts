/**
 * The one interface every sparse autoencoder implements, and the pieces they share.
 *
 * Conventions (SAELens-compatible): `W_enc` [d_in, d_sae], `W_dec` [d_sae, d_in] (row i is
 * latent i's decoder direction d_i, kept at unit norm where the architecture says so),
 * `b_enc` [d_sae], `b_dec` [d_in]. Pre-activations z = (x − b_dec)·W_enc + b_enc. Latent
 * activations are dense [tokens, d_sae] tensors with zeros where a latent is off.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { GPT2, HookState } from "../gpt2/model.ts";
import type { SplicedKLLimits } from "./e2e_kl.ts";
import { matMul } from "../tensor/ops.ts";
import { Rng } from "../tensor/random.ts";
import { variableFrom } from "../tensor/variables.ts";

/** Options every architecture has. Architecture modules extend this with their own fields. */
export interface BaseSAEConfig {
  /** Which architecture (a name in the registry, `registry.ts`). */
  architecture: string;
  /** Width of the hooked activation. */
  d_in: number;
  /** Number of latents (expansion factor × d_in). */
  d_sae: number;
  /** Seed for the initial weights. */
  seed: number;
}

/** One training batch: activations and, for gradient-aware SAEs, ∇ₓL at the same tokens. */
export interface SAEBatch {
  /** Activations x, [n, d_in]. */
  x: tf.Tensor2D;
  /** Gradients of the LM loss with respect to x, [n, d_in] (when the store has them). */
  grad?: tf.Tensor2D;
  /**
   * The language model around the hook, for losses that splice the reconstruction back in
   * (e2e). Then x holds the hook's activations of `ids`, flattened to [batch·seq, d_in].
   */
  lm?: SpliceContext;
}

/** What an end-to-end loss needs to run the model on from the hook. */
export interface SpliceContext {
  /** The frozen language model. */
  model: GPT2;
  /** The hook the SAE reads and writes. */
  hook: string;
  /** Token ids [batch, seq]. */
  ids: tf.Tensor2D;
  /** The clean activation (and residual, for attn_out/mlp_out hooks) at the hook. */
  state: HookState;
  /** Clean next-token log-probabilities [batch·(seq − 1), vocab], computed without gradient. */
  cleanLogProbs: tf.Tensor2D;
  /** Per-pass limits of the spliced KL (`e2e_kl.ts`); unset, they follow the model's shape. */
  limits?: SplicedKLLimits;
}

/** A training loss and the numbers to log with it. */
export interface SAELossResult {
  /** The scalar to minimise. */
  loss: tf.Scalar;
  /** Named scalar parts (mse, aux, l1, l0, …) for logging; plain numbers are not needed here. */
  parts: Record<string, tf.Scalar>;
  /** The latent activations used, [n, d_sae], for dead-latent tracking (no gradient needed). */
  latents: tf.Tensor2D;
}

/** State the trainer passes to losses that depend on training history. */
export interface SAETrainContext {
  /** Per-latent count of tokens since the latent last fired ([d_sae]; AuxK uses it). */
  tokensSinceFired: Float32Array;
  /** Tokens without firing after which a latent counts as dead (the trainer's window). */
  deadWindowTokens: number;
  /** Per-latent firing frequency so far, for frequency-based auxiliary losses. */
  firingFrequency: Float32Array;
  /** Optimiser step (0-based). */
  step: number;
}

/** A sparse autoencoder. Implementations live one per file in `lib/sae/`. */
export interface SAE {
  /** Its configuration (serialised to cfg.json). */
  readonly config: BaseSAEConfig;
  /** Trainable parameters by SAELens name (W_enc, W_dec, b_enc, b_dec, plus extras). */
  readonly params: Map<string, tf.Variable>;
  /**
   * Latent activations [n, d_sae] for activations x [n, d_in]. Gradient-aware architectures use
   * `grad` to choose which latents fire and fall back to their plain rule without it.
   */
  encode(x: tf.Tensor2D, options?: { grad?: tf.Tensor2D }): tf.Tensor2D;
  /** Reconstruction [n, d_in] from latents [n, d_sae]. */
  decode(latents: tf.Tensor2D): tf.Tensor2D;
  /** The training loss on a batch (called inside `tf.variableGrads`). */
  loss(batch: SAEBatch, ctx: SAETrainContext): SAELossResult;
  /** Adjust gradients before the optimiser step (e.g. remove the decoder's parallel component). */
  adjustGradients?(grads: Record<string, tf.Tensor>): void;
  /** Restore invariants after the optimiser step (e.g. unit-norm decoder rows). */
  afterStep?(): void;
}

/** Create a trainable variable from values. */
export function param(name: string, values: Float32Array, shape: number[]): tf.Variable {
  return variableFrom(values, shape, { name: `${name}_${Math.random().toString(36).slice(2, 8)}` });
}

/**
 * Initial weights shared by the TopK family (Gao et al. 2024, §A.1): decoder rows random and unit
 * norm, encoder tied to the decoder's transpose, zero biases. `b_dec` should then be set to the
 * data mean or geometric median by the trainer.
 */
export function tiedInit(dIn: number, dSae: number, seed: number): Map<string, tf.Variable> {
  const rng = new Rng(seed);
  const dec = rng.normalArray(dSae * dIn);
  normaliseRowsInPlace(dec, dSae, dIn);
  const enc = new Float32Array(dIn * dSae);
  for (let i = 0; i < dSae; i++) for (let j = 0; j < dIn; j++) enc[j * dSae + i] = dec[i * dIn + j];
  return new Map([
    ["W_enc", param("W_enc", enc, [dIn, dSae])],
    ["W_dec", param("W_dec", dec, [dSae, dIn])],
    ["b_enc", param("b_enc", new Float32Array(dSae), [dSae])],
    ["b_dec", param("b_dec", new Float32Array(dIn), [dIn])],
  ]);
}

/** Scale each row of a row-major [rows, cols] array to unit L2 norm (zero rows stay zero). */
export function normaliseRowsInPlace(a: Float32Array, rows: number, cols: number): void {
  for (let r = 0; r < rows; r++) {
    let s = 0;
    for (let c = 0; c < cols; c++) s += a[r * cols + c] ** 2;
    const inv = s > 0 ? 1 / Math.sqrt(s) : 0;
    for (let c = 0; c < cols; c++) a[r * cols + c] *= inv;
  }
}

/** Set every row of the variable `w` [rows, cols] to unit norm. */
export function normaliseRows(w: tf.Variable): void {
  tf.tidy(() => w.assign(tf.div(w, tf.maximum(tf.norm(w, "euclidean", 1, true), 1e-12))));
}

/**
 * Remove from the decoder gradient its component parallel to each (unit-norm) decoder row, so a
 * step changes directions rather than norms (Gao et al. 2024, §A.1). Returns the new gradient.
 */
export function removeParallelComponent(wDec: tf.Tensor2D, grad: tf.Tensor2D): tf.Tensor2D {
  return tf.tidy(() => {
    const along = tf.sum(tf.mul(grad, wDec), 1, true);
    return tf.sub(grad, tf.mul(along, wDec));
  });
}

/**
 * {@link removeParallelComponent} on row-major [rows, cols] arrays, in place:
 * grad[r] −= (grad[r]·wDec[r]) wDec[r] for each (unit-norm) decoder row r.
 */
export function removeParallelComponentInPlace(
  grad: Float32Array,
  wDec: Float32Array,
  rows: number,
  cols: number,
): void {
  for (let r = 0; r < rows; r++) {
    const o = r * cols;
    let along = 0;
    for (let c = 0; c < cols; c++) along += grad[o + c] * wDec[o + c];
    for (let c = 0; c < cols; c++) grad[o + c] -= along * wDec[o + c];
  }
}

/** z = (x − b_dec)·W_enc + b_enc, [n, d_sae]. */
export function preActivations(params: Map<string, tf.Variable>, x: tf.Tensor2D): tf.Tensor2D {
  return tf.add(
    matMul(tf.sub(x, params.get("b_dec")!), params.get("W_enc")! as tf.Tensor2D),
    params.get("b_enc")!,
  );
}

/** x̂ = a·W_dec + b_dec, [n, d_in]. */
export function decodeLinear(params: Map<string, tf.Variable>, latents: tf.Tensor2D): tf.Tensor2D {
  return tf.add(matMul(latents, params.get("W_dec")! as tf.Tensor2D), params.get("b_dec")!);
}

/** Mean over tokens of the squared error summed over the d_in dimensions. */
export function sumSquaredError(x: tf.Tensor2D, recon: tf.Tensor2D): tf.Scalar {
  return tf.tidy(() => tf.mean(tf.sum(tf.square(tf.sub(x, recon)), 1)));
}

/**
 * What the SAEs with a linear decoder x̂ = a·W_dec + b_dec share: their config and parameters,
 * `decode`, and keeping the decoder rows at unit norm (the gradient loses its component along
 * each row, and rows are renormalised after each step) whenever {@link unitNormDecoder} says so.
 */
export abstract class LinearDecoderSAE<C extends BaseSAEConfig> implements SAE {
  /**
   * @param config a complete config; @param params its parameters by SAELens name
   * (W_dec and b_dec among them).
   */
  constructor(readonly config: C, readonly params: Map<string, tf.Variable>) {}

  /** Latents [n, d_sae]. */
  abstract encode(x: tf.Tensor2D, options?: { grad?: tf.Tensor2D }): tf.Tensor2D;

  /** The training loss of a batch. */
  abstract loss(batch: SAEBatch, ctx: SAETrainContext): SAELossResult;

  /** x̂ = a·W_dec + b_dec. */
  decode(latents: tf.Tensor2D): tf.Tensor2D {
    return decodeLinear(this.params, latents);
  }

  /** Whether decoder rows are kept at unit norm (always, unless an architecture says not). */
  unitNormDecoder(): boolean {
    return true;
  }

  /** Remove the decoder gradient's component along each decoder row (Gao et al. 2024). */
  adjustGradients(grads: Record<string, tf.Tensor>): void {
    const g = grads["W_dec"];
    if (!this.unitNormDecoder() || !g) return;
    grads["W_dec"] = removeParallelComponent(
      this.params.get("W_dec")! as tf.Tensor2D,
      g as tf.Tensor2D,
    );
    g.dispose();
  }

  /** Put the decoder rows back on the unit sphere. */
  afterStep(): void {
    if (this.unitNormDecoder()) normaliseRows(this.params.get("W_dec")!);
  }
}
