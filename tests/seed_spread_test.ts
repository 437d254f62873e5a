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

Deno.test("compareSeeds: Welch's interval unpaired, the paired interval paired, ties", () => {
  // Unpaired [1, 2, 3] vs [7, 8, 9]: difference −6, Welch interval well below 0.
  assert.equal(compareSeeds([1, 2, 3], [7, 8, 9], { claim: "lower" }), "holds");
  assert.equal(compareSeeds([1, 2, 3], [7, 8, 9], { claim: "higher" }), "contradicts");
  // Overlapping seeds: the interval spans 0.
  assert.equal(compareSeeds([1, 3.5, 2], [3, 4, 1], { claim: "lower" }), "leans");
  assert.equal(compareSeeds([3, 4.6, 4], [3.5, 4, 3.6], { claim: "lower" }), "against");
  assert.equal(compareSeeds([0, 0], [0, 0], { claim: "lower" }), "tie");
  // Paired: the ranges overlap, but every seed's difference is about −1.
  assert.equal(compareSeeds([1, 10, 5], [2, 11, 6.1], { claim: "lower", paired: true }), "holds");
  assert.equal(compareSeeds([1, 10, 5], [2, 11, 6.1], { claim: "lower" }), "leans");
  // Two seeds that agree in sign can still span 0 (t_{0.975,1} = 12.7).
  assert.equal(compareSeeds([1, 10], [2, 12], { claim: "lower", paired: true }), "leans");
  assert.throws(() => compareSeeds([1], [1, 2], { claim: "lower", paired: true }), /1 candidate/);
});

Deno.test("verdictOf: every part holds, one contradicts, or inconclusive", () => {
  assert.equal(verdictOf(["holds", "holds"]), "reproduced");
  assert.equal(verdictOf(["holds", "contradicts"]), "not reproduced");
  assert.equal(verdictOf(["holds", "leans"]), "inconclusive");
  assert.equal(verdictOf(["contradicts", "against"]), "not reproduced");
  assert.equal(verdictOf(["leans", "leans"]), "inconclusive");
  assert.equal(verdictOf(["tie", "tie"]), "inconclusive");
  assert.equal(verdictOf([]), "inconclusive");
  assert.match(describeOutcome("holds"), /95 % interval on the claimed side/);
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

Deno.test("judgeOutcomes: the first comparison is primary and decides; rowOf finds or names", () => {
  const j = judgeOutcomes([["a > b", "holds"], ["a > c", "contradicts"]]);
  assert.equal(j.verdict, "reproduced");
  assert.equal(
    j.why,
    "a > b (primary): 95 % interval on the claimed side; a > c: 95 % interval on the other side",
  );
  const rows = [{ architecture: "topk" as const, x: 1 }, { architecture: "gsae" as const, x: 2 }];
  assert.equal(rowOf(rows, "gsae", "test").x, 2);
  assert.throws(() => rowOf(rows, "e2e_topk", "someClaims"), /someClaims: no e2e_topk runs/);
});
