/**
 * The Pareto frontiers as a Plotly spec: L0 against ΔCE, KL or FVU, one panel per metric. Every
 * point is an SAE configuration's mean over the seeds evaluated at it with ± one standard
 * deviation (no bar for one seed; n is in the hover text); where the axes come from, which
 * points are left off and how stacked markers are spread is in `frontier_layout.ts`.
 *
 * @module
 */
import type { FigureSpec } from "../../pipeline/figures.ts";
import type { ParetoPoint } from "./pareto.ts";
import type { FrontierMetric, Selector } from "./pareto_compare.ts";
import { METRIC_TITLES } from "./pareto_figures.ts";
import {
  type AxisFit,
  fitAxes,
  type FrontierGroup,
  groupOverSeeds,
  type LeftOff,
  METRIC_SHORT,
  selectGroups,
  spreadSideways,
} from "./frontier_layout.ts";
import { seriesStyle, traceStyle } from "../shared/arch_style.ts";

/** What the frontier figures draw. */
export interface FrontierData {
  /** The frontiers across k ({@link frontiers}): one or more seeds per k. */
  frontier: ParetoPoint[];
  /** Every seed at the main k ({@link mainKComparison}). */
  mainK?: ParetoPoint[];
  /** Further architectures ({@link furtherArchitectures}), drawn as markers without lines. */
  further?: ParetoPoint[];
}

/** The conditions drawn as frontier lines, in legend order. */
export const FRONTIER_LINES: readonly Selector[] = [
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
   * Fit the axes to these conditions; other points farther than a factor 2 outside are left off
   * and named. Default: fit every point that did not collapse.
   */
  focus?: Selector[];
}

/** Step of the sideways spread of markers at one L0, in decades of L0 (10^0.012 ≈ 2.8 %). */
export const SIDEWAYS_STEP = 0.012;

/** A series: a condition and its groups, and whether a line joins them. */
interface Series {
  sel: Selector;
  groups: FrontierGroup[];
  line: boolean;
}

/** The series of the figure: the frontier lines, then each further (architecture, mode). */
function seriesOf(data: FrontierData): Series[] {
  const main = groupOverSeeds([...data.frontier, ...(data.mainK ?? [])]);
  const further = groupOverSeeds(data.further ?? []);
  const out: Series[] = FRONTIER_LINES.map((sel) => ({
    sel,
    groups: selectGroups(main, sel),
    line: true,
  }));
  for (const g of further) {
    const sel = { architecture: g.first.architecture, mode: g.first.mode };
    const s = out.find((x) =>
      !x.line && x.sel.architecture === sel.architecture &&
      (x.sel.mode ?? "true") === sel.mode
    );
    if (s) s.groups.push(g);
    else out.push({ sel, groups: [g], line: false });
  }
  return out.filter((s) => s.groups.length);
}

/** The hover text of a group. */
function hover(g: FrontierGroup, metric: FrontierMetric): string {
  const pm = (s: { mean: number; std: number }, d: number) =>
    g.seeds.length > 1 ? `${s.mean.toFixed(d)} ± ${s.std.toFixed(d)}` : s.mean.toFixed(d);
  const n = g.seeds.length;
  return `${g.name}<br>n = ${n} seed${n > 1 ? "s" : ""} (${g.seeds.join(", ")})<br>` +
    `L0 ${pm(g.l0, 1)}<br>${METRIC_SHORT[metric]} ${pm(g.metrics[metric], 4)}`;
}

/** The traces of one panel (`axis` "" for the first, else its number). */
function panelTraces(
  series: Series[],
  fit: AxisFit,
  options: { metric: FrontierMetric; axis: string; legend: boolean },
): Record<string, unknown>[] {
  const { metric, axis, legend } = options;
  const axes = axis ? { xaxis: `x${axis}`, yaxis: `y${axis}` } : {};
  const drawn = series.map((s) =>
    s.groups.filter((g) => fit.drawn.includes(g)).sort((a, b) => a.l0.mean - b.l0.mean)
  );
  // Markers at one L0 spread sideways, in legend order.
  const flat = drawn.flat(),
    offsets = spreadSideways(flat.map((g) => g.l0.mean), {
      step: SIDEWAYS_STEP,
    });
  const shifted = new Map(flat.map((g, i) => [g, g.l0.mean * 10 ** offsets[i]]));
  return series.flatMap((s, i) => {
    const gs = drawn[i];
    if (!gs.length) return [];
    const style = seriesStyle(s.sel.architecture, s.sel.mode);
    const anyXSpread = gs.some((g) => g.l0.std > 0);
    return [{
      type: "scatter",
      mode: s.line ? "lines+markers" : "markers",
      name: style.name,
      legendgroup: style.name,
      showlegend: legend,
      x: gs.map((g) => shifted.get(g)),
      y: gs.map((g) => g.metrics[metric].mean),
      error_y: { type: "data", array: gs.map((g) => g.metrics[metric].std), thickness: 1.5 },
      ...(anyXSpread
        ? { error_x: { type: "data", array: gs.map((g) => g.l0.std), thickness: 1 } }
        : {}),
      text: gs.map((g) => hover(g, metric)),
      hoverinfo: "text+name",
      ...traceStyle(style, { size: s.line ? 9 : 11 }),
      ...axes,
    }];
  });
}

/** The note naming what a panel left off, e.g. `Gated gated-x1 (collapsed: L0 0.80)`. */
function leftOffNote(leftOff: LeftOff[]): string {
  return leftOff.map(({ group: g, why }) => {
    const name = seriesStyle(g.first.architecture, g.first.mode).name;
    return `${name} ${g.name} (${why})`;
  }).join("; ");
}

/**
 * L0 against a metric per panel (log-log, side by side): the frontiers as lines, further
 * architectures as markers, every point a mean ± sd over seeds. What a panel leaves off is
 * named above the panels.
 */
export function paretoFigure(
  data: FrontierData,
  options: { panels: FrontierPanel[]; title: string },
): FigureSpec {
  const n = options.panels.length, gap = n > 1 ? 0.1 : 0;
  const width = (1 - gap * (n - 1)) / n;
  const series = seriesOf(data), groups = series.flatMap((s) => s.groups);
  const traces: Record<string, unknown>[] = [];
  const notes: string[] = [];
  const layout: Record<string, unknown> = {
    title: { text: options.title },
    legend: { orientation: "h", y: -0.2 },
  };
  options.panels.forEach((panel, i) => {
    const axis = i === 0 ? "" : String(i + 1);
    const fit = fitAxes(groups, { metric: panel.metric, focus: panel.focus });
    traces.push(...panelTraces(series, fit, { metric: panel.metric, axis, legend: i === 0 }));
    notes.push(leftOffNote(fit.leftOff));
    const x0 = i * (width + gap);
    // The L0 axis has room for the sideways spread of the outermost markers.
    const pad = 4 * SIDEWAYS_STEP;
    layout[`xaxis${axis}`] = {
      type: "log",
      title: { text: "L0 (active latents per token)" },
      domain: [x0, x0 + width],
      anchor: `y${axis}`,
      range: [fit.x[0] - pad, fit.x[1] + pad],
    };
    layout[`yaxis${axis}`] = {
      type: "log",
      title: { text: METRIC_TITLES[panel.metric] },
      anchor: `x${axis}`,
      range: fit.y,
    };
  });
  const note = [
    "Mean ± sd over seeds (no bar: one seed; n in the hover text); markers at one L0 are " +
    `spread sideways by ${((10 ** SIDEWAYS_STEP - 1) * 100).toFixed(1)} % steps.`,
    ...notDrawn(notes),
  ];
  layout.annotations = [{
    text: note.map(wrap).join("<br>"),
    xref: "paper",
    yref: "paper",
    x: 0,
    y: 1.02,
    xanchor: "left",
    yanchor: "bottom",
    align: "left",
    showarrow: false,
    font: { size: 11, color: "#444" },
  }];
  const lines = note.map(wrap).join("<br>").split("<br>").length;
  layout.margin = { t: 70 + 15 * lines, b: 150 };
  layout.height = 600 + 15 * lines;
  return { data: traces, layout };
}

/** The "not drawn" lines: one for every panel when they agree, else one per panel. */
function notDrawn(notes: string[]): string[] {
  if (notes.every((x) => !x)) return [];
  if (notes.every((x) => x === notes[0])) return [`Not drawn: ${notes[0]}`];
  const where = (i: number) => notes.length === 2 ? ["left", "right"][i] : `panel ${i + 1}`;
  return notes.map((x, i) => `Not drawn, ${where(i)}: ${x || "nothing"}`);
}

/** Breaks a note into lines of about 150 characters at "; " or spaces. */
function wrap(text: string): string {
  const words = text.split(" "), lines: string[] = [];
  let line = "";
  for (const w of words) {
    if (line && line.length + w.length + 1 > 150) {
      lines.push(line);
      line = w;
    } else line = line ? `${line} ${w}` : w;
  }
  if (line) lines.push(line);
  return lines.join("<br>");
}
