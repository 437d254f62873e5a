/**
 * Notebook 03, the paper's Pareto frontiers: L0 against ΔCE (CE loss added by splicing the
 * reconstruction in) and against FVU, for TopK, g-SAE and e2e-TopK across the profile's k, with
 * the g-SAE β sweep, a spread over seeds at the main k, two controls and further architectures.
 *
 * Every point is one trained SAE ({@link trainedSAE}, shared with the other notebooks) evaluated
 * on the validation split ({@link evaluateSAE}) in one of four modes ({@link EvalMode}). g-SAE
 * chooses latents with the gradient of the loss at the *true* next token, which a deployed SAE
 * does not have, so beside the paper's mode we evaluate:
 * - `plain`: no gradient, so g-SAE falls back to TopK selection (what the dictionary alone buys);
 * - `sampled`: the gradient at a next token sampled from the model's own prediction (label-free);
 * - `token`: the per-token gradient ∂L_t/∂x_t of the true next token's loss alone, where the
 *   paper's summed-window gradient also carries every later position's label;
 * - `selection`: a plain TopK SAE's weights with g-SAE selection of the chosen β (what the
 *   selection rule alone buys, without gradient-aware training).
 *
 * The comparisons and verdicts built on these points are in `pareto_compare.ts`, the figures in
 * `pareto_figures.ts`, the tables, claims and metrics in `pareto_report.ts`.
 *
 * @module
 */
import { type ArchitectureName, architectureOf } from "../../sae/mod.ts";
import { chooseBeta, COMPARED, mainSAE } from "../zoo/compared.ts";
import { evaluateSAE, type SAEEvaluation } from "../zoo/sae_eval.ts";
import { releaseSAE, type TrainedSAE, trainedSAE } from "../zoo/sae_zoo.ts";
import { type PenalisedArchitecture, penaltyOptions } from "../zoo/penalty.ts";
import type { Workspace } from "../shared/workspace.ts";

/**
 * How an SAE's encoder is run at evaluation: `true` (the true next token's gradient; the paper's
 * evaluation; no effect on gradient-free SAEs), `plain` (no gradient: plain TopK selection),
 * `sampled` (gradient at a sampled next token), `selection` (TopK weights, g-SAE selection).
 */
export type EvalMode = "true" | "plain" | "sampled" | "token" | "selection";

/** Where one evaluated SAE sits on the frontiers. */
export interface ParetoPoint {
  /** The SAE's label, e.g. `gsae-k32-b0.5-s1`. */
  label: string;
  /**
   * A name that does not change when a re-run chooses another β or a penalty moves with the
   * activation scale (metric names): the label without β; ReLU-L1, Gated and JumpReLU as
   * `<architecture>-x<multiple>-s<seed>`.
   */
  name: string;
  /** Its architecture. */
  architecture: ArchitectureName;
  /** k (null for ReLU-L1, Gated and JumpReLU, whose sparsity comes from a penalty). */
  k: number | null;
  /** The penalty as a multiple of its rescaled default (`penalty.ts`), else null. */
  multiple: number | null;
  /** g-SAE β of training (or of the selection control), else null. */
  beta: number | null;
  /** Seed. */
  seed: number;
  /** How it was evaluated. */
  mode: EvalMode;
  /** The split the numbers are measured on. */
  split: "val" | "dev";
  /** Mean active latents per token at evaluation. */
  l0: number;
  /** CE with x̂ spliced in − clean CE, nats. */
  deltaCe: number;
  /** Mean KL(clean ‖ spliced), nats. */
  kl: number;
  /** Fraction of variance unexplained. */
  fvu: number;
  /** Relative reconstruction bias γ = Σ‖x̂‖²/Σx̂·x (Gated paper; < 1: shrinkage). */
  shrinkage: number;
  /** Fraction of CE recovered relative to mean-ablation. */
  fracRecoveredMean: number;
  /** Fraction of CE recovered relative to zero-ablation. */
  fracRecoveredZero: number;
  /** Clean CE of the evaluation tokens. */
  ceClean: number;
  /** Latents dead at the end of training (the trainer's window). */
  deadTrain: number;
  /** Latents that never fired on the evaluation tokens, as a fraction of d_sae. */
  deadFraction: number;
  /** Training wall-clock seconds (when it was trained). */
  trainSeconds: number;
}

/** Evaluates `trained` in `mode` and flattens the result into a {@link ParetoPoint}. */
export async function evaluatePoint(
  ws: Workspace,
  trained: TrainedSAE,
  options: { mode?: EvalMode; split?: "val" | "dev"; selectionBeta?: number } = {},
): Promise<ParetoPoint> {
  const mode = options.mode ?? "true", split = options.split ?? "val";
  if (mode === "selection" && options.selectionBeta === undefined) {
    throw new Error("evaluatePoint: mode selection needs selectionBeta");
  }
  // Gradient-free encoders ignore the gradient: their plain evaluation is the (shared, cached)
  // true-gradient one.
  const usesGradient = architectureOf(trained.spec.architecture).usesGradient;
  const gradient = mode === "plain" && usesGradient
    ? "none"
    : mode === "sampled" || mode === "token"
    ? mode
    : "true";
  const e: SAEEvaluation = await evaluateSAE(ws, trained, {
    gradient,
    split,
    ...(mode === "selection" ? { selectionBeta: options.selectionBeta } : {}),
  });
  return {
    label: trained.label,
    name: trained.label.replace(/-b[\d.]+(?=-s\d)/, ""),
    architecture: trained.spec.architecture,
    k: trained.spec.k ?? null,
    multiple: null,
    beta: mode === "selection" ? options.selectionBeta! : trained.spec.beta ?? null,
    seed: trained.spec.seed,
    mode,
    split,
    l0: e.l0,
    deltaCe: e.deltaCe,
    kl: e.kl,
    fvu: e.fvu,
    shrinkage: e.shrinkage,
    fracRecoveredMean: e.fracRecoveredMean,
    fracRecoveredZero: e.fracRecoveredZero,
    ceClean: e.ceClean,
    deadTrain: trained.dead,
    deadFraction: e.frequency.deadFraction,
    trainSeconds: trained.seconds,
  };
}

/** One β of the sweep: development numbers (which choose β) beside validation numbers. */
export interface BetaSweepRow {
  /** g-SAE β (0: the TopK SAE of the same seed, for reference). */
  beta: number;
  /** Development windows, true-token gradient (what chooses β). */
  dev: ParetoPoint;
  /** Validation, true-token gradient. */
  val: ParetoPoint;
  /** Validation, plain TopK selection. */
  valPlain: ParetoPoint;
}

/** The β sweep at the main k, first seed. */
export interface BetaSweep {
  /** The β with the lowest development ΔCE ({@link chooseBeta}). */
  chosen: number;
  /** The β with the lowest development KL (label-free; reported beside it). */
  chosenByKl: number;
  /** TopK (β = 0) first, then the profile's β values in order. */
  rows: BetaSweepRow[];
}

/**
 * `use()`, then `t`'s SAE released (`releaseSAE`): this notebook goes through dozens of SAEs and
 * keeps only their numbers, and GPT-2's would not all fit tfjs-wasm's heap at once.
 */
async function released<T>(ws: Workspace, t: TrainedSAE, use: () => Promise<T>): Promise<T> {
  try {
    return await use();
  } finally {
    releaseSAE(ws, t);
  }
}

/** Runs (or reads from the caches) the β sweep: every β on dev and val, TopK as β = 0. */
export async function betaSweep(ws: Workspace): Promise<BetaSweep> {
  const { mainK: k, seeds: [seed] } = ws.profile;
  const choice = await chooseBeta(ws);
  const row = (beta: number, t: TrainedSAE): Promise<BetaSweepRow> =>
    released(ws, t, async () => ({
      beta,
      dev: await evaluatePoint(ws, t, { split: "dev" }),
      val: await evaluatePoint(ws, t),
      valPlain: await evaluatePoint(ws, t, { mode: "plain" }),
    }));
  const rows = [await row(0, await trainedSAE(ws, { architecture: "topk", k, seed }))];
  for (const beta of ws.profile.betas) {
    rows.push(await row(beta, await trainedSAE(ws, { architecture: "gsae", k, seed, beta })));
  }
  return { chosen: choice.beta, chosenByKl: choice.betaByKl, rows };
}

/**
 * The frontiers: TopK, g-SAE (β chosen) and e2e-TopK at every k of the profile, for each of the
 * profile's `frontierSeeds` (error bars at every k); g-SAE also with plain selection and with the
 * sampled-token gradient (the label-free question at every k).
 */
export async function frontiers(ws: Workspace, beta: number): Promise<ParetoPoint[]> {
  const points: ParetoPoint[] = [];
  for (const seed of ws.profile.frontierSeeds) {
    for (const architecture of COMPARED) {
      for (const k of ws.profile.ks) {
        const t = await mainSAE(ws, architecture, seed, { beta, k });
        await released(ws, t, async () => {
          points.push(await evaluatePoint(ws, t));
          if (architecture !== "gsae") return;
          for (const mode of ["plain", "sampled"] as const) {
            points.push(await evaluatePoint(ws, t, { mode }));
          }
        });
      }
    }
  }
  return points;
}

/**
 * Every seed at the main k: TopK, g-SAE (true, plain, sampled, per-token), the selection control
 * on TopK,
 * and e2e-TopK when `e2e` (its training runs the LM each step, the costliest of the three).
 */
export async function mainKComparison(
  ws: Workspace,
  options: { beta: number; e2e: boolean },
): Promise<ParetoPoint[]> {
  const points: ParetoPoint[] = [];
  for (const seed of ws.profile.seeds) {
    const topk = await mainSAE(ws, "topk", seed);
    await released(ws, topk, async () => {
      points.push(await evaluatePoint(ws, topk));
      points.push(
        await evaluatePoint(ws, topk, { mode: "selection", selectionBeta: options.beta }),
      );
    });
    const gsae = await mainSAE(ws, "gsae", seed, { beta: options.beta });
    await released(ws, gsae, async () => {
      for (const mode of ["true", "plain", "sampled", "token"] as const) {
        points.push(await evaluatePoint(ws, gsae, { mode }));
      }
    });
    if (!options.e2e) continue;
    const e2e = await mainSAE(ws, "e2e_topk", seed);
    points.push(await released(ws, e2e, () => evaluatePoint(ws, e2e)));
  }
  return points;
}

/** A further architecture at the main k: its name and any options (e.g. no aux_zipf). */
export interface FurtherSpec {
  /** Architecture name from the registry (a TopK-family batch choice). */
  architecture: ArchitectureName;
  /** Options beside the architecture's defaults. */
  options?: Record<string, unknown>;
}

/**
 * What notebook 03 trains beyond the profile's lists, kept here so that the notebook and the sweep
 * (`lib/experiments/zoo/needs.ts`) read the same settings.
 */
export const PARETO_SETTINGS: {
  /**
   * The penalties of ReLU-L1, Gated and JumpReLU as multiples of their rescaled defaults
   * (`penalty.ts`), chosen on development windows (`deno task tune-baselines`,
   * `outputs/tuning/baselines-default.md`) so that their L0 brackets the profile's main k.
   */
  readonly penaltyMultiples: Readonly<Record<PenalisedArchitecture, readonly number[]>>;
  /**
   * The seed papers' batch choices at the main k: Mutual and Feature Choice with and without
   * aux_zipf_loss (arXiv 2411.02124's headline), and their gradient-aware versions.
   */
  readonly furtherArchitectures: readonly FurtherSpec[];
  /** e2e-TopK at every seed of the main k (its training runs the language model every step). */
  readonly e2eAllSeeds: boolean;
} = {
  // Development L0 at seed 0 (outputs/tuning/baselines-default.md): ReLU-L1 66 and 21, Gated 62
  // and 28 (inside ReLU-L1's range, so its frontier is interpolated, not extrapolated), JumpReLU
  // 76 and 42.
  penaltyMultiples: { relu_l1: [0.15, 0.3], gated: [0.3, 0.5], jumprelu: [1, 3] },
  furtherArchitectures: [
    { architecture: "mutual_choice" },
    { architecture: "mutual_choice", options: { aux_zipf_coefficient: 0 } },
    { architecture: "feature_choice" },
    { architecture: "feature_choice", options: { aux_zipf_coefficient: 0 } },
    { architecture: "gradient_mutual_choice" },
    { architecture: "gradient_feature_choice" },
  ],
  e2eAllSeeds: true,
};

/**
 * The seed papers' architectures, one SAE per seed of the profile's `frontierSeeds`: ReLU-L1,
 * Gated and JumpReLU at each penalty multiple (`penalty.ts`), and the batch choices at the main k;
 * the gradient-aware ones (β as given) also with plain selection. None where the profile leaves
 * them out (`seedPaperArchitectures`: `default` does, to keep within its 45 minutes).
 */
export async function furtherArchitectures(
  ws: Workspace,
  options: {
    beta: number;
    penaltyMultiples: Readonly<Partial<Record<PenalisedArchitecture, readonly number[]>>>;
    architectures?: readonly FurtherSpec[];
    seeds?: readonly number[];
  },
): Promise<ParetoPoint[]> {
  const k = ws.profile.mainK, points: ParetoPoint[] = [];
  if (!ws.profile.seedPaperArchitectures) return points;
  for (const seed of options.seeds ?? ws.profile.frontierSeeds) {
    for (const [architecture, multiples] of Object.entries(options.penaltyMultiples)) {
      for (const multiple of multiples ?? []) {
        const a = architecture as PenalisedArchitecture;
        const t = await trainedSAE(ws, {
          architecture: a,
          seed,
          options: await penaltyOptions(ws, a, multiple),
        });
        points.push({
          ...(await released(ws, t, () => evaluatePoint(ws, t))),
          multiple,
          name: `${a}-x${multiple}-s${seed}`,
        });
      }
    }
    for (const { architecture, options: extra } of options.architectures ?? []) {
      const gradient = architectureOf(architecture).usesGradient;
      const t = await trainedSAE(ws, {
        architecture,
        k,
        seed,
        ...(gradient ? { beta: options.beta } : {}),
        ...(extra ? { options: extra } : {}),
      });
      await released(ws, t, async () => {
        points.push(await evaluatePoint(ws, t));
        if (gradient) points.push(await evaluatePoint(ws, t, { mode: "plain" }));
      });
    }
  }
  return points;
}
