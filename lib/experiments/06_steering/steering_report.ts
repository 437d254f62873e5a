/**
 * Notebook 06's tables and figure: the steering summaries as markdown (means ± std over seeds),
 * typical examples of associated tokens before and after steering, and gain, concentration and
 * consistency against the steering strength.
 *
 * @module
 */
import type { FigureSpec } from "../../pipeline/figures.ts";
import type { Tokenizer } from "../../data/tokenizer.ts";
import {
  type KindSummary,
  STEERED,
  type SteeredKind,
  type SteeringComparison,
  type SteeringMetric,
  type SteeringRun,
  steeringVerdict,
  summariseSteering,
} from "./steering_study.ts";
import type { ClaimRecord } from "../shared/results.ts";
import { describeOutcome, formatSpread, spread } from "../shared/seed_spread.ts";
import { type SeriesStyle, seriesStyle, traceStyle } from "../shared/arch_style.ts";
import { mdTable } from "../../io/markdown_table.ts";

/** How each steered kind is drawn: the architectures as in every figure, random directions grey. */
export const STEERED_STYLE: Readonly<Record<SteeredKind, SeriesStyle>> = Object.fromEntries(
  STEERED.map((kind) => [
    kind,
    kind === "random"
      ? {
        name: "random directions",
        color: "#7f7f7f",
        symbol: "x-thin-open",
        dash: "dot",
        pattern: "",
      }
      : seriesStyle(kind),
  ]),
) as Record<SteeredKind, SeriesStyle>;

/** A markdown table of every kind's mean ± std over seeds at one fraction. */
export function steeringTable(summaries: KindSummary[]): string {
  const cell = (s: KindSummary, m: SteeringMetric, digits: number) =>
    formatSpread(s.metrics[m], { digits });
  return mdTable(
    [
      "steered",
      "gain ΔP(S)",
      "concentration ΔP(S)/TV",
      "gain per nat",
      "consistency",
      "KL (nats)",
    ],
    summaries.map((s) => [
      STEERED_STYLE[s.kind].name,
      cell(s, "gain", 4),
      cell(s, "concentration", 3),
      cell(s, "gainPerNat", 3),
      cell(s, "consistency", 3),
      cell(s, "kl", 3),
    ]),
  );
}

/**
 * For each kind, the direction of the first seed whose concentration at `fraction` is the
 * median of its run (a typical latent, not a chosen one): its associated tokens with their mean
 * probability before → after, and the tokens whose probability rose most.
 */
export function steeringExamples(
  cmp: SteeringComparison,
  tokenizer: Tokenizer,
  fraction: number,
): string {
  const f = cmp.budget.fractions.indexOf(fraction), seed = cmp.runs[0].seed;
  const tok = (id: number) => "`" + JSON.stringify(tokenizer.decode([id])).slice(1, -1) + "`";
  const pct = (p: number) => `${(100 * p).toFixed(2)} %`;
  return cmp.runs.filter((r) => r.seed === seed).map((r) => {
    const order = r.directions.map((_, i) => i).sort((a, b) =>
      r.directions[a].points[f].concentration - r.directions[b].points[f].concentration
    );
    const i = order[Math.floor(order.length / 2)], d = r.directions[i], p = d.points[f];
    const name = r.kind === "random"
      ? `${r.label}, direction ${i}`
      : `${r.label}, latent ${r.latents[i]}`;
    const set = d.set.slice(0, 5).map((id, j) =>
      `${tok(id)} ${pct(p.setClean[j])} → ${pct(p.setSteered[j])}`
    );
    const gained = p.topGained.map((t) =>
      `${tok(t.id)}${d.set.includes(t.id) ? "*" : ""} +${pct(t.gain)}`
    );
    return `**${STEERED_STYLE[r.kind].name}** (${name}): concentration ${
      p.concentration.toFixed(3)
    }, gain ` +
      `${pct(p.gain)} (P(S) ${pct(p.cleanMass)} → ${pct(p.steeredMass)}), consistency ` +
      `${p.consistency.toFixed(3)}\n\n- associated tokens (mean p before → after): ${
        set.join(", ")
      }\n` +
      `- largest mean gains (* = in the set): ${gained.join(", ")}`;
  }).join("\n\n");
}

/**
 * Gain, concentration and consistency against α, one line per kind, error bars = std over seeds;
 * the kinds are spread sideways by 2.8 % steps in α so their bars stay apart.
 */
export function steeringFigure(cmp: SteeringComparison): FigureSpec {
  const panels: [SteeringMetric, string][] = [
    ["gain", "gain ΔP(S)"],
    ["concentration", "concentration ΔP(S) / TV"],
    ["consistency", "consistency (fraction of contexts)"],
  ];
  const all = cmp.budget.fractions.map((f) => summariseSteering(cmp, f));
  // The kinds side by side at each α (a small step in log α) so error bars do not hide each other.
  const side = (k: number) => 10 ** ((k - (STEERED.length - 1) / 2) * 0.012);
  const data = STEERED.flatMap((kind, k) =>
    panels.map(([metric], p) => {
      const s = all.map((sums) => sums.find((x) => x.kind === kind)!);
      return {
        type: "scatter",
        mode: "lines+markers",
        name: STEERED_STYLE[kind].name,
        legendgroup: kind,
        showlegend: p === 0,
        x: cmp.budget.fractions.map((f) => f * side(k)),
        y: s.map((x) => x.metrics[metric].mean),
        text: cmp.budget.fractions.map((f) => `α / median ‖x‖ = ${f}`),
        error_y: { type: "data", array: s.map((x) => x.metrics[metric].std), visible: true },
        ...traceStyle(STEERED_STYLE[kind]),
        xaxis: p === 0 ? "x" : `x${p + 1}`,
        yaxis: p === 0 ? "y" : `y${p + 1}`,
      };
    })
  );
  const layout: Record<string, unknown> = {
    title: { text: `Steering with SAE latents at ${cmp.hook} (α = fraction × median ‖x‖)` },
  };
  panels.forEach(([, title], p) => {
    const s = p === 0 ? "" : String(p + 1);
    layout[`xaxis${s}`] = {
      type: "log",
      title: { text: "α / median ‖x‖" },
      tickvals: cmp.budget.fractions,
      // Gaps wide enough for the next panel's y-axis title.
      domain: [p * 0.365, p * 0.365 + 0.27],
      anchor: `y${s}`,
    };
    layout[`yaxis${s}`] = { title: { text: title }, anchor: `x${s}` };
  });
  return { data, layout };
}

/** The run's setup in words: hook, α's unit, the latents' typical activations, lens overlap. */
export function steeringSetup(cmp: SteeringComparison): string {
  const b = cmp.budget;
  return [
    `- hook \`${cmp.hook}\`; g-SAE β = ${cmp.beta} (chosen on development windows)`,
    `- ${b.contexts} validation windows × ${b.length} tokens = ${b.contexts * b.length} ` +
    `positions; per seed the same ${b.latents} latents (live in all three SAEs of the seed) in ` +
    `each SAE, and ${b.latents} random directions; ${b.setSize} associated tokens per latent ` +
    `(the out-of-vocabulary id excluded)`,
    `- α = fraction × median ‖x‖ = fraction × ${cmp.medianNorm.toFixed(3)}; fractions ` +
    `${b.fractions.join(", ")}; the claim is judged at ${b.mainFraction}`,
    `- a steered latent's mean activation when it fires, as a fraction of the median ‖x‖ ` +
    `(median over the latents; mean ± std over seeds): ${perKind(cmp, (r) => r.firingScale)}`,
    `- how far training moved the steered decoder rows: median cosine with their initial ` +
    `(random) rows: ${perKind(cmp, (r) => r.initCosine)}; with the same latent of the ` +
    `seed's TopK SAE: ${perKind(cmp, (r) => r.topkCosine, ["gsae", "e2e_topk"])}`,
    `- overlap (Jaccard) of the ln_f-lens sets with the raw-lens (W_U·d̂) sets: ` +
    `${cmp.lensOverlap.toFixed(3)} (|γ| of ln_f spans ${cmp.lnfScaleRange[0].toFixed(3)} to ` +
    `${cmp.lnfScaleRange[1].toFixed(3)})`,
    `- steering took ${cmp.seconds.toFixed(0)} s (SAE training and evaluation included when ` +
    `not cached)`,
  ].join("\n");
}

/** `name value ± std; …` over seeds of a per-run number, for the SAE kinds. */
function perKind(
  cmp: SteeringComparison,
  value: (r: SteeringRun) => number | null,
  kinds: SteeredKind[] = ["topk", "gsae", "e2e_topk"],
): string {
  return kinds.map((kind) => {
    const v = cmp.runs.filter((r) => r.kind === kind).map((r) => value(r) ?? NaN);
    return `${STEERED_STYLE[kind].name} ${formatSpread(spread(v), { digits: 3 })}`;
  }).join("; ");
}

/** A metric for `NotebookResults.metric`. */
export interface SteeringMetricRecord {
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

/** Every kind's gain, concentration and consistency at the main fraction (means over seeds). */
export function steeringMetrics(cmp: SteeringComparison): SteeringMetricRecord[] {
  const f = cmp.budget.mainFraction;
  return summariseSteering(cmp, f).flatMap((s) =>
    (["gain", "concentration", "consistency"] as const).map((m) => ({
      name: `steering_${m}_${s.kind}`,
      value: s.metrics[m].mean,
      description: `${STEERED_STYLE[s.kind].name}: mean over seeds of the mean ${m} over ` +
        `steered directions at α = ${f} × median ‖x‖`,
      abs: 0.005,
      rel: 0.05,
    }))
  );
}

/** The steering claim with its verdict computed from the run (at the main fraction). */
export function steeringClaims(cmp: SteeringComparison): ClaimRecord[] {
  const f = cmp.budget.mainFraction, sums = summariseSteering(cmp, f);
  const { verdict, comparisons } = steeringVerdict(sums);
  const by = (k: SteeredKind) => sums.find((s) => s.kind === k)!;
  const line = (m: SteeringMetric, digits: number) =>
    `${m}: ` +
    STEERED.map((k) => `${STEERED_STYLE[k].name} ${formatSpread(by(k).metrics[m], { digits })}`)
      .join(", ");
  const outcomes = comparisons.map((c) =>
    `${c.metric} vs ${STEERED_STYLE[c.baseline].name}: ${c.outcome} (${describeOutcome(c.outcome)})`
  );
  const others = cmp.budget.fractions.filter((x) => x !== f).map((x) =>
    `${x}: ${steeringVerdict(summariseSteering(cmp, x)).verdict}`
  );
  const seeds = by("gsae").seeds.length;
  return [{
    id: "steering-concentrated-consistent",
    paper: "g-SAE latents steer model outputs in a concentrated manner in arbitrary contexts by " +
      "consistently increasing the probability of the associated set of tokens (conclusion; the " +
      "steering section is not in our copy)",
    result: `At α = ${f} × median ‖x‖, ${cmp.budget.latents} live latents per SAE, ` +
      `${seeds} seeds (mean ± std over seeds): ${line("concentration", 3)}; ` +
      `${line("consistency", 3)}; ${line("gain", 4)}. ${outcomes.join("; ")}. ` +
      `Verdict at the other strengths: ${others.join(", ")}. Median cosine of the steered ` +
      `decoder rows with their random initialisation: ${perKind(cmp, (r) => r.initCosine)}.`,
    verdict,
  }];
}
