/**
 * Comparisons of Pareto points (`pareto.ts`): picking conditions, pairing seeds, and
 * interpolating a frontier at a given L0. How a comparison is judged is `seed_spread.ts`'s one
 * rule (the 95 % interval of the paired difference).
 *
 * @module
 */
import type { ArchitectureName } from "../../sae/mod.ts";
import type { EvalMode, ParetoPoint } from "./pareto.ts";
import { type Spread, spread } from "../shared/seed_spread.ts";

/** Picks points: an architecture in an evaluation mode. */
export interface Selector {
  /** Architecture. */
  architecture: ArchitectureName;
  /** Evaluation mode (default `true`). */
  mode?: EvalMode;
}

/** The points `sel` picks, in the order given. */
export function select(points: readonly ParetoPoint[], sel: Selector): ParetoPoint[] {
  return points.filter((p) =>
    p.architecture === sel.architecture && p.mode === (sel.mode ?? "true")
  );
}

/** A metric of {@link ParetoPoint} that a frontier plots. */
export type FrontierMetric = "deltaCe" | "kl" | "fvu";

/** Per-seed values of `metric` for a candidate and a reference, over the seeds both have. */
export function pairedValues(
  points: readonly ParetoPoint[],
  candidate: Selector,
  reference: Selector,
  metric: FrontierMetric,
): { seeds: number[]; candidate: number[]; reference: number[] } {
  const ref = new Map(select(points, reference).map((p) => [p.seed, p[metric]]));
  const cand = select(points, candidate).filter((p) => ref.has(p.seed));
  if (cand.length === 0) throw new Error("pairedValues: no seed has both selections");
  return {
    seeds: cand.map((p) => p.seed),
    candidate: cand.map((p) => p[metric]),
    reference: cand.map((p) => ref.get(p.seed)!),
  };
}

/**
 * Per-seed paired differences `reference − candidate` of `metric` (positive: the candidate is
 * better, as every frontier metric is lower-is-better).
 */
export function pairedGain(
  points: readonly ParetoPoint[],
  candidate: Selector,
  reference: Selector,
  metric: FrontierMetric,
): Spread {
  const v = pairedValues(points, candidate, reference, metric);
  return spread(v.reference.map((r, i) => r - v.candidate[i]));
}

/**
 * The reference frontier's `metric` at `l0`, interpolated linearly in log L0 and log metric
 * between its two nearest points (extrapolated from the end segment outside its range).
 */
export function interpolateFrontier(
  frontier: readonly ParetoPoint[],
  l0: number,
  metric: FrontierMetric,
): number {
  const pts = [...frontier].sort((a, b) => a.l0 - b.l0);
  if (pts.length === 0) throw new Error("interpolateFrontier: empty frontier");
  if (pts.length === 1) return pts[0][metric];
  let i = pts.findIndex((p) => p.l0 >= l0);
  i = i <= 0 ? 1 : i;
  const [a, b] = [pts[i - 1], pts[i]];
  const t = (Math.log(l0) - Math.log(a.l0)) / (Math.log(b.l0) - Math.log(a.l0));
  return Math.exp(Math.log(a[metric]) + t * (Math.log(b[metric]) - Math.log(a[metric])));
}

/**
 * For each candidate point, its `metric` relative to the reference frontier at the same L0:
 * candidate / reference(L0) − 1 (negative: the candidate is better).
 */
export function frontierGaps(
  candidate: readonly ParetoPoint[],
  reference: readonly ParetoPoint[],
  metric: FrontierMetric,
): { k: number | null; l0: number; gap: number }[] {
  return candidate.map((p) => ({
    k: p.k,
    l0: p.l0,
    gap: p[metric] / interpolateFrontier(reference, p.l0, metric) - 1,
  }));
}
