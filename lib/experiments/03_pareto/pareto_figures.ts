/**
 * The Pareto notebook's β-sweep and controls figures as Plotly specs, and the series names every
 * figure and table of the notebook uses (the frontiers are in `pareto_frontier_figure.ts`; the
 * styles in `../shared/arch_style.ts`). Points come from `pareto.ts`.
 *
 * @module
 */
import type { FigureSpec } from "../../pipeline/figures.ts";
import type { ArchitectureName } from "../../sae/mod.ts";
import type { BetaSweep, EvalMode, ParetoPoint } from "./pareto.ts";
import { type FrontierMetric, select, type Selector } from "./pareto_compare.ts";
import { spread } from "../shared/seed_spread.ts";
import { seriesStyle, traceStyle } from "../shared/arch_style.ts";

/** Axis titles of the frontier metrics. */
export const METRIC_TITLES: Readonly<Record<FrontierMetric, string>> = {
  deltaCe: "ΔCE (nats)",
  kl: "KL(clean ‖ spliced) (nats)",
  fvu: "FVU",
};

/** A legend name for an architecture in an evaluation mode, e.g. `g-SAE, plain TopK selection`. */
export function seriesName(architecture: ArchitectureName, mode: EvalMode = "true"): string {
  return seriesStyle(architecture, mode).name;
}

/**
 * The β sweep: ΔCE, KL and FVU (three panels) against β on a log axis, development (true-token
 * gradient) and validation (true-token gradient and plain selection), with TopK (β = 0) as
 * horizontal lines and the chosen β marked. Five series apart in greyscale: g-SAE diamonds and
 * TopK circles (filled: validation, the paper's evaluation; open with a dot: development; open:
 * plain selection) and the line dash (solid: validation, long dash: development, dash: plain
 * selection).
 */
export function betaSweepFigure(sweep: BetaSweep, options: { title?: string } = {}): FigureSpec {
  const rows = sweep.rows.filter((r) => r.beta > 0), topk = sweep.rows.find((r) => r.beta === 0);
  const betas = rows.map((r) => r.beta);
  type Row = typeof rows[0];
  const dev = (arch: "gsae" | "topk") => {
    const s = seriesStyle(arch);
    return { ...s, symbol: `${s.symbol}-open-dot`, dash: "longdash" };
  };
  const series = [
    {
      name: "g-SAE, val, true-token gradient",
      pick: (r: Row) => r.val,
      style: seriesStyle("gsae"),
    },
    { name: "g-SAE, dev, true-token gradient", pick: (r: Row) => r.dev, style: dev("gsae") },
    {
      name: "g-SAE, val, plain selection",
      pick: (r: Row) => r.valPlain,
      style: seriesStyle("gsae", "plain"),
    },
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
        // Large enough that the development markers' centre dot shows.
        ...traceStyle(s.style, { size: 10 }),
        xaxis: `x${ax}`,
        yaxis: `y${ax}`,
      });
    }
    if (topk) {
      for (
        const [name, value, style] of [
          ["TopK (β = 0), val", topk.val[metric], seriesStyle("topk")],
          ["TopK (β = 0), dev", topk.dev[metric], dev("topk")],
        ] as const
      ) {
        // A marker at every β, so the reference line carries TopK's symbol too.
        traces.push({
          type: "scatter",
          mode: "lines+markers",
          name,
          legendgroup: name,
          showlegend: i === 0,
          x: betas,
          y: betas.map(() => value),
          ...traceStyle(style, { size: 6, width: 1.5 }),
          xaxis: `x${ax}`,
          yaxis: `y${ax}`,
        });
      }
    }
    // Gaps wide enough for the next panel's y-axis title.
    const domain = [i * 0.365, i * 0.365 + 0.27];
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
  { architecture: "gsae", mode: "token" },
  { architecture: "gsae", mode: "plain" },
  { architecture: "e2e_topk" },
];

/** Bar patterns of the controls figure by evaluation mode. */
const CONTROL_PATTERNS: Record<EvalMode, string> = {
  true: "",
  plain: "/",
  sampled: ".",
  token: "+",
  selection: "x",
};

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
      marker: {
        color: conditions.map((c) => seriesStyle(c.architecture, c.mode).color),
        // The mode's pattern too, so conditions of one architecture differ in greyscale.
        pattern: {
          shape: conditions.map((c) => CONTROL_PATTERNS[c.mode ?? "true"]),
          fillmode: "overlay",
          fgcolor: "#fff",
          solidity: 0.3,
        },
      },
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
