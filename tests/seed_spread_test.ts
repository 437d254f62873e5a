import assert from "node:assert/strict";
import {
  byArchitecture,
  compareSeeds,
  describeOutcome,
  formatSpread,
  judgeOutcomes,
  rowOf,
  spread,
  verdictOf,
} from "../lib/experiments/shared/seed_spread.ts";

Deno.test("spread: mean, sample std, range; one seed has std 0; no seeds is an error", () => {
  const s = spread([1, 2, 3]);
  assert.deepEqual([s.mean, s.std, s.min, s.max], [2, 1, 1, 3]);
  assert.equal(spread([5]).std, 0);
  assert.throws(() => spread([]), /no values/);
});

Deno.test("formatSpread scales, rounds and drops ± for one seed", () => {
  assert.equal(
    formatSpread(spread([0.01, 0.03]), { scale: 100, digits: 1, unit: "%" }),
    "2.0 ± 1.4 %",
  );
  assert.equal(formatSpread(spread([0.5])), "0.500");
});

Deno.test("compareSeeds: independent ranges, paired signs, ties", () => {
  assert.equal(compareSeeds([1, 2], [3, 4], { claim: "lower" }), "holds");
  assert.equal(compareSeeds([1, 3.5], [3, 4], { claim: "lower" }), "leans");
  assert.equal(compareSeeds([3, 4.6], [3.5, 4], { claim: "lower" }), "against");
  assert.equal(compareSeeds([5, 6], [3, 4], { claim: "lower" }), "contradicts");
  assert.equal(compareSeeds([5, 6], [3, 4], { claim: "higher" }), "holds");
  assert.equal(compareSeeds([0, 0], [0, 0], { claim: "lower" }), "tie");
  // Paired: ranges overlap but every seed's difference has the claimed sign.
  assert.equal(compareSeeds([1, 10], [2, 11], { claim: "lower", paired: true }), "holds");
  assert.equal(compareSeeds([1, 10], [2, 11], { claim: "lower" }), "leans");
  assert.throws(() => compareSeeds([1], [1, 2], { claim: "lower", paired: true }), /length/);
});

Deno.test("verdictOf combines outcomes", () => {
  assert.equal(verdictOf(["holds", "holds"]), "reproduced");
  assert.equal(verdictOf(["holds", "contradicts"]), "partly reproduced");
  assert.equal(verdictOf(["holds", "leans"]), "partly reproduced");
  assert.equal(verdictOf(["contradicts", "against"]), "not reproduced");
  assert.equal(verdictOf(["contradicts", "leans"]), "inconclusive");
  assert.equal(verdictOf(["leans", "leans"]), "inconclusive");
  assert.equal(verdictOf(["tie", "tie"]), "inconclusive");
  assert.equal(verdictOf([]), "inconclusive");
  assert.match(describeOutcome("holds"), /every seed/);
});

Deno.test("byArchitecture groups runs in the compared order", () => {
  const runs = [
    { architecture: "e2e_topk" as const, seed: 0 },
    { architecture: "topk" as const, seed: 0 },
    { architecture: "topk" as const, seed: 1 },
  ];
  const groups = byArchitecture(runs);
  assert.deepEqual(groups.map(([a]) => a), ["topk", "e2e_topk"]);
  assert.deepEqual(groups[0][1].map((r) => r.seed), [0, 1]);
});

Deno.test("judgeOutcomes labels each comparison and takes the verdict of all; rowOf finds or names", () => {
  const j = judgeOutcomes([["a > b", "holds"], ["a > c", "leans"]]);
  assert.equal(j.verdict, "partly reproduced");
  assert.equal(j.why, "a > b: every seed agrees; a > c: on average only (seeds overlap)");
  const rows = [{ architecture: "topk" as const, x: 1 }, { architecture: "gsae" as const, x: 2 }];
  assert.equal(rowOf(rows, "gsae", "test").x, 2);
  assert.throws(() => rowOf(rows, "e2e_topk", "someClaims"), /someClaims: no e2e_topk runs/);
});
