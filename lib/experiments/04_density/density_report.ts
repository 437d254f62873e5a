/**
 * What the density notebook shows and records: the table as markdown, the dead-latent and
 * frequency-CDF figures, the metrics, and the paper's claims with verdicts computed from the
 * seeds (see `density.ts` for the measurements and `seed_spread.ts` for the verdict rules).
 *
 * @module
 */
import type { FigureSpec } from "../../pipeline/figures.ts";
import type { ComparedArchitecture } from "../zoo/compared.ts";
import {
  type DeadCurve,
  type DensityRow,
  type DensityRun,
  type DensityTable,
  empiricalCdf,
  type FrequencyStats,
  PAPER_MEDIAN_FREQUENCY,
  PAPER_THRESHOLDS,
} from "./density.ts";
import type { ClaimRecord } from "../shared/results.ts";
import {
  compareSeeds,
  formatSpread,
  judgeOutcomes,
  rowOf,
  type Spread,
} from "../shared/seed_spread.ts";
import { ARCH_STYLE, seriesStyle, SPARSE_MARKERS, traceStyle } from "../shared/arch_style.ts";
import { mdTable } from "../../io/markdown_table.ts";

const count = (n: number) => n.toLocaleString("en");
const pct = (s: Spread, digits = 2) => formatSpread(s, { scale: 100, digits, unit: "%" });

/**
 * The density table as markdown (mean ± std over seeds): one row per architecture with the
 * true-token gradient at evaluation, and for a gradient-aware SAE a second row under plain
 * selection (the same SAE, so its training columns are not repeated).
 */
export function densityMarkdown(table: DensityTable): string {
  const r0 = table.rows[0];
  const head = [
    "architecture",
    "selection",
    "L0",
    "dead, end of training",
    "dead window N (tokens, as saved)",
    `never fired on the ${count(r0.evalTokens)} val tokens`,
    "median frequency",
    "mean frequency (L0 / latents)",
    ...table.thresholds.map((t) => `latents > ${t * 100} %`),
    "paper median (GPT-2 small, L0 = 32)",
  ];
  const line = (r: DensityRow, f: FrequencyStats, selection: string, training: boolean) => [
    ARCH_STYLE[r.architecture].name,
    selection,
    formatSpread(f.l0, { digits: 1 }),
    training ? pct(r.deadAtEnd) : "(same SAE)",
    training ? count(r.deadWindowTokens) : "",
    pct(f.neverFiredOnVal),
    pct(f.medianFrequency, 3),
    `${((f.l0.mean / r.dSae) * 100).toFixed(2)} %`,
    ...f.above.map((s) => pct(s, 1)),
    training ? `${(PAPER_MEDIAN_FREQUENCY[r.architecture] * 100).toFixed(2)} %` : "",
  ];
  const rows = table.rows.flatMap((r) =>
    r.usesGradient
      ? [line(r, r, "true-token gradient", true), line(r, r.plain, "plain (no gradient)", false)]
      : [line(r, r, "plain (ignores the gradient)", true)]
  );
  return [
    mdTable(head, rows),
    "",
    `Mean ± std over seeds ${r0.seeds.join(", ")}; ${r0.dSae} latents each. Dead: no ` +
    `activation in the last N training tokens (N as saved with each SAE); never fired: no ` +
    `activation on any validation token.`,
  ].join("\n");
}

/** Dead latents over training (mean over seeds, band = range), % of latents. */
export function deadLatentsFigure(curves: DeadCurve[]): FigureSpec {
  const data: Record<string, unknown>[] = [];
  for (const c of curves) {
    const style = seriesStyle(c.architecture), { name, color } = style;
    const band = { x: c.tokens, mode: "lines", line: { width: 0, color }, hoverinfo: "skip" };
    data.push({ ...band, type: "scatter", y: c.min.map((v) => v * 100), showlegend: false });
    data.push({
      ...band,
      type: "scatter",
      y: c.max.map((v) => v * 100),
      fill: "tonexty",
      fillcolor: translucent(color, 0.2),
      showlegend: false,
    });
    const y = c.mean.map((v) => v * 100);
    // A few markers on the line carry the architecture's symbol (greyscale print).
    const { line, marker } = traceStyle(style);
    marker.maxdisplayed = SPARSE_MARKERS;
    data.push({ type: "scatter", mode: "lines+markers", name, x: c.tokens, y, line, marker });
  }
  const window = curves[0]?.window ?? 0;
  return {
    data,
    layout: {
      title: {
        text: `Dead latents during training (no activation in the last ${count(window)} tokens)`,
      },
      // Filled bands reverse Plotly's default legend order.
      legend: { traceorder: "normal" },
      xaxis: { title: { text: "training tokens" } },
      yaxis: { title: { text: "dead latents (% of latents)" }, rangemode: "tozero" },
    },
  };
}

/**
 * Activation-frequency CDFs on validation tokens, one line per SAE (and a dotted one under plain
 * selection for a gradient-aware SAE), log x. Latents that never fired cannot sit on a log
 * axis: each curve starts at the share of latents that never fired.
 */
export function frequencyCdfFigure(
  runs: DensityRun[],
  options: { thresholds?: readonly number[]; points?: number } = {},
): FigureSpec {
  const seen = new Set<string>();
  // A gradient-aware SAE also gets a curve under plain TopK selection (no gradient).
  const curves = runs.flatMap((r) => [
    { r, frequencies: r.frequencies, plain: false },
    ...(r.usesGradient ? [{ r, frequencies: r.plainFrequencies, plain: true }] : []),
  ]);
  const data = curves.map(({ r, frequencies, plain }) => {
    const style = seriesStyle(r.architecture, plain ? "plain" : "true");
    const { line, marker } = traceStyle(style, { width: 1.5 });
    marker.maxdisplayed = SPARSE_MARKERS;
    const group = r.architecture + (plain ? "-plain" : "");
    const cdf = empiricalCdf(frequencies, { points: options.points });
    const keep = cdf.value.map((v, i) => [v, cdf.fraction[i]]).filter(([v]) => v > 0);
    const first = !seen.has(group);
    seen.add(group);
    return {
      type: "scatter",
      mode: "lines+markers",
      name: style.name,
      legendgroup: group,
      showlegend: first,
      line: { ...line, shape: "hv" },
      marker,
      x: keep.map(([v]) => v * 100),
      y: keep.map(([, f]) => f),
      hovertext: r.label,
    };
  });
  const shapes = (options.thresholds ?? PAPER_THRESHOLDS).map((t) => ({
    type: "line",
    xref: "x",
    yref: "paper",
    x0: t * 100,
    x1: t * 100,
    y0: 0,
    y1: 1,
    line: { dash: "dot", color: "#888" },
  }));
  // The median is where a curve crosses one half.
  shapes.push({ ...shapes[0], xref: "paper", yref: "y", x0: 0, x1: 1, y0: 0.5, y1: 0.5 });
  return {
    data,
    layout: {
      title: { text: "Latent activation frequency on validation tokens (CDF over latents)" },
      xaxis: { title: { text: "activation frequency (% of tokens)" }, type: "log" },
      yaxis: { title: { text: "fraction of latents ≤ frequency" }, range: [0, 1] },
      shapes,
    },
  };
}

/** Metrics of the density notebook: per architecture, the mean over seeds. */
export function densityMetrics(
  table: DensityTable,
): { name: string; value: number; description: string; abs: number; rel: number }[] {
  return table.rows.flatMap((r) => {
    const a = r.architecture;
    return [
      {
        name: `dead_end_fraction_${a}`,
        value: r.deadAtEnd.mean,
        description: `${a}: dead fraction at the end of training (window ${r.deadWindowTokens})`,
        abs: 0.02,
        rel: 0.2,
      },
      {
        name: `median_frequency_${a}`,
        value: r.medianFrequency.mean,
        description: `${a}: median latent activation frequency on validation (fraction of tokens)`,
        abs: 0.001,
        rel: 0.1,
      },
      ...(r.usesGradient
        ? [{
          name: `median_frequency_plain_${a}`,
          value: r.plain.medianFrequency.mean,
          description: `${a}: median latent frequency on validation under plain selection`,
          abs: 0.001,
          rel: 0.1,
        }]
        : []),
      {
        name: `never_fired_on_val_${a}`,
        value: r.neverFiredOnVal.mean,
        description: `${a}: fraction of latents that never fired on the validation tokens`,
        abs: 0.02,
        rel: 0.2,
      },
      ...table.thresholds.map((t, i) => ({
        name: `fraction_above_${t * 100}pct_${a}`,
        value: r.above[i].mean,
        description: `${a}: fraction of latents firing on more than ${t * 100} % of val tokens`,
        abs: 0.02,
        rel: 0.1,
      })),
    ];
  });
}

/**
 * The paper's density claims with verdicts computed from the seeds (see `seed_spread.ts`): fewer
 * dead latents; median frequency g-SAE < TopK < e2e; fewer latents above 1 %, more above 10 %.
 * The comparison with TopK is each claim's primary one; the one with e2e-TopK is described beside
 * it and does not enter the verdict.
 * The thresholds of `table` must include 0.01 and 0.1.
 */
export function densityClaims(table: DensityTable): ClaimRecord[] {
  const row = (a: ComparedArchitecture) => rowOf(table.rows, a, "densityClaims");
  const g = row("gsae"), t = row("topk"), e = row("e2e_topk");
  const above = (r: FrequencyStats, th: number) => {
    const i = table.thresholds.indexOf(th);
    if (i < 0) throw new Error(`densityClaims: threshold ${th} not in the table`);
    return r.above[i];
  };
  const judge = (parts: [string, Spread, Spread, "lower" | "higher"][]) =>
    judgeOutcomes(
      // Every compared architecture has the same seeds: paired by seed.
      parts.map((
        [what, a, b, claim],
      ) => [what, compareSeeds(a.values, b.values, { claim, paired: true })]),
    );
  const named = (r: DensityRow, s: Spread, digits = 2) =>
    `${ARCH_STYLE[r.architecture].name} ${pct(s, digits)}`;

  const dead = judge([
    ["g-SAE < TopK", g.deadAtEnd, t.deadAtEnd, "lower"],
    ["g-SAE < e2e", g.deadAtEnd, e.deadAtEnd, "lower"],
  ]);
  // Each frequency claim also compares g-SAE under plain selection (what a deployed g-SAE
  // shows) with TopK; TopK ignores the gradient, so its plain statistics are its only ones.
  const gp = g.plain;
  const med = judge([
    ["g-SAE < TopK", g.medianFrequency, t.medianFrequency, "lower"],
    ["g-SAE (plain selection) < TopK", gp.medianFrequency, t.medianFrequency, "lower"],
    ["TopK < e2e", t.medianFrequency, e.medianFrequency, "lower"],
  ]);
  const a1 = judge([
    ["vs TopK", above(g, 0.01), above(t, 0.01), "lower"],
    ["plain selection vs TopK", above(gp, 0.01), above(t, 0.01), "lower"],
    ["vs e2e", above(g, 0.01), above(e, 0.01), "lower"],
  ]);
  const a10 = judge([
    ["vs TopK", above(g, 0.1), above(t, 0.1), "higher"],
    ["plain selection vs TopK", above(gp, 0.1), above(t, 0.1), "higher"],
    ["vs e2e", above(g, 0.1), above(e, 0.1), "higher"],
  ]);
  const plainG = (s: Spread, digits = 2) => `g-SAE under plain selection ${pct(s, digits)}`;
  return [
    {
      id: "density-dead-latents",
      paper: "g-SAEs leave fewer latents permanently inactive (dead) than TopK and e2e SAEs.",
      result: `Dead at the end of training (no activation in the last N training tokens, N as ` +
        `saved with each SAE): ${
          [g, t, e].map((r) => `${named(r, r.deadAtEnd)} (N = ${count(r.deadWindowTokens)})`)
            .join(", ")
        }; never fired on the ${count(g.evalTokens)} validation tokens (a separate count): ${
          [g, t, e].map((r) => named(r, r.neverFiredOnVal)).join(", ")
        }, ${plainG(gp.neverFiredOnVal)}. ${dead.why}.` +
        ([g, t, e].every((r) => r.deadAtEnd.max === 0)
          ? " No SAE had a dead latent at the end of training, so there were none to have fewer of."
          : ""),
      verdict: dead.verdict,
    },
    {
      id: "density-median-frequency",
      paper: "At L0 = 32, median latent frequency 0.24 % (g-SAE) < 0.43 % (TopK) < 1.10 % (e2e).",
      result: `Median frequency at L0 = ${g.l0.mean.toFixed(0)}: ${
        [g, t, e].map((r) => named(r, r.medianFrequency, 3)).join(", ")
      }, ${plainG(gp.medianFrequency, 3)}. ${med.why}.`,
      verdict: med.verdict,
    },
    {
      id: "density-above-1pct",
      paper: "g-SAEs have fewer latents firing on more than 1 % of tokens.",
      result: `Latents above 1 %: ${
        [g, t, e].map((r) => named(r, above(r, 0.01), 1)).join(", ")
      }, ${plainG(above(gp, 0.01), 1)}. ${a1.why}.`,
      verdict: a1.verdict,
    },
    {
      id: "density-above-10pct",
      paper: "g-SAEs have more latents firing on more than 10 % of tokens.",
      result: `Latents above 10 %: ${
        [g, t, e].map((r) => named(r, above(r, 0.1), 1)).join(", ")
      }, ${plainG(above(gp, 0.1), 1)}. ${a10.why}.`,
      verdict: a10.verdict,
    },
  ];
}

/** `#rrggbb` as `rgba(r, g, b, alpha)`. */
function translucent(hex: string, alpha: number): string {
  const n = parseInt(hex.slice(1), 16);
  return `rgba(${n >> 16}, ${(n >> 8) & 255}, ${n & 255}, ${alpha})`;
}
