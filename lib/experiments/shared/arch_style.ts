/**
 * How every figure draws an architecture and an evaluation mode, so that a series looks the same
 * in every notebook and stays apart in greyscale print:
 * - the **architecture** gives the colour, the marker symbol and the bar pattern (symbols differ
 *   for every architecture, so two architectures never look alike without colour);
 * - the **mode** gives the line dash and the marker variant: solid and filled for the SAE as its
 *   paper evaluates it, dashed and open for plain TopK selection, dotted and open with a dot for
 *   the sampled-token gradient, dash-dot and open with a dot for TopK weights with g-SAE
 *   selection.
 *
 * Line-only figures (CDFs, histograms, training curves) draw a few markers on each line
 * ({@link SPARSE_MARKERS}) so the symbol tells the architecture there too.
 *
 * Colours are the Okabe–Ito palette (distinguishable with the common colour-vision deficiencies).
 * An architecture not in the table (one registered later) gets {@link archStyle}'s fallback, not
 * a crash.
 *
 * @module
 */
import type { ArchitectureName } from "../../sae/mod.ts";

/** How an architecture is drawn. */
export interface ArchStyle {
  /** Display name. */
  name: string;
  /** Line and marker colour. */
  color: string;
  /** Plotly marker symbol (filled; modes other than the paper's use its open variants). */
  symbol: string;
  /** Plotly bar pattern shape ("" for solid bars). */
  pattern: string;
}

/**
 * Display name, colour, marker symbol and bar pattern of every architecture of the registry and
 * of the ReLU-L1 baseline. Each symbol is used once; Plotly has eight bar patterns, so Feature
 * Choice shares Mutual Choice's (bars never show both side by side).
 */
export const ARCH_STYLE: Readonly<Record<string, ArchStyle>> = {
  topk: { name: "TopK", color: "#0072B2", symbol: "circle", pattern: "" },
  gsae: { name: "g-SAE", color: "#D55E00", symbol: "diamond", pattern: "/" },
  e2e_topk: { name: "e2e-TopK", color: "#009E73", symbol: "square", pattern: "x" },
  relu_l1: { name: "ReLU-L1", color: "#000000", symbol: "cross", pattern: "." },
  gated: { name: "Gated", color: "#CC79A7", symbol: "triangle-up", pattern: "\\" },
  jumprelu: { name: "JumpReLU", color: "#E69F00", symbol: "triangle-down", pattern: "-" },
  mutual_choice: { name: "Mutual Choice", color: "#56B4E9", symbol: "pentagon", pattern: "|" },
  gradient_mutual_choice: {
    name: "gradient Mutual Choice",
    color: "#0b4f6c",
    symbol: "star",
    pattern: "+",
  },
  feature_choice: {
    name: "Feature Choice",
    color: "#999933",
    symbol: "hexagon",
    pattern: "|",
  },
  gradient_feature_choice: {
    name: "gradient Feature Choice",
    color: "#882255",
    symbol: "hexagram",
    pattern: "+",
  },
  fisher_gsae: {
    name: "Fisher g-SAE",
    color: "#44AA99",
    symbol: "star-square",
    pattern: "x",
  },
} satisfies Record<ArchitectureName | "relu_l1", ArchStyle>;

/** The style of an architecture missing from {@link ARCH_STYLE}: grey, its own name. */
const FALLBACK: Omit<ArchStyle, "name"> = {
  color: "#7f7f7f",
  symbol: "star-triangle-up",
  pattern: "",
};

/** The style of `architecture`; one not in {@link ARCH_STYLE} gets a grey fallback under its own name. */
export function archStyle(architecture: string): ArchStyle {
  return Object.hasOwn(ARCH_STYLE, architecture)
    ? ARCH_STYLE[architecture]
    : { name: architecture, ...FALLBACK };
}

/** How an SAE is run at evaluation (the Pareto notebook's `EvalMode`). */
export type StyleMode = "true" | "plain" | "sampled" | "token" | "selection";

/**
 * How a mode changes an architecture's look and name: the line dash, and a marker variant that
 * tells the modes apart in figures without lines too. Sampled and selection share the open
 * marker with a dot: they never apply to one architecture (sampled needs a gradient-aware SAE,
 * selection gives a gradient-free one g-SAE's selection), and their dashes differ.
 */
export const MODE_STYLE: Readonly<
  Record<StyleMode, { suffix: string; dash: string; marker: string }>
> = {
  true: { suffix: "", dash: "solid", marker: "" },
  plain: { suffix: ", plain TopK selection", dash: "dash", marker: "-open" },
  sampled: { suffix: ", sampled-token gradient", dash: "dot", marker: "-open-dot" },
  token: { suffix: ", per-token gradient", dash: "longdashdot", marker: "-dot" },
  selection: { suffix: " + g-SAE selection", dash: "dashdot", marker: "-open-dot" },
};

/** Everything a trace needs to draw one series. */
export interface SeriesStyle {
  /** Legend name, e.g. `g-SAE, plain TopK selection`. */
  name: string;
  /** Colour. */
  color: string;
  /** Marker symbol. */
  symbol: string;
  /** Line dash. */
  dash: string;
  /** Bar pattern shape. */
  pattern: string;
}

/** The style of `architecture` evaluated in `mode` (default: as its paper evaluates it). */
export function seriesStyle(architecture: string, mode: StyleMode = "true"): SeriesStyle {
  const a = archStyle(architecture), m = MODE_STYLE[mode];
  return {
    name: a.name + m.suffix,
    color: a.color,
    symbol: a.symbol + m.marker,
    dash: m.dash,
    pattern: a.pattern,
  };
}

/**
 * The `line` and `marker` of a scatter trace in `style` (marker `size` default 8). Open markers
 * get a thicker outline so they read at print size.
 */
export function traceStyle(
  style: SeriesStyle,
  options: { size?: number; width?: number } = {},
): { line: Record<string, unknown>; marker: Record<string, unknown> } {
  const open = style.symbol.includes("-open");
  return {
    line: { color: style.color, dash: style.dash, width: options.width ?? 2 },
    marker: {
      color: style.color,
      symbol: style.symbol,
      size: options.size ?? 8,
      ...(open ? { line: { color: style.color, width: 2 } } : {}),
    },
  };
}

/**
 * How many markers a line-only figure draws on each line (Plotly's `marker.maxdisplayed`): enough
 * to tell the symbol, few enough not to hide the line.
 */
export const SPARSE_MARKERS = 12;
