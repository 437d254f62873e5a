/** Synthetic Pareto points shared by the Pareto tests. */
import type { ParetoPoint } from "../lib/experiments/03_pareto/pareto.ts";

/** A point with defaults; `deltaCe`, `kl` and `fvu` follow a power law in k unless given. */
export function point(
  fields: Partial<ParetoPoint> & Pick<ParetoPoint, "architecture">,
): ParetoPoint {
  const k = fields.k ?? 8;
  return {
    label: `${fields.architecture}-k${k}-s${fields.seed ?? 0}`,
    name: `${fields.architecture}-k${k}-s${fields.seed ?? 0}`,
    k,
    multiple: null,
    beta: null,
    seed: 0,
    mode: "true",
    split: "val",
    l0: k ?? 8,
    deltaCe: 1 / (k ?? 8),
    kl: 0.5 / (k ?? 8),
    fvu: 2 / (k ?? 8),
    shrinkage: 1,
    fracRecoveredMean: 0.9,
    fracRecoveredZero: 0.99,
    ceClean: 4,
    deadTrain: 0,
    deadFraction: 0,
    trainSeconds: 1,
    ...fields,
  };
}

/**
 * Frontiers at k = 4, 8, 16 and three seeds at k = 8 where g-SAE (true-token gradient) is 20 %
 * better than TopK in ΔCE and 10 % worse in KL, its plain selection worse than TopK, its sampled
 * selection mixed over seeds, and the selection control between TopK and g-SAE.
 */
export function synthetic(): { frontier: ParetoPoint[]; mainK: ParetoPoint[] } {
  const frontier: ParetoPoint[] = [], mainK: ParetoPoint[] = [];
  for (const k of [4, 8, 16]) {
    frontier.push(point({ architecture: "topk", k }));
    frontier.push(point({ architecture: "gsae", k, deltaCe: 0.8 / k, kl: 0.55 / k }));
    frontier.push(point({ architecture: "gsae", k, mode: "plain", deltaCe: 1.1 / k }));
    frontier.push(point({ architecture: "e2e_topk", k, deltaCe: 0.7 / k }));
  }
  for (const seed of [0, 1, 2]) {
    const jitter = 1 + 0.01 * seed;
    mainK.push(point({ architecture: "topk", seed, deltaCe: 0.125 * jitter }));
    mainK.push(point({ architecture: "topk", seed, mode: "selection", deltaCe: 0.11 * jitter }));
    mainK.push(point({ architecture: "gsae", seed, deltaCe: 0.1 * jitter, kl: 0.07 * jitter }));
    mainK.push(point({ architecture: "gsae", seed, mode: "plain", deltaCe: 0.13 * jitter }));
    mainK.push(
      point({ architecture: "gsae", seed, mode: "sampled", deltaCe: 0.124 + seed * 2e-3 }),
    );
    mainK.push(point({ architecture: "gsae", seed, mode: "token", deltaCe: 0.115 * jitter }));
    mainK.push(point({ architecture: "e2e_topk", seed, deltaCe: 0.09 * jitter }));
  }
  return { frontier, mainK };
}
