/**
 * Sparse autoencoders: every architecture behind the one {@link SAE} interface, created, loaded
 * and listed through the registry (`registry.ts`, which has the table of architectures and
 * their papers), and saved as SAELens folders (`saelens.ts`).
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { assignFrom } from "../tensor/variables.ts";
import type { BaseSAEConfig, SAE } from "./base.ts";
import { architectureOf, parseSAEConfig } from "./registry.ts";
import { loadSAEFolder } from "./saelens.ts";

export type { BaseSAEConfig, SAE } from "./base.ts";
export { SAEConfigError } from "./config.ts";
export {
  type Architecture,
  type ArchitectureName,
  architectureNames,
  architectureOf,
  ARCHITECTURES,
  parseSAEConfig,
  registerArchitecture,
} from "./registry.ts";
export { saveSAE } from "./saelens.ts";

/** Options for {@link createSAE}: the architecture and sizes, plus any of its fields. */
export type SAEOptions =
  & { architecture: string; d_in: number; d_sae: number }
  & Record<string, unknown>;

/**
 * A fresh SAE; fields not given take the architecture's documented defaults.
 * @throws SAEConfigError naming every unknown field, wrong type or out-of-range value.
 */
export function createSAE(options: SAEOptions): SAE {
  return architectureOf(options.architecture).create(parseSAEConfig(options));
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
