/**
 * Notebook 07's tables, figure and claim (the paper's Fig. 9): ΔCE and KL of every variant
 * across the model family, means ± std over seeds; the β sweep that fixed β; how to run on real
 * GPT-2 sizes.
 *
 * @module
 */
import type { FigureSpec } from "../../pipeline/figures.ts";
import type { BetaChoice } from "../zoo/compared.ts";
import type { ClaimRecord } from "../shared/results.ts";
import {
  compareWithTopK,
  overSeeds,
  SCALING_VARIANTS,
  type ScalingComparison,
  type ScalingModel,
  type ScalingResult,
  type ScalingVariant,
  scalingVerdict,
} from "./scaling.ts";
import { formatSpread, type Spread } from "../shared/seed_spread.ts";
import { seriesStyle, type StyleMode, traceStyle } from "../shared/arch_style.ts";
import { mdTable } from "../../io/markdown_table.ts";

/** Display names of the variants. */
export const VARIANT_NAMES: Record<ScalingVariant, string> = {
  topk: "TopK",
  gsae: "g-SAE (gradient selection)",
  gsae_sampled: "g-SAE, sampled-token gradient (no label)",
  gsae_plain: "g-SAE weights, plain TopK selection",
  topk_gsel: "TopK weights, g-SAE selection",
};

/** Each variant as an architecture and evaluation mode, which give its style in every figure. */
const STYLE_OF: Record<ScalingVariant, [string, StyleMode]> = {
  topk: ["topk", "true"],
  gsae: ["gsae", "true"],
  gsae_sampled: ["gsae", "sampled"],
  gsae_plain: ["gsae", "plain"],
  topk_gsel: ["topk", "selection"],
};

/** A markdown table: per model, each variant's ΔCE and KL (mean ± std over seeds). */
export function scalingTable(result: ScalingResult): string {
  const pm = (v: Spread) => formatSpread(v, { digits: 4 });
  const head = SCALING_VARIANTS.map((v) => `ΔCE ${VARIANT_NAMES[v]}`);
  const rows = result.models.map((m) => [
    m.model,
    m.hook,
    m.parameters.toLocaleString("en-US"),
    m.ceClean.toFixed(3),
    ...SCALING_VARIANTS.map((v) => pm(overSeeds(m, v, "deltaCe"))),
    pm(overSeeds(m, "topk", "kl")),
    pm(overSeeds(m, "gsae", "kl")),
  ]);
  return mdTable(["model", "hook", "parameters", "clean CE", ...head, "KL TopK", "KL g-SAE"], rows);
}

/**
 * What the gradient buys, per model: each variant's ΔCE and g-SAE's KL minus TopK's (means over
 * seeds, relative change, and whether "lower than TopK" holds over seeds).
 */
export function differencesTable(result: ScalingResult): string {
  const cols: [Exclude<ScalingVariant, "topk">, "deltaCe" | "kl"][] = [
    ["gsae", "deltaCe"],
    ["gsae_sampled", "deltaCe"],
    ["gsae_plain", "deltaCe"],
    ["topk_gsel", "deltaCe"],
    ["gsae", "kl"],
  ];
  const cell = (c: ScalingComparison) => {
    const sign = c.meanDiff >= 0 ? "+" : "";
    return `${sign}${c.meanDiff.toFixed(4)} (${(100 * c.relativeDiff).toFixed(1)} %, ${c.outcome})`;
  };
  const head = cols.map(([v, m]) => `${m === "kl" ? "KL" : "ΔCE"} ${VARIANT_NAMES[v]}`);
  return mdTable(
    ["model", ...head],
    result.models.map((m) => [
      m.model,
      ...cols.map(([v, metric]) => cell(compareWithTopK(m, v, metric))),
    ]),
  );
}

/**
 * Fig. 9: ΔCE (left) and KL (right) per model, mean ± std over seeds. The models are categories,
 * not a continuum, so no line joins them: each variant is a marker (its architecture's symbol,
 * open for the controls) placed side by side within the model's slot.
 */
export function scalingFigure(result: ScalingResult): FigureSpec {
  // Two-line tick labels: on one line the outer labels of the two panels ran into each other.
  const labels = result.models.map((m) => `${m.model}<br>(${m.hook.split(".")[1]}/${m.nLayer})`);
  const slots = result.models.map((_, i) => i), n = SCALING_VARIANTS.length;
  const data = SCALING_VARIANTS.flatMap((variant, v) =>
    (["deltaCe", "kl"] as const).map((metric, p) => {
      const s = result.models.map((m) => overSeeds(m, variant, metric));
      const style = { ...seriesStyle(...STYLE_OF[variant]), name: VARIANT_NAMES[variant] };
      return {
        type: "scatter",
        mode: "markers",
        name: style.name,
        legendgroup: variant,
        showlegend: p === 0,
        // Variants side by side within the model's slot, in legend order.
        x: slots.map((i) => i + (v - (n - 1) / 2) * 0.13),
        y: s.map((x) => x.mean),
        error_y: { type: "data", array: s.map((x) => x.std), visible: true },
        text: result.models.map((m, i) => `${m.model}: n = ${s[i].values.length} seeds`),
        ...traceStyle(style, { size: 11 }),
        xaxis: p === 0 ? "x" : "x2",
        yaxis: p === 0 ? "y" : "y2",
      };
    })
  );
  const axis = {
    title: { text: "model (SAE layer / layers)" },
    tickvals: slots,
    ticktext: labels,
    range: [-0.5, result.models.length - 0.5],
    zeroline: false,
  };
  // Thin separators between the models' slots.
  const shapes = ["x", "x2"].flatMap((xref, p) =>
    slots.slice(1).map((i) => ({
      type: "line",
      xref,
      yref: `${p === 0 ? "y" : "y2"} domain`,
      x0: i - 0.5,
      x1: i - 0.5,
      y0: 0,
      y1: 1,
      line: { color: "#ddd", width: 1 },
    }))
  );
  return {
    data,
    layout: {
      title: {
        text: `ΔCE across model sizes, k = ${result.k}, β = ${result.beta} (mean ± std over seeds)`,
      },
      xaxis: { ...axis, domain: [0, 0.42] },
      xaxis2: { ...axis, domain: [0.58, 1], anchor: "y2" },
      yaxis: { title: { text: "ΔCE (nats)" }, type: "log" },
      yaxis2: { title: { text: "KL(clean ‖ spliced) (nats)" }, type: "log", anchor: "x2" },
      shapes,
      legend: { orientation: "h", y: -0.25 },
      margin: { b: 150 },
    },
  };
}

/** The β sweep on the main model's development windows, as markdown. */
export function betaMarkdown(choice: BetaChoice, model: string): string {
  return [
    `β of g-SAE for every size: **${choice.beta}**, the lowest development ΔCE on ${model}:`,
    "",
    mdTable(
      ["β", "development ΔCE", "development KL"],
      choice.sweep.map((p) => [p.beta, p.deltaCe.toFixed(4), p.kl.toFixed(4)]),
    ),
  ].join("\n");
}

/** Which of the paper profile's models are present, and how to run this notebook on them. */
export function paperModelsNote(
  available: { model: string; found: boolean; dir?: string }[],
  notebook: string,
): string {
  const found = available.filter((a) => a.found);
  const list = available.map((a) => `\`${a.model}\` ${a.found ? "found" : "not found"}`);
  return [
    `Real GPT-2 sizes here: ${list.join(", ")}.`,
    found.length === available.length
      ? "All are present: the command below runs this notebook on them."
      : "They are read from the Hugging Face hub cache; with internet access, " +
        "`deno task fetch-model <name>` puts each there. Then:",
    "",
    "```sh",
    "npx --yes deno@2.9.6 task setup",
    `GSAE_PROFILE=paper JUPYTER_PATH=.cache/jupyter /usr/bin/python3 pipelines/nb_runner.py \\`,
    `  notebooks/${notebook}.ipynb /tmp/${notebook}.paper.ipynb --timeout 86400 \\`,
    `  --env GSAE_PROFILE=paper --env GSAE_RUN_DIR=outputs/paper`,
    "```",
    "",
    "The paper profile trains 16× expansion SAEs on 50M tokens per SAE at layer 0.67 × depth " +
    "(GPT-2 small's layer 7) for every size: a job for a machine with a GPU backend.",
  ].join("\n");
}

/** A metric for `NotebookResults.metric`. */
export interface ScalingMetricRecord {
  /** Metric name. */
  name: string;
  /** Its value. */
  value: number;
  /** What it is. */
  description: string;
  /** Absolute tolerance. */
  abs: number;
  /** Relative tolerance. */
  rel: number;
}

/** Per model: every variant's mean ΔCE and TopK's and g-SAE's mean KL. */
export function scalingMetrics(result: ScalingResult): ScalingMetricRecord[] {
  return result.models.flatMap((m) => [
    ...SCALING_VARIANTS.map((v) => ({
      name: `scaling_delta_ce_${v}_${m.model}`,
      value: overSeeds(m, v, "deltaCe").mean,
      description: `${m.model} (${m.hook}): ΔCE of ${VARIANT_NAMES[v]}, nats, mean over seeds`,
      abs: 0.002,
      rel: 0.05,
    })),
    ...(["topk", "gsae"] as const).map((v) => ({
      name: `scaling_kl_${v}_${m.model}`,
      value: overSeeds(m, v, "kl").mean,
      description: `${m.model} (${m.hook}): KL(clean ‖ spliced) of ${VARIANT_NAMES[v]}, nats`,
      abs: 0.002,
      rel: 0.05,
    })),
  ]);
}

/** The Fig. 9 claim with its verdict computed from the run (on ΔCE, the paper's metric). */
export function scalingClaims(result: ScalingResult): ClaimRecord[] {
  const { verdict, comparisons } = scalingVerdict(result);
  const f = (m: ScalingModel, v: ScalingVariant, metric: "deltaCe" | "kl" = "deltaCe") =>
    formatSpread(overSeeds(m, v, metric), { digits: 4 });
  const o = (m: ScalingModel, v: ScalingVariant, metric: "deltaCe" | "kl" = "deltaCe") =>
    compareWithTopK(m, v, metric).outcome;
  const sizes = result.models.map((m, i) =>
    `${m.model}: g-SAE ${f(m, "gsae")} vs TopK ${f(m, "topk")} ` +
    `(${(100 * comparisons[i].relativeDiff).toFixed(1)} %, ${comparisons[i].outcome}); ` +
    `KL g-SAE ${f(m, "gsae", "kl")} vs TopK ${f(m, "topk", "kl")} (${o(m, "gsae", "kl")}); ` +
    `g-SAE with a sampled-token gradient (no label) ${f(m, "gsae_sampled")} ` +
    `(${o(m, "gsae_sampled")}), with plain selection ${f(m, "gsae_plain")} ` +
    `(${o(m, "gsae_plain")}); TopK weights with g-SAE selection ${f(m, "topk_gsel")} ` +
    `(${o(m, "topk_gsel")})`
  );
  const seeds = result.models[0]?.seeds.length ?? 0;
  return [{
    id: "scaling-delta-ce",
    paper: "Fig. 9: across GPT-2 sizes, at a layer about three quarters through the model and " +
      "with all hyperparameters fixed, g-SAE's CE loss added is consistently lower than TopK's",
    result: `Nats, mean ± std over ${seeds} seeds, k = ${result.k}, β = ${result.beta} for every ` +
      `size; in brackets whether "lower than TopK" holds over seeds. ${sizes.join(". ")}.`,
    verdict,
  }];
}
