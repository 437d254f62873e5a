/**
 * What notebook 02 reports from the first-order measurements (`first_order.ts`), one result per
 * seed: the spread over seeds per hook and magnitude, the verdicts on the paper's Fig. 3 claims,
 * the table and the metrics (the figures are in `first_order_figure.ts`).
 *
 * The claims are judged on "moderate" magnitudes, m ≤ `moderate` × the median ‖x‖ at the hook
 * (default 0.3: an error of that norm is a normalised MSE of about 0.09, the range of SAE
 * reconstruction errors), with "strong" meaning a Spearman correlation of at least `strong`
 * (default 0.7) and "weak" one below `weak` (default 0.4; 0.4–0.6 is conventionally "moderate").
 * Each comparison is judged over seeds with `seed_spread.ts` (paired: one seed's
 * two correlations come from the same perturbations).
 *
 * @module
 */
import type { ClaimRecord } from "../shared/results.ts";
import type { FirstOrderResult } from "./first_order.ts";
import type { MetricArgs } from "../01_directional/directional_summary.ts";
import {
  compareSeeds,
  formatSpread,
  type Outcome,
  type Spread,
  spread,
  verdictOf,
} from "../shared/seed_spread.ts";
import { escapeCell, mdTable } from "../../io/markdown_table.ts";

/** One hook and magnitude over seeds. */
export interface FirstOrderCell {
  /** m as a fraction of the median norm (or absolute). */
  fraction: number;
  /** m in activation units (mean over seeds: each seed has its own median norm). */
  magnitude: number;
  /** Spearman(|ΔL|, |∇L·δ|). */
  spearmanFirstOrder: Spread;
  /** Spearman(|ΔL|, ‖δ‖). */
  spearmanNorm: Spread;
  /** Spearman(ΔL, ∇L·δ). */
  spearmanSigned: Spread;
  /** mean|ΔL − ∇L·δ| / mean|ΔL|. */
  relativeError: Spread;
  /** Median |ΔL|. */
  medianAbsDeltaLoss: Spread;
}

/** One hook over seeds. */
export interface FirstOrderHookSummary {
  /** The hook. */
  hook: string;
  /** Median ‖x‖ at the hook. */
  medianNorm: Spread;
  /** One cell per magnitude. */
  cells: FirstOrderCell[];
}

/** The per-seed results of {@link summariseFirstOrder}, gathered per hook and magnitude. */
export interface FirstOrderSummary {
  /** The seeds, in order. */
  seeds: number[];
  /** Perturbations per hook, magnitude and seed. */
  perturbations: number;
  /** How magnitudes were scaled. */
  magnitudeScale: "median_norm" | "absolute";
  /** One entry per hook. */
  hooks: FirstOrderHookSummary[];
}

/** Gathers per-seed results (same hooks and magnitudes) into spreads over seeds. */
export function summariseFirstOrder(results: FirstOrderResult[]): FirstOrderSummary {
  if (results.length === 0) throw new Error("summariseFirstOrder: no results");
  const first = results[0];
  return {
    seeds: results.map((r) => r.seed),
    perturbations: first.hooks[0].points[0].n,
    magnitudeScale: first.magnitudeScale,
    hooks: first.hooks.map((h, i) => ({
      hook: h.hook,
      medianNorm: spread(results.map((r) => r.hooks[i].medianNorm)),
      cells: h.points.map((p, j) => {
        const at = <K extends keyof FirstOrderResult["hooks"][0]["points"][0]>(k: K) =>
          spread(results.map((r) => r.hooks[i].points[j][k] as number));
        return {
          fraction: p.fraction,
          magnitude: at("magnitude").mean,
          spearmanFirstOrder: at("spearmanFirstOrder"),
          spearmanNorm: at("spearmanNorm"),
          spearmanSigned: at("spearmanSigned"),
          relativeError: at("relativeError"),
          medianAbsDeltaLoss: at("medianAbsDeltaLoss"),
        };
      }),
    })),
  };
}

/** Thresholds of the claims (see the module doc). */
export interface FirstOrderThresholds {
  /** Largest moderate magnitude, as a fraction of the median norm (default 0.3). */
  moderate?: number;
  /** A "strong" Spearman correlation is at least this (default 0.7). */
  strong?: number;
  /** A "weak" Spearman correlation is below this (default 0.4). */
  weak?: number;
}

const short = (hook: string) => hook.replace(/^blocks\.(\d+)\.hook_/, "L$1 ");

/** The Fig. 3 claims of notebook 02, with verdicts computed from `summary`. */
export function firstOrderClaims(
  summary: FirstOrderSummary,
  options: FirstOrderThresholds = {},
): ClaimRecord[] {
  const moderate = options.moderate ?? 0.3, strong = options.strong ?? 0.7;
  const weak = options.weak ?? 0.4;
  const cells = summary.hooks.flatMap((h) =>
    h.cells.filter((c) => c.fraction <= moderate).map((c) => ({ hook: h.hook, c }))
  );
  const level = (s: Spread, value = strong) => s.values.map(() => value);
  const cellText = (f: (c: FirstOrderCell) => string) =>
    cells.map(({ hook, c }) => `${short(hook)} m=${c.fraction}: ${f(c)}`).join("; ");
  const strongOutcomes = cells.map(({ c }) =>
    compareSeeds(c.spearmanFirstOrder.values, level(c.spearmanFirstOrder), {
      claim: "higher",
      paired: true,
    })
  );
  const beatsNorm = cells.map(({ c }) =>
    compareSeeds(c.spearmanFirstOrder.values, c.spearmanNorm.values, {
      claim: "higher",
      paired: true,
    })
  );
  const normWeak = cells.map(({ c }) =>
    compareSeeds(c.spearmanNorm.values, level(c.spearmanNorm, weak), {
      claim: "lower",
      paired: true,
    })
  );
  const smaller = summary.hooks.map((h) =>
    compareSeeds(
      h.cells[0].spearmanFirstOrder.values,
      h.cells[h.cells.length - 1].spearmanFirstOrder.values,
      { claim: "higher", paired: true },
    )
  );
  const seeds = `${summary.seeds.length} seed(s), ${summary.perturbations} perturbations each`;
  const scale = summary.magnitudeScale === "median_norm" ? " × median ‖x‖" : "";
  const fmt = (s: Spread) => formatSpread(s, { digits: 2 });
  return [
    {
      id: "fig3-first-order-strong",
      paper: "Fig. 3 / §1: the first-order approximation ∇L·δ strongly predicts the change in " +
        "loss for perturbations of moderate size.",
      result: `Spearman(|ΔL|, |∇L·δ|) (mean ± std over ${seeds}); claimed ≥ ${strong} at every ` +
        `m ≤ ${moderate}${scale}: ${cellText((c) => fmt(c.spearmanFirstOrder))}`,
      verdict: verdictOf(strongOutcomes),
    },
    {
      id: "fig3-norm-weak",
      paper: "Fig. 3 / §2.4: the norm of a perturbation correlates only weakly with the change " +
        "in loss, much less than the first-order estimate does.",
      result: `Spearman(|ΔL|, ‖δ‖) vs Spearman(|ΔL|, |∇L·δ|) at m ≤ ${moderate}${scale}: ` +
        cellText((c) => `${fmt(c.spearmanNorm)} vs ${fmt(c.spearmanFirstOrder)}`) +
        `; first-order above the norm (95 % interval over seeds, the claim) in ${
          beatsNorm.filter((o) => o === "holds").length
        } of ${cells.length} cells; norm weak (below ${weak}; described, not judged) in ${
          normWeak.filter((o) => o === "holds").length
        } of ${cells.length} cells`,
      // "much less than the first-order estimate" decides; "weakly" has no threshold in the paper.
      verdict: verdictOf(beatsNorm),
    },
    {
      id: "fig3-smaller-perturbations",
      paper: "§2.4: the first-order estimate correlates better with the effect at smaller " +
        "perturbations.",
      result: summary.hooks.map((h, i) =>
        `${short(h.hook)}: ${fmt(h.cells[0].spearmanFirstOrder)} at m=${h.cells[0].fraction}, ` +
        `${fmt(h.cells[h.cells.length - 1].spearmanFirstOrder)} at m=${
          h.cells[h.cells.length - 1].fraction
        } (${outcomeWord(smaller[i])})`
      ).join("; "),
      verdict: verdictOf(smaller),
    },
  ];
}

function outcomeWord(o: Outcome): string {
  return o === "holds"
    ? "95 % interval over seeds on the claimed side"
    : o === "contradicts"
    ? "95 % interval over seeds on the other side"
    : `${o}: the interval spans zero`;
}

/** The notebook's table: per hook and magnitude, mean ± std over seeds. */
export function firstOrderTable(summary: FirstOrderSummary): string {
  const fmt = (s: Spread, digits = 3) => formatSpread(s, { digits });
  const rows = summary.hooks.flatMap((h) =>
    h.cells.map((c) => [
      h.hook,
      c.fraction,
      c.magnitude.toPrecision(3),
      c.medianAbsDeltaLoss.mean.toExponential(2),
      fmt(c.spearmanFirstOrder),
      fmt(c.spearmanNorm),
      fmt(c.spearmanSigned),
      fmt(c.relativeError),
    ])
  );
  return mdTable(
    [
      "hook",
      "m / median ‖x‖",
      "m",
      "median |ΔL|",
      "Spearman(|ΔL|, |∇L·δ|)",
      "Spearman(|ΔL|, ‖δ‖)",
      "Spearman(ΔL, ∇L·δ)",
      "mean|ΔL − ∇L·δ| / mean|ΔL|",
    ].map(escapeCell),
    rows,
  );
}

/** Notebook 02's metrics: per hook and magnitude, the seeds' mean of each correlation. */
export function firstOrderMetrics(summary: FirstOrderSummary): MetricArgs[] {
  return summary.hooks.flatMap((h) => {
    const tag = h.hook.replace(/^blocks\.(\d+)\.hook_/, "L$1_");
    return h.cells.flatMap((c): MetricArgs[] => [
      [`${tag}_m${c.fraction}_spearman_first_order`, c.spearmanFirstOrder.mean, {
        description: `${h.hook}, m = ${c.fraction}: Spearman(|ΔL|, |∇L·δ|), mean over seeds`,
        abs: 0.03,
        rel: 0,
      }],
      [`${tag}_m${c.fraction}_spearman_norm`, c.spearmanNorm.mean, {
        description: `${h.hook}, m = ${c.fraction}: Spearman(|ΔL|, ‖δ‖), mean over seeds`,
        abs: 0.03,
        rel: 0,
      }],
    ]);
  });
}
