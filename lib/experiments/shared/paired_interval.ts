/**
 * The one statistical rule every comparison of the notebooks uses: a 95 % Student-t interval of a
 * difference over seeds. SAEs of one seed share initial weights and batch order, so two
 * architectures' values are paired by seed and the interval is the paired difference's; values
 * that are not paired (different seed sets) get Welch's interval. A claim is judged by where its
 * interval lies (`seed_spread.ts`, README "How claims are judged").
 *
 * @module
 */
import { mean, std } from "../../metrics/mod.ts";

/** A difference's mean over seeds and its 95 % interval. */
export interface Interval {
  /** Seeds (pairs) behind it. */
  n: number;
  /** Mean difference. */
  mean: number;
  /** Lower end of the 95 % interval (−∞ without an interval: n < 2). */
  low: number;
  /** Upper end of the 95 % interval (+∞ without an interval). */
  high: number;
}

// Two-sided 95 % quantiles t_{0.975, df} (standard tables) for df 1–20, 25, 30, 40, 60, 120.
const T975: ReadonlyArray<[number, number]> = [
  [1, 12.706],
  [2, 4.303],
  [3, 3.182],
  [4, 2.776],
  [5, 2.571],
  [6, 2.447],
  [7, 2.365],
  [8, 2.306],
  [9, 2.262],
  [10, 2.228],
  [11, 2.201],
  [12, 2.179],
  [13, 2.16],
  [14, 2.145],
  [15, 2.131],
  [16, 2.12],
  [17, 2.11],
  [18, 2.101],
  [19, 2.093],
  [20, 2.086],
  [25, 2.06],
  [30, 2.042],
  [40, 2.021],
  [60, 2.0],
  [120, 1.98],
];

/**
 * t_{0.975, df}: the table's value, linear in 1/df between its entries (as tables advise),
 * 1.960 as df → ∞. Fractional df (Welch) interpolate too.
 */
export function tQuantile975(df: number): number {
  if (!(df >= 1)) throw new RangeError(`t quantile: df must be ≥ 1, got ${df}`);
  const exact = T975.find(([d]) => d === df);
  if (exact) return exact[1];
  const points: [number, number][] = [...T975, [Infinity, 1.96]];
  const i = points.findIndex(([d]) => d > df);
  const [[d0, t0], [d1, t1]] = [points[i - 1], points[i]];
  const w = (1 / d0 - 1 / df) / (1 / d0 - (d1 === Infinity ? 0 : 1 / d1));
  return t0 + w * (t1 - t0);
}

/** The 95 % interval of the mean of `values` (one per seed). */
export function oneSampleInterval(values: readonly number[]): Interval {
  const n = values.length;
  if (n === 0) throw new Error("interval: no values");
  const m = mean([...values]);
  if (n < 2) return { n, mean: m, low: -Infinity, high: Infinity };
  const half = tQuantile975(n - 1) * std([...values], { ddof: 1 }) / Math.sqrt(n);
  return { n, mean: m, low: m - half, high: m + half };
}

/** The 95 % interval of candidate − reference, paired by position (seed). */
export function pairedInterval(
  candidate: readonly number[],
  reference: readonly number[],
): Interval {
  if (candidate.length !== reference.length) {
    throw new Error(
      `paired interval: ${candidate.length} candidate values, ${reference.length} reference`,
    );
  }
  return oneSampleInterval(candidate.map((c, i) => c - reference[i]));
}

/** Welch's 95 % interval of mean(candidate) − mean(reference) for unpaired values. */
export function welchInterval(
  candidate: readonly number[],
  reference: readonly number[],
): Interval {
  const [na, nb] = [candidate.length, reference.length];
  if (na === 0 || nb === 0) throw new Error("interval: no values");
  const m = mean([...candidate]) - mean([...reference]);
  if (na < 2 || nb < 2) return { n: Math.min(na, nb), mean: m, low: -Infinity, high: Infinity };
  const [va, vb] = [
    std([...candidate], { ddof: 1 }) ** 2 / na,
    std([...reference], { ddof: 1 }) ** 2 / nb,
  ];
  const se = Math.sqrt(va + vb);
  if (se === 0) return { n: Math.min(na, nb), mean: m, low: m, high: m };
  const df = (va + vb) ** 2 / (va ** 2 / (na - 1) + vb ** 2 / (nb - 1));
  const half = tQuantile975(df) * se;
  return { n: Math.min(na, nb), mean: m, low: m - half, high: m + half };
}

/** An interval in words: `mean (95 % CI low to high, n = N)`, `digits` significant digits. */
export function formatInterval(i: Interval, digits = 3): string {
  const f = (v: number) => Number.isFinite(v) ? Number(v.toPrecision(digits)).toString() : "–";
  if (!Number.isFinite(i.low)) return `${f(i.mean)} (no interval: n = ${i.n})`;
  return `${f(i.mean)} (95 % CI ${f(i.low)} to ${f(i.high)}, n = ${i.n})`;
}
