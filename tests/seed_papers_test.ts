// The seed papers' comparisons (lib/experiments/03_pareto/seed_papers.ts) on synthetic points.
import assert from "node:assert/strict";
import { seedPaperComparisons } from "../lib/experiments/03_pareto/seed_papers.ts";
import { point } from "./pareto_fixtures.ts";

Deno.test("seed papers: Gated against the same seed's ReLU-L1 frontier, and γ", () => {
  const further = [];
  for (const seed of [0, 1, 2]) {
    // ReLU-L1: FVU 0.4 at L0 10, 0.1 at L0 40 (log-log line); Gated: FVU 0.15 at L0 20, where
    // the ReLU-L1 line gives 0.2, so 25 % better; γ 0.8 against 0.98.
    further.push(
      point({ architecture: "relu_l1", k: null, seed, l0: 10, fvu: 0.4, shrinkage: 0.8 }),
    );
    further.push(
      point({ architecture: "relu_l1", k: null, seed, l0: 40, fvu: 0.1, shrinkage: 0.8 }),
    );
    further.push(
      point({ architecture: "gated", k: null, seed, l0: 20, fvu: 0.15, shrinkage: 0.98 }),
    );
  }
  const [fidelity, gamma] = seedPaperComparisons(further, []);
  assert.equal(fidelity.id, "gated-fidelity-at-equal-l0");
  assert.deepEqual(fidelity.seeds, [0, 1, 2]);
  for (const v of fidelity.candidate) assert.ok(Math.abs(v - 0.75) < 1e-9, `${v}`);
  assert.deepEqual(fidelity.reference, [1, 1, 1]);
  assert.equal(gamma.claim, "higher");
  assert.deepEqual(gamma.candidate, [0.98, 0.98, 0.98]);
  assert.deepEqual(gamma.reference, [0.8, 0.8, 0.8]);
});

Deno.test("seed papers: Mutual Choice with and without aux_zipf against TopK, paired by seed", () => {
  const mainK = [0, 1].map((seed) =>
    point({ architecture: "topk", k: 8, seed, deadFraction: 0.3 })
  );
  const further = [0, 1].flatMap((seed) => [
    point({ architecture: "mutual_choice", k: 8, seed, deadFraction: 0.01 * seed }),
    {
      ...point({ architecture: "mutual_choice", k: 8, seed, deadFraction: 0.5 }),
      label: `mutual_choice-k8-s${seed}-aux_zipf_coefficient=0`,
    },
    point({ architecture: "gradient_mutual_choice", k: 8, seed, deltaCe: 0.05 }),
  ]);
  const byId = new Map(seedPaperComparisons(further, mainK).map((c) => [c.id, c]));
  assert.deepEqual(byId.get("mutual_choice-dead")!.candidate, [0, 0.01]);
  assert.deepEqual(byId.get("mutual_choice-dead")!.reference, [0.3, 0.3]);
  assert.equal(byId.get("mutual_choice-dead")!.kind, "claim");
  assert.deepEqual(byId.get("mutual_choice-no-zipf-dead")!.candidate, [0.5, 0.5]);
  assert.equal(byId.get("mutual_choice-no-zipf-dead")!.kind, "sub-comparison");
  const g = byId.get("gradient-mutual-choice-delta-ce")!;
  assert.deepEqual(g.candidate, [0.05, 0.05]);
  assert.deepEqual(g.reference, [1 / 8, 1 / 8]);
  assert.ok(!byId.has("feature_choice-dead"), "no data, no comparison");
});
