import assert from "node:assert/strict";
import {
  jaccard,
  medianRowCosine,
  STEERED,
  steeringComparison,
  steeringVerdict,
  summariseSteering,
} from "../lib/experiments/06_steering/steering_study.ts";
import { syntheticComparison } from "./fixtures/steering.ts";
import { withSmokeWorkspace } from "./fixtures/smoke_workspace.ts";

Deno.test("summariseSteering: per seed, the mean over latents, their matched directions and the excess", () => {
  const cmp = syntheticComparison(
    { topk: [1, 2, 3], gsae: [2, 2, 2], e2e_topk: [0, 0, 0] },
    { topk: [0.5, 1, 0.5], gsae: [0.5, 0.5, 0.5], e2e_topk: [0, 0, 0] },
  );
  const s = summariseSteering(cmp, 0.99);
  assert.deepStrictEqual(s.map((x) => x.kind), [...STEERED]);
  const topk = s.find((x) => x.kind === "topk")!;
  assert.deepStrictEqual(topk.seeds, [0, 1, 2]);
  assert.equal(topk.directions, 2);
  const close = (a: number[], b: number[]) =>
    a.forEach((v, i) => assert.ok(Math.abs(v - b[i]) < 1e-12));
  close(topk.latents.logOddsGain.values, [1, 2, 3]);
  close(topk.matched.logOddsGain.values, [0.5, 1, 0.5]);
  close(topk.excess.logOddsGain.values, [0.5, 1, 2.5]);
  assert.ok(Math.abs(topk.latents.logOddsGain.std - 1) < 1e-12, "sample std over seeds");
  // At 0.5 only the first latent (0.9 × the seed's value) was steered.
  const low = summariseSteering(cmp, 0.5).find((x) => x.kind === "topk")!;
  assert.equal(low.directions, 1);
  close(low.latents.logOddsGain.values, [0.9, 1.8, 2.7]);
  assert.throws(() => summariseSteering(cmp, 0.25), /not measured/);
});

Deno.test("steeringVerdict: g-SAE vs its matched directions and its excess vs TopK's decide; e2e described", () => {
  const all = (v: number[]) => ({ topk: v, gsae: v, e2e_topk: v });
  const v = (gsae: number[], base: number[], matched: number[]) =>
    steeringVerdict(
      summariseSteering(
        syntheticComparison({ ...all(base), gsae }, all(matched)),
        0.99,
      ),
    );
  assert.equal(v([3, 3, 3], [2, 2, 2], [1, 1, 1]).verdict, "reproduced");
  assert.equal(v([0.5, 0.5, 0.5], [2, 2, 2], [1, 1, 1]).verdict, "not reproduced");
  assert.equal(v([1, 3, 1], [2, 2, 2], [1, 1, 1]).verdict, "inconclusive");
  // Better than TopK and e2e, but not than its own matched random directions: the primary
  // conjunction fails.
  const r = v([3, 3, 3], [2, 2, 2], [4, 4, 4]);
  assert.equal(r.verdict, "not reproduced");
  assert.equal(r.comparisons.length, 3);
  const m = r.comparisons.find((x) => x.baseline === "matched")!;
  assert.equal(m.outcome, "contradicts");
  assert.ok(Math.abs(m.meanDiff + 1) < 1e-12);
});

Deno.test("jaccard and medianRowCosine", () => {
  assert.equal(jaccard([1, 2, 3], [2, 3, 4]), 0.5);
  assert.equal(jaccard([1], [1]), 1);
  const a = Float32Array.from([1, 0, 0, 1, 1, 0]), b = Float32Array.from([1, 0, 1, 0, -1, 0]);
  assert.equal(medianRowCosine(a, b, 2), 0);
  assert.equal(medianRowCosine(a, a, 2), 1);
});

Deno.test("steeringComparison on a tiny workspace: every kind and seed, live latents, matched controls", async () => {
  await withSmokeWorkspace(async (ws) => {
    const budget = {
      latents: 3,
      sweepLatents: 1,
      contexts: 4,
      length: 16,
      activationWindows: 4,
      minFirings: 2,
      quantiles: [0.5, 0.99],
      mainQuantile: 0.99,
      setSize: 4,
    };
    const cmp = await steeringComparison(ws, { budget, beta: 0.5 });
    assert.deepStrictEqual(cmp.runs.map((r) => r.kind), [...STEERED]);
    // The same latents in each SAE of the seed.
    assert.deepStrictEqual(cmp.runs[1].latents, cmp.runs[0].latents);
    assert.deepStrictEqual(cmp.runs[2].latents, cmp.runs[0].latents);
    assert.equal(cmp.runs[0].topkCosine, null);
    assert.ok(cmp.runs[1].topkCosine! > 0.5, "a few steps from one shared initialisation");
    assert.equal(cmp.activationTokens, 4 * ws.model.config.n_positions);
    for (const r of cmp.runs) {
      assert.equal(r.directions.length, 3);
      assert.equal(r.matched.length, 3);
      assert.ok(r.firings.every((f) => f >= 2), "only latents that fire often enough");
      assert.ok(r.alphas.every(([a, b]) => a > 0 && b >= a), `${r.alphas}`);
      assert.deepStrictEqual(r.directions.map((d) => d.points.length), [2, 1, 1]);
      r.directions.forEach((d, i) => {
        assert.equal(d.set.length, 4);
        assert.ok(!d.set.includes(ws.vocabMap!.oovId), "the oov id is never associated");
        const p = d.points.at(-1)!, m = r.matched[i].points.at(-1)!;
        assert.equal(p.strength, 0.99);
        assert.equal(m.alpha, p.alpha, "the matched direction gets the latent's α");
        assert.ok(Math.abs(p.alpha - r.alphas[i][1]) < 1e-12);
        assert.ok(p.concentration >= -1 && p.concentration <= 1 && p.kl >= 0);
        assert.ok(Number.isFinite(p.logOddsGain));
      });
      assert.ok(r.initCosine > 0.5 && r.initCosine <= 1 + 1e-6, `${r.initCosine}`);
    }
    // The matched random direction of a latent is the same in every SAE of the seed.
    assert.deepStrictEqual(cmp.runs[0].matched[0].set, cmp.runs[1].matched[0].set);
    assert.ok(cmp.lensOverlap >= 0 && cmp.lensOverlap <= 1 && cmp.medianNorm > 0);
    assert.ok(cmp.runs[1].label.startsWith("gsae-k16-b0.5-s0"));
    // A small lr keeps the SAEs near their shared initialisation, the premise of the cosine
    // checks.
  }, { seeds: [0], sae: { lr: 2e-3 } });
});
