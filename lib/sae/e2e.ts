/**
 * e2e-TopK (Braun et al., arXiv 2405.12241, with TopK sparsity as in the g-SAE paper's
 * baseline): a TopK SAE trained not to reconstruct x but so that splicing x̂ into the model
 * changes its next-token distribution as little as possible:
 *
 *   loss = KL(p_clean ‖ p_spliced) + mse_coefficient · FVU(x, x̂) + aux_coefficient · AuxK
 *
 * The KL back-propagates through every layer after the hook (the model itself stays frozen:
 * only the SAE's parameters are trained); for GPT-2's shapes it is taken in pieces that fit
 * tfjs-wasm's heap (`e2e_kl.ts`). Batches must carry the model context (`batch.lm`),
 * which the trainer provides for sequence data.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { SAEBatch, SAELossResult, SAETrainContext } from "./base.ts";
import { decodeLinear, preActivations } from "./base.ts";
import { fvu, l0 } from "../metrics/reconstruction.ts";
import { splicedKL } from "./e2e_kl.ts";
import { baseFields, parseConfig, z } from "./config.ts";
import type { Architecture } from "./registry.ts";
import {
  auxKLoss,
  detach,
  K_AT_MOST_D_SAE,
  perRowTopKMask,
  SelectiveSAE,
  TOPK_FIELDS,
  withDefaultAuxK,
} from "./topk.ts";

/**
 * e2e-TopK's own field (TopK's apply to the rest): `mse_coefficient`, the weight of FVU(x, x̂)
 * beside the KL. Braun et al.'s pure e2e SAE uses none (0, the default); their e2e+ds variant
 * adds downstream reconstruction terms instead.
 */
export const E2E_FIELDS = {
  mse_coefficient: z.number().min(0).default(0).describe(
    "weight of FVU(x, x̂) beside the KL (0: pure e2e, as Braun et al.)",
  ),
};

/** The e2e-TopK config schema. */
export const E2E_TOPK_SCHEMA = z
  .strictObject({ ...baseFields(["e2e_topk"]), ...TOPK_FIELDS, ...E2E_FIELDS })
  .refine(K_AT_MOST_D_SAE.check, K_AT_MOST_D_SAE.error)
  .transform(withDefaultAuxK);

/** A complete e2e-TopK config. */
export type E2ETopKConfig = z.output<typeof E2E_TOPK_SCHEMA>;

/** Options for {@link createE2ETopK}: sizes required, the rest defaults. */
export type E2ETopKOptions = Omit<z.input<typeof E2E_TOPK_SCHEMA>, "architecture">;

class E2ETopKSAE extends SelectiveSAE<E2ETopKConfig> {
  override loss(batch: SAEBatch, ctx: SAETrainContext): SAELossResult {
    const lm = batch.lm;
    if (!lm) throw new Error("e2e_topk needs sequence batches with the model context (batch.lm)");
    const { x } = batch;
    const z = preActivations(this.params, x);
    const mask = perRowTopKMask(z, this.config.k);
    const latents = tf.mul(tf.relu(z), mask) as tf.Tensor2D;
    const recon = decodeLinear(this.params, latents);
    const [b, t, d] = lm.state.activation.shape;
    const kl = splicedKL(lm.model, recon.reshape([b, t, d]), {
      hook: lm.hook,
      state: lm.state,
      cleanLogProbs: lm.cleanLogProbs,
      ...lm.limits,
    });
    const reconstruction = fvu(x, recon);
    const residual = detach(tf.sub(x, recon) as tf.Tensor2D);
    const aux = auxKLoss({ z, params: this.params, residual, mask }, ctx, this.config.aux_k);
    const loss = tf.addN([
      kl,
      tf.mul(reconstruction, this.config.mse_coefficient),
      tf.mul(aux, this.config.aux_coefficient),
    ]);
    return {
      loss: loss as tf.Scalar,
      parts: { kl, fvu: reconstruction, auxk: aux, l0: l0(latents) },
      latents,
    };
  }
}

/** An e2e-TopK SAE from a complete config; its `encode`/`decode` are plain TopK's. */
function e2eFromConfig(config: E2ETopKConfig): SelectiveSAE<E2ETopKConfig> {
  const select = ({ z }: { z: tf.Tensor2D }) => perRowTopKMask(z, config.k);
  return new E2ETopKSAE(config, {
    train: select,
    encode: select,
    auxiliary: () => {
      throw new Error("e2e_topk computes its auxiliary term in its own loss");
    },
  });
}

/** An e2e-TopK SAE; unspecified options take their defaults. */
export function createE2ETopK(options: E2ETopKOptions): SelectiveSAE<E2ETopKConfig> {
  return e2eFromConfig(
    parseConfig(E2E_TOPK_SCHEMA, { ...options, architecture: "e2e_topk" }, "e2e_topk"),
  );
}

/** e2e-TopK in the registry: it trains on token sequences through the frozen model. */
export const E2E_TOPK: Architecture<E2ETopKConfig> = {
  name: "e2e_topk",
  source: "Braun et al. 2024, arXiv 2405.12241 (TopK-sparse, as the g-SAE paper's baseline)",
  fields: { ...TOPK_FIELDS, ...E2E_FIELDS },
  schema: E2E_TOPK_SCHEMA,
  create: e2eFromConfig,
  trainsOn: "sequences",
  usesGradient: false,
  saelens: { architecture: "topk" },
  fusedStep: false,
};
