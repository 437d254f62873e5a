/**
 * The Pareto frontiers as a Plotly spec: L0 against ΔCE, KL or FVU, one panel per metric, with
 * the first seed's frontiers, the main k's spread over seeds and the further architectures.
 *
 * @module
 */
import type { FigureSpec } from "../../pipeline/figures.ts";
import type { ParetoPoint } from "./pareto.ts";
import { type FrontierMetric, select, type Selector } from "./pareto_compare.ts";
import { COLORS, METRIC_TITLES, seriesName } from "./pareto_figures.ts";
import { spread } from "../shared/seed_spread.ts";

/** What the frontier figures draw. */
export interface FrontierData {
  /** The seed-0 frontiers across k ({@link frontiers}). */
  frontier: ParetoPoint[];
  /** Every seed at the main k ({@link mainKComparison}); drawn as mean ± sd. */
  mainK?: ParetoPoint[];
  /** Further architectures at the main k ({@link furtherArchitectures}). */
  further?: ParetoPoint[];
}

const FRONTIER_LINES: Selector[] = [
  { architecture: "topk" },
  { architecture: "gsae" },
  { architecture: "gsae", mode: "plain" },
  { architecture: "e2e_topk" },
];

/** One panel of {@link paretoFigure}. */
export interface FrontierPanel {
  /** The metric on the y axis. */
  metric: FrontierMetric;
  /**
   * Fit the y axis to these conditions (their frontiers and seed spreads); points of other
   * conditions outside it are clipped, and a further architecture that falls outside is named
   * "off scale" with its value. Default: Plotly's autorange over everything.
   */
  focus?: Selector[];
}

/** The log10 y range that fits the focus conditions, with a margin, or null. */
function focusRange(data: FrontierData, panel: FrontierPanel): [number, number] | null {
  if (!panel.focus) return null;
  const values = panel.focus.flatMap((sel) => {
    const seeds = select(data.mainK ?? [], sel).map((p) => p[panel.metric]);
    const s = seeds.length ? spread(seeds) : null;
    return [
      ...select(data.frontier, sel).map((p) => p[panel.metric]),
      ...(s ? [s.mean - s.std, s.mean + s.std] : []),
    ];
  }).filter((v) => v > 0);
  if (!values.length) return null;
  return [Math.log10(Math.min(...values) / 1.15), Math.log10(Math.max(...values) * 1.15)];
}

/** The traces of one panel (`axis` "" for the first, else its number). */
function frontierTraces(
  data: FrontierData,
  panel: FrontierPanel,
  options: { axis: string; legend: boolean; range: [number, number] | null },
) {
  const { metric } = panel, { axis, legend, range } = options;
  const axes = axis ? { xaxis: `x${axis}`, yaxis: `y${axis}` } : {};
  const traces: Record<string, unknown>[] = [];
  for (const sel of FRONTIER_LINES) {
    const pts = select(data.frontier, sel).sort((a, b) => a.l0 - b.l0);
    if (pts.length === 0) continue;
    const color = COLORS[sel.architecture], name = seriesName(sel.architecture, sel.mode);
    traces.push({
      type: "scatter",
      mode: "lines+markers",
      name,
      legendgroup: name,
      showlegend: legend,
      x: pts.map((p) => p.l0),
      y: pts.map((p) => p[metric]),
      text: pts.map((p) => `k=${p.k}`),
      line: { color, dash: sel.mode === "plain" ? "dash" : "solid" },
      marker: { color },
      ...axes,
    });
    const seeds = select(data.mainK ?? [], sel);
    if (seeds.length > 1) {
      const s = spread(seeds.map((p) => p[metric]));
      traces.push({
        type: "scatter",
        mode: "markers",
        name: `${name}: mean ± sd over ${seeds.length} seeds`,
        legendgroup: name,
        showlegend: false,
        x: [spread(seeds.map((p) => p.l0)).mean],
        y: [s.mean],
        error_y: { type: "data", array: [s.std], color },
        marker: { color, symbol: "diamond-open", size: 12 },
        ...axes,
      });
    }
  }
  for (const p of data.further ?? []) {
    const v = p[metric];
    const off = range !== null && (Math.log10(v) < range[0] || Math.log10(v) > range[1]);
    const name = seriesName(p.architecture, p.mode) + (p.k === null ? ` (${p.label})` : "") +
      (off ? ` (off scale: ${v.toPrecision(3)})` : "");
    traces.push({
      type: "scatter",
      mode: "markers",
      name,
      legendgroup: name,
      showlegend: legend,
      x: [p.l0],
      y: [v],
      marker: {
        color: COLORS[p.architecture] ?? "#888",
        symbol: p.mode === "plain" ? "x" : "square",
        size: 9,
      },
      ...axes,
    });
  }
  return traces;
}

/**
 * L0 against a metric per panel (log-log, side by side): seed-0 frontiers as lines (g-SAE with
 * plain selection dashed), the main k's mean ± sd over seeds as open diamonds, further
 * architectures as single markers.
 */
export function paretoFigure(
  data: FrontierData,
  options: { panels: FrontierPanel[]; title: string },
): FigureSpec {
  const n = options.panels.length, gap = n > 1 ? 0.1 : 0;
  const width = (1 - gap * (n - 1)) / n;
  const traces: Record<string, unknown>[] = [];
  const layout: Record<string, unknown> = {
    title: { text: options.title },
    legend: { orientation: "h", y: -0.2 },
  };
  options.panels.forEach((panel, i) => {
    const axis = i === 0 ? "" : String(i + 1), range = focusRange(data, panel);
    traces.push(...frontierTraces(data, panel, { axis, legend: i === 0, range }));
    const x0 = i * (width + gap);
    layout[`xaxis${axis}`] = {
      type: "log",
      title: { text: "L0 (active latents per token)" },
      domain: [x0, x0 + width],
      anchor: `y${axis}`,
    };
    layout[`yaxis${axis}`] = {
      type: "log",
      title: { text: METRIC_TITLES[panel.metric] + (range ? " (zoomed)" : "") },
      anchor: `x${axis}`,
      ...(range ? { range } : {}),
    };
  });
  return { data: traces, layout };
}
