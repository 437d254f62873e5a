/**
 * What notebook 01 reports from the directional-derivative measurements (`directional.ts`):
 * sequence-bootstrap intervals, their summary over seeds, the verdicts on the paper's Fig. 2
 * claims, and the figure.
 *
 * Ratios compare mean |∇L·u| of two kinds of direction at one layer (paired: the same tokens).
 * Each seed's bootstrap interval describes that seed; the claims are judged by the one rule of
 * every notebook (`seed_spread.ts`): at each layer the 95 % t-interval over seeds of the per-seed
 * ratio against 1:
 * - a layer *holds* when that interval lies above 1, and is *ruled out* when it lies below 1;
 * - a claim over the later layers (a conjunction) is reproduced when every later layer holds, not
 *   reproduced when one is ruled out, and inconclusive otherwise.
 *
 * "Later layers": the paper sees the effect "for layers 3 onward" of GPT-2 small's 12, so from a
 * quarter of the depth on: layer ≥ round(n_layer / 4).
 *
 * Why one module of ~310 lines: the bootstrap, its summary over seeds and the verdicts
 * share one data shape.
 *
 * @module
 */
import { quantile } from "../../metrics/mod.ts";
import { Rng } from "../../tensor/random.ts";
import type { ClaimRecord, NotebookResults, Verdict } from "../shared/results.ts";
import { DIRECTION_KINDS, type DirectionalResult, type DirectionKind } from "./directional.ts";
import { mdTable } from "../../io/markdown_table.ts";
import { formatInterval, type Interval, oneSampleInterval } from "../shared/paired_interval.ts";
import { outcomeOf, verdictOf } from "../shared/seed_spread.ts";

/** A point estimate and its bootstrap interval. */
export interface Estimate {
  /** The estimate on the measured tokens. */
  value: number;
  /** Lower end of the interval. */
  low: number;
  /** Upper end of the interval. */
  high: number;
}

/** The ratios reported, each numerator kind over denominator kind. */
export const RATIOS = {
  differenceToIsotropic: ["activation_difference", "isotropic"],
  differenceToMatched: ["activation_difference", "distribution_matched"],
  matchedToIsotropic: ["distribution_matched", "isotropic"],
} as const satisfies Record<string, readonly [DirectionKind, DirectionKind]>;

/** One of the {@link RATIOS}. */
export type RatioName = keyof typeof RATIOS;

/** One layer's bootstrap estimates. */
export interface LayerEstimates {
  /** Layer index. */
  layer: number;
  /** Mean |∇L·u| per kind. */
  mean: Record<DirectionKind, Estimate>;
  /** Ratios of means. */
  ratios: Record<RatioName, Estimate>;
}

/** One seed's measurements, bootstrapped. */
export interface DirectionalBootstrap {
  /** The measurement's seed. */
  seed: number;
  /** Per layer, in the measured order. */
  layers: LayerEstimates[];
  /**
   * Depth trend of the difference/isotropic ratio: its mean over the deeper half of the measured
   * layers minus its mean over the shallower half (the middle layer of an odd count left out).
   */
  depthTrend: Estimate;
}

/**
 * Percentile bootstrap over sequences (tokens of one sequence share context, so a token-level
 * bootstrap would be too narrow). Each resample draws sequences with replacement once and uses
 * them for every kind and layer (the layers measure the same windows), so ratios and the depth
 * trend are paired.
 */
export function bootstrapDirectional(
  result: DirectionalResult,
  options: { resamples?: number; seed?: number; level?: number } = {},
): DirectionalBootstrap {
  const rng = new Rng(options.seed ?? 0);
  const resamples = options.resamples ?? 1000, alpha = (1 - (options.level ?? 0.95)) / 2;
  const seqs = result.sequences, layers = result.layers;
  // Per layer and kind: the sum of |g·u| over each sequence's tokens, and the token counts.
  const count = new Float64Array(seqs);
  layers[0].sequenceOf.forEach((s) => count[s]++);
  const sums = layers.map((l) =>
    DIRECTION_KINDS.map((k) => {
      const s = new Float64Array(seqs);
      l.sequenceOf.forEach((q, t) => s[q] += l.values[k][t]);
      return s;
    })
  );
  const means = (weights: Float64Array) => {
    const n = weights.reduce((a, w, s) => a + w * count[s], 0);
    return sums.map((perKind) =>
      Object.fromEntries(
        DIRECTION_KINDS.map((
          k,
          i,
        ) => [k, perKind[i].reduce((a, v, s) => a + weights[s] * v, 0) / n]),
      ) as Record<DirectionKind, number>
    );
  };
  const point = means(new Float64Array(seqs).fill(1));
  const draws = Array.from({ length: resamples }, () => {
    const w = new Float64Array(seqs);
    for (let i = 0; i < seqs; i++) w[rng.int(seqs)]++;
    return means(w);
  });
  const estimate = (f: (m: Record<DirectionKind, number>[]) => number): Estimate => {
    const v = draws.map(f);
    return { value: f(point), low: quantile(v, alpha), high: quantile(v, 1 - alpha) };
  };
  const ratio = (m: Record<DirectionKind, number>, name: RatioName) =>
    m[RATIOS[name][0]] / m[RATIOS[name][1]];
  const half = Math.floor(layers.length / 2);
  const trend = (m: Record<DirectionKind, number>[]) => {
    const r = m.map((x) => ratio(x, "differenceToIsotropic"));
    const avg = (a: number[]) => a.reduce((s, v) => s + v, 0) / a.length;
    return avg(r.slice(r.length - half)) - avg(r.slice(0, half));
  };
  return {
    seed: result.seed,
    layers: layers.map((l, i) => ({
      layer: l.layer,
      mean: Object.fromEntries(DIRECTION_KINDS.map((k) => [k, estimate((m) => m[i][k])])) as Record<
        DirectionKind,
        Estimate
      >,
      ratios: Object.fromEntries(
        (Object.keys(RATIOS) as RatioName[]).map((r) => [r, estimate((m) => ratio(m[i], r))]),
      ) as Record<RatioName, Estimate>,
    })),
    depthTrend: half > 0 ? estimate(trend) : { value: NaN, low: NaN, high: NaN },
  };
}

/** The first "later" layer of an `nLayer`-block model (see the module doc). */
export function laterLayersFrom(nLayer: number): number {
  return Math.round(nLayer / 4);
}

/** How a ratio claim came out over the later layers and seeds. */
export interface RatioJudgement {
  /** The verdict (see the module doc). */
  verdict: Verdict;
  /** Later layers where the interval over seeds lies above 1. */
  holding: number[];
  /** Later layers where it lies below 1. */
  ruledOut: number[];
  /** The later layers judged. */
  judged: number[];
  /** Per judged layer, the 95 % interval over seeds of the ratio minus 1. */
  intervals: Interval[];
}

/** Judges "the `ratio` exceeds 1 at every layer ≥ `fromLayer`" over seeds (see the module doc). */
export function judgeRatio(
  boots: DirectionalBootstrap[],
  ratio: RatioName,
  options: { fromLayer: number },
): RatioJudgement {
  const judged = boots[0].layers.map((l) => l.layer).filter((l) => l >= options.fromLayer);
  const intervals = judged.map((layer) =>
    oneSampleInterval(
      boots.map((b) => b.layers.find((l) => l.layer === layer)!.ratios[ratio].value - 1),
    )
  );
  const outcomes = intervals.map((i) => outcomeOf(i, "higher"));
  return {
    verdict: verdictOf(outcomes),
    holding: judged.filter((_, i) => outcomes[i] === "holds"),
    ruledOut: judged.filter((_, i) => outcomes[i] === "contradicts"),
    judged,
    intervals,
  };
}

/** Judges "the difference/isotropic ratio grows with depth": the interval over seeds of the trend. */
export function judgeDepthTrend(boots: DirectionalBootstrap[]): Verdict {
  const t = boots.map((b) => b.depthTrend.value);
  if (t.some((v) => !Number.isFinite(v))) return "inconclusive";
  return verdictOf([outcomeOf(oneSampleInterval(t), "higher")]);
}

const fmt = (x: number, digits = 2) => x.toFixed(digits);
const range = (es: Estimate[], digits = 2) =>
  es.length === 1
    ? `${fmt(es[0].value, digits)} [${fmt(es[0].low, digits)}, ${fmt(es[0].high, digits)}]`
    : `${fmt(Math.min(...es.map((e) => e.value)), digits)}–${
      fmt(Math.max(...es.map((e) => e.value)), digits)
    } (CIs ${fmt(Math.min(...es.map((e) => e.low)), digits)}–${
      fmt(Math.max(...es.map((e) => e.high)), digits)
    })`;

/** Per layer, the seeds' estimates of one ratio. */
function ratioAcrossSeeds(boots: DirectionalBootstrap[], layer: number, ratio: RatioName) {
  return boots.map((b) => b.layers.find((l) => l.layer === layer)!.ratios[ratio]);
}

/**
 * The notebook's table: per layer, mean |∇L·u| of each kind (mean over seeds) and the ratios
 * (range of the seeds' estimates, and of their 95 % intervals).
 */
export function directionalTable(boots: DirectionalBootstrap[]): string {
  const rows = boots[0].layers.map(({ layer }) => {
    const m = (k: DirectionKind) =>
      boots.reduce((s, b) => s + b.layers.find((l) => l.layer === layer)!.mean[k].value, 0) /
      boots.length;
    const r = (name: RatioName) => range(ratioAcrossSeeds(boots, layer, name));
    return [
      layer,
      ...DIRECTION_KINDS.map((k) => m(k).toExponential(3)),
      r("differenceToIsotropic"),
      r("differenceToMatched"),
      r("matchedToIsotropic"),
    ];
  });
  return mdTable(
    [
      "layer",
      "activation differences",
      "isotropic",
      "distribution-matched",
      "differences / isotropic",
      "differences / matched",
      "matched / isotropic",
    ],
    rows,
  );
}

/** The three Fig. 2 claims of notebook 01, with verdicts computed from `boots` (one per seed). */
export function directionalClaims(
  boots: DirectionalBootstrap[],
  options: { nLayer: number },
): ClaimRecord[] {
  const fromLayer = laterLayersFrom(options.nLayer);
  const describe = (ratio: RatioName, j: RatioJudgement) =>
    j.judged.map((l, i) =>
      `layer ${l}: ${range(ratioAcrossSeeds(boots, l, ratio))}; ratio − 1 ${
        formatInterval(j.intervals[i])
      }`
    ).join("; ") +
    ` (${boots.length} seed(s); interval over seeds above 1 at layers [${j.holding}]` +
    `, below 1 at [${j.ruledOut}])`;
  const iso = judgeRatio(boots, "differenceToIsotropic", { ...options, fromLayer });
  const matched = judgeRatio(boots, "differenceToMatched", { ...options, fromLayer });
  const trends = boots.map((b) => b.depthTrend);
  return [
    {
      id: "fig2-difference-vs-isotropic",
      paper: "Fig. 2 / §2.3: from layer 3 of 12 on, mean |∇L·u| along activation differences " +
        "x_i − x_j is significantly higher than along isotropic random directions.",
      result: `ratio differences/isotropic at layers ≥ ${fromLayer}: ${
        describe(
          "differenceToIsotropic",
          iso,
        )
      }`,
      verdict: iso.verdict,
    },
    {
      id: "fig2-difference-vs-matched",
      paper: "Fig. 2 / §2.3: ... and higher than along covariance-adjusted random directions " +
        "(Gaussian with the activations' covariance).",
      result: `ratio differences/distribution-matched at layers ≥ ${fromLayer}: ${
        describe(
          "differenceToMatched",
          matched,
        )
      }`,
      verdict: matched.verdict,
    },
    {
      id: "fig2-later-layers",
      paper: "Fig. 2: the excess of feature directions over random ones is largest in later " +
        "layers.",
      result: `differences/isotropic ratio, deeper half of the layers minus shallower half: ${
        range(trends)
      } over ${boots.length} seed(s); 95 % interval over seeds ${
        formatInterval(oneSampleInterval(trends.map((t) => t.value)))
      }`,
      verdict: judgeDepthTrend(boots),
    },
  ];
}

/** The arguments of one `NotebookResults.metric` call. */
export type MetricArgs = Parameters<NotebookResults["metric"]>;

/** Notebook 01's metrics: per layer, the seeds' mean of each ratio and of the isotropic mean. */
export function directionalMetrics(boots: DirectionalBootstrap[]): MetricArgs[] {
  const avg = (f: (b: DirectionalBootstrap) => number) =>
    boots.reduce((s, b) => s + f(b), 0) / boots.length;
  return boots[0].layers.flatMap(({ layer }, i): MetricArgs[] => [
    ...(Object.keys(RATIOS) as RatioName[]).map((r): MetricArgs => [
      `layer${layer}_${r}`,
      avg((b) => b.layers[i].ratios[r].value),
      {
        description: `layer ${layer}: ratio of mean |∇L·u|, ${RATIOS[r].join(" / ")} ` +
          `(mean over seeds)`,
        abs: 0.02,
        rel: 0.05,
      },
    ]),
    [
      `layer${layer}_isotropic_mean`,
      avg((b) => b.layers[i].mean.isotropic.value),
      {
        description: `layer ${layer}: mean |∇L·u| along isotropic directions (nats per unit)`,
        abs: 1e-6,
        rel: 0.05,
      },
    ],
  ]);
}
