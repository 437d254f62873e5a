/**
 * The paper's Fig. 3 as Plotly specs: the correlations over seeds (`first_order_summary.ts`),
 * and a scatter of actual against first-order loss changes that shows where the linear
 * approximation breaks down.
 *
 * @module
 */
import type { FigureSpec } from "../../pipeline/figures.ts";
import type { FirstOrderResult } from "./first_order.ts";
import type { FirstOrderCell, FirstOrderSummary } from "./first_order_summary.ts";
import type { Spread } from "../shared/seed_spread.ts";

// One style per hook in both panels: colour, marker symbol and dash, so hooks stay apart in
// greyscale print too.
const HOOK_STYLES = [
  { color: "#0072B2", symbol: "circle", dash: "solid" },
  { color: "#D55E00", symbol: "diamond", dash: "dash" },
  { color: "#009E73", symbol: "square", dash: "dot" },
  { color: "#CC79A7", symbol: "triangle-up", dash: "dashdot" },
  { color: "#E69F00", symbol: "triangle-down", dash: "longdash" },
  { color: "#56B4E9", symbol: "pentagon", dash: "longdashdot" },
];

/**
 * Fig. 3 as a Plotly spec: Spearman(|ΔL|, |∇L·δ|) (left) and Spearman(|ΔL|, ‖δ‖) (right)
 * against the mean perturbation magnitude on a log axis, one line per hook: the mean over seeds,
 * with error bars spanning the seeds' range.
 */
export function firstOrderFigure(
  summary: FirstOrderSummary,
  options: { title?: string } = {},
): FigureSpec {
  const data = summary.hooks.flatMap((h, i) => {
    const x = h.cells.map((c) => c.fraction);
    const { color, symbol, dash } = HOOK_STYLES[i % HOOK_STYLES.length];
    const line = (pick: (c: FirstOrderCell) => Spread) => ({
      type: "scatter",
      mode: "lines+markers",
      name: h.hook,
      legendgroup: h.hook,
      x,
      y: h.cells.map((c) => pick(c).mean),
      error_y: {
        type: "data",
        symmetric: false,
        array: h.cells.map((c) => pick(c).max - pick(c).mean),
        arrayminus: h.cells.map((c) => pick(c).mean - pick(c).min),
      },
      line: { color, dash },
      marker: { color, symbol, size: 8 },
    });
    return [
      line((c) => c.spearmanFirstOrder),
      { ...line((c) => c.spearmanNorm), xaxis: "x2", yaxis: "y2", showlegend: false },
    ];
  });
  const xTitle = summary.magnitudeScale === "absolute"
    ? "mean ‖δ‖"
    : "mean ‖δ‖ / median ‖x‖ at the hook";
  const axis = { type: "log", title: { text: xTitle } };
  return {
    data,
    layout: {
      title: { text: options.title ?? "Loss change vs first-order estimate and vs norm" },
      xaxis: { ...axis, domain: [0, 0.45] },
      xaxis2: { ...axis, domain: [0.55, 1], anchor: "y2" },
      yaxis: { title: { text: "Spearman(|ΔL|, |∇L·δ|)" }, range: [-0.1, 1.05] },
      yaxis2: { title: { text: "Spearman(|ΔL|, ‖δ‖)" }, range: [-0.1, 1.05], anchor: "x2" },
      legend: { orientation: "h", y: -0.2 },
    },
  };
}

/**
 * |ΔL| against |∇L·δ| for every perturbation of one hook in one seed's result, one colour per
 * magnitude, log–log, with the diagonal |ΔL| = |∇L·δ|: points on it are predicted exactly.
 */
export function firstOrderScatter(
  result: FirstOrderResult,
  options: { hook: string; title?: string },
): FigureSpec {
  const h = result.hooks.find((x) => x.hook === options.hook);
  if (!h) throw new Error(`firstOrderScatter: no hook ${options.hook} in the result`);
  // Exact zeros (a perturbation that changed nothing) cannot sit on a log axis.
  const positive = (p: (typeof h.points)[0]) =>
    p.samples.deltaLoss.map((dl, i) => [Math.abs(p.samples.firstOrder[i]), Math.abs(dl)])
      .filter(([a, b]) => a > 0 && b > 0);
  const all = h.points.flatMap((p) => positive(p).flat());
  const [lo, hi] = [Math.min(...all), Math.max(...all)];
  return {
    data: [
      ...h.points.map((p, i) => {
        const xy = positive(p);
        return {
          type: "scatter",
          mode: "markers",
          name: `m = ${p.fraction}${
            result.magnitudeScale === "median_norm" ? " × median ‖x‖" : ""
          }`,
          x: xy.map(([a]) => a),
          y: xy.map(([, b]) => b),
          marker: { color: sequential(i, h.points.length), size: 4, opacity: 0.6 },
        };
      }),
      {
        type: "scatter",
        mode: "lines",
        name: "|ΔL| = |∇L·δ|",
        x: [lo, hi],
        y: [lo, hi],
        line: { dash: "dot", color: "#444" },
      },
    ],
    layout: {
      title: {
        text: options.title ??
          `Actual vs first-order loss change at ${h.hook} (seed ${result.seed})`,
      },
      xaxis: { type: "log", title: { text: "|∇L·δ| (first-order estimate, nats)" } },
      yaxis: { type: "log", title: { text: "|ΔL| (actual, nats)" } },
    },
  };
}

// Viridis stops: magnitudes are ordered, so their colours are too.
const VIRIDIS = ["#440154", "#3b528b", "#21918c", "#5ec962", "#fde725"];

function sequential(i: number, n: number): string {
  return VIRIDIS[n <= 1 ? 0 : Math.round(i * (VIRIDIS.length - 1) / (n - 1))];
}
