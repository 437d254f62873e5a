/**
 * Notebook 08's tables, figures, metrics and claim rows: KL and ΔCE of every variant (mean ± std
 * over seeds), paired 95 % intervals against TopK and the g-SAE, dead latents and median latent
 * frequency, the β sweep, and the cost of the sampled gradients.
 *
 * @module
 */
import type { FigureSpec } from "../../pipeline/figures.ts";
import { mdTable } from "../../io/markdown_table.ts";
import type { ClaimRecord } from "../shared/results.ts";
import { seriesStyle, type StyleMode, traceStyle } from "../shared/arch_style.ts";
import type { Interval } from "../shared/paired_interval.ts";
import {
  compareWithInterval,
  describeOutcome,
  formatSpread,
  type Outcome,
  type Spread,
  spread,
  verdictOf,
} from "../shared/seed_spread.ts";
import { LABEL_FREE_VARIANTS, type LabelFreeResult, type LabelFreeVariant } from "./label_free.ts";

/** Display names of the variants. */
export const LABEL_FREE_NAMES: Record<LabelFreeVariant, string> = {
  topk: "TopK",
  gsae: "g-SAE, true-label gradient",
  gsae_plain: "g-SAE, plain TopK selection",
  fisher: "Fisher g-SAE, own selection (no label)",
  fisher_plain: "Fisher g-SAE, plain TopK selection",
  fisher_true: "Fisher g-SAE, true-label gradient",
};

const STYLE_OF: Record<LabelFreeVariant, [string, StyleMode]> = {
  topk: ["topk", "true"],
  gsae: ["gsae", "true"],
  gsae_plain: ["gsae", "plain"],
  fisher: ["fisher_gsae", "true"],
  fisher_plain: ["fisher_gsae", "plain"],
  fisher_true: ["fisher_gsae", "token"],
};

/** A per-seed number of a variant's evaluation. */
type Metric = "kl" | "deltaCe" | "l0" | "medianFrequency";

/** A variant's `metric` over seeds. */
export function variantSpread(r: LabelFreeResult, v: LabelFreeVariant, metric: Metric): Spread {
  return spread(
    r.seeds.map((s) =>
      metric === "medianFrequency" ? s.evals[v].frequency.medianFrequency : s.evals[v][metric]
    ),
  );
}

/** Paired comparison of `a` with `b` over seeds on `metric`, for the claim "a is lower". */
export function pairedComparison(
  r: LabelFreeResult,
  a: LabelFreeVariant,
  b: LabelFreeVariant,
  metric: Metric,
): { outcome: Outcome; interval: Interval; relative: number } {
  const x = variantSpread(r, a, metric), y = variantSpread(r, b, metric);
  const c = compareWithInterval(x.values, y.values, { claim: "lower", paired: true });
  return { ...c, relative: c.interval.mean / y.mean };
}

/** A markdown table: every variant's KL, ΔCE, L0 and median frequency, mean ± std over seeds. */
export function labelFreeTable(r: LabelFreeResult): string {
  const f = (v: LabelFreeVariant, m: Metric, digits: number, scale = 1) =>
    formatSpread(variantSpread(r, v, m), { digits, scale });
  return mdTable(
    ["variant", "KL (nats)", "ΔCE (nats)", "L0", "median frequency (%)"],
    LABEL_FREE_VARIANTS.map((v) => [
      LABEL_FREE_NAMES[v],
      f(v, "kl", 4),
      f(v, "deltaCe", 4),
      f(v, "l0", 2),
      f(v, "medianFrequency", 3, 100),
    ]),
  );
}

/** The comparisons the claims rest on: [label, candidate, reference, metric]. */
const COMPARISONS: [string, LabelFreeVariant, LabelFreeVariant, Metric][] = [
  ["KL, Fisher g-SAE (own) − TopK", "fisher", "topk", "kl"],
  ["ΔCE, Fisher g-SAE (own) − TopK", "fisher", "topk", "deltaCe"],
  ["KL, Fisher g-SAE (own) − g-SAE (true label)", "fisher", "gsae", "kl"],
  ["ΔCE, Fisher g-SAE (own) − g-SAE (true label)", "fisher", "gsae", "deltaCe"],
  ["KL, Fisher g-SAE (plain) − TopK", "fisher_plain", "topk", "kl"],
  ["ΔCE, Fisher g-SAE (plain) − TopK", "fisher_plain", "topk", "deltaCe"],
  ["KL, Fisher g-SAE (own) − Fisher g-SAE (plain)", "fisher", "fisher_plain", "kl"],
  ["KL, g-SAE (plain) − TopK", "gsae_plain", "topk", "kl"],
  ["KL, Fisher g-SAE (own) − g-SAE (plain)", "fisher", "gsae_plain", "kl"],
  ["ΔCE, Fisher g-SAE (own) − g-SAE (plain)", "fisher", "gsae_plain", "deltaCe"],
  ["KL, Fisher g-SAE (true label) − TopK", "fisher_true", "topk", "kl"],
  ["ΔCE, Fisher g-SAE (true label) − TopK", "fisher_true", "topk", "deltaCe"],
];

/** Paired differences with their 95 % intervals (negative: the first is lower). */
export function comparisonsTable(r: LabelFreeResult): string {
  return mdTable(
    ["difference", "mean", "95 % interval", "relative", "outcome (claim: lower)"],
    COMPARISONS.map(([label, a, b, m]) => {
      const c = pairedComparison(r, a, b, m);
      return [
        label,
        c.interval.mean.toFixed(5),
        `[${c.interval.low.toFixed(5)}, ${c.interval.high.toFixed(5)}]`,
        `${(100 * c.relative).toFixed(1)} %`,
        c.outcome,
      ];
    }),
  );
}

/** Dead latents at the end of training per architecture and seed. */
export function deadTable(r: LabelFreeResult): string {
  const window = r.seeds[0]?.deadWindowTokens ?? 0;
  return mdTable(
    ["seed", "TopK", "g-SAE", "Fisher g-SAE"],
    r.seeds.map((s) => [s.seed, s.dead.topk, s.dead.gsae, s.dead.fisher]),
  ) + `\n\nDead: no activation in the last ${window.toLocaleString("en-US")} training tokens.`;
}

/** The β sweep and the cost of the sampled gradients, as markdown. */
export function sweepAndCostMarkdown(r: LabelFreeResult): string {
  const c = r.cost, perGradient = c.bytes / c.samples;
  return [
    `Fisher g-SAE β: **${r.fisherBeta}** (lowest development KL with its own selection, ` +
    `seed ${r.seeds[0]?.seed}); g-SAE β: **${r.gsaeBeta}** (notebook 03's choice).`,
    "",
    mdTable(
      ["β", "development KL", "development ΔCE"],
      r.fisherSweep.map((p) => [p.beta, p.kl.toFixed(5), p.deltaCe.toFixed(5)]),
    ),
    "",
    `Cost of the sampled gradients beside the store (${c.tokens.toLocaleString("en-US")} tokens, ` +
    `S = ${c.samples}): ${c.buildSeconds.toFixed(0)} s to build when it was built ` +
    `(${(c.buildSeconds / c.samples).toFixed(0)} s per extra gradient), ` +
    `${(c.bytes / 2 ** 20).toFixed(1)} MiB (${(perGradient / 2 ** 20).toFixed(1)} MiB, ` +
    `${(perGradient / c.tokens).toFixed(0)} bytes per token, per extra gradient); ` +
    `the store itself: ${(c.storeBytes / 2 ** 20).toFixed(1)} MiB.`,
  ].join("\n");
}

/** KL (left) and ΔCE (right) of every variant, mean ± std over seeds, one marker per seed too. */
export function labelFreeFigure(r: LabelFreeResult): FigureSpec {
  const data = LABEL_FREE_VARIANTS.flatMap((v, i) =>
    (["kl", "deltaCe"] as const).map((metric, p) => {
      const s = variantSpread(r, v, metric);
      const style = { ...seriesStyle(...STYLE_OF[v]), name: LABEL_FREE_NAMES[v] };
      return {
        type: "scatter",
        mode: "markers",
        name: style.name,
        legendgroup: v,
        showlegend: p === 0,
        x: [i],
        y: [s.mean],
        error_y: { type: "data", array: [s.std], visible: true },
        text: [`n = ${s.values.length} seeds: ${s.values.map((x) => x.toFixed(4)).join(", ")}`],
        ...traceStyle(style, { size: 12 }),
        xaxis: p === 0 ? "x" : "x2",
        yaxis: p === 0 ? "y" : "y2",
      };
    })
  );
  const axis = { showticklabels: false, range: [-0.7, LABEL_FREE_VARIANTS.length - 0.3] };
  return {
    data,
    layout: {
      title: {
        text: `Label-free selection at k = ${r.k}: KL and ΔCE on validation ` +
          `(mean ± std over ${r.seeds.length} seeds)`,
      },
      xaxis: { ...axis, domain: [0, 0.45] },
      xaxis2: { ...axis, domain: [0.55, 1], anchor: "y2" },
      yaxis: { title: { text: "KL(clean ‖ spliced) (nats)" } },
      yaxis2: { title: { text: "ΔCE (nats)" }, anchor: "x2" },
      legend: { orientation: "h", y: -0.15 },
      margin: { b: 140 },
    },
  };
}

/** Per seed, each variant's KL minus TopK's (the paired differences behind the claims). */
export function pairedFigure(r: LabelFreeResult): FigureSpec {
  const variants = LABEL_FREE_VARIANTS.filter((v) => v !== "topk");
  const data = variants.map((v) => {
    const style = { ...seriesStyle(...STYLE_OF[v]), name: LABEL_FREE_NAMES[v] };
    return {
      type: "scatter",
      mode: "lines+markers",
      name: style.name,
      x: r.seeds.map((s) => s.seed),
      y: r.seeds.map((s) => s.evals[v].kl - s.evals.topk.kl),
      ...traceStyle(style, { size: 9 }),
    };
  });
  return {
    data,
    layout: {
      title: { text: `KL minus TopK's, per seed (k = ${r.k}); below 0: better than TopK` },
      xaxis: { title: { text: "seed" }, dtick: 1 },
      yaxis: { title: { text: "ΔKL vs TopK (nats)" }, zeroline: true },
      legend: { orientation: "h", y: -0.25 },
      margin: { b: 140 },
    },
  };
}

/** A metric row for `NotebookResults.metric`. */
export interface LabelFreeMetric {
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

/** Every variant's mean KL and ΔCE, the chosen β and the sampled gradients' bytes. */
export function labelFreeMetrics(r: LabelFreeResult): LabelFreeMetric[] {
  const rows = LABEL_FREE_VARIANTS.flatMap((v) =>
    (["kl", "deltaCe"] as const).map((m) => ({
      name: `label_free_${m === "kl" ? "kl" : "delta_ce"}_${v}`,
      value: variantSpread(r, v, m).mean,
      description: `${LABEL_FREE_NAMES[v]}: ${
        m === "kl" ? "KL(clean ‖ spliced)" : "ΔCE"
      }, nats, mean over seeds, k = ${r.k}`,
      abs: 0.002,
      rel: 0.05,
    }))
  );
  return [
    ...rows,
    {
      name: "label_free_fisher_beta",
      value: r.fisherBeta,
      description: "Fisher g-SAE β (lowest development KL)",
      abs: 0,
      rel: 0,
    },
    {
      name: "label_free_sampled_bytes_per_gradient",
      value: r.cost.bytes / r.cost.samples,
      description: "bytes of sampled gradients beside the store, per extra gradient",
      abs: 0,
      rel: 0.01,
    },
  ];
}

/** The claim rows (ours, issue 18): the primary one is KL of the Fisher g-SAE vs TopK. */
export function labelFreeClaims(r: LabelFreeResult): ClaimRecord[] {
  const n = r.seeds.length;
  const f = (v: LabelFreeVariant, m: Metric) =>
    formatSpread(variantSpread(r, v, m), { digits: m === "l0" ? 2 : 4 });
  const row = (
    id: string,
    paper: string,
    a: LabelFreeVariant,
    b: LabelFreeVariant,
    m: Metric,
  ): ClaimRecord => {
    const c = pairedComparison(r, a, b, m);
    const what = m === "kl" ? "KL" : "ΔCE";
    return {
      id,
      paper,
      result: `${what} ${f(a, m)} (${LABEL_FREE_NAMES[a]}) vs ${f(b, m)} (${LABEL_FREE_NAMES[b]})` +
        `, nats, mean ± std over ${n} seeds, k = ${r.k}, L0 ${f(a, "l0")} vs ${f(b, "l0")}; ` +
        `paired difference ${c.interval.mean.toFixed(5)} (${(100 * c.relative).toFixed(1)} %), ` +
        `95 % interval [${c.interval.low.toFixed(5)}, ${c.interval.high.toFixed(5)}]: ` +
        `${describeOutcome(c.outcome)}.`,
      verdict: verdictOf([c.outcome]),
      kind: "sub-comparison",
    };
  };
  const beta = `β ${r.fisherBeta} chosen by development KL`;
  return [
    row(
      "label-free-kl-vs-topk",
      `(ours, issue 18; primary) the Fisher g-SAE, selecting with S = ${r.cost.samples} ` +
        `sampled-token gradients and no label in training or inference (${beta}), has a lower ` +
        `KL than TopK at equal L0`,
      "fisher",
      "topk",
      "kl",
    ),
    row(
      "label-free-delta-ce-vs-topk",
      "(ours, issue 18) the Fisher g-SAE (own selection) has a lower ΔCE than TopK at equal L0",
      "fisher",
      "topk",
      "deltaCe",
    ),
    row(
      "label-free-kl-vs-gsae",
      "(ours, issue 18) the label-free Fisher g-SAE matches or beats the g-SAE evaluated with " +
        "the true-label gradient on KL (claim tested: lower)",
      "fisher",
      "gsae",
      "kl",
    ),
    row(
      "label-free-plain-kl-vs-topk",
      "(ours, issue 18, control) the Fisher g-SAE's weights under plain TopK selection " +
        "(no gradient at all) have a lower KL than TopK",
      "fisher_plain",
      "topk",
      "kl",
    ),
    row(
      "label-free-kl-vs-gsae-plain",
      "(ours, issue 18, control) the Fisher g-SAE (own selection, no label anywhere) has a " +
        "lower KL than the g-SAE trained with true labels and run without them (plain TopK " +
        "selection): does label-free training buy more than a label-trained dictionary?",
      "fisher",
      "gsae_plain",
      "kl",
    ),
    row(
      "label-free-true-kl-vs-topk",
      "(ours, issue 18, control) the Fisher g-SAE's weights selected with the true-label " +
        "gradient have a lower KL than TopK",
      "fisher_true",
      "topk",
      "kl",
    ),
  ];
}

/** One sentence for the notebook's end: does it beat TopK on KL, and by how much. */
export function verdictMarkdown(r: LabelFreeResult): string {
  const c = pairedComparison(r, "fisher", "topk", "kl");
  const range = `[${c.interval.low.toFixed(5)}, ${c.interval.high.toFixed(5)}]`;
  const head = c.outcome === "holds"
    ? "**The Fisher g-SAE beats TopK on KL at equal L0**"
    : "**The Fisher g-SAE does not beat TopK on KL at equal L0 in this run**";
  // Where a gain comes from: the trained weights (plain selection keeps it) or the selection.
  const p = pairedComparison(r, "fisher_plain", "topk", "kl");
  const o = pairedComparison(r, "fisher", "fisher_plain", "kl");
  const g = pairedComparison(r, "gsae_plain", "topk", "kl");
  const fg = pairedComparison(r, "fisher", "gsae_plain", "kl");
  const interval = (x: { interval: Interval }) =>
    `[${x.interval.low.toFixed(5)}, ${x.interval.high.toFixed(5)}]`;
  return `${head}: paired difference ${c.interval.mean.toFixed(5)} nats ` +
    `(${(100 * c.relative).toFixed(1)} % of TopK's ${f4(variantSpread(r, "topk", "kl").mean)}), ` +
    `95 % interval ${range} over ${r.seeds.length} seeds (${describeOutcome(c.outcome)}). ` +
    `Its weights under plain TopK selection (no gradient at inference): ` +
    `${p.interval.mean.toFixed(5)} vs TopK, ${interval(p)} (${p.outcome}); its own selection ` +
    `against its plain selection: ${o.interval.mean.toFixed(5)}, ${interval(o)} (${o.outcome}) — ` +
    `how much of the gain the label-free selection at inference adds beyond the weights. ` +
    `The control that could explain it away, the g-SAE trained with true labels and run with ` +
    `plain selection (no label at inference): ${g.interval.mean.toFixed(5)} vs TopK, ` +
    `${interval(g)} (${g.outcome}); the Fisher g-SAE against it: ` +
    `${fg.interval.mean.toFixed(5)}, ${interval(fg)} (${fg.outcome}).`;
}

function f4(x: number): string {
  return x.toFixed(4);
}
