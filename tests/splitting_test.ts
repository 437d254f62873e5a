import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { initBackend } from "../lib/tensor/backend.ts";
import type { SAEEvaluation } from "../lib/experiments/zoo/sae_eval.ts";
import type { TrainedSAE } from "../lib/experiments/zoo/sae_zoo.ts";
import {
  liveMaxDecoderCosine,
  splittingRun,
  splittingTable,
  tailGroups,
  tailSize,
  tailStats,
} from "../lib/experiments/05_splitting/splitting.ts";
import { createSAE, disposeSAE } from "../lib/sae/mod.ts";
import { RUNS } from "./splitting_fixtures.ts";

await initBackend();

Deno.test("tailGroups: lowest, median-centred and highest among eligible latents", () => {
  const values = [5, 1, 9, 3, 7, 2, 8, 4, 6, 0];
  const eligible = values.map((_, i) => i !== 9); // drop the value 0
  const g = tailGroups(values, eligible, 2);
  assert.deepEqual(g.left, [1, 5]); // values 1, 2
  assert.deepEqual(g.right, [6, 2]); // values 8, 9
  // Eligible values 1…9, ranks 0…8: the two centred on the median rank start at rank 3.
  assert.deepEqual(g.middle, [7, 0]); // values 4, 5
  assert.throws(() => tailGroups(values, eligible, 4), /need 3 × 4/);
});

Deno.test("tailSize: a tenth of the live latents, at least 50, at most a third", () => {
  assert.equal(tailSize(1000), 100);
  assert.equal(tailSize(300), 50);
  assert.equal(tailSize(90), 30);
  assert.equal(tailSize(90, { share: 0.1, minSize: 5 }), 9);
  assert.throws(() => tailGroups([1, 2], [true, true], tailSize(2)), /need 3 × 1/);
});

Deno.test("tailStats: groups skip dead latents; means per position; Spearman", () => {
  const st = tailStats(RUNS[1], { share: 0.1, minSize: 10 });
  assert.equal(st.live, 90);
  assert.equal(st.size, 10);
  // Left: latents 10–19; right: 90–99.
  assert.ok(Math.abs(st.maxCosine.left - (0.145 + 0.05)) < 1e-9);
  assert.ok(Math.abs(st.maxCosine.right - (0.945 + 0.05)) < 1e-9);
  assert.ok(st.derivAll.left < st.derivAll.middle && st.derivAll.middle < st.derivAll.right);
  assert.ok(Math.abs(st.derivFiring.right - 2 * st.derivAll.right) < 1e-12);
  assert.ok(Math.abs(st.spearman - 1) < 1e-12);
  assert.ok(Math.abs(st.meanMaxCosine - (0.495 + 0.05)) < 1e-9);
  // Live latents 10–99: cosines 0.10–0.99 (+ 0.05).
  assert.ok(Math.abs(st.liveMeanMaxCosine - (0.545 + 0.05)) < 1e-9);
});

Deno.test("liveMaxDecoderCosine leaves out a planted dead latent", async () => {
  // Row 2 is dead and almost parallel to row 0; rows 0, 1 and 3 are 0.6 / 0 apart.
  const w = tf.tensor2d([[1, 0, 0], [0.6, 0.8, 0], [0.99, 0.1, 0], [0, 0, 1]]);
  try {
    const all = await liveMaxDecoderCosine(w, [true, true, true, true]);
    assert.ok(all[0]! > 0.99, "with the dead row, row 0's partner is row 2");
    const live = await liveMaxDecoderCosine(w, [true, true, false, true]);
    assert.equal(live[2], null);
    [0.6, 0.6, null, 0].forEach((v, i) =>
      assert.ok(v === null ? live[i] === null : Math.abs(live[i]! - v) < 1e-6, `${i}: ${live[i]}`)
    );
    await assert.rejects(() => liveMaxDecoderCosine(w, [true]), /1 flags for 4 rows/);
  } finally {
    w.dispose();
  }
});

Deno.test("splittingRun: max decoder cosines of a real SAE and firings from frequencies", async () => {
  const sae = createSAE({ architecture: "topk", d_in: 3, d_sae: 4, k: 1, seed: 0 });
  try {
    // Rows 0 and 1 are 0.6 apart in cosine; row 2 is orthogonal to both; row 3 = −row 0.
    sae.params.get("W_dec")!.assign(
      tf.tensor2d([[1, 0, 0], [0.6, 0.8, 0], [0, 0, 2], [-1, 0, 0]]),
    );
    const trained = {
      sae,
      spec: { architecture: "topk", seed: 3 },
      label: "t",
    } as unknown as TrainedSAE;
    const evaluation = {
      frequencies: [0.5, 0.25, 0, 0.75],
      frequency: { tokens: 4 },
      meanAbsDerivAll: [1, 2, 3, 4],
      meanAbsDerivFiring: [1, 2, null, 4],
    } as unknown as SAEEvaluation;
    const r = await splittingRun(trained, evaluation);
    const expected = [0.6, 0.6, 0, 0];
    r.maxCosine.forEach((c, i) => assert.ok(Math.abs(c - expected[i]) < 1e-6, `${i}: ${c}`));
    assert.deepEqual(r.firings, [2, 1, 0, 3]);
    // Row 2 never fired: left out of the live max cosines.
    assert.equal(r.live, 3);
    assert.equal(r.liveMaxCosine[2], null);
    assert.ok(Math.abs(r.liveMaxCosine[3]! + 0.6) < 1e-6); // −row 0's best is row 1, at −0.6
    assert.ok(r.randomLevel > -1 && r.randomLevel < 1);
    assert.equal(r.seed, 3);
  } finally {
    disposeSAE(sae);
  }
});

Deno.test("splittingTable: group sizes by the rule, excess over random paired by seed", () => {
  const table = splittingTable(RUNS);
  const g = table.rows[1];
  assert.deepEqual(g.size.values, [30, 30]); // 90 live latents: a third each
  assert.deepEqual(g.seeds, [0, 1]);
  g.excessOverRandom.values.forEach((v) => assert.ok(Math.abs(v - (0.595 - 0.3)) < 1e-9));
});
