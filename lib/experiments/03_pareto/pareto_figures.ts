/**
 * The Pareto notebook's β-sweep and controls figures as Plotly specs, and the names and colours
 * every figure of the notebook uses (the frontiers are in `pareto_frontier_figure.ts`). Points
 * come from `pareto.ts`.
 *
 * @module
 */
import type { FigureSpec } from "../../pipeline/figures.ts";
import type { ArchitectureName } from "../../sae/mod.ts";
import type { BetaSweep, EvalMode, ParetoPoint } from "./pareto.ts";
import { type FrontierMetric, select, type Selector } from "./pareto_compare.ts";
import { ARCH_STYLE, spread } from "../shared/seed_spread.ts";

/** Axis titles of the frontier metrics. */
export const METRIC_TITLES: Readonly<Record<FrontierMetric, string>> = {
  deltaCe: "ΔCE (nats)",
  kl: "KL(clean ‖ spliced) (nats)",
  fvu: "FVU",
};

/** One colour per architecture in every figure (the compared three as in the other notebooks). */
export const COLORS: Readonly<Record<string, string>> = {
  topk: ARCH_STYLE.topk.color,
  gsae: ARCH_STYLE.gsae.color,
  e2e_topk: ARCH_STYLE.e2e_topk.color,
  gated: "#9467bd",
  mutual_choice: "#FFA15A",
  gradient_mutual_choice: "#FF6692",
  feature_choice: "#19d3f3",
  gradient_feature_choice: "#B6E880",
};

const NAMES: Record<string, string> = {
  topk: "TopK",
  gsae: "g-SAE",
  e2e_topk: "e2e-TopK",
  gated: "Gated",
  mutual_choice: "Mutual Choice",
  gradient_mutual_choice: "gradient Mutual Choice",
  feature_choice: "Feature Choice",
  gradient_feature_choice: "gradient Feature Choice",
};

const MODE_NAMES: Record<EvalMode, string> = {
  true: "",
  plain: ", plain TopK selection",
  sampled: ", sampled-token gradient",
  token: ", per-token gradient",
  selection: " + g-SAE selection",
};

/** A legend name for an architecture in an evaluation mode, e.g. `g-SAE, plain TopK selection`. */
export function seriesName(architecture: ArchitectureName, mode: EvalMode = "true"): string {
  return (NAMES[architecture] ?? architecture) + MODE_NAMES[mode];
}

/**
 * The β sweep: ΔCE, KL and FVU (three panels) against β on a log axis, development (true-token
 * gradient) and validation (true-token gradient and plain selection), with TopK (β = 0) as
 * dotted horizontal lines and the chosen β marked.
 */
export function betaSweepFigure(sweep: BetaSweep, options: { title?: string } = {}): FigureSpec {
  const rows = sweep.rows.filter((r) => r.beta > 0), topk = sweep.rows.find((r) => r.beta === 0);
  const betas = rows.map((r) => r.beta);
  const series = [
    { name: "g-SAE, dev, true-token gradient", pick: (r: typeof rows[0]) => r.dev, dash: "dot" },
    { name: "g-SAE, val, true-token gradient", pick: (r: typeof rows[0]) => r.val, dash: "solid" },
    { name: "g-SAE, val, plain selection", pick: (r: typeof rows[0]) => r.valPlain, dash: "dash" },
  ];
  const metrics: FrontierMetric[] = ["deltaCe", "kl", "fvu"];
  const traces: Record<string, unknown>[] = [];
  const layout: Record<string, unknown> = {
    title: { text: options.title ?? `g-SAE β sweep (chosen on dev: β = ${sweep.chosen})` },
    legend: { orientation: "h", y: -0.2 },
    shapes: [] as Record<string, unknown>[],
  };
  metrics.forEach((metric, i) => {
    const ax = i === 0 ? "" : String(i + 1);
    for (const s of series) {
      traces.push({
        type: "scatter",
        mode: "lines+markers",
        name: s.name,
        legendgroup: s.name,
        showlegend: i === 0,
        x: betas,
        y: rows.map((r) => s.pick(r)[metric]),
        line: { color: COLORS.gsae, dash: s.dash },
        marker: { color: COLORS.gsae },
        xaxis: `x${ax}`,
        yaxis: `y${ax}`,
      });
    }
    if (topk) {
      for (
        const [name, value, dash] of [
          ["TopK (β = 0), val", topk.val[metric], "solid"],
          ["TopK (β = 0), dev", topk.dev[metric], "dot"],
        ] as const
      ) {
        traces.push({
          type: "scatter",
          mode: "lines",
          name,
          legendgroup: name,
          showlegend: i === 0,
          x: [betas[0], betas[betas.length - 1]],
          y: [value, value],
          line: { color: COLORS.topk, dash },
          xaxis: `x${ax}`,
          yaxis: `y${ax}`,
        });
      }
    }
    const domain = [i / 3 + 0.02, (i + 1) / 3 - 0.04];
    layout[`xaxis${ax}`] = { type: "log", title: { text: "β" }, domain, anchor: `y${ax}` };
    layout[`yaxis${ax}`] = { title: { text: METRIC_TITLES[metric] }, anchor: `x${ax}` };
    (layout.shapes as Record<string, unknown>[]).push({
      type: "line",
      xref: `x${ax}`,
      yref: `y${ax} domain`,
      x0: sweep.chosen,
      x1: sweep.chosen,
      y0: 0,
      y1: 1,
      line: { color: "#999", dash: "dot" },
    });
  });
  return { data: traces, layout };
}

/** The conditions of the controls figure, in order. */
export const CONTROL_CONDITIONS: Selector[] = [
  { architecture: "topk" },
  { architecture: "topk", mode: "selection" },
  { architecture: "gsae" },
  { architecture: "gsae", mode: "sampled" },
  { architecture: "gsae", mode: "plain" },
  { architecture: "e2e_topk" },
];

/**
 * The controls at the main k: ΔCE and KL (two panels) for each condition of
 * {@link CONTROL_CONDITIONS}, as bars of the mean over seeds with ± sd, and every seed as a dot.
 */
export function controlsFigure(
  points: ParetoPoint[],
  options: { title?: string } = {},
): FigureSpec {
  const conditions = CONTROL_CONDITIONS.filter((c) => select(points, c).length > 0);
  const x = conditions.map((c) => seriesName(c.architecture, c.mode));
  const traces: Record<string, unknown>[] = [];
  (["deltaCe", "kl"] as const).forEach((metric, i) => {
    const axes = i === 0 ? {} : { xaxis: "x2", yaxis: "y2" };
    const spreads = conditions.map((c) => spread(select(points, c).map((p) => p[metric])));
    traces.push({
      type: "bar",
      name: "mean ± sd over seeds",
      showlegend: i === 0,
      legendgroup: "mean",
      x,
      y: spreads.map((s) => s.mean),
      error_y: { type: "data", array: spreads.map((s) => s.std) },
      marker: { color: conditions.map((c) => COLORS[c.architecture]) },
      opacity: 0.7,
      ...axes,
    });
    traces.push({
      type: "scatter",
      mode: "markers",
      name: "one seed",
      showlegend: i === 0,
      legendgroup: "seed",
      x: conditions.flatMap((c, j) => select(points, c).map(() => x[j])),
      y: conditions.flatMap((c) => select(points, c).map((p) => p[metric])),
      text: conditions.flatMap((c) => select(points, c).map((p) => `seed ${p.seed}`)),
      marker: { color: "#222", size: 6 },
      ...axes,
    });
  });
  return {
    data: traces,
    layout: {
      title: { text: options.title ?? "What the gradient buys at the main k (validation)" },
      xaxis: { domain: [0, 0.45], tickangle: -30 },
      xaxis2: { domain: [0.55, 1], anchor: "y2", tickangle: -30 },
      yaxis: { title: { text: METRIC_TITLES.deltaCe }, rangemode: "tozero" },
      yaxis2: { title: { text: METRIC_TITLES.kl }, anchor: "x2", rangemode: "tozero" },
      margin: { b: 160 },
    },
  };
}
