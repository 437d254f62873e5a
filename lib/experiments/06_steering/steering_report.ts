/**
 * Notebook 06's tables and figure: the steering summaries as markdown (means ± std over seeds),
 * typical examples of associated tokens before and after steering, and the log-odds gain, gain
 * and concentration against the steering strength, for the latents and their matched random
 * directions.
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
import type { DirectionSteering } from "./steering.ts";
import type { ClaimRecord } from "../shared/results.ts";
import { describeOutcome, formatSpread, spread } from "../shared/seed_spread.ts";
import { type SeriesStyle, seriesStyle, traceStyle } from "../shared/arch_style.ts";
import { mdTable } from "../../io/markdown_table.ts";

/**
 * How each steered kind is drawn: the architectures as in every figure; a kind's matched random
 * directions in its colour, dotted with open markers.
 */
export const STEERED_STYLE: Readonly<Record<SteeredKind, SeriesStyle>> = Object.fromEntries(
  STEERED.map((kind) => [kind, seriesStyle(kind)]),
) as Record<SteeredKind, SeriesStyle>;

/** The style of `kind`'s matched random directions. */
function matchedStyle(kind: SteeredKind): SeriesStyle {
  const style = STEERED_STYLE[kind];
  return {
    ...style,
    name: `${style.name}, matched random`,
    symbol: `${style.symbol}-open`,
    dash: "dot",
  };
}

/** A markdown table of every kind's mean ± std over seeds at one strength. */
export function steeringTable(summaries: KindSummary[]): string {
  const f = (s: { mean: number; std: number; values: number[]; min: number; max: number }, d = 3) =>
    formatSpread(s, { digits: d });
  return mdTable(
    [
      "steered",
      "latents",
      "α (activation units)",
      "log-odds gain, latents",
      "log-odds gain, matched random",
      "latent − matched",
      "gain ΔP(S)",
      "concentration ΔP(S)/TV",
      "concentration, matched random",
      "consistency",
      "KL (nats)",
    ],
    summaries.map((s) => [
      STEERED_STYLE[s.kind].name,
      String(s.directions),
      f(s.latents.alpha),
      f(s.latents.logOddsGain),
      f(s.matched.logOddsGain),
      f(s.excess.logOddsGain),
      f(s.latents.gain, 4),
      f(s.latents.concentration),
      f(s.matched.concentration),
      f(s.latents.consistency),
      f(s.latents.kl),
    ]),
  );
}

/**
 * For each kind, the latent of the first seed whose log-odds gain at `strength` is the median of
 * its run (a typical latent, not a chosen one): its associated tokens with their mean
 * probability before → after, the tokens whose probability rose most, and its matched random
 * direction's log-odds gain.
 */
export function steeringExamples(
  cmp: SteeringComparison,
  tokenizer: Tokenizer,
  strength: number,
): string {
  const seed = cmp.runs[0].seed;
  const tok = (id: number) => "`" + JSON.stringify(tokenizer.decode([id])).slice(1, -1) + "`";
  const pct = (p: number) => `${(100 * p).toFixed(2)} %`;
  return cmp.runs.filter((r) => r.seed === seed).map((r) => {
    const i = medianLatentIndex(r, strength, "logOddsGain");
    const d = r.directions[i], p = pointAt(d, strength), m = pointAt(r.matched[i], strength);
    const set = d.set.slice(0, 5).map((id, j) =>
      `${tok(id)} ${pct(p.setClean[j])} → ${pct(p.setSteered[j])}`
    );
    const gained = p.topGained.map((t) =>
      `${tok(t.id)}${d.set.includes(t.id) ? "*" : ""} +${pct(t.gain)}`
    );
    return `**${STEERED_STYLE[r.kind].name}** (${r.label}, latent ${r.latents[i]}, α = ` +
      `${p.alpha.toFixed(3)}): log-odds gain ${p.logOddsGain.toFixed(3)} (its matched random ` +
      `direction: ${m.logOddsGain.toFixed(3)}), concentration ${p.concentration.toFixed(3)}, ` +
      `gain ${pct(p.gain)} (P(S) ${pct(p.cleanMass)} → ${pct(p.steeredMass)}), consistency ` +
      `${p.consistency.toFixed(3)}\n\n- associated tokens (mean p before → after): ${
        set.join(", ")
      }\n` +
      `- largest mean gains (* = in the set): ${gained.join(", ")}`;
  }).join("\n\n");
}

/** The point of `d` at `strength` (an error when it was not steered at it). */
function pointAt(d: DirectionSteering, strength: number) {
  const p = d.points.find((x) => x.strength === strength);
  if (!p) throw new Error(`no steering point at strength ${strength}`);
  return p;
}

/**
 * Index (into `run.latents`) of the latent with the median `metric` at `strength` among those
 * steered at it (the upper median for an even count).
 */
export function medianLatentIndex(
  run: SteeringRun,
  strength: number,
  metric: SteeringMetric,
): number {
  const at = run.directions.map((d, i) => [i, d.points.find((p) => p.strength === strength)])
    .filter(([, p]) => p !== undefined) as [number, DirectionSteering["points"][number]][];
  if (at.length === 0) throw new Error(`${run.label}: no latent steered at ${strength}`);
  at.sort((a, b) => a[1][metric] - b[1][metric]);
  return at[Math.floor(at.length / 2)][0];
}

/**
 * Log-odds gain, gain and concentration against the strength (activation quantile), one line
 * per kind for its latents and a dotted one for their matched random directions; error bars =
 * std over seeds; the series are spread sideways by small steps so their bars stay apart.
 */
export function steeringFigure(cmp: SteeringComparison): FigureSpec {
  const panels: [SteeringMetric, string][] = [
    ["logOddsGain", "log-odds gain of S"],
    ["gain", "gain ΔP(S)"],
    ["concentration", "concentration ΔP(S) / TV"],
  ];
  const qs = cmp.budget.quantiles;
  const all = qs.map((q) => summariseSteering(cmp, q));
  const series = STEERED.flatMap((kind) =>
    (["latents", "matched"] as const).map((which) => ({
      kind,
      which,
      style: which === "matched" ? matchedStyle(kind) : STEERED_STYLE[kind],
    }))
  );
  // Each series a small step sideways at each quantile, so error bars do not hide each other.
  const side = (k: number) => (k - (series.length - 1) / 2) * 0.004;
  const data = series.flatMap(({ kind, which, style }, k) =>
    panels.map(([metric], p) => {
      const s = all.map((sums) => sums.find((x) => x.kind === kind)![which][metric]);
      return {
        type: "scatter",
        mode: "lines+markers",
        name: style.name,
        legendgroup: `${kind}-${which}`,
        showlegend: p === 0,
        x: qs.map((q) => q + side(k)),
        y: s.map((x) => x.mean),
        text: qs.map((q) => `quantile ${q}`),
        error_y: { type: "data", array: s.map((x) => x.std), visible: true },
        ...traceStyle(style),
        xaxis: p === 0 ? "x" : `x${p + 1}`,
        yaxis: p === 0 ? "y" : `y${p + 1}`,
      };
    })
  );
  const layout: Record<string, unknown> = {
    title: {
      text: `Steering with SAE latents at ${cmp.hook} (α = the latent's activation quantile)`,
    },
  };
  panels.forEach(([, title], p) => {
    const s = p === 0 ? "" : String(p + 1);
    layout[`xaxis${s}`] = {
      title: { text: "quantile of the latent's activation" },
      tickvals: qs,
      // Gaps wide enough for the next panel's y-axis title.
      domain: [p * 0.365, p * 0.365 + 0.27],
      anchor: `y${s}`,
    };
    layout[`yaxis${s}`] = { title: { text: title }, anchor: `x${s}` };
  });
  return { data, layout };
}

/** The run's setup in words: hook, α's definition and scale, controls, lens overlap, time. */
export function steeringSetup(cmp: SteeringComparison): string {
  const b = cmp.budget;
  return [
    `- hook \`${cmp.hook}\`; g-SAE β = ${cmp.beta} (chosen on development windows)`,
    `- ${b.contexts} validation windows × ${b.length} tokens = ${b.contexts * b.length} ` +
    `positions; per seed the same ${b.latents} latents in each SAE (each firing at least ` +
    `${b.minFirings} times on ${cmp.activationTokens.toLocaleString("en")} validation tokens ` +
    `in all three SAEs of the seed), each paired with a random direction drawn from ` +
    `N(0, Σ) of those tokens' activations (the same direction in every SAE of the seed); ` +
    `${b.setSize} associated tokens per direction (the out-of-vocabulary id excluded)`,
    `- α = the latent's activation quantile where it fires (plain selection) × its decoder ` +
    `norm, at quantiles ${b.quantiles.join(", ")} (${b.sweepLatents} latents per SAE at every ` +
    `quantile, all ${b.latents} at ${b.mainQuantile}, where the claim is judged); the matched ` +
    `direction gets the same α`,
    `- α at ${b.mainQuantile} as a fraction of the median ‖x‖ (${cmp.medianNorm.toFixed(3)}; ` +
    `median over the latents, mean ± std over seeds): ${perKind(cmp, (r) => r.alphaScale)}`,
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

/**
 * Every kind's log-odds gain (latents, matched, excess), concentration and consistency at the
 * main quantile (means over seeds).
 */
export function steeringMetrics(cmp: SteeringComparison): SteeringMetricRecord[] {
  const q = cmp.budget.mainQuantile;
  const at = `at α = the ${q} activation quantile`;
  return summariseSteering(cmp, q).flatMap((s) => {
    const name = STEERED_STYLE[s.kind].name;
    return [
      ["logodds_gain", s.latents.logOddsGain, `mean log-odds gain of the latents' sets`, 0.05],
      ["logodds_gain_matched", s.matched.logOddsGain, `the same for the matched directions`, 0.05],
      ["logodds_excess", s.excess.logOddsGain, `mean of latent − matched log-odds gain`, 0.05],
      ["concentration", s.latents.concentration, `mean concentration ΔP(S)/TV`, 0.005],
      ["consistency", s.latents.consistency, `mean fraction of positions with ΔP(S) > 0`, 0.005],
    ].map(([m, v, what, abs]) => ({
      name: `steering_${m}_${s.kind}`,
      value: (v as { mean: number }).mean,
      description: `${name}: ${what} ${at} (mean over seeds)`,
      abs: abs as number,
      rel: 0.05,
    }));
  });
}

/** The steering claim with its verdict computed from the run (at the main quantile). */
export function steeringClaims(cmp: SteeringComparison): ClaimRecord[] {
  const q = cmp.budget.mainQuantile, sums = summariseSteering(cmp, q);
  const { verdict, comparisons } = steeringVerdict(sums);
  const by = (k: SteeredKind) => sums.find((s) => s.kind === k)!;
  const line = (s: KindSummary) =>
    `${STEERED_STYLE[s.kind].name} ${formatSpread(s.latents.logOddsGain)} vs matched ` +
    `${formatSpread(s.matched.logOddsGain)} (excess ${formatSpread(s.excess.logOddsGain)})`;
  const baseline = (b: string) =>
    b === "matched" ? "its matched random directions" : `${STEERED_STYLE[b as SteeredKind].name}`;
  const outcomes = comparisons.map((c) =>
    `g-SAE vs ${baseline(c.baseline)}: ${c.outcome} (${describeOutcome(c.outcome)})`
  );
  const others = cmp.budget.quantiles.filter((x) => x !== q).map((x) =>
    `${x}: ${steeringVerdict(summariseSteering(cmp, x)).verdict}`
  );
  const seeds = by("gsae").seeds.length;
  return [{
    id: "steering-concentrated-consistent",
    paper: "g-SAE latents steer model outputs in a concentrated manner in arbitrary contexts by " +
      "consistently increasing the probability of the associated set of tokens (conclusion; the " +
      "steering section is not in our copy)",
    result: `Log-odds gain of the associated set at α = each latent's ${q} activation quantile, ` +
      `${by("gsae").directions} latents per SAE, ${seeds} seeds (mean ± std over seeds of the ` +
      `mean over latents): ${sums.map(line).join("; ")}. Concentration: ${
        sums.map((s) =>
          `${STEERED_STYLE[s.kind].name} ${formatSpread(s.latents.concentration)} (matched ` +
          `${formatSpread(s.matched.concentration)})`
        ).join(", ")
      }. ${
        outcomes.join("; ")
      }. Verdict at the other quantiles (${cmp.budget.sweepLatents} latents): ${
        others.join(", ")
      }. Median cosine of the steered decoder rows with their ` +
      `random initialisation: ${perKind(cmp, (r) => r.initCosine)}.`,
    verdict,
  }];
}
