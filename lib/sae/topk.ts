/**
 * TopK sparse autoencoder (Gao et al., "Scaling and evaluating sparse autoencoders",
 * arXiv 2406.04093), and the machinery every TopK-family SAE here shares.
 *
 * latents = ReLU(z) ⊙ mask, with z = (x − b_dec)·W_enc + b_enc and mask a 0/1 matrix chosen
 * outside the gradient tape (`select.ts`). Gradients therefore flow through z only at selected
 * latents, exactly as with Gao et al.'s ReLU(TopK(z)). The g-SAE (`gsae.ts`) and the batch
 * allocations (`batch_choice.ts`) reuse {@link SelectiveSAE} with other selection rules.
 *
 * Why one module of ~310 lines: TopK and the shared TopK-family machinery (AuxK, decoder
 * normalisation, the selective encoder the g-SAE and batch-choice SAEs extend) are one base.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { tensorsOnHost } from "../tensor/backend.ts";
import { constantOf, matMul } from "../tensor/ops.ts";
import { assignFrom } from "../tensor/variables.ts";
import {
  type BaseSAEConfig,
  decodeLinear,
  LinearDecoderSAE,
  preActivations,
  type SAE,
  type SAEBatch,
  type SAELossResult,
  type SAETrainContext,
  tiedInit,
} from "./base.ts";
import { fvu, l0 } from "../metrics/reconstruction.ts";
import { maskFromTensor } from "./select.ts";
import { baseFields, type DecoderBiasInit, decoderBiasInit, parseConfig, z } from "./config.ts";
import type { Architecture } from "./registry.ts";

/**
 * TopK's fields, shared by the whole TopK family (g-SAE, e2e-TopK, the batch choices), with
 * their defaults:
 *
 * - `k` 32: the L0 at which the g-SAE paper compares latent frequencies and dead latents.
 * - `aux_k` d_in / 2 ({@link defaultAuxK}), filled in when not given.
 * - `aux_coefficient` 1/32: Gao et al. 2024 (α in L + α·L_aux).
 * - `b_dec_init` geometric median: Gao et al. 2024 (§A.1).
 *
 * The dead-latent window AuxK uses is the trainer's (`SAETrainConfig.deadWindowTokens`), written
 * to cfg.json as `dead_window_tokens` by whoever saves the SAE.
 */
export const TOPK_FIELDS = {
  k: z.number().int().min(1).default(32).describe("latents that fire per token (L0)"),
  aux_k: z.number().int().min(1).optional().describe(
    "dead latents per token that reconstruct the residual in the AuxK loss (default d_in / 2)",
  ),
  aux_coefficient: z.number().min(0).default(1 / 32).describe("weight of the AuxK loss"),
  b_dec_init: decoderBiasInit.default("geometric_median").describe(
    "how the trainer initialises b_dec from a data sample",
  ),
};

/**
 * Default `aux_k`: d_in / 2, as Gao et al. 2024 choose it (a power of two near d_model / 2;
 * their released training script uses 256 at d_model 768).
 */
export function defaultAuxK(dIn: number): number {
  return Math.max(1, Math.floor(dIn / 2));
}

/** The check every TopK-family schema makes: k cannot exceed the latent count. */
export const K_AT_MOST_D_SAE = {
  check: (c: { k: number; d_sae: number }) => c.k <= c.d_sae,
  error: { path: ["k"], message: "must be at most d_sae" },
};

/** The last step of every TopK-family schema: `aux_k` takes its default from d_in. */
export function withDefaultAuxK<C extends { d_in: number; aux_k?: number }>(
  c: C,
): C & { aux_k: number } {
  return { ...c, aux_k: c.aux_k ?? defaultAuxK(c.d_in) };
}

/** The TopK config schema. */
export const TOPK_SCHEMA = z.strictObject({ ...baseFields(["topk"]), ...TOPK_FIELDS })
  .refine(K_AT_MOST_D_SAE.check, K_AT_MOST_D_SAE.error)
  .transform(withDefaultAuxK);

/** A complete TopK config. */
export type TopKConfig = z.output<typeof TOPK_SCHEMA>;

/** What {@link createTopK} needs: the sizes, anything else falls back to its default. */
export type TopKOptions = Omit<z.input<typeof TOPK_SCHEMA>, "architecture">;

/** What a selection rule sees: pre-activations, the optional ∇ₓL, and the parameters. */
export interface SelectionInput {
  /** Pre-activations z, [n, d_sae]. */
  z: tf.Tensor2D;
  /** ∇ₓL at the same tokens, [n, d_in], when known. */
  grad?: tf.Tensor2D;
  /** The SAE's parameters (W_dec for gradient-aware scores). */
  params: Map<string, tf.Variable>;
}

/** What an auxiliary loss sees, besides the training context. */
export interface AuxiliaryInput extends SelectionInput {
  /** The detached residual x − x̂, [n, d_in] (no gradient flows into x̂ through it). */
  residual: tf.Tensor2D;
  /** The main selection mask, [n, d_sae]. */
  mask: tf.Tensor2D;
}

/** A named, weighted auxiliary loss term. */
export interface AuxiliaryTerm {
  /** Key in the loss parts ("auxk", "aux_zipf"). */
  name: string;
  /** Its weight in the total loss. */
  weight: number;
  /** The unweighted scalar. */
  loss: tf.Scalar;
}

/** The pieces that distinguish one TopK-family SAE from another. */
export interface SelectionRules {
  /** The 0/1 mask [n, d_sae] used by the training loss. */
  train(input: SelectionInput): tf.Tensor2D;
  /** The 0/1 mask [n, d_sae] used by `encode` (inference). */
  encode(input: SelectionInput): tf.Tensor2D;
  /** The auxiliary loss term. */
  auxiliary(input: AuxiliaryInput, ctx: SAETrainContext): AuxiliaryTerm;
}

/**
 * An SAE whose latents are ReLU(z) at the entries a selection rule picks. Reconstruction loss:
 * the batch's normalised MSE Σ‖x − x̂‖² / Σ‖x − mean(x)‖² (scale-free like Gao et al.'s
 * normalised MSE, whose scale is fixed from a data sample instead of per batch), plus the
 * rule's auxiliary term. Decoder rows stay unit norm; their gradient loses its parallel part.
 * The loss needs a batch of several tokens (the normalisation is the batch's variance).
 */
export class SelectiveSAE<C extends BaseSAEConfig> extends LinearDecoderSAE<C> {
  /** The selection and auxiliary rules. */
  readonly rules: SelectionRules;

  /**
   * @param config sizes and seed; @param rules how latents are selected. Parameters: W_enc,
   * W_dec, b_enc, b_dec (tied init, Gao et al. 2024).
   */
  constructor(config: C, rules: SelectionRules) {
    super(config, tiedInit(config.d_in, config.d_sae, config.seed));
    this.rules = rules;
  }

  /** Latents [n, d_sae]: ReLU(z) where the inference rule selects, else 0. */
  encode(x: tf.Tensor2D, options: { grad?: tf.Tensor2D } = {}): tf.Tensor2D {
    return tf.tidy(() => {
      const z = preActivations(this.params, x);
      const mask = this.rules.encode({ z, grad: options.grad, params: this.params });
      return tf.mul(tf.relu(z), mask);
    });
  }

  /** FVU plus the weighted auxiliary term; parts: fvu, l0 and the term's name. */
  loss(batch: SAEBatch, ctx: SAETrainContext): SAELossResult {
    const { x, grad } = batch;
    const z = preActivations(this.params, x);
    const mask = this.rules.train({ z, grad, params: this.params });
    const latents = tf.mul(tf.relu(z), mask) as tf.Tensor2D;
    const recon = decodeLinear(this.params, latents);
    const reconstruction = fvu(x, recon);
    const residual = detach(tf.sub(x, recon) as tf.Tensor2D);
    const aux = this.rules.auxiliary({ z, grad, params: this.params, residual, mask }, ctx);
    return {
      loss: tf.add(reconstruction, tf.mul(aux.loss, aux.weight)) as tf.Scalar,
      parts: { fvu: reconstruction, l0: l0(latents), [aux.name]: aux.loss },
      latents,
    };
  }
}

/**
 * A copy of `t` with no gradient history. tfjs has no stop-gradient op; a tensor rebuilt from
 * its values is a fresh leaf, so nothing flows back through it. On a GPU backend, where values
 * cannot be read synchronously, a copy whose gradient is zero does the same on the device.
 */
export function detach<T extends tf.Tensor>(t: T): T {
  if (!tensorsOnHost()) return constantOf(t, (x) => x.clone() as T);
  return tf.tensor(t.dataSync(), t.shape, t.dtype) as T;
}

/**
 * Auxiliary reconstruction of the detached residual e by the latents in `auxMask`:
 * ê = (ReLU(z) ⊙ auxMask)·W_dec (no bias), loss ‖e − ê‖² / ‖e − mean(e)‖² over the batch
 * (Gao et al.'s normalisation of AuxK). Gradients reach only the masked latents' encoder
 * columns and decoder rows.
 */
export function residualReconstructionLoss(
  input: AuxiliaryInput,
  auxMask: tf.Tensor2D,
): tf.Scalar {
  const auxLatents = tf.mul(tf.relu(input.z), auxMask) as tf.Tensor2D;
  const estimate = matMul(auxLatents, input.params.get("W_dec")! as tf.Tensor2D);
  return fvu(input.residual, estimate);
}

/**
 * AuxK (Gao et al. 2024): the top `auxK` dead latents of each token (by z, dead meaning
 * `tokensSinceFired ≥ deadWindowTokens`) reconstruct the detached residual. 0 when none is dead.
 */
export function auxKLoss(input: AuxiliaryInput, ctx: SAETrainContext, auxK: number): tf.Scalar {
  const dead = new Uint8Array(ctx.tokensSinceFired.length);
  let anyDead = false;
  for (let i = 0; i < dead.length; i++) {
    if (ctx.tokensSinceFired[i] >= ctx.deadWindowTokens) {
      dead[i] = 1;
      anyDead = true;
    }
  }
  if (!anyDead) return tf.scalar(0);
  const auxMask = maskFromTensor(input.z, { kind: "per_row", k: auxK, eligible: dead });
  return residualReconstructionLoss(input, auxMask);
}

/** Per-token TopK of the pre-activations (the plain rule, also the fallback of the others). */
export function perRowTopKMask(z: tf.Tensor2D, k: number): tf.Tensor2D {
  return maskFromTensor(z, { kind: "per_row", k });
}

/** The AuxK auxiliary term with `config`'s k_aux and weight (shared by TopK and g-SAE). */
export function auxKTerm(
  config: Pick<TopKConfig, "aux_k" | "aux_coefficient">,
): SelectionRules["auxiliary"] {
  return (input, ctx) => ({
    name: "auxk",
    weight: config.aux_coefficient,
    loss: auxKLoss(input, ctx, config.aux_k),
  });
}

/** A TopK SAE from a complete config. */
function topKFromConfig(config: TopKConfig): SelectiveSAE<TopKConfig> {
  const select = ({ z }: SelectionInput) => perRowTopKMask(z, config.k);
  return new SelectiveSAE(config, {
    train: select,
    encode: select,
    auxiliary: auxKTerm(config),
  });
}

/** A TopK SAE (Gao et al. 2024) with AuxK; unspecified options take their defaults. */
export function createTopK(options: TopKOptions): SelectiveSAE<TopKConfig> {
  return topKFromConfig(parseConfig(TOPK_SCHEMA, { ...options, architecture: "topk" }, "topk"));
}

/** TopK in the registry. */
export const TOPK: Architecture<TopKConfig> = {
  name: "topk",
  source: "Gao et al. 2024, arXiv 2406.04093",
  fields: TOPK_FIELDS,
  schema: TOPK_SCHEMA,
  create: topKFromConfig,
  trainsOn: "activations",
  usesGradient: false,
  saelens: { architecture: "topk" },
  fusedStep: true,
};

/**
 * Set b_dec from a data sample [n, d_in]: its mean, or its geometric median (Weiszfeld
 * iterations from the mean), as `method` says. Gao et al. 2024 use the geometric median.
 * Reads the sample asynchronously, so it runs on any backend.
 */
export async function initialiseDecoderBias(
  sae: SAE,
  sample: tf.Tensor2D,
  options: { method: DecoderBiasInit; iterations?: number },
): Promise<void> {
  const [n, d] = sample.shape;
  const x = await sample.data() as Float32Array;
  const centre = new Float64Array(d);
  for (let i = 0; i < n; i++) for (let j = 0; j < d; j++) centre[j] += x[i * d + j] / n;
  if (options.method === "geometric_median") {
    for (let it = 0; it < (options.iterations ?? 100); it++) {
      const next = new Float64Array(d);
      let weightSum = 0;
      for (let i = 0; i < n; i++) {
        let dist = 0;
        for (let j = 0; j < d; j++) dist += (x[i * d + j] - centre[j]) ** 2;
        // The floor keeps a point that coincides with the estimate from dividing by zero.
        const w = 1 / Math.max(Math.sqrt(dist), 1e-8);
        weightSum += w;
        for (let j = 0; j < d; j++) next[j] += w * x[i * d + j];
      }
      for (let j = 0; j < d; j++) centre[j] = next[j] / weightSum;
    }
  }
  assignFrom(sae.params.get("b_dec")!, Float32Array.from(centre));
}
