import assert from "node:assert/strict";
import {
  compareWithTopK,
  modelsAvailable,
  overSeeds,
  SCALING_VARIANTS,
  scalingStudy,
  scalingVerdict,
} from "../lib/experiments/07_scaling/scaling.ts";
import { syntheticScaling } from "./fixtures/scaling.ts";
import { withSmokeWorkspace } from "./fixtures/smoke_workspace.ts";

Deno.test("scalingVerdict: g-SAE's ΔCE below TopK's at every size, judged over seeds", () => {
  const v = (a: number[], b: number[]) =>
    scalingVerdict(syntheticScaling({
      small: { topk: [0.3, 0.31], gsae: [0.2, 0.21] },
      large: { topk: b, gsae: a },
    }));
  assert.equal(v([0.1, 0.11], [0.2, 0.21]).verdict, "reproduced");
  assert.equal(v([0.3, 0.31], [0.2, 0.21]).verdict, "not reproduced"); // worse at one size
  const mixed = v([0.19, 0.25], [0.2, 0.21]);
  assert.equal(mixed.comparisons[1].outcome, "against");
  assert.equal(mixed.verdict, "inconclusive"); // holds at one size, spans 0 at the other
  const r = scalingVerdict(syntheticScaling({ only: { topk: [0.2, 0.2], gsae: [0.3, 0.3] } }));
  assert.equal(r.verdict, "not reproduced");
  assert.ok(Math.abs(r.comparisons[0].meanDiff - 0.1) < 1e-12);
  assert.ok(Math.abs(r.comparisons[0].relativeDiff - 0.5) < 1e-12);
});

Deno.test("overSeeds: the spread of one variant's metric", () => {
  const r = syntheticScaling({ m: { topk: [0.2, 0.4] } });
  const s = overSeeds(r.models[0], "topk", "kl");
  assert.deepStrictEqual(s.values, [0.1, 0.2]);
  assert.ok(Math.abs(s.mean - 0.15) < 1e-12);
});

Deno.test("modelsAvailable: embedded models are found, absent ones are not", async () => {
  const a = await modelsAvailable(["sotu-2x64", "no-such-model-xyz"]);
  assert.deepStrictEqual(a.map((m) => m.found), [true, false]);
  assert.ok(a[0].dir!.endsWith("outputs/models/sotu-2x64"));
});

Deno.test("scalingStudy on a tiny workspace: every variant and seed, the main model reused", async () => {
  await withSmokeWorkspace(async (ws) => {
    const r = await scalingStudy(ws, { beta: 0.5, models: [ws.modelName], seeds: [0, 1] });
    assert.equal(r.models.length, 1);
    const m = r.models[0];
    assert.equal(m.hook, ws.hook);
    assert.deepStrictEqual(m.seeds, [0, 1]);
    for (const v of SCALING_VARIANTS) {
      assert.equal(m.evals[v].length, 2);
      assert.ok(m.evals[v].every((e) => Number.isFinite(e.deltaCe) && e.kl >= 0));
    }
    assert.equal(m.evals.topk[0].l0, ws.profile.mainK);
    assert.ok(m.ceClean > 0 && m.parameters > 0);
    assert.ok(ws.model.params.size > 0, "the main workspace stays open");
  });
});

Deno.test("compareWithTopK: difference, relative difference and outcome of any variant", () => {
  const r = syntheticScaling({ m: { topk: [0.2, 0.22], gsae_plain: [0.1, 0.12] } });
  const c = compareWithTopK(r.models[0], "gsae_plain", "kl");
  assert.equal(c.outcome, "holds");
  assert.ok(Math.abs(c.meanDiff + 0.05) < 1e-12);
  assert.ok(Math.abs(c.relativeDiff + 0.05 / 0.105) < 1e-12);
  assert.equal(compareWithTopK(r.models[0], "gsae", "deltaCe").outcome, "tie");
});
