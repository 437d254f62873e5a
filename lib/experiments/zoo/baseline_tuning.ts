/**
 * Tuning the baselines before they are compared: each trains over a small grid (e2e-TopK's
 * learning rate; the penalty of ReLU-L1, Gated and JumpReLU) on the profile's store, and is
 * measured on development windows of the training split (`split: "dev"`, windows no SAE trained
 * on), never on the validation split the notebooks report. `deno task tune-baselines` runs it and
 * writes the table the profile's choices cite.
 *
 * Beside the development numbers, each row says how far the decoder moved from its
 * initialisation (mean cosine of each decoder row with its initial row): a dictionary that stays
 * near its random start is not trained, whatever its loss says.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { type ArchitectureName, createSAE, disposeSAE, type SAE } from "../../sae/mod.ts";
import { evaluateSAE } from "./sae_eval.ts";
import { type SAESpec, trainedSAE } from "./sae_zoo.ts";
import { isPenalised, type PenalisedArchitecture, penaltyOptions } from "./penalty.ts";
import type { Workspace } from "../shared/workspace.ts";

/** One setting of the grid. */
export interface TuningCase {
  /** The architecture. */
  architecture: ArchitectureName;
  /** k (TopK family). */
  k?: number;
  /** Peak learning rate instead of the profile's. */
  lr?: number;
  /** Penalty as a multiple of the rescaled default (`penalty.ts`). */
  multiple?: number;
  /** Start from the same seed's trained TopK SAE, or random weights (see `SAESpec.warmStart`). */
  warmStart?: "topk" | "none";
  /** Training tokens instead of the profile's. */
  tokens?: number;
}

/** One tuned setting and what it gave on the development windows. */
export interface TuningRow extends TuningCase {
  /** The SAE's label in the zoo. */
  label: string;
  /** Mean active latents per token. */
  l0: number;
  /** Fraction of variance unexplained. */
  fvu: number;
  /** CE added by splicing, nats. */
  deltaCe: number;
  /** KL(clean ‖ spliced). */
  kl: number;
  /** Relative reconstruction bias γ (< 1: shrinkage). */
  shrinkage: number;
  /** Latents that never fired on the development tokens, fraction. */
  deadFraction: number;
  /** Mean cosine of each decoder row with its initial (random) row. */
  cosineToInit: number;
  /** For a warm start: mean cosine of each decoder row with the TopK SAE's it started from. */
  cosineToStart: number | null;
  /** Training seconds. */
  seconds: number;
}

/**
 * The penalty multiples of the tuning grid: a coarse pass about 3× apart, then finer values where
 * the coarse pass put L0 near the profile's ks on the default model (ReLU-L1: L0 103 at 0.1 and
 * 21 at 0.3; Gated: 169 at 0.1, 62 at 0.3 and 6 at 1).
 */
export const PENALTY_MULTIPLES: Readonly<Record<PenalisedArchitecture, readonly number[]>> = {
  relu_l1: [0.03, 0.1, 0.15, 0.2, 0.3],
  gated: [0.1, 0.3, 0.5, 1],
  jumprelu: [0.3, 1, 3],
};

/** The grid for `architectures` at the profile's main k (first seed). */
export function tuningGrid(
  ws: Workspace,
  architectures: readonly ArchitectureName[],
): TuningCase[] {
  const k = ws.profile.mainK, out: TuningCase[] = [];
  for (const architecture of architectures) {
    if (architecture === "e2e_topk") {
      // From the seed's TopK SAE at a third of the budget (the default run's cost: e2e steps run
      // the model) and at the full budget; then from random weights, as Braun et al. train it.
      const full = ws.profile.sae.tokens, third = Math.round(full / 3);
      for (const lr of [1e-3, 3e-3]) {
        out.push({ architecture, k, lr, warmStart: "topk", tokens: third });
      }
      out.push({ architecture, k, lr: 3e-3, warmStart: "topk", tokens: full });
      for (const lr of [2e-3, 1e-2]) {
        out.push({ architecture, k, lr, warmStart: "none", tokens: full });
      }
    } else if (architecture === "topk") {
      out.push({ architecture, k });
    } else if (isPenalised(architecture)) {
      for (const multiple of PENALTY_MULTIPLES[architecture]) out.push({ architecture, multiple });
    } else {
      throw new Error(`tuningGrid: no grid for ${architecture}`);
    }
  }
  return out;
}

/** The zoo spec of a tuning case (first seed). */
export async function tuningSpec(ws: Workspace, c: TuningCase): Promise<SAESpec> {
  const spec: SAESpec = { architecture: c.architecture, seed: ws.profile.seeds[0] };
  if (c.k !== undefined) spec.k = c.k;
  if (c.lr !== undefined) spec.lr = c.lr;
  if (c.warmStart !== undefined) spec.warmStart = c.warmStart;
  if (c.tokens !== undefined) spec.tokens = c.tokens;
  if (c.multiple !== undefined) {
    if (!isPenalised(c.architecture)) throw new Error(`${c.architecture} has no penalty multiple`);
    spec.options = await penaltyOptions(ws, c.architecture, c.multiple);
  }
  return spec;
}

/** Mean over decoder rows of the cosine between row i of `a` and row i of `b`. */
export function meanRowCosine(a: SAE, b: SAE): number {
  return tf.tidy(() => {
    const x = a.params.get("W_dec")!, y = b.params.get("W_dec")!;
    const dot = tf.sum(tf.mul(x, y), 1);
    const norms = tf.mul(tf.norm(x, "euclidean", 1), tf.norm(y, "euclidean", 1));
    return tf.mean(tf.div(dot, tf.maximum(norms, 1e-12))).dataSync()[0];
  });
}

/** Mean cosine of each decoder row of `sae` with the same row of a fresh SAE of its config. */
export function cosineToInit(sae: SAE): number {
  const init = createSAE(sae.config as unknown as Parameters<typeof createSAE>[0]);
  try {
    return meanRowCosine(sae, init);
  } finally {
    disposeSAE(init);
  }
}

/** Trains (or reads from the zoo) and measures each case on the development windows. */
export async function tuneBaselines(
  ws: Workspace,
  cases: readonly TuningCase[],
  options: { log?: (row: TuningRow) => void } = {},
): Promise<TuningRow[]> {
  const rows: TuningRow[] = [];
  for (const c of cases) {
    const trained = await trainedSAE(ws, await tuningSpec(ws, c));
    const e = await evaluateSAE(ws, trained, { split: "dev" });
    const row: TuningRow = {
      ...c,
      label: trained.label,
      l0: e.l0,
      fvu: e.fvu,
      deltaCe: e.deltaCe,
      kl: e.kl,
      shrinkage: e.shrinkage,
      deadFraction: e.frequency.deadFraction,
      cosineToInit: cosineToInit(trained.sae),
      cosineToStart: c.warmStart === "topk"
        ? meanRowCosine(
          trained.sae,
          (await trainedSAE(ws, { architecture: "topk", k: c.k, seed: trained.spec.seed })).sae,
        )
        : null,
      seconds: trained.seconds,
    };
    rows.push(row);
    options.log?.(row);
  }
  return rows;
}
