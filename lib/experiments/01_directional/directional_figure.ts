/**
 * The paper's Fig. 2 as a Plotly spec, from the bootstrapped measurements of each seed
 * (`directional_summary.ts`).
 *
 * @module
 */
import type { FigureSpec } from "../../pipeline/figures.ts";
import { DIRECTION_KINDS, type DirectionKind } from "./directional.ts";
import type { DirectionalBootstrap, RatioName } from "./directional_summary.ts";

const KIND_LABELS: Record<DirectionKind, string> = {
  activation_difference: "activation differences",
  isotropic: "isotropic random",
  distribution_matched: "distribution-matched random",
};
// Colour, bar pattern and marker symbol per kind, so the kinds stay apart in greyscale print.
const KIND_STYLE: Record<DirectionKind, { color: string; pattern: string; symbol: string }> = {
  activation_difference: { color: "#D55E00", pattern: "", symbol: "circle" },
  isotropic: { color: "#0072B2", pattern: "/", symbol: "square" },
  distribution_matched: { color: "#009E73", pattern: ".", symbol: "diamond" },
};

/**
 * Fig. 2 as a Plotly spec. Left: mean |∇L·u| per layer and kind (bars: mean over seeds; error
 * bars: from the lowest to the highest end of the seeds' 95 % intervals) on a linear axis from
 * 0, so a bar's height is its value (on a log axis a 1.6× ratio looked like 5×). Right: the
 * ratios to isotropic on a log axis (a ratio and its inverse equally far from 1), one marker per
 * seed with its interval, and the line at 1; markers, not bars, as a log axis has no zero.
 */
export function directionalFigure(
  boots: DirectionalBootstrap[],
  options: { hookKind?: string; title?: string } = {},
): FigureSpec {
  const layers = boots[0].layers.map((l) => l.layer);
  const x = layers.map((l) => `layer ${l}`);
  const bars = DIRECTION_KINDS.map((kind) => {
    const per = layers.map((_, i) => boots.map((b) => b.layers[i].mean[kind]));
    const y = per.map((es) => es.reduce((s, e) => s + e.value, 0) / es.length);
    return {
      type: "bar",
      name: KIND_LABELS[kind],
      legendgroup: kind,
      marker: {
        color: KIND_STYLE[kind].color,
        pattern: {
          shape: KIND_STYLE[kind].pattern,
          fillmode: "overlay",
          fgcolor: "#fff",
          solidity: 0.3,
        },
      },
      x,
      y,
      error_y: {
        type: "data",
        symmetric: false,
        array: per.map((es, i) => Math.max(...es.map((e) => e.high)) - y[i]),
        arrayminus: per.map((es, i) => y[i] - Math.min(...es.map((e) => e.low))),
      },
    };
  });
  const ratioTraces = (["activation_difference", "distribution_matched"] as const).flatMap(
    (kind, k) =>
      boots.map((b, s) => {
        const name: RatioName = kind === "activation_difference"
          ? "differenceToIsotropic"
          : "matchedToIsotropic";
        const es = b.layers.map((l) => l.ratios[name]);
        return {
          type: "scatter",
          mode: "markers",
          name: `${KIND_LABELS[kind]} / isotropic`,
          legendgroup: kind,
          showlegend: false,
          marker: { color: KIND_STYLE[kind].color, symbol: KIND_STYLE[kind].symbol, size: 7 },
          // Offset seeds and kinds sideways so intervals do not hide each other.
          x: layers.map((l) => l + (k - 0.5) * 0.3 + (s - (boots.length - 1) / 2) * 0.06),
          y: es.map((e) => e.value),
          error_y: {
            type: "data",
            symmetric: false,
            array: es.map((e) => e.high - e.value),
            arrayminus: es.map((e) => e.value - e.low),
          },
          text: `seed ${b.seed}`,
          xaxis: "x2",
          yaxis: "y2",
        };
      }),
  );
  const hook = options.hookKind ?? "resid_post";
  return {
    data: [...bars, ...ratioTraces],
    layout: {
      title: { text: options.title ?? `Directional derivatives of the loss at ${hook}` },
      barmode: "group",
      xaxis: { domain: [0, 0.55], title: { text: `blocks.L.hook_${hook}` } },
      yaxis: { title: { text: "mean |∇L · u|" }, rangemode: "tozero" },
      xaxis2: {
        domain: [0.65, 1],
        anchor: "y2",
        title: { text: "layer (one marker per seed)" },
        tickvals: layers,
        zeroline: false,
      },
      yaxis2: { anchor: "x2", title: { text: "ratio to isotropic (log)" }, type: "log" },
      shapes: [{
        type: "line",
        xref: "x2",
        yref: "y2",
        x0: layers[0] - 0.5,
        x1: layers[layers.length - 1] + 0.5,
        y0: 1,
        y1: 1,
        line: { dash: "dot", color: "#888" },
      }],
      legend: { orientation: "h", y: -0.2 },
    },
  };
}
