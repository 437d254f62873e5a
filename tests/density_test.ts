import assert from "node:assert/strict";
import {
  deadCurves,
  densityRun,
  densityTable,
  empiricalCdf,
} from "../lib/experiments/04_density/density.ts";
import type { SAEEvaluation } from "../lib/experiments/zoo/sae_eval.ts";
import type { TrainedSAE } from "../lib/experiments/zoo/sae_zoo.ts";
import { RUNS } from "./density_fixtures.ts";

Deno.test("empiricalCdf: ascending values, share ≤ each value, ties merged", () => {
  const cdf = empiricalCdf([0.3, 0, 0, 0.1, 0.2]);
  assert.deepEqual(cdf.value, [0, 0.1, 0.2, 0.3]);
  assert.deepEqual(cdf.fraction, [0.4, 0.6, 0.8, 1]);
  const thin = empiricalCdf(Array.from({ length: 1000 }, (_, i) => i), { points: 11 });
  assert.equal(thin.value.length, 11);
  assert.equal(thin.fraction.at(-1), 1);
});

Deno.test("densityRun reads the training history and both evaluations", () => {
  const trained = {
    spec: { architecture: "gsae", seed: 2 },
    label: "gsae-k4-s2",
    history: [{ step: 5, tokens: 100, loss: 1, l0: 4, dead: 3, parts: {} }],
    train: { deadWindowTokens: 50 },
    dead: 3,
  } as unknown as TrainedSAE;
  const evaluation = {
    frequencies: [0, 0.5],
    frequency: { tokens: 10 },
    l0: 4,
  } as unknown as SAEEvaluation;
  assert.throws(() => densityRun(trained, evaluation), /needs its plain-selection evaluation/);
  const plain = { frequencies: [0.1, 0.4], frequency: { tokens: 10 }, l0: 4 };
  const r = densityRun(trained, evaluation, { plain: plain as unknown as SAEEvaluation });
  assert.deepEqual([r.frequencies, r.plainFrequencies, r.usesGradient], [
    [0, 0.5],
    [0.1, 0.4],
    true,
  ]);
  const short = { ...plain, frequency: { tokens: 9 } } as unknown as SAEEvaluation;
  assert.throws(() => densityRun(trained, evaluation, { plain: short }), /10 and 9 tokens/);
  // TopK ignores the gradient: its one evaluation is both.
  const topk = { ...trained, spec: { architecture: "topk", seed: 2 } } as unknown as TrainedSAE;
  const t = densityRun(topk, evaluation);
  assert.equal(t.plainFrequencies, t.frequencies);
  assert.equal(t.usesGradient, false);
  assert.equal(r.architecture, "gsae");
  assert.deepEqual([r.seed, r.dSae, r.deadWindowTokens, r.deadAtEnd, r.evalTokens], [
    2,
    2,
    50,
    3,
    10,
  ]);
  assert.deepEqual([r.tokens, r.dead], [[100], [3]]);
});

Deno.test("deadCurves: fractions, mean and range over seeds", () => {
  const curves = deadCurves(RUNS);
  assert.deepEqual(curves.map((c) => c.architecture), ["topk", "gsae", "e2e_topk"]);
  const topk = curves[0];
  assert.deepEqual(topk.tokens, [500, 1000, 1500, 2000]);
  assert.ok(Math.abs(topk.mean[3] - 0.25) < 1e-12); // dead 2 and 3 of 10
  assert.deepEqual([topk.min[3], topk.max[3]], [0.2, 0.3]);
  assert.equal(topk.window, 1000);
});

Deno.test("densityTable: dead, median and thresholds per architecture", () => {
  const table = densityTable(RUNS);
  assert.deepEqual(table.thresholds, [0.01, 0.1]);
  const g = table.rows.find((r) => r.architecture === "gsae")!;
  assert.equal(g.deadAtEnd.mean, 0);
  assert.equal(g.neverFiredOnVal.mean, 0);
  assert.ok(Math.abs(g.plain.medianFrequency.mean - 0.0275) < 1e-12);
  assert.deepEqual(g.plain.above.map((a) => a.values), [[0.5, 0.5], [0.2, 0.2]]);
  assert.equal(g.deadWindowTokens, 1000);
  assert.equal(g.medianFrequency.mean, 0.005);
  assert.ok(Math.abs(g.above[0].mean - 0.4) < 1e-12);
  assert.ok(Math.abs(g.above[1].mean - 0.3) < 1e-12);
  const t = table.rows.find((r) => r.architecture === "topk")!;
  assert.ok(Math.abs(t.neverFiredOnVal.mean - 0.1) < 1e-12);
  assert.equal(t.medianFrequency.mean, 0.05);
  assert.deepEqual(t.plain, { ...t.plain, medianFrequency: t.medianFrequency });
  const mixed = RUNS.map((r, i) => (i === 0 ? { ...r, deadWindowTokens: 5 } : r));
  assert.throws(() => densityTable(mixed), /topk's seeds saved dead windows 5,1000/);
});
