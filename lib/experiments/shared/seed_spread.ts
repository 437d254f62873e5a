/**
 * Spread over seeds and the verdicts computed from it, shared by every notebook.
 *
 * **How claims are judged** (README, the one rule): a comparison is judged by the 95 % Student-t
 * interval of its difference over seeds (`paired_interval.ts`): paired by seed when both sides
 * come from the same seeds (SAEs of one seed share initial weights and batch order), Welch's
 * interval otherwise, or a one-sample interval against a threshold. Its outcome:
 * - `holds`: the interval lies entirely on the claimed side;
 * - `contradicts`: it lies entirely on the other side (it excludes the claim);
 * - `leans` / `against`: it spans zero, the mean on the claimed / the other side;
 * - `tie`: the mean difference is exactly zero (e.g. no dead latents in either).
 *
 * A claim's verdict comes from its primary comparison (or, for a claim that is a conjunction,
 * "at every layer", from each part): **reproduced** when every part holds, **not reproduced**
 * when a part contradicts, **inconclusive** otherwise. Sub-comparisons and controls are reported
 * as their own rows (`ClaimRecord.kind`) and never enter a claim's verdict or the tally.
 *
 * Also here: how runs of the compared architectures are grouped (how they are drawn is in
 * `arch_style.ts`).
 *
 * @module
 */
import { mean, std } from "../../metrics/mod.ts";
import { COMPARED, type ComparedArchitecture } from "../zoo/compared.ts";
import type { Verdict } from "./results.ts";
import { type Interval, pairedInterval, welchInterval } from "./paired_interval.ts";

/** Per-seed values of one quantity and their summary. */
export interface Spread {
  /** The values, one per seed. */
  values: number[];
  /** Their mean. */
  mean: number;
  /** Their sample standard deviation (0 for one seed). */
  std: number;
  /** Their minimum. */
  min: number;
  /** Their maximum. */
  max: number;
}

/** The spread of `values` (one per seed); an empty list is an error. */
export function spread(values: number[]): Spread {
  if (values.length === 0) throw new Error("spread: no values");
  return {
    values: [...values],
    mean: mean(values),
    std: values.length > 1 ? std(values, { ddof: 1 }) : 0,
    min: Math.min(...values),
    max: Math.max(...values),
  };
}

/** `mean ± std` of a spread after multiplying by `scale`, with `digits` decimals. */
export function formatSpread(
  s: Spread,
  options: { scale?: number; digits?: number; unit?: string } = {},
): string {
  const scale = options.scale ?? 1, digits = options.digits ?? 3;
  const body = s.values.length > 1
    ? `${(s.mean * scale).toFixed(digits)} ± ${(s.std * scale).toFixed(digits)}`
    : (s.mean * scale).toFixed(digits);
  return options.unit ? `${body} ${options.unit}` : body;
}

/** How one comparison came out (see the module doc). */
export type Outcome = "holds" | "leans" | "against" | "contradicts" | "tie";

/** The outcome of an interval of `candidate − reference` for the claim that it is lower/higher. */
export function outcomeOf(interval: Interval, claim: "lower" | "higher"): Outcome {
  // Flip signs so that the claim always reads "the difference is negative".
  const sign = claim === "lower" ? 1 : -1;
  const [m, lo, hi] = [
    sign * interval.mean,
    ...[sign * interval.low, sign * interval.high].sort(
      (a, b) => a - b,
    ),
  ];
  if (m === 0) return "tie";
  if (hi < 0) return "holds";
  if (lo > 0) return "contradicts";
  return m < 0 ? "leans" : "against";
}

/**
 * Whether `a` is `lower` (or `higher`) than `b` over seeds, by the 95 % interval of a − b:
 * `paired` compares seed i with seed i (the same seeds on both sides), otherwise Welch's interval.
 */
export function compareSeeds(
  a: number[],
  b: number[],
  options: { claim: "lower" | "higher"; paired?: boolean },
): Outcome {
  return compareWithInterval(a, b, options).outcome;
}

/** {@link compareSeeds} with the interval it judged. */
export function compareWithInterval(
  a: readonly number[],
  b: readonly number[],
  options: { claim: "lower" | "higher"; paired?: boolean },
): { outcome: Outcome; interval: Interval } {
  const interval = options.paired ? pairedInterval(a, b) : welchInterval(a, b);
  return { outcome: outcomeOf(interval, options.claim), interval };
}

/**
 * A claim's verdict from the outcomes of its parts (its primary comparison, or every part of a
 * conjunction): reproduced when all hold, not reproduced when one contradicts, else inconclusive.
 */
export function verdictOf(outcomes: Outcome[]): Verdict {
  if (outcomes.length === 0) return "inconclusive";
  if (outcomes.every((o) => o === "holds")) return "reproduced";
  if (outcomes.some((o) => o === "contradicts")) return "not reproduced";
  return "inconclusive";
}

/** A comparison's outcome in words, for a claim's result text. */
export function describeOutcome(outcome: Outcome): string {
  return {
    holds: "95 % interval on the claimed side",
    leans: "the claimed way on average, but the 95 % interval spans zero",
    against: "the other way on average, but the 95 % interval spans zero",
    contradicts: "95 % interval on the other side",
    tie: "no difference",
  }[outcome];
}

/**
 * A claim's verdict and the reason for it from labelled comparisons: the first is the primary
 * comparison and decides the verdict; the others are described beside it. The reason reads
 * "label: how it came out; …".
 */
export function judgeOutcomes(parts: [string, Outcome][]): { verdict: Verdict; why: string } {
  return {
    verdict: verdictOf(parts.slice(0, 1).map(([, o]) => o)),
    why: parts.map(([what, o], i) => `${what}${i === 0 ? " (primary)" : ""}: ${describeOutcome(o)}`)
      .join("; "),
  };
}

/** The row of `architecture` in a claims table; a missing one is an error naming `who`. */
export function rowOf<R extends { architecture: ComparedArchitecture }>(
  rows: R[],
  architecture: ComparedArchitecture,
  who: string,
): R {
  const r = rows.find((x) => x.architecture === architecture);
  if (!r) throw new Error(`${who}: no ${architecture} runs`);
  return r;
}

/** Runs grouped by architecture, in {@link COMPARED} order (then any others). */
export function byArchitecture<R extends { architecture: ComparedArchitecture }>(
  runs: R[],
): [ComparedArchitecture, R[]][] {
  const order = [...COMPARED, ...runs.map((r) => r.architecture)];
  const archs = [...new Set(order)].filter((a) => runs.some((r) => r.architecture === a));
  return archs.map((a) => [a, runs.filter((r) => r.architecture === a)]);
}
