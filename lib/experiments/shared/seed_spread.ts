/**
 * Spread over seeds and verdicts computed from it, shared by the notebooks that compare
 * architectures (density, splitting).
 *
 * A claim such as "g-SAE's median latent frequency is lower than TopK's" is judged per
 * comparison from the per-seed values:
 * - `holds`: every seed agrees: for independent runs the two seed ranges do not overlap
 *   (max a < min b), for paired values every per-seed difference has the claimed sign;
 * - `leans`: the means differ in the claimed direction but the seeds disagree;
 * - `against`: the means differ the other way but the seeds disagree;
 * - `contradicts`: every seed agrees, the other way;
 * - `tie`: the means are equal (e.g. no dead latents in either).
 *
 * A claim made of several comparisons is reproduced when all hold, not reproduced when at least
 * one contradicts and none points the claimed way, partly reproduced when some hold and some do
 * not, and inconclusive otherwise (the seeds disagree, or ties).
 *
 * Also here: how runs of the compared architectures are grouped (how they are drawn is in
 * `arch_style.ts`).
 *
 * @module
 */
import { mean, std } from "../../metrics/mod.ts";
import { COMPARED, type ComparedArchitecture } from "../zoo/compared.ts";
import type { Verdict } from "./results.ts";

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

/**
 * Whether `a` is `lower` (or `higher`) than `b` over seeds. `paired` compares seed i with seed
 * i (same SAE, two quantities); otherwise the runs are independent and their ranges compare.
 */
export function compareSeeds(
  a: number[],
  b: number[],
  options: { claim: "lower" | "higher"; paired?: boolean },
): Outcome {
  // Flip signs so that the claim always reads "a < b".
  const sign = options.claim === "lower" ? 1 : -1;
  const x = a.map((v) => sign * v), y = b.map((v) => sign * v);
  const d = mean(y) - mean(x);
  if (d === 0) return "tie";
  let agree: boolean, disagree: boolean;
  if (options.paired) {
    if (a.length !== b.length) throw new Error("compareSeeds: paired values differ in length");
    agree = x.every((v, i) => v < y[i]);
    disagree = x.every((v, i) => v > y[i]);
  } else {
    agree = Math.max(...x) < Math.min(...y);
    disagree = Math.min(...x) > Math.max(...y);
  }
  if (agree) return "holds";
  if (disagree) return "contradicts";
  return d > 0 ? "leans" : "against";
}

/** A claim's verdict from its comparisons' outcomes (see the module doc). */
export function verdictOf(outcomes: Outcome[]): Verdict {
  if (outcomes.length === 0) return "inconclusive";
  if (outcomes.every((o) => o === "holds")) return "reproduced";
  const forClaim = outcomes.some((o) => o === "holds" || o === "leans");
  if (outcomes.some((o) => o === "contradicts") && !forClaim) return "not reproduced";
  if (outcomes.some((o) => o === "holds")) return "partly reproduced";
  return "inconclusive";
}

/** A comparison's outcome in words, for a claim's result text. */
export function describeOutcome(outcome: Outcome): string {
  return {
    holds: "every seed agrees",
    leans: "on average only (seeds overlap)",
    against: "the opposite on average (seeds overlap)",
    contradicts: "the opposite for every seed",
    tie: "no difference",
  }[outcome];
}

/**
 * A claim's verdict and the reason for it from labelled comparisons: the reason reads
 * "label: how the seeds fell; …".
 */
export function judgeOutcomes(parts: [string, Outcome][]): { verdict: Verdict; why: string } {
  return {
    verdict: verdictOf(parts.map(([, o]) => o)),
    why: parts.map(([what, o]) => `${what}: ${describeOutcome(o)}`).join("; "),
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
