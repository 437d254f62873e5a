/**
 * The SAE registry: every architecture by name, behind the one {@link SAE} interface, and loading
 * a saved (SAELens-compatible) folder back into a live SAE.
 *
 * | name | paper | module |
 * |---|---|---|
 * | `topk` | Gao et al. 2024 (arXiv 2406.04093) | `topk.ts` |
 * | `gsae` | Olmo et al. 2024 (arXiv 2411.10397) | `gsae.ts` |
 * | `e2e_topk` | Braun et al. 2024 (arXiv 2405.12241), TopK-sparse | `e2e.ts` |
 * | `gated` | Rajamanoharan et al. 2024 (arXiv 2404.16014) | `gated.ts` |
 * | `jumprelu` | Rajamanoharan et al. 2024 (arXiv 2407.14435) | `jumprelu.ts` |
 * | `mutual_choice`, `feature_choice` | Ayonrinde 2024 (arXiv 2411.02124) | `batch_choice.ts` |
 * | `gradient_mutual_choice`, `gradient_feature_choice` | ours: the g-SAE score allocated over the batch | `batch_choice.ts` |
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { assignFrom } from "../variables.ts";
import type { ArchitectureName, BaseSAEConfig, SAE } from "./base.ts";
import { createBatchChoice } from "./batch_choice.ts";
import { createE2ETopK } from "./e2e.ts";
import { createGated } from "./gated.ts";
import { createGSAE } from "./gsae.ts";
import { createJumpReLU } from "./jumprelu.ts";
import { loadSAEFolder } from "./saelens.ts";
import { createTopK } from "./topk.ts";

export type { ArchitectureName, BaseSAEConfig, SAE } from "./base.ts";
export { saveSAE } from "./saelens.ts";

/** Options for {@link createSAE}: the architecture and sizes, plus any architecture fields. */
export type SAEOptions =
  & { architecture: ArchitectureName; d_in: number; d_sae: number }
  & Record<string, unknown>;

type Factory = (options: SAEOptions) => SAE;

// The factories' option types differ per architecture; each validates and fills its own.
// deno-lint-ignore no-explicit-any
const asFactory = (f: (o: any) => SAE): Factory => f;

/** Every architecture, by its `cfg.json` name. */
export const SAE_REGISTRY: Readonly<Record<ArchitectureName, Factory>> = {
  topk: asFactory(createTopK),
  gsae: asFactory(createGSAE),
  e2e_topk: asFactory(createE2ETopK),
  gated: asFactory(createGated),
  jumprelu: asFactory(createJumpReLU),
  mutual_choice: asFactory((o) => createBatchChoice("mutual_choice", o)),
  feature_choice: asFactory((o) => createBatchChoice("feature_choice", o)),
  gradient_mutual_choice: asFactory((o) => createBatchChoice("gradient_mutual_choice", o)),
  gradient_feature_choice: asFactory((o) => createBatchChoice("gradient_feature_choice", o)),
};

/** The architecture names, in the registry's order. */
export const ARCHITECTURES = Object.keys(SAE_REGISTRY) as ArchitectureName[];

/** A fresh SAE; fields not given take the architecture's documented defaults. */
export function createSAE(options: SAEOptions): SAE {
  const factory = SAE_REGISTRY[options.architecture];
  if (!factory) {
    throw new Error(
      `unknown SAE architecture "${options.architecture}"; known: ${ARCHITECTURES.join(", ")}`,
    );
  }
  return factory(options);
}

/** Load a saved SAE folder (cfg.json + sae_weights.safetensors) into a live SAE. */
export async function loadSAE(dir: string): Promise<{ sae: SAE; meta: Record<string, unknown> }> {
  const folder = await loadSAEFolder(dir);
  const sae = createSAE(folder.config as unknown as SAEOptions);
  for (const [name, v] of sae.params) {
    const t = folder.tensors.get(name);
    if (!t) throw new Error(`${dir}: no tensor ${name} for a ${sae.config.architecture} SAE`);
    if (!tf.util.arraysEqual(t.shape, v.shape)) {
      throw new Error(`${dir}: tensor ${name} has shape [${t.shape}], expected [${v.shape}]`);
    }
    assignFrom(v, t.data, { shape: t.shape });
  }
  return { sae, meta: folder.meta as unknown as Record<string, unknown> };
}

/** Free an SAE's parameters. */
export function disposeSAE(sae: SAE): void {
  for (const v of sae.params.values()) v.dispose();
}

/** The configuration type every architecture's config extends. */
export type AnySAEConfig = BaseSAEConfig & Record<string, unknown>;
