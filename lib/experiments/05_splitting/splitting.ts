/**
 * Notebook 05: feature splitting, the paper's Fig. 8 (bottom) and Table 2.
 *
 * - Each decoder row's maximum cosine similarity with any other row of the same SAE
 *   (`maxDecoderCosine`), a proxy for feature splitting (Braun et al.): split latents point in
 *   nearly the same direction. Histogram per architecture over every latent, dead ones included
 *   as in the paper (whose left-tail spikes it attributes to dead latents).
 * - Table 2: mean |directional derivative| |∇ₓL · d̂ᵢ| of latents at three positions of that
 *   histogram. Our definition of the positions, among the latents that fired at least
 *   `minFirings` times on the validation tokens (so that dead, untrained directions do not fill
 *   the left tail): sort them by maximum cosine; the left tail is the `size` lowest, the middle
 *   the `size` centred on the median rank, the right tail the `size` highest. The paper
 *   samples 30 latents per category with 300 sequences; we take `size` (default 30) latents and
 *   the profile's validation sequences.
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
import type * as tf from "@tensorflow/tfjs";
import { maxDecoderCosine, mean, spearman } from "../../metrics/mod.ts";
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
  /** Per latent: maximum cosine similarity of its decoder row with another row. */
  maxCosine: number[];
  /** Per latent: validation tokens it fired on. */
  firings: number[];
  /** Per latent: mean |∇L·d̂ᵢ| over every validation token. */
  derivAll: number[];
  /** Per latent: mean |∇L·d̂ᵢ| over the validation tokens where it fired (null: never). */
  derivFiring: (number | null)[];
}

/** A {@link SplittingRun} from a trained SAE (its decoder) and its validation evaluation. */
export async function splittingRun(
  trained: TrainedSAE,
  evaluation: SAEEvaluation,
): Promise<SplittingRun> {
  const wDec = trained.sae.params.get("W_dec") as tf.Tensor2D | undefined;
  if (!wDec) throw new Error(`${trained.label}: no W_dec parameter`);
  const tokens = evaluation.frequency.tokens;
  return {
    architecture: trained.spec.architecture as ComparedArchitecture,
    seed: trained.spec.seed,
    label: trained.label,
    maxCosine: Array.from(await maxDecoderCosine(wDec)),
    firings: evaluation.frequencies.map((f) => Math.round(f * tokens)),
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
  /** Live latents (fired ≥ `minFirings` times). */
  live: number;
  /** Mean max cosine over every latent (the histogram's mean). */
  meanMaxCosine: number;
  /** Per position: mean over its latents of the all-tokens mean |∇L·d̂|. */
  derivAll: Record<Position, number>;
  /** Per position: the same with the when-firing mean. */
  derivFiring: Record<Position, number>;
  /** Per position: mean max cosine of its latents. */
  maxCosine: Record<Position, number>;
  /** Spearman(max cosine, all-tokens |∇L·d̂|) over the live latents. */
  spearman: number;
}

/** The Table 2 quantities of one run (`size` latents per position, default 30). */
export function tailStats(
  run: SplittingRun,
  options: { size?: number; minFirings?: number } = {},
): TailStats {
  const minFirings = options.minFirings ?? 1;
  const live = run.firings.map((f) => f >= minFirings);
  const groups = tailGroups(run.maxCosine, live, options.size ?? 30);
  const per = (v: ArrayLike<number | null>) =>
    Object.fromEntries(POSITIONS.map((p) => [p, mean(groups[p].map((i) => v[i]!))])) as Record<
      Position,
      number
    >;
  const liveIdx = live.flatMap((l, i) => (l ? [i] : []));
  return {
    live: liveIdx.length,
    meanMaxCosine: mean(run.maxCosine),
    derivAll: per(run.derivAll),
    derivFiring: per(run.derivFiring),
    maxCosine: per(run.maxCosine),
    spearman: spearman(liveIdx.map((i) => run.maxCosine[i]), liveIdx.map((i) => run.derivAll[i])),
  };
}

/** Per-architecture splitting summary: spreads over seeds. */
export interface SplittingRow {
  /** Architecture. */
  architecture: ComparedArchitecture;
  /** Seeds. */
  seeds: number[];
  /** Mean max cosine (all latents). */
  meanMaxCosine: Spread;
  /** Live latents. */
  live: Spread;
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

/** The splitting table: rows in {@link COMPARED} order, with the group size used. */
export interface SplittingTable {
  /** Latents per position. */
  size: number;
  /** Minimum validation firings of an eligible latent. */
  minFirings: number;
  /** Rows. */
  rows: SplittingRow[];
}

/**
 * Summarises runs per architecture (see {@link tailStats} for the options). When some SAE has
 * fewer than 3·`size` live latents, every SAE uses ⌊live/3⌋ of that SAE (`table.size`).
 */
export function splittingTable(
  runs: SplittingRun[],
  options: { size?: number; minFirings?: number } = {},
): SplittingTable {
  const minFirings = options.minFirings ?? 1;
  // Fewer than 3·size live latents in some SAE: shrink the groups (for all SAEs alike).
  const fewest = Math.min(...runs.map((r) => r.firings.filter((f) => f >= minFirings).length));
  const size = Math.min(options.size ?? 30, Math.floor(fewest / 3));
  const rows = byArchitecture(runs).map(([architecture, rs]): SplittingRow => {
    const st = rs.map((r) => tailStats(r, { size, minFirings }));
    const pos = (f: (s: TailStats) => Record<Position, number>) =>
      Object.fromEntries(POSITIONS.map((p) => [p, spread(st.map((s) => f(s)[p]))])) as Record<
        Position,
        Spread
      >;
    return {
      architecture,
      seeds: rs.map((r) => r.seed),
      meanMaxCosine: spread(st.map((s) => s.meanMaxCosine)),
      live: spread(st.map((s) => s.live)),
      derivAll: pos((s) => s.derivAll),
      derivFiring: pos((s) => s.derivFiring),
      maxCosine: pos((s) => s.maxCosine),
      rise: spread(st.map((s) => s.derivAll.right / s.derivAll.left)),
      spearman: spread(st.map((s) => s.spearman)),
    };
  });
  return { size, minFirings, rows };
}
