import assert from "node:assert/strict";
import { Rng } from "../lib/tensor/random.ts";
import type {
  DirectionalResult,
  DirectionKind,
} from "../lib/experiments/01_directional/directional.ts";
import {
  bootstrapDirectional,
  directionalClaims,
  directionalMetrics,
  directionalTable,
  judgeDepthTrend,
  judgeRatio,
  laterLayersFrom,
} from "../lib/experiments/01_directional/directional_summary.ts";

/**
 * A synthetic measurement: per layer, |g·u| of the isotropic kind is 1 ± `noise` (uniform, per
 * token) and the other kinds are that times their given ratio, so every ratio of means is exact.
 */
function fake(
  seed: number,
  ratios: { difference: number; matched: number }[],
  options: { sequences?: number; tokens?: number; noise?: number } = {},
): DirectionalResult {
  const rng = new Rng(seed), seqs = options.sequences ?? 20, tokens = options.tokens ?? 10;
  const noise = options.noise ?? 0.5;
  const sequenceOf = Array.from({ length: seqs * tokens }, (_, t) => Math.floor(t / tokens));
  return {
    hookKind: "resid_post",
    sequences: seqs,
    offsets: Array.from({ length: seqs }, (_, i) => i * 100),
    seqLen: tokens + 1,
    seed,
    seconds: 0,
    layers: ratios.map((r, layer) => {
      const iso = sequenceOf.map(() => 1 + noise * (2 * rng.uniform() - 1));
      const values: Record<DirectionKind, number[]> = {
        activation_difference: iso.map((v) => v * r.difference),
        isotropic: iso,
        distribution_matched: iso.map((v) => v * r.matched),
      };
      const stat = { mean: 0, std: 0, sem: 0, n: iso.length, ratioToIsotropic: 1 };
      return {
        layer,
        hook: `blocks.${layer}.hook_resid_post`,
        stats: {
          activation_difference: stat,
          isotropic: stat,
          distribution_matched: stat,
        },
        values,
        gradNorms: iso,
        sequenceOf,
        seconds: 0,
      };
    }),
  };
}

const close = (a: number, b: number, tol = 1e-9) => assert.ok(Math.abs(a - b) < tol, `${a} ≠ ${b}`);

Deno.test("bootstrapDirectional: exact ratios, intervals bracket the estimates, depth trend", () => {
  const r = fake(1, [
    { difference: 2, matched: 1 },
    { difference: 1.5, matched: 1.2 },
    { difference: 3, matched: 1 },
    { difference: 4, matched: 1 },
  ]);
  const b = bootstrapDirectional(r, { resamples: 200, seed: 3 });
  assert.equal(b.seed, 1);
  assert.equal(b.layers.length, 4);
  close(b.layers[1].ratios.differenceToIsotropic.value, 1.5);
  close(b.layers[1].ratios.differenceToMatched.value, 1.25);
  close(b.layers[1].ratios.matchedToIsotropic.value, 1.2);
  // Ratios are paired (same resampled tokens), so exact ratios have zero-width intervals.
  close(b.layers[1].ratios.differenceToIsotropic.low, 1.5);
  close(b.layers[1].ratios.differenceToIsotropic.high, 1.5);
  for (const l of b.layers) {
    const m = l.mean.isotropic;
    assert.ok(m.low <= m.value && m.value <= m.high && m.high - m.low > 0);
  }
  // Deeper half (3, 4) minus shallower half (2, 1.5).
  close(b.depthTrend.value, 3.5 - 1.75);
  assert.deepEqual(bootstrapDirectional(r, { resamples: 200, seed: 3 }), b, "seeded");
});

Deno.test("bootstrapDirectional: the mean's interval is wide for few noisy sequences", () => {
  const few = bootstrapDirectional(fake(2, [{ difference: 1, matched: 1 }], { sequences: 3 }), {
    resamples: 300,
  });
  const many = bootstrapDirectional(fake(2, [{ difference: 1, matched: 1 }], { sequences: 60 }), {
    resamples: 300,
  });
  const width = (b: typeof few) => b.layers[0].mean.isotropic.high - b.layers[0].mean.isotropic.low;
  assert.ok(width(few) > width(many));
  assert.ok(Number.isNaN(few.depthTrend.value), "one layer has no depth trend");
});

/** One seed whose difference/isotropic ratio has exactly the given per-layer interval. */
function withRatio(seed: number, ratios: [number, number][]) {
  const b = bootstrapDirectional(fake(seed, ratios.map(() => ({ difference: 1, matched: 1 }))), {
    resamples: 10,
  });
  b.layers.forEach((l, i) => {
    const [low, high] = ratios[i];
    l.ratios.differenceToIsotropic = { value: (low + high) / 2, low, high };
  });
  return b;
}

Deno.test("judgeRatio: the interval over seeds at every later layer decides", () => {
  const judge = (...seeds: number[][]) =>
    judgeRatio(seeds.map((r, s) => withRatio(s, r.map((v) => [v, v]))), "differenceToIsotropic", {
      fromLayer: 1,
    });
  const all = judge([0.5, 1.3, 1.2], [0.9, 1.35, 1.25], [0.7, 1.25, 1.15]);
  assert.equal(all.verdict, "reproduced", "layer 0 is not judged");
  assert.deepEqual([all.judged, all.holding], [[1, 2], [1, 2]]);
  // Layer 2 spans 1 over seeds: the conjunction is not shown.
  const some = judge([1, 1.3, 1.1], [1, 1.35, 0.9], [1, 1.25, 1.05]);
  assert.equal(some.verdict, "inconclusive");
  assert.deepEqual(some.holding, [1]);
  const none = judge([1, 0.8, 0.7], [1, 0.85, 0.75], [1, 0.82, 0.72]);
  assert.equal(none.verdict, "not reproduced");
  assert.deepEqual(none.ruledOut, [1, 2]);
  const mixed = judge([1, 1.3, 0.7], [1, 1.35, 0.75], [1, 1.25, 0.72]);
  assert.equal(mixed.verdict, "not reproduced", "one later layer below 1 rules the claim out");
  const twoSeeds = judge([1, 1.3, 1.3], [1, 1.2, 1.2]);
  assert.equal(twoSeeds.verdict, "inconclusive", "two seeds that differ: t(1) = 12.7");
});

Deno.test("judgeDepthTrend: the interval over seeds of the trend above 0, below 0, or neither", () => {
  const trend = (...t: number[]) =>
    t.map((v, s) => ({
      ...withRatio(s, [[1, 1], [1, 1]]),
      depthTrend: { value: v, low: v, high: v },
    }));
  assert.equal(judgeDepthTrend(trend(0.2, 0.15, 0.25)), "reproduced");
  assert.equal(judgeDepthTrend(trend(-0.2, -0.15, -0.25)), "not reproduced");
  assert.equal(judgeDepthTrend(trend(0.2, -0.1, 0.1)), "inconclusive");
});

Deno.test("laterLayersFrom: a quarter of the depth, as GPT-2 small's layer 3 of 12", () => {
  assert.deepEqual([12, 6, 4, 2].map(laterLayersFrom), [3, 2, 1, 1]);
});

Deno.test("directionalClaims, table and metrics from two seeds", () => {
  const ratios = [
    { difference: 3, matched: 1 },
    { difference: 2.5, matched: 2.5 },
    { difference: 2, matched: 1 },
    { difference: 1.5, matched: 1 },
  ];
  const boots = [1, 2].map((s) => bootstrapDirectional(fake(s, ratios), { resamples: 100 }));
  const claims = directionalClaims(boots, { nLayer: 4 });
  assert.deepEqual(claims.map((c) => c.id), [
    "fig2-difference-vs-isotropic",
    "fig2-difference-vs-matched",
    "fig2-later-layers",
  ]);
  // Identical seeds: a zero-width interval. Matched/isotropic is exactly 1 at layer 1 (a tie).
  assert.deepEqual(claims.map((c) => c.verdict), [
    "reproduced",
    "inconclusive",
    "not reproduced",
  ]);
  assert.match(claims[0].result, /layer 1: 2\.50–2\.50/);
  const table = directionalTable(boots);
  assert.equal(table.split("\n").length, 2 + 4);
  const metrics = directionalMetrics(boots);
  assert.equal(metrics.length, 4 * 4);
  const [name, value, options] = metrics.find(([n]) => n === "layer2_differenceToIsotropic")!;
  assert.equal(name, "layer2_differenceToIsotropic");
  close(value, 2);
  assert.ok(options.rel! > 0 && options.description.length > 0);
});
