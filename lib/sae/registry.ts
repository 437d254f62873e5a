/**
 * The SAE registry: the one place that knows an architecture. Each entry declares its config
 * schema (zod: type, default and description per field), its constructor, the data it trains
 * on, whether its inference uses the gradient, how it is saved for SAELens, and whether the fused
 * OpenBLAS training step implements it. Everything else (training, evaluation, saving, loading,
 * the CLI, the sweeps) asks the registry instead of naming architectures, so a new architecture
 * is one module plus one line in {@link BUILTIN}, or one {@link registerArchitecture} call.
 *
 * | name | paper | module |
 * |---|---|---|
 * | `topk` | Gao et al. 2024 (arXiv 2406.04093) | `topk.ts` |
 * | `gsae` | Olmo et al. 2024 (arXiv 2411.10397) | `gsae.ts` |
 * | `e2e_topk` | Braun et al. 2024 (arXiv 2405.12241), TopK-sparse | `e2e.ts` |
 * | `gated` | Rajamanoharan et al. 2024 (arXiv 2404.16014) | `gated.ts` |
 * | `relu_l1` | the Gated paper's baseline (arXiv 2404.16014, §2); SAELens "standard" | `relu_l1.ts` |
 * | `jumprelu` | Rajamanoharan et al. 2024 (arXiv 2407.14435) | `jumprelu.ts` |
 * | `mutual_choice`, `feature_choice` | Ayonrinde 2024 (arXiv 2411.02124) | `batch_choice.ts` |
 * | `gradient_mutual_choice`, `gradient_feature_choice` | ours: the g-SAE score allocated over the batch | `batch_choice.ts` |
 * | `fisher_gsae` | ours: the g-SAE score with the Fisher norm of sampled-token gradients (label-free) | `fisher_gsae.ts` |
 *
 * @module
 */
import type { BaseSAEConfig, SAE } from "./base.ts";
import { BATCH_CHOICES } from "./batch_choice.ts";
import { parseConfig, type z } from "./config.ts";
import { E2E_TOPK } from "./e2e.ts";
import { FISHER_GSAE } from "./fisher_gsae.ts";
import { GATED } from "./gated.ts";
import { GSAE } from "./gsae.ts";
import { JUMPRELU } from "./jumprelu.ts";
import { RELU_L1 } from "./relu_l1.ts";
import { TOPK } from "./topk.ts";

/** Architecture names SAELens uses in `cfg.json`. */
export type SaelensArchitecture = "standard" | "gated" | "jumprelu" | "topk";

/** A parameter stored in SAELens files under another name or in another form. */
export interface SaelensRenamed {
  /** The tensor's name in the file. */
  file: string;
  /** Our values → the file's. */
  toFile(values: Float32Array): Float32Array;
  /** The file's values → ours; throws (naming `where`) on values ours cannot represent. */
  fromFile(values: Float32Array, where: string): Float32Array;
}

/** How an architecture appears to SAELens. */
export interface SaelensFormat {
  /** SAELens's architecture name (gradient-aware and batch SAEs appear as plain TopK). */
  architecture: SaelensArchitecture;
  /** Our parameters that the file stores otherwise, by our name (JumpReLU: log θ ↔ θ). */
  renamed?: Record<string, SaelensRenamed>;
}

/** Everything the project needs to know about one architecture. */
export interface Architecture<C extends BaseSAEConfig = BaseSAEConfig> {
  /** Its name in cfg.json (`gsae.architecture`) and on the command line. */
  name: string;
  /** Where it comes from: paper and arXiv id, or "ours". */
  source: string;
  /** Its config fields (for help texts); {@link Architecture.schema} adds cross-field checks. */
  fields: z.ZodRawShape;
  /** Parses a config: defaults filled in, unknown fields and bad values rejected. */
  schema: z.ZodType<C>;
  /** A fresh SAE from a parsed config. */
  create(config: C): SAE;
  /**
   * What it trains on: rows of the activation+gradient store, or token sequences run through the
   * frozen model each step (end-to-end losses, which splice the reconstruction back in; these
   * use the profile's `e2eLr`).
   */
  trainsOn: "activations" | "sequences";
  /** Whether `encode` uses ∇ₓL when given one (evaluation then has plain and gradient modes). */
  usesGradient: boolean;
  /**
   * Whether its own gradient is label-free: `config.samples` per-token gradients at next tokens
   * sampled from the model, [n, samples·d_in], instead of the true-token gradient (the Fisher
   * g-SAE; its store and evaluation then provide those). Absent: false.
   */
  sampledGradients?: boolean;
  /** How it is saved for SAELens. */
  saelens: SaelensFormat;
  /** Whether the fused OpenBLAS step (`fused.ts`) computes its loss (the trainer then uses it). */
  fusedStep: boolean;
}

/** The architectures that come with the project, by name. */
const BUILTIN = {
  topk: TOPK,
  gsae: GSAE,
  e2e_topk: E2E_TOPK,
  gated: GATED,
  relu_l1: RELU_L1,
  jumprelu: JUMPRELU,
  ...BATCH_CHOICES,
  fisher_gsae: FISHER_GSAE,
} as const;

/** A built-in architecture's name. */
export type ArchitectureName = keyof typeof BUILTIN;

/** The built-in architecture names, in the registry's order. */
export const ARCHITECTURES = Object.keys(BUILTIN) as ArchitectureName[];

const registry = new Map<string, Architecture>(Object.entries(BUILTIN) as [string, Architecture][]);

/** Add an architecture (e.g. one defined outside `lib/sae/`); its name must be new. */
export function registerArchitecture<C extends BaseSAEConfig>(entry: Architecture<C>): void {
  if (registry.has(entry.name)) throw new Error(`SAE architecture "${entry.name}" exists already`);
  registry.set(entry.name, entry as unknown as Architecture);
}

/** Every registered architecture's name (built-in ones first). */
export function architectureNames(): string[] {
  return [...registry.keys()];
}

/** The registry entry of `name`; an unknown name is an error listing the known ones. */
export function architectureOf(name: string): Architecture {
  const entry = registry.get(name);
  if (!entry) {
    throw new Error(
      `unknown SAE architecture "${name}"; known: ${architectureNames().join(", ")}`,
    );
  }
  return entry;
}

/**
 * A complete config from `options` (which name the architecture): defaults filled in.
 * @throws SAEConfigError naming every unknown field, wrong type or out-of-range value.
 */
export function parseSAEConfig(
  options: { architecture: string } & Record<string, unknown>,
): BaseSAEConfig {
  const entry = architectureOf(options.architecture);
  return parseConfig(entry.schema, options, entry.name);
}
