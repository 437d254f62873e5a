/**
 * Where the frontier figure puts its points (`pareto_frontier_figure.ts`), decided from the
 * numbers so that a reviewer can trust the axes:
 * - every SAE configuration is one point, the mean over the seeds evaluated at it, with its
 *   standard deviation ({@link groupOverSeeds});
 * - the axes fit the compared frontiers; a point far outside them, or a collapsed run (L0 < 1 or
 *   CE recovered below mean-ablation), is left off and named with its values instead of
 *   stretching the axes ({@link fitAxes});
 * - markers at the same L0 (TopK-like SAEs all sit at L0 = k) are spread sideways by a small
 *   step in log L0 so none hides another ({@link spreadSideways}).
 *
 * @module
 */
import type { ParetoPoint } from "./pareto.ts";
import { type FrontierMetric, select, type Selector } from "./pareto_compare.ts";
import { type Spread, spread } from "../shared/seed_spread.ts";

/** One SAE configuration (architecture, mode, k or λ) over the seeds evaluated at it. */
export interface FrontierGroup {
  /** A point of the group (its architecture, mode, k, β). */
  first: ParetoPoint;
  /** The configuration's name without the seed, e.g. `gsae-k32` or `gated-x1`. */
  name: string;
  /** The seeds, ascending. */
  seeds: number[];
  /** L0 over seeds. */
  l0: Spread;
  /** The frontier metrics over seeds. */
  metrics: Record<FrontierMetric, Spread>;
  /** Mean fraction of CE recovered relative to mean-ablation. */
  recovered: number;
}

/**
 * The points grouped by configuration (architecture, mode and name without the seed), in the
 * order the configurations first appear. A point given twice (the same label and mode, e.g. the
 * first seed at the main k in both the frontier and the seed spread) counts once: the last wins.
 */
export function groupOverSeeds(points: readonly ParetoPoint[]): FrontierGroup[] {
  const unique = new Map<string, ParetoPoint>();
  for (const p of points) unique.set(`${p.label}|${p.mode}`, p);
  const groups = new Map<string, ParetoPoint[]>();
  for (const p of unique.values()) {
    const key = `${p.architecture}|${p.mode}|${configName(p)}`;
    groups.set(key, [...(groups.get(key) ?? []), p]);
  }
  return [...groups.values()].map((ps) => {
    ps.sort((a, b) => a.seed - b.seed);
    const over = (f: (p: ParetoPoint) => number) => spread(ps.map(f));
    return {
      first: ps[0],
      name: configName(ps[0]),
      seeds: ps.map((p) => p.seed),
      l0: over((p) => p.l0),
      metrics: {
        deltaCe: over((p) => p.deltaCe),
        kl: over((p) => p.kl),
        fvu: over((p) => p.fvu),
      },
      recovered: over((p) => p.fracRecoveredMean).mean,
    };
  });
}

/** A point's name without its seed suffix. */
function configName(p: ParetoPoint): string {
  return p.name.replace(/-s\d+$/, "");
}

/** The groups of `groups` that `sel` picks. */
export function selectGroups(groups: readonly FrontierGroup[], sel: Selector): FrontierGroup[] {
  const firsts = new Set(select(groups.map((g) => g.first), sel));
  return groups.filter((g) => firsts.has(g.first));
}

/**
 * Why a group counts as a collapsed run, or null: fewer than one active latent per token, or CE
 * recovered below mean-ablation's (splicing it in is worse than knowing nothing per token).
 */
export function failure(group: FrontierGroup): string | null {
  const why = [
    group.l0.mean < 1 ? `L0 ${group.l0.mean.toFixed(2)}` : "",
    group.recovered < 0 ? `CE recovered ${(100 * group.recovered).toFixed(1)} %` : "",
  ].filter(Boolean);
  return why.length ? `collapsed: ${why.join(", ")}` : null;
}

/** A group left off a panel and why. */
export interface LeftOff {
  /** The group. */
  group: FrontierGroup;
  /** Why, with its values, e.g. `collapsed: L0 0.80` or `off scale: ΔCE 2.25`. */
  why: string;
}

/** The axes of one panel: log10 ranges, and which groups are drawn or left off. */
export interface AxisFit {
  /** log10 range of the L0 axis. */
  x: [number, number];
  /** log10 range of the metric axis. */
  y: [number, number];
  /** The groups drawn. */
  drawn: FrontierGroup[];
  /** The groups left off. */
  leftOff: LeftOff[];
}

/** Options of {@link fitAxes}. */
export interface FitOptions {
  /** The metric on the y axis. */
  metric: FrontierMetric;
  /** Fit the axes to these conditions (default: every group that did not collapse). */
  focus?: readonly Selector[];
  /**
   * How far (a factor) beyond the focus ranges another group may lie and still be drawn, the
   * ranges widening to it (default 2); beyond that it is left off.
   */
  reach?: number;
  /** Room around the drawn values, a factor on each side (default 1.15). */
  margin?: number;
}

/**
 * Fits the axes of one panel: to the focus groups (mean ± std of the metric, mean L0), widened
 * to every other group within `reach` of the focus ranges; collapsed groups ({@link failure}) and groups beyond
 * `reach` are left off, each with the reason and its values.
 */
export function fitAxes(groups: readonly FrontierGroup[], options: FitOptions): AxisFit {
  const { metric } = options, reach = options.reach ?? 2, margin = options.margin ?? 1.15;
  const leftOff: LeftOff[] = [];
  const healthy = groups.filter((g) => {
    const why = failure(g) ?? (g.metrics[metric].mean > 0 ? null : `${metric} ≤ 0`);
    if (why) leftOff.push({ group: g, why });
    return why === null;
  });
  const picked = options.focus
    ? healthy.filter((g) => options.focus!.some((sel) => selectGroups([g], sel).length))
    : healthy;
  const core = picked.length ? picked : healthy;
  const ys = (g: FrontierGroup) => {
    const s = g.metrics[metric];
    return [s.mean + s.std, s.mean - s.std].filter((v) => v > 0);
  };
  // Whether a group is drawn is judged against the focus ranges alone, so it does not depend on
  // the order of the groups; the drawn ones then widen the ranges.
  const coreX = bounds(core.map((g) => g.l0.mean)), coreY = bounds(core.flatMap(ys));
  const drawn: FrontierGroup[] = [];
  for (const g of healthy) {
    const inX = within(g.l0.mean, coreX, reach), inY = within(g.metrics[metric].mean, coreY, reach);
    if (core.includes(g) || (inX && inY)) {
      drawn.push(g);
      continue;
    }
    const what = [
      inX ? "" : `L0 ${g.l0.mean.toPrecision(3)}`,
      inY ? "" : `${METRIC_SHORT[metric]} ${g.metrics[metric].mean.toPrecision(3)}`,
    ].filter(Boolean);
    leftOff.push({ group: g, why: `off scale: ${what.join(", ")}` });
  }
  const x = bounds(drawn.map((g) => g.l0.mean)), y = bounds(drawn.flatMap(ys));
  const log = ([lo, hi]: [number, number]): [number, number] => [
    Math.log10(lo / margin),
    Math.log10(hi * margin),
  ];
  return { x: log(x), y: log(y), drawn, leftOff };
}

/** Short metric names for notes. */
export const METRIC_SHORT: Readonly<Record<FrontierMetric, string>> = {
  deltaCe: "ΔCE",
  kl: "KL",
  fvu: "FVU",
};

function bounds(values: number[]): [number, number] {
  if (!values.length) throw new Error("fitAxes: no point to fit the axes to");
  return [Math.min(...values), Math.max(...values)];
}

function within(v: number, [lo, hi]: [number, number], reach: number): boolean {
  return v >= lo / reach && v <= hi * reach;
}

/**
 * Sideways offsets (in log10 L0) that keep markers at the same L0 apart: points whose L0 lie
 * within `tolerance` decades of each other form a cluster, and a cluster of m points spreads
 * them `step` decades apart, centred on the true L0, in the order given. A lone point keeps its
 * place.
 */
export function spreadSideways(
  l0s: readonly number[],
  options: { step?: number; tolerance?: number } = {},
): number[] {
  const step = options.step ?? 0.012, tolerance = options.tolerance ?? 0.01;
  const order = l0s.map((_, i) => i).sort((a, b) => l0s[a] - l0s[b] || a - b);
  const offsets = new Array<number>(l0s.length).fill(0);
  let start = 0;
  for (let i = 1; i <= order.length; i++) {
    const gap = i < order.length
      ? Math.log10(l0s[order[i]]) - Math.log10(l0s[order[i - 1]])
      : Infinity;
    if (gap < tolerance) continue;
    const cluster = order.slice(start, i).sort((a, b) => a - b);
    cluster.forEach((j, c) => offsets[j] = (c - (cluster.length - 1) / 2) * step);
    start = i;
  }
  return offsets;
}
