// The one statistical rule (lib/experiments/shared/paired_interval.ts, seed_spread.ts).
import assert from "node:assert/strict";
import {
  formatInterval,
  oneSampleInterval,
  pairedInterval,
  tQuantile975,
  welchInterval,
} from "../lib/experiments/shared/paired_interval.ts";
import {
  compareWithInterval,
  judgeOutcomes,
  outcomeOf,
  verdictOf,
} from "../lib/experiments/shared/seed_spread.ts";

const close = (a: number, b: number, tol = 1e-3) =>
  assert.ok(Math.abs(a - b) <= tol, `${a} vs ${b}`);

Deno.test("tQuantile975: table values, 1/df interpolation, the normal limit", () => {
  close(tQuantile975(2), 4.303);
  close(tQuantile975(4), 2.776);
  close(tQuantile975(22), 2.074); // table: 2.074
  close(tQuantile975(1e9), 1.96);
  assert.throws(() => tQuantile975(0.5), /df must be ≥ 1/);
});

Deno.test("intervals: paired, one-sample and Welch on hand-computed values", () => {
  // Differences 1, 2, 3: mean 2, sd 1, half-width 4.303/√3 = 2.484.
  const p = pairedInterval([2, 4, 6], [1, 2, 3]);
  close(p.mean, 2);
  close(p.low, 2 - 2.4844);
  close(p.high, 2 + 2.4844);
  assert.equal(p.n, 3);
  const one = oneSampleInterval([5]);
  assert.equal(one.low, -Infinity, "one seed gives no interval");
  assert.match(formatInterval(one), /no interval: n = 1/);
  // Welch: a = [1, 2, 3] (var 1), b = [4, 6, 8] (var 4): se = √(1/3 + 4/3) = 1.291, df = 2.94,
  // t ≈ 3.228 (1/df between the table's 2 and 3), half-width 4.167.
  const w = welchInterval([1, 2, 3], [4, 6, 8]);
  close(w.mean, -4);
  close(w.low, -8.167, 0.01);
  close(w.high, 0.167, 0.01);
  assert.throws(() => pairedInterval([1, 2], [1]), /2 candidate values, 1 reference/);
});

Deno.test("the rule: reproduced only when the primary interval is on the claimed side", () => {
  const lower = compareWithInterval([1, 1.1, 0.9], [2, 2.1, 1.9], { claim: "lower", paired: true });
  assert.equal(lower.outcome, "holds");
  const spans = compareWithInterval([1, 3, 0.5], [2, 2, 2], { claim: "lower", paired: true });
  assert.equal(spans.outcome, "leans");
  assert.equal(outcomeOf({ n: 3, mean: 1, low: 0.5, high: 1.5 }, "lower"), "contradicts");
  assert.equal(outcomeOf({ n: 3, mean: 1, low: 0.5, high: 1.5 }, "higher"), "holds");
  assert.equal(outcomeOf({ n: 3, mean: 0, low: -1, high: 1 }, "higher"), "tie");
  assert.equal(verdictOf(["holds"]), "reproduced");
  assert.equal(verdictOf(["contradicts"]), "not reproduced");
  assert.equal(verdictOf(["leans"]), "inconclusive");
  assert.equal(verdictOf(["holds", "leans"]), "inconclusive", "a conjunction needs every part");
  // Only the first (primary) comparison decides; the others are described.
  const j = judgeOutcomes([["g-SAE < TopK", "holds"], ["g-SAE < e2e", "contradicts"]]);
  assert.equal(j.verdict, "reproduced");
  assert.match(j.why, /g-SAE < TopK \(primary\): 95 % interval on the claimed side/);
});
