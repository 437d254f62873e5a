/** Synthetic density runs shared by the density tests. */
import type { ComparedArchitecture } from "../lib/experiments/zoo/compared.ts";
import type { DensityRun } from "../lib/experiments/04_density/density.ts";

/**
 * A run with `dSae` latents: `dead` latents never fire, the rest at the given frequencies;
 * g-SAE's plain-selection frequencies are `plain` (default: the same).
 */
export function run(
  architecture: ComparedArchitecture,
  seed: number,
  frequencies: number[],
  deadAtEnd: number,
  plain: number[] = frequencies,
): DensityRun {
  return {
    architecture,
    seed,
    label: `${architecture}-s${seed}`,
    dSae: frequencies.length,
    deadWindowTokens: 1000,
    tokens: [500, 1000, 1500, 2000],
    dead: [0, deadAtEnd + 2, deadAtEnd + 1, deadAtEnd],
    deadAtEnd,
    frequencies,
    plainFrequencies: architecture === "gsae" ? plain : frequencies,
    usesGradient: architecture === "gsae",
    evalTokens: 4000,
    l0: 2,
    plainL0: 2,
  };
}

/** Ten latents: `low` at 0.5 %, `mid` at 5 %, `high` at 20 %, the rest never fire. */
export function freqs(low: number, mid: number, high: number): number[] {
  const out = [
    ...new Array(low).fill(0.005),
    ...new Array(mid).fill(0.05),
    ...new Array(high).fill(0.2),
  ];
  return [...new Array(10 - out.length).fill(0), ...out];
}

// g-SAE: fewer dead, lower median, fewer above 1 %, more above 10 % (the paper's pattern), under
// both selections (plain: median 2.75 %, 5 above 1 %, 2 above 10 %).
export const RUNS: DensityRun[] = [0, 1].flatMap((s) => [
  run("topk", s, freqs(3, 5, 1), 2 + s),
  run("gsae", s, freqs(6, 1, 3), 0, freqs(5, 3, 2)),
  run("e2e_topk", s, freqs(1, 8, 0), 4),
]);
