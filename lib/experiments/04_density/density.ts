/**
 * Notebook 04: dead latents and activation density of TopK, g-SAE and e2e-TopK at the main k.
 *
 * - Dead latents over training: a latent is dead at a step when it has not fired on any of the
 *   last N training tokens (N = the trainer's `deadWindowTokens`; before N tokens have passed
 *   nothing can be dead, by this definition). Read from each SAE's training history.
 *   The window is the one the trainer saved (`TrainedSAE.train.deadWindowTokens`, cfg.json's
 *   `dead_window_tokens`), stated beside every dead count.
 * - Latents that never fired on the validation tokens: a separate count, named as such (it
 *   depends on how many validation tokens there are, not on the training window).
 * - Activation density on validation tokens: each latent's activation frequency (fraction of
 *   tokens it fires on) from the shared held-out evaluation, under both selection rules of a
 *   gradient-aware SAE: with the true-token gradient (the paper's evaluation) and plain
 *   selection without a gradient (what a deployed g-SAE shows, since no label is known at
 *   inference); TopK and e2e-TopK ignore the gradient, so both are the same evaluation. Their
 *   CDF, median, and the fractions of latents above fixed frequencies (the paper's 1 % and
 *   10 %). A TopK-family SAE's mean frequency is fixed at L0 / d_sae, so these describe how that
 *   mass is spread over latents.
 *
 * Paper (Olmo et al., section on dead latents): g-SAEs leave fewer latents permanently inactive;
 * at L0 = 32 the median latent frequency is 0.24 % (g-SAE), 0.43 % (TopK), 1.10 % (e2e); g-SAEs
 * have fewer latents firing on more than 1 % of tokens but more on more than 10 %.
 *
 * @module
 */
import { median } from "../../metrics/mod.ts";
import { architectureOf } from "../../sae/mod.ts";
import { type ComparedArchitecture, comparedEvaluations } from "../zoo/compared.ts";
import { evaluateSAE, type SAEEvaluation } from "../zoo/sae_eval.ts";
import type { TrainedSAE } from "../zoo/sae_zoo.ts";
import { byArchitecture, type Spread, spread } from "../shared/seed_spread.ts";
import type { Workspace } from "../shared/workspace.ts";

/** The paper's frequency thresholds (fractions of tokens). */
export const PAPER_THRESHOLDS: readonly number[] = [0.01, 0.1];

/** The paper's median latent frequencies at L0 = 32 (GPT-2 small), as fractions. */
export const PAPER_MEDIAN_FREQUENCY: Readonly<Record<ComparedArchitecture, number>> = {
  gsae: 0.0024,
  topk: 0.0043,
  e2e_topk: 0.011,
};

/** What this notebook reads from one trained and evaluated SAE. */
export interface DensityRun {
  /** Architecture. */
  architecture: ComparedArchitecture;
  /** Seed. */
  seed: number;
  /** The SAE's label. */
  label: string;
  /** Latents. */
  dSae: number;
  /** N: a latent is dead when it has not fired in the last N training tokens. */
  deadWindowTokens: number;
  /** Training tokens at each logged step. */
  tokens: number[];
  /** Dead latents at each logged step. */
  dead: number[];
  /** Dead latents at the end of training. */
  deadAtEnd: number;
  /** Per-latent activation frequency on the validation tokens (true-token gradient). */
  frequencies: number[];
  /**
   * Per-latent activation frequency under plain selection (no gradient); the same array as
   * `frequencies` for an SAE that does not use the gradient.
   */
  plainFrequencies: number[];
  /** Whether the SAE's encoder uses the gradient (then the two selections differ). */
  usesGradient: boolean;
  /** Validation tokens the frequencies count over. */
  evalTokens: number;
  /** Mean active latents per validation token (true-token gradient). */
  l0: number;
  /** The same under plain selection. */
  plainL0: number;
}

/**
 * A {@link DensityRun} from a trained SAE, its validation evaluation (true-token gradient) and,
 * for an SAE that uses the gradient, its plain-selection evaluation (`options.plain`, required
 * then; ignored otherwise).
 */
export function densityRun(
  trained: TrainedSAE,
  evaluation: SAEEvaluation,
  options: { plain?: SAEEvaluation } = {},
): DensityRun {
  const usesGradient = architectureOf(trained.spec.architecture).usesGradient;
  const plain = usesGradient ? options.plain : evaluation;
  if (!plain) throw new Error(`densityRun: ${trained.label} needs its plain-selection evaluation`);
  if (plain.frequency.tokens !== evaluation.frequency.tokens) {
    throw new Error(
      `densityRun: ${trained.label}'s evaluations count ${evaluation.frequency.tokens} and ` +
        `${plain.frequency.tokens} tokens`,
    );
  }
  return {
    architecture: trained.spec.architecture as ComparedArchitecture,
    seed: trained.spec.seed,
    label: trained.label,
    dSae: evaluation.frequencies.length,
    deadWindowTokens: trained.train.deadWindowTokens,
    tokens: trained.history.map((p) => p.tokens),
    dead: trained.history.map((p) => p.dead),
    deadAtEnd: trained.dead,
    frequencies: evaluation.frequencies,
    plainFrequencies: plain.frequencies,
    usesGradient,
    evalTokens: evaluation.frequency.tokens,
    l0: evaluation.l0,
    plainL0: plain.l0,
  };
}

/**
 * The shared main-k SAEs (every architecture of {@link COMPARED} and every seed of the profile)
 * with their validation evaluations (and plain-selection ones for g-SAE); trained and evaluated
 * only when not cached.
 */
export async function densityRuns(
  ws: Workspace,
  options: { architectures?: readonly ComparedArchitecture[]; seeds?: number[] } = {},
): Promise<DensityRun[]> {
  const out: DensityRun[] = [];
  for (const { trained, evaluation } of await comparedEvaluations(ws, options)) {
    const plain = architectureOf(trained.spec.architecture).usesGradient
      ? await evaluateSAE(ws, trained, { gradient: "none" })
      : undefined;
    out.push(densityRun(trained, evaluation, { plain }));
  }
  return out;
}

/** Dead latents over training for one architecture: mean and range over seeds, as fractions. */
export interface DeadCurve {
  /** Architecture. */
  architecture: ComparedArchitecture;
  /** Training tokens. */
  tokens: number[];
  /** Mean over seeds of the dead fraction. */
  mean: number[];
  /** Minimum over seeds. */
  min: number[];
  /** Maximum over seeds. */
  max: number[];
  /** N of the dead window. */
  window: number;
}

/** Per-architecture dead-latent curves (seeds share the logging steps; the shortest wins). */
export function deadCurves(runs: DensityRun[]): DeadCurve[] {
  return byArchitecture(runs).map(([architecture, rs]) => {
    const steps = Math.min(...rs.map((r) => r.dead.length));
    const at = (i: number) => rs.map((r) => r.dead[i] / r.dSae);
    const idx = Array.from({ length: steps }, (_, i) => i);
    return {
      architecture,
      tokens: idx.map((i) => rs[0].tokens[i]),
      mean: idx.map((i) => at(i).reduce((s, v) => s + v, 0) / rs.length),
      min: idx.map((i) => Math.min(...at(i))),
      max: idx.map((i) => Math.max(...at(i))),
      window: rs[0].deadWindowTokens,
    };
  });
}

/**
 * Empirical CDF of `values` at ≤ `points` evenly spaced ranks (default 256): `value` ascending
 * and `fraction` = share of values ≤ it.
 */
export function empiricalCdf(
  values: ArrayLike<number>,
  options: { points?: number } = {},
): { value: number[]; fraction: number[] } {
  const sorted = Float64Array.from(values).sort();
  const n = sorted.length, count = Math.min(options.points ?? 256, n);
  const value: number[] = [], fraction: number[] = [];
  for (let p = 0; p < count; p++) {
    let r = count === 1 ? n - 1 : Math.round((p * (n - 1)) / (count - 1));
    // Report the share of values ≤ sorted[r], ties included.
    while (r + 1 < n && sorted[r + 1] === sorted[r]) r++;
    if (value.length && value[value.length - 1] === sorted[r]) continue;
    value.push(sorted[r]);
    fraction.push((r + 1) / n);
  }
  return { value, fraction };
}

/** Frequency statistics of one selection rule: spreads over seeds, in seed order. */
export interface FrequencyStats {
  /** Fraction of latents that never fired on the validation tokens. */
  neverFiredOnVal: Spread;
  /** Median latent frequency (never-firing latents count as 0). */
  medianFrequency: Spread;
  /** Fraction of latents with frequency strictly above each threshold, in threshold order. */
  above: Spread[];
  /** L0 on validation. */
  l0: Spread;
}

/**
 * Per-architecture density summary: each field's spread over seeds (fractions, not %), whose
 * `values` are in the order of `seeds`, so two architectures' values pair by seed.
 */
export interface DensityRow extends FrequencyStats {
  /** Architecture. */
  architecture: ComparedArchitecture;
  /** Seeds. */
  seeds: number[];
  /** Latents. */
  dSae: number;
  /** Dead fraction at the end of training (window N = `deadWindowTokens`). */
  deadAtEnd: Spread;
  /** N of the training dead window, as saved with the SAE (the same for every seed). */
  deadWindowTokens: number;
  /** Validation tokens. */
  evalTokens: number;
  /** Whether the encoder uses the gradient (then `plain` differs from the fields above). */
  usesGradient: boolean;
  /** The frequency statistics under plain selection (the fields above: true-token gradient). */
  plain: FrequencyStats;
}

/** The density table: one row per architecture, in {@link COMPARED} order. */
export interface DensityTable {
  /** The thresholds of {@link FrequencyStats.above}. */
  thresholds: number[];
  /** Rows. */
  rows: DensityRow[];
}

/**
 * Summarises runs per architecture (thresholds default to the paper's 1 % and 10 %). Seeds of
 * one architecture with different saved dead windows are an error (their counts would not be
 * comparable).
 */
export function densityTable(
  runs: DensityRun[],
  options: { thresholds?: readonly number[] } = {},
): DensityTable {
  const thresholds = [...(options.thresholds ?? PAPER_THRESHOLDS)];
  const stats = (
    rs: DensityRun[],
    f: (r: DensityRun) => number[],
    l0: (r: DensityRun) => number,
  ) => ({
    neverFiredOnVal: spread(rs.map((r) => f(r).filter((v) => v === 0).length / r.dSae)),
    medianFrequency: spread(rs.map((r) => median(f(r)))),
    above: thresholds.map((t) => spread(rs.map((r) => f(r).filter((v) => v > t).length / r.dSae))),
    l0: spread(rs.map(l0)),
  });
  const rows = byArchitecture(runs).map(([architecture, rs]): DensityRow => {
    const windows = [...new Set(rs.map((r) => r.deadWindowTokens))];
    if (windows.length > 1) {
      throw new Error(`densityTable: ${architecture}'s seeds saved dead windows ${windows}`);
    }
    return {
      architecture,
      seeds: rs.map((r) => r.seed),
      dSae: rs[0].dSae,
      deadAtEnd: spread(rs.map((r) => r.deadAtEnd / r.dSae)),
      deadWindowTokens: windows[0],
      evalTokens: rs[0].evalTokens,
      usesGradient: rs[0].usesGradient,
      ...stats(rs, (r) => r.frequencies, (r) => r.l0),
      plain: stats(rs, (r) => r.plainFrequencies, (r) => r.plainL0),
    };
  });
  return { thresholds, rows };
}
