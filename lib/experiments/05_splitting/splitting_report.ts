/**
 * What the splitting notebook shows and records: Table 2 as markdown beside the paper's, the
 * max-cosine histogram (Fig. 8, bottom) and the Table 2 bars, the metrics, and the paper's
 * claims with verdicts computed from the seeds (see `splitting.ts` for the measurements).
 *
 * @module
 */
import type { FigureSpec } from "../../pipeline/figures.ts";
import { mean } from "../../metrics/mod.ts";
import type { ClaimRecord } from "../shared/results.ts";
import type { ComparedArchitecture } from "../zoo/compared.ts";
import {
  byArchitecture,
  compareSeeds,
  formatSpread,
  judgeOutcomes,
  type Outcome,
  rowOf,
  type Spread,
} from "../shared/seed_spread.ts";
import { ARCH_STYLE, seriesStyle, SPARSE_MARKERS, traceStyle } from "../shared/arch_style.ts";
import {
  PAPER_TABLE2,
  POSITIONS,
  type SplittingRow,
  type SplittingRun,
  type SplittingTable,
} from "./splitting.ts";
import { mdTable } from "../../io/markdown_table.ts";

/** A claim that the first values are the higher. */
const hi = { claim: "higher" as const, paired: true };

/** Table 2 as markdown: ours (both derivative means) beside the paper's. */
export function splittingMarkdown(table: SplittingTable): string {
  // One power of ten for every derivative, so the columns compare at a glance.
  const all = table.rows.flatMap((r) => POSITIONS.map((p) => r.derivAll[p].mean));
  const e = Math.floor(Math.log10(Math.max(...all.map(Math.abs)) || 1));
  const d = (s: Spread) => formatSpread(s, { scale: 10 ** -e, digits: 3 });
  const name = (r: SplittingRow) => ARCH_STYLE[r.architecture].name;
  const paper = (r: SplittingRow) => PAPER_TABLE2[r.architecture];
  const main = mdTable(
    [
      "SAE",
      ...POSITIONS.map((p) => (p === "middle" ? "middle" : `${p} tail`) + ` (×1e${e})`),
      "right / left",
      "Spearman(max cos, \\|∇L·d\\|)",
      "paper ×1e-5: left / middle / right",
      "paper right / left",
    ],
    table.rows.map((r) => [
      name(r),
      ...POSITIONS.map((p) => d(r.derivAll[p])),
      formatSpread(r.rise),
      formatSpread(r.spearman),
      paper(r).map((v) => v.toFixed(3)).join(" / "),
      (paper(r)[2] / paper(r)[0]).toFixed(3),
    ]),
  );
  const detail = mdTable(
    [
      "SAE",
      "mean max cos, live latents",
      "random dictionary, as many vectors",
      "live − random",
      "mean max cos, every latent",
      "live latents",
      "latents per group",
      "max cos: left / middle / right",
      `when firing (×1e${e}): left / middle / right`,
    ],
    table.rows.map((r) => [
      name(r),
      formatSpread(r.liveMeanMaxCosine),
      formatSpread(r.randomLevel),
      formatSpread(r.excessOverRandom),
      formatSpread(r.meanMaxCosine),
      formatSpread(r.live, { digits: 0 }),
      formatSpread(r.size, { digits: 0 }),
      POSITIONS.map((p) => r.maxCosine[p].mean.toFixed(3)).join(" / "),
      POSITIONS.map((p) => (r.derivFiring[p].mean * 10 ** -e).toFixed(3)).join(" / "),
    ]),
  );
  return [
    `**Mean |∇L·d̂| over every validation token**, by position in the live max-cosine ` +
    `histogram (each position ${table.share * 100} % of the latents that fired ≥ ` +
    `${table.minFirings} time(s) on validation, at least ${table.minSize}; mean ± std over ` +
    `seeds ${table.rows[0]?.seeds.join(", ")}):`,
    "",
    main,
    "",
    "**The groups** (means over seeds; |∇L·d̂| averaged over the tokens where the latent fires):",
    "",
    detail,
  ].join("\n");
}

/** The live latents' max cosines of a run (dead latents have none). */
function liveValues(r: SplittingRun): number[] {
  return r.liveMaxCosine.filter((v): v is number => v !== null);
}

/**
 * Fig. 8 (bottom): histogram of each live decoder row's max cosine with another live row, per
 * architecture (seeds pooled), as the share of latents per bin; a dotted vertical line per
 * architecture marks the random-dictionary level for its number of live latents (mean over
 * seeds).
 */
export function maxCosineFigure(runs: SplittingRun[], options: { bins?: number } = {}): FigureSpec {
  const bins = options.bins ?? 50;
  // Every architecture shares the bins, spanning the values seen (cosines lie in [−1, 1]).
  const pooled = runs.flatMap((r) => [...liveValues(r), r.randomLevel]);
  const lo = Math.min(...pooled), hi = Math.max(...pooled);
  const width = (hi - lo) / bins || 1;
  const data = byArchitecture(runs).flatMap(([architecture, rs]) => {
    const values = rs.flatMap(liveValues);
    const counts = new Array(bins).fill(0);
    for (const v of values) counts[Math.min(bins - 1, Math.floor((v - lo) / width))]++;
    const style = seriesStyle(architecture), { line, marker } = traceStyle(style);
    // A few markers on each line carry the architecture's symbol (greyscale print).
    marker.maxdisplayed = SPARSE_MARKERS;
    // Step outlines rather than overlaid bars: three translucent fills mix into mud.
    const y = counts.map((c) => c / values.length), level = mean(rs.map((r) => r.randomLevel));
    return [{
      type: "scatter",
      mode: "lines+markers",
      name: `${style.name} (mean ${mean(values).toFixed(3)})`,
      x: counts.map((_, i) => lo + (i + 0.5) * width),
      y,
      line: { ...line, shape: "hvh" },
      marker,
    }, {
      type: "scatter",
      mode: "lines",
      name: `${style.name}: random dictionary (${level.toFixed(3)})`,
      x: [level, level],
      y: [0, Math.max(...y)],
      line: { color: style.color, dash: "dot", width: 1.5 },
    }];
  });
  return {
    data,
    layout: {
      title: { text: "Max cosine similarity of each live decoder row with another live row" },
      xaxis: { title: { text: "max cosine similarity (live latents, seeds pooled)" } },
      yaxis: { title: { text: "share of latents" }, rangemode: "tozero" },
    },
  };
}

/**
 * Table 2 as grouped bars from 0: all-tokens mean |∇L·d/‖d‖| by position, per architecture
 * (± std over seeds). The title spells the unit decoder row d/‖d‖: Chromium drew "d" with a
 * combining circumflex (U+0302) as a ring, d̊.
 */
export function tailFigure(table: SplittingTable): FigureSpec {
  return {
    data: table.rows.map((r) => ({
      type: "bar",
      name: seriesStyle(r.architecture).name,
      marker: {
        color: seriesStyle(r.architecture).color,
        pattern: {
          shape: seriesStyle(r.architecture).pattern,
          fillmode: "overlay",
          fgcolor: "#fff",
          solidity: 0.3,
        },
      },
      x: POSITIONS.map((p) => `${p} tail`.replace("middle tail", "middle")),
      y: POSITIONS.map((p) => r.derivAll[p].mean),
      error_y: { type: "data", array: POSITIONS.map((p) => r.derivAll[p].std) },
    })),
    layout: {
      title: {
        text: `Mean |∇L · d/‖d‖| by position in the max-cosine histogram (${
          table.share * 100
        } % of live latents each)`,
      },
      barmode: "group",
      xaxis: { title: { text: "position in the histogram" } },
      yaxis: {
        title: { text: "mean |directional derivative| (all val tokens)" },
        rangemode: "tozero",
      },
    },
  };
}

/** Metrics of the splitting notebook: per architecture, means over seeds. */
export function splittingMetrics(
  table: SplittingTable,
): { name: string; value: number; description: string; abs: number; rel: number }[] {
  return table.rows.flatMap((r) => {
    const a = r.architecture;
    return [
      {
        name: `mean_max_cosine_${a}`,
        value: r.meanMaxCosine.mean,
        description: `${a}: mean over every latent of the max decoder cosine with another latent`,
        abs: 0.01,
        rel: 0.05,
      },
      {
        name: `live_mean_max_cosine_${a}`,
        value: r.liveMeanMaxCosine.mean,
        description: `${a}: mean over live latents of the max decoder cosine with another live one`,
        abs: 0.01,
        rel: 0.05,
      },
      {
        name: `random_max_cosine_${a}`,
        value: r.randomLevel.mean,
        description: `${a}: mean max cosine of as many random unit vectors as live latents`,
        abs: 0.01,
        rel: 0.05,
      },
      ...POSITIONS.map((p) => ({
        name: `deriv_${p}_${a}`,
        value: r.derivAll[p].mean,
        description: `${a}: mean |∇L·d| over val tokens of the ${p} group (${
          table.share * 100
        } % of live latents)`,
        abs: 0,
        rel: 0.15,
      })),
      {
        name: `deriv_rise_${a}`,
        value: r.rise.mean,
        description: `${a}: right-tail / left-tail mean |∇L·d|`,
        abs: 0.05,
        rel: 0.1,
      },
    ];
  });
}

/**
 * The paper's splitting claims with verdicts from the seeds: g-SAE's max-cosine histogram has
 * the higher mean (Fig. 8), judged on the live latents' mean minus the random-dictionary level
 * for as many vectors (the level rises with the number of live latents); in g-SAEs and e2e SAEs
 * the right tail has larger directional derivatives than the left, more so than in TopK
 * (Table 2). The primary comparison (g-SAE against TopK, paired by seed) decides each verdict;
 * the rest is described beside it.
 */
export function splittingClaims(table: SplittingTable): ClaimRecord[] {
  const row = (a: ComparedArchitecture) => rowOf(table.rows, a, "splittingClaims");
  const g = row("gsae"), t = row("topk"), e = row("e2e_topk");
  const name = (r: SplittingRow) => ARCH_STYLE[r.architecture].name;
  const cos = judgeOutcomes([
    ["g-SAE > TopK", compareSeeds(g.excessOverRandom.values, t.excessOverRandom.values, hi)],
    ["g-SAE > e2e", compareSeeds(g.excessOverRandom.values, e.excessOverRandom.values, hi)],
  ]);
  const rightOverLeft = (r: SplittingRow): [string, Outcome] => [
    `${name(r)} right > left`,
    compareSeeds(r.derivAll.right.values, r.derivAll.left.values, { ...hi, paired: true }),
  ];
  // Primary: g-SAE's rise (right / left) above TopK's, paired by seed; the tails within each SAE
  // are described beside it.
  const tails = judgeOutcomes([
    ["g-SAE rise > TopK rise", compareSeeds(g.rise.values, t.rise.values, hi)],
    rightOverLeft(g),
    rightOverLeft(e),
  ]);
  const tableText = [g, t, e].map((r) =>
    `${name(r)} ${POSITIONS.map((p) => r.derivAll[p].mean.toExponential(2)).join(" / ")} ` +
    `(right/left ${formatSpread(r.rise, { digits: 2 })})`
  ).join("; ");
  return [
    {
      id: "splitting-max-cosine",
      paper: "Fig. 8: the max-decoder-cosine histogram of g-SAEs has a higher mean than TopK's " +
        "and e2e's.",
      result: `Mean max cosine among live latents (random dictionary of as many vectors; ` +
        `excess over it): ${
          [g, t, e].map((r) =>
            `${name(r)} ${formatSpread(r.liveMeanMaxCosine)} (${formatSpread(r.randomLevel)}; ` +
            `${formatSpread(r.excessOverRandom)})`
          ).join(", ")
        }; over every latent, dead ones included: ${
          [g, t, e].map((r) => `${name(r)} ${formatSpread(r.meanMaxCosine)}`).join(", ")
        }. ${cos.why}.`,
      verdict: cos.verdict,
    },
    {
      id: "splitting-tail-derivatives",
      paper: "Table 2 (×1e-5, left / middle / right): g-SAE 2.070 / 2.538 / 2.861, TopK 2.187 / " +
        "2.313 / 2.366, e2e 2.221 / 2.502 / 3.428: in g-SAEs (and e2e) the right tail has " +
        "larger directional derivatives, a larger rise than TopK's (right/left 1.38, 1.54 vs 1.08).",
      result:
        `Mean |∇L·d| over val tokens, left / middle / right (${
          table.share * 100
        } % of live latents each, at least ${table.minSize}): ` +
        `${tableText}. ${tails.why}.`,
      verdict: tails.verdict,
    },
  ];
}
