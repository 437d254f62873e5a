/** Synthetic splitting runs shared by the splitting tests. */
import type { ComparedArchitecture } from "../lib/experiments/zoo/compared.ts";
import type { SplittingRun } from "../lib/experiments/05_splitting/splitting.ts";

/**
 * 100 latents with max cosine i/100; latents 0–9 never fire (dead, lowest cosines; their live
 * max cosine is null, the others' is the same). The all-tokens derivative is
 * base·(1 + slope·cosine); the random level is 0.3.
 */
export function run(
  architecture: ComparedArchitecture,
  seed: number,
  options: { slope: number; shift?: number },
): SplittingRun {
  const n = 100, shift = options.shift ?? 0;
  const maxCosine = Array.from({ length: n }, (_, i) => i / n + shift);
  const derivAll = maxCosine.map((c) => 1e-3 * (1 + options.slope * c + 0.01 * seed));
  return {
    architecture,
    seed,
    label: `${architecture}-s${seed}`,
    maxCosine,
    liveMaxCosine: maxCosine.map((c, i) => (i < 10 ? null : c)),
    live: 90,
    randomLevel: 0.3,
    firings: maxCosine.map((_, i) => (i < 10 ? 0 : 5)),
    derivAll,
    derivFiring: derivAll.map((d, i) => (i < 10 ? null : 2 * d)),
  };
}

// The paper's pattern: g-SAE and e2e rise steeply with max cosine, TopK barely; g-SAE's
// cosines are the highest.
export const RUNS: SplittingRun[] = [0, 1].flatMap((s) => [
  run("topk", s, { slope: 0.1 }),
  run("gsae", s, { slope: 1, shift: 0.05 }),
  run("e2e_topk", s, { slope: 2 }),
]);
