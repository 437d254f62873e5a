/**
 * Notebook 05: feature splitting, the paper's Fig. 8 (bottom) and Table 2.
 *
 * - Each live decoder row's maximum cosine similarity with another live row of the same SAE
 *   (`maxDecoderCosine` over the latents that fired at least once on the validation tokens), a
 *   proxy for feature splitting (Braun et al.): split latents point in nearly the same direction.
 *   Dead latents are left out: their rows are untrained (close to their random initialisation)
 *   and pull the mean towards the random level, which is reported beside it
 *   (`random_dictionary.ts`: the mean max cosine of as many random unit vectors in d dims). The
 *   comparison between SAEs is of the excess over that level, since the level rises with the
 *   number of live latents.
 * - Table 2: mean |directional derivative| |∇ₓL · d̂ᵢ| of latents at three positions of that
 *   histogram. Our definition of the positions, among the latents that fired at least
 *   `minFirings` times on the validation tokens: sort them by live max cosine; the left tail is
 *   the `size` lowest, the middle the `size` centred on the median rank, the right tail the
 *   `size` highest. The paper samples 30 latents per category (of 24,576); ours are groups
 *   large enough for the mean of a group to be stable across seeds, {@link tailSize}: a tenth
 *   of the live latents (deciles), at least 50.
 * - The derivative is averaged "over many activations x" (the paper): over every validation
 *   token (`meanAbsDerivAll`, the Table 2 reading); over the tokens where the latent fires
 *   (`meanAbsDerivFiring`) is shown beside it. Both use the gradient of the true next-token loss.
 *
 * The absolute scale of directional derivatives depends on the model (GPT-2 small's are ~1e-5;
 * ours differ), so claims compare patterns: the rise from left to right tail, and its size
 * relative to TopK's.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { maxDecoderCosine, mean, spearman } from "../../metrics/mod.ts";
import { randomDictionaryLevel } from "./random_dictionary.ts";
import { type ComparedArchitecture, comparedEvaluations } from "../zoo/compared.ts";
import type { SAEEvaluation } from "../zoo/sae_eval.ts";
import type { TrainedSAE } from "../zoo/sae_zoo.ts";
import { byArchitecture, type Spread, spread } from "../shared/seed_spread.ts";
import type { Workspace } from "../shared/workspace.ts";

/** Table 2 of the paper (×1e-5, GPT-2 small layer 7): left tail, middle, right tail. */
export const PAPER_TABLE2: Readonly<Record<ComparedArchitecture, [number, number, number]>> = {
  gsae: [2.070, 2.538, 2.861],
  topk: [2.187, 2.313, 2.366],
  e2e_topk: [2.221, 2.502, 3.428],
};

/** The histogram positions of Table 2. */
export const POSITIONS = ["left", "middle", "right"] as const;

/** One of {@link POSITIONS}. */
export type Position = typeof POSITIONS[number];

/** What this notebook reads from one trained and evaluated SAE. */
export interface SplittingRun {
  /** Architecture. */
  architecture: ComparedArchitecture;
  /** Seed. */
  seed: number;
  /** The SAE's label. */
  label: string;
  /** Per latent: maximum cosine similarity of its decoder row with another row (every row). */
  maxCosine: number[];
  /**
   * Per latent: maximum cosine of its row with another live row (live: fired on a validation
   * token); null for a latent that never fired.
   */
  liveMaxCosine: (number | null)[];
  /** Latents that fired on the validation tokens. */
  live: number;
  /** Mean max cosine of `live` random unit vectors in the decoder's dimension (5 draws). */
  randomLevel: number;
  /** Per latent: validation tokens it fired on. */
  firings: number[];
  /** Per latent: mean |∇L·d̂ᵢ| over every validation token. */
  derivAll: number[];
  /** Per latent: mean |∇L·d̂ᵢ| over the validation tokens where it fired (null: never). */
  derivFiring: (number | null)[];
}

/**
 * A {@link SplittingRun} from a trained SAE (its decoder) and its validation evaluation; the
 * random level is drawn from the SAE's seed.
 */
export async function splittingRun(
  trained: TrainedSAE,
  evaluation: SAEEvaluation,
): Promise<SplittingRun> {
  const wDec = trained.sae.params.get("W_dec") as tf.Tensor2D | undefined;
  if (!wDec) throw new Error(`${trained.label}: no W_dec parameter`);
  const tokens = evaluation.frequency.tokens;
  const firings = evaluation.frequencies.map((f) => Math.round(f * tokens));
  const liveMaxCosine = await liveMaxDecoderCosine(wDec, firings.map((f) => f > 0));
  const live = liveMaxCosine.filter((v) => v !== null).length;
  if (live < 2) throw new Error(`${trained.label}: ${live} latent(s) fired on validation`);
  return {
    architecture: trained.spec.architecture as ComparedArchitecture,
    seed: trained.spec.seed,
    label: trained.label,
    maxCosine: Array.from(await maxDecoderCosine(wDec)),
    liveMaxCosine,
    live,
    randomLevel: (await randomDictionaryLevel(live, wDec.shape[1], { seed: trained.spec.seed }))
      .mean,
    firings,
    derivAll: evaluation.meanAbsDerivAll,
    derivFiring: evaluation.meanAbsDerivFiring,
  };
}

/** The shared main-k SAEs of every compared architecture and seed, with their evaluations. */
export async function splittingRuns(
  ws: Workspace,
  options: { architectures?: readonly ComparedArchitecture[]; seeds?: number[] } = {},
): Promise<SplittingRun[]> {
  const runs = await comparedEvaluations(ws, options);
  const out: SplittingRun[] = [];
  for (const { trained, evaluation } of runs) out.push(await splittingRun(trained, evaluation));
  return out;
}

/**
 * Each latent's max cosine with another latent among the `live` ones (null where not live): the
 * decoder restricted to its live rows.
 */
export async function liveMaxDecoderCosine(
  wDec: tf.Tensor2D,
  live: ArrayLike<boolean>,
): Promise<(number | null)[]> {
  if (live.length !== wDec.shape[0]) {
    throw new RangeError(`liveMaxDecoderCosine: ${live.length} flags for ${wDec.shape[0]} rows`);
  }
  const idx = Array.from(live).flatMap((l, i) => (l ? [i] : []));
  const out: (number | null)[] = new Array(live.length).fill(null);
  if (idx.length < 2) return out;
  const rows = tf.gather(wDec, idx) as tf.Tensor2D;
  try {
    (await maxDecoderCosine(rows)).forEach((v, j) => (out[idx[j]] = v));
  } finally {
    rows.dispose();
  }
  return out;
}

/** Default share of the live latents in each Table 2 group, and the least group size. */
export const TAIL_RULE = { share: 0.1, minSize: 50 } as const;

/**
 * Latents per Table 2 group for an SAE with `live` eligible latents: `share` of them (default a
 * tenth: the lowest, middle and highest deciles), at least `minSize` (default 50) when there are
 * three times that many, else a third of them. Why: a group's mean |∇L·d̂| varies with the
 * latents drawn into it, so the groups are sized to the SAE (30 would be 3 % of ~1,000 live
 * latents) rather than to the paper's 30 of 24,576.
 */
export function tailSize(
  live: number,
  options: { share?: number; minSize?: number } = {},
): number {
  const share = options.share ?? TAIL_RULE.share, minSize = options.minSize ?? TAIL_RULE.minSize;
  return Math.max(Math.ceil(share * live), Math.min(minSize, Math.floor(live / 3)));
}

/**
 * Latent indices at the three histogram positions among `eligible` latents, by `values`
 * ascending (ties by index): the `size` lowest, the `size` centred on the median rank, the
 * `size` highest. Fewer than 3·`size` eligible latents is an error (the groups would overlap).
 */
export function tailGroups(
  values: ArrayLike<number>,
  eligible: ArrayLike<boolean>,
  size: number,
): Record<Position, number[]> {
  const order = Array.from({ length: values.length }, (_, i) => i)
    .filter((i) => eligible[i])
    .sort((a, b) => values[a] - values[b] || a - b);
  if (size < 1 || order.length < 3 * size) {
    throw new RangeError(`tailGroups: ${order.length} eligible latents, need 3 × ${size}`);
  }
  const start = Math.floor((order.length - size) / 2);
  return {
    left: order.slice(0, size),
    middle: order.slice(start, start + size),
    right: order.slice(order.length - size),
  };
}

/** Table 2 quantities of one SAE. */
export interface TailStats {
  /** Eligible latents (fired ≥ `minFirings` times). */
  live: number;
  /** Latents per group. */
  size: number;
  /** Mean max cosine over every latent, dead ones included (the paper's histogram). */
  meanMaxCosine: number;
  /** Mean over the live latents of the max cosine with another live latent. */
  liveMeanMaxCosine: number;
  /** The random-dictionary level for as many vectors (see {@link SplittingRun.randomLevel}). */
  randomLevel: number;
  /** Per position: mean over its latents of the all-tokens mean |∇L·d̂|. */
  derivAll: Record<Position, number>;
  /** Per position: the same with the when-firing mean. */
  derivFiring: Record<Position, number>;
  /** Per position: mean live max cosine of its latents. */
  maxCosine: Record<Position, number>;
  /** Spearman(live max cosine, all-tokens |∇L·d̂|) over the eligible latents. */
  spearman: number;
}

/**
 * The Table 2 quantities of one run: groups by live max cosine among the latents that fired at
 * least `minFirings` times (default 1), sized by {@link tailSize} (`share`, `minSize`).
 */
export function tailStats(
  run: SplittingRun,
  options: { share?: number; minFirings?: number; minSize?: number } = {},
): TailStats {
  const minFirings = Math.max(1, options.minFirings ?? 1);
  const eligible = run.firings.map((f, i) => f >= minFirings && run.liveMaxCosine[i] !== null);
  const idx = eligible.flatMap((l, i) => (l ? [i] : []));
  const cos = run.liveMaxCosine.map((v) => v ?? NaN);
  const size = tailSize(idx.length, options);
  const groups = tailGroups(cos, eligible, size);
  const per = (v: ArrayLike<number | null>) =>
    Object.fromEntries(POSITIONS.map((p) => [p, mean(groups[p].map((i) => v[i]!))])) as Record<
      Position,
      number
    >;
  const live = run.liveMaxCosine.filter((v): v is number => v !== null);
  return {
    live: idx.length,
    size,
    meanMaxCosine: mean(run.maxCosine),
    liveMeanMaxCosine: mean(live),
    randomLevel: run.randomLevel,
    derivAll: per(run.derivAll),
    derivFiring: per(run.derivFiring),
    maxCosine: per(cos),
    spearman: spearman(idx.map((i) => cos[i]), idx.map((i) => run.derivAll[i])),
  };
}

/**
 * Per-architecture splitting summary: spreads over seeds, whose `values` are in seed order
 * (`seeds`), so two architectures' values pair by seed.
 */
export interface SplittingRow {
  /** Architecture. */
  architecture: ComparedArchitecture;
  /** Seeds. */
  seeds: number[];
  /** Mean max cosine (every latent, dead ones included). */
  meanMaxCosine: Spread;
  /** Mean max cosine among the live latents. */
  liveMeanMaxCosine: Spread;
  /** The random-dictionary level for each seed's number of live latents. */
  randomLevel: Spread;
  /** Live mean max cosine minus the random level, per seed (the claim's quantity). */
  excessOverRandom: Spread;
  /** Eligible latents. */
  live: Spread;
  /** Latents per group. */
  size: Spread;
  /** Per position: all-tokens mean |∇L·d̂|. */
  derivAll: Record<Position, Spread>;
  /** Per position: when-firing mean |∇L·d̂|. */
  derivFiring: Record<Position, Spread>;
  /** Per position: mean max cosine of the group. */
  maxCosine: Record<Position, Spread>;
  /** Right-tail / left-tail all-tokens derivative. */
  rise: Spread;
  /** Spearman(max cosine, |∇L·d̂|) over live latents. */
  spearman: Spread;
}

/** The splitting table: rows in {@link COMPARED} order, with the group rule used. */
export interface SplittingTable {
  /** Share of the eligible latents in each group. */
  share: number;
  /** Least group size (when an SAE has three times as many eligible latents). */
  minSize: number;
  /** Minimum validation firings of an eligible latent. */
  minFirings: number;
  /** Rows. */
  rows: SplittingRow[];
}

/** Summarises runs per architecture (see {@link tailStats} for the options). */
export function splittingTable(
  runs: SplittingRun[],
  options: { share?: number; minSize?: number; minFirings?: number } = {},
): SplittingTable {
  const share = options.share ?? TAIL_RULE.share, minSize = options.minSize ?? TAIL_RULE.minSize;
  const minFirings = Math.max(1, options.minFirings ?? 1);
  const rows = byArchitecture(runs).map(([architecture, rs]): SplittingRow => {
    const st = rs.map((r) => tailStats(r, { share, minSize, minFirings }));
    const pos = (f: (s: TailStats) => Record<Position, number>) =>
      Object.fromEntries(POSITIONS.map((p) => [p, spread(st.map((s) => f(s)[p]))])) as Record<
        Position,
        Spread
      >;
    return {
      architecture,
      seeds: rs.map((r) => r.seed),
      meanMaxCosine: spread(st.map((s) => s.meanMaxCosine)),
      liveMeanMaxCosine: spread(st.map((s) => s.liveMeanMaxCosine)),
      randomLevel: spread(st.map((s) => s.randomLevel)),
      excessOverRandom: spread(st.map((s) => s.liveMeanMaxCosine - s.randomLevel)),
      live: spread(st.map((s) => s.live)),
      size: spread(st.map((s) => s.size)),
      derivAll: pos((s) => s.derivAll),
      derivFiring: pos((s) => s.derivFiring),
      maxCosine: pos((s) => s.maxCosine),
      rise: spread(st.map((s) => s.derivAll.right / s.derivAll.left)),
      spearman: spread(st.map((s) => s.spearman)),
    };
  });
  return { share, minSize, minFirings, rows };
}
