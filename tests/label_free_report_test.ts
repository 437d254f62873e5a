// Notebook 08's report (lib/experiments/08_label_free/label_free_report.ts) on a made-up study:
// paired verdicts, the verdict sentence, tables, metrics and figures.
import assert from "node:assert/strict";
import {
  LABEL_FREE_VARIANTS,
  type LabelFreeResult,
  type LabelFreeVariant,
} from "../lib/experiments/08_label_free/label_free.ts";
import {
  comparisonsTable,
  deadTable,
  labelFreeClaims,
  labelFreeFigure,
  labelFreeMetrics,
  labelFreeTable,
  pairedComparison,
  pairedFigure,
  sweepAndCostMarkdown,
  verdictMarkdown,
} from "../lib/experiments/08_label_free/label_free_report.ts";
import type { SAEEvaluation } from "../lib/experiments/zoo/sae_eval.ts";

/** An evaluation with the numbers the report reads. */
function evaluation(kl: number, deltaCe: number): SAEEvaluation {
  return {
    kl,
    deltaCe,
    l0: 32,
    frequency: { medianFrequency: 0.01 },
  } as unknown as SAEEvaluation;
}

/** Five seeds; the Fisher g-SAE's KL is TopK's minus `gain` (plus a little noise per seed). */
function study(gain: number): LabelFreeResult {
  const seeds = [0, 1, 2, 3, 4].map((seed) => {
    const base = 0.05 + 0.002 * seed, noise = 0.0002 * ((seed % 2) * 2 - 1);
    const evals = Object.fromEntries(
      LABEL_FREE_VARIANTS.map((v) => [v, evaluation(base, base + 0.01)]),
    ) as Record<LabelFreeVariant, SAEEvaluation>;
    evals.fisher = evaluation(base - gain + noise, base + 0.01 - gain);
    return {
      seed,
      evals,
      dead: { topk: 3, gsae: 2, fisher: 1 },
      deadWindowTokens: 150_000,
    };
  });
  return {
    k: 32,
    fisherBeta: 0.5,
    fisherSweep: [{ beta: 0.5, kl: 0.05, deltaCe: 0.06 }, { beta: 1, kl: 0.06, deltaCe: 0.07 }],
    gsaeBeta: 1,
    seeds,
    cost: { samples: 4, tokens: 1000, buildSeconds: 40, bytes: 4 * 1000 * 512, storeBytes: 1e6 },
    labels: ["a", "b"],
  };
}

Deno.test("label-free claims: reproduced when the Fisher g-SAE's KL is lower on every seed", () => {
  const better = labelFreeClaims(study(0.005));
  assert.equal(better[0].id, "label-free-kl-vs-topk");
  assert.equal(better[0].verdict, "reproduced");
  assert.ok(better.every((c) => c.kind === "sub-comparison"));
  assert.match(verdictMarkdown(study(0.005)), /beats TopK on KL/);
  const worse = labelFreeClaims(study(-0.005));
  assert.equal(worse[0].verdict, "not reproduced");
  assert.match(verdictMarkdown(study(-0.005)), /does not beat TopK/);
  const c = pairedComparison(study(0.005), "fisher", "topk", "kl");
  // The noise (−, +, −, +, −)·0.0002 adds −0.00004.
  assert.ok(Math.abs(c.interval.mean + 0.00504) < 1e-9, `mean ${c.interval.mean}`);
  assert.equal(c.interval.n, 5);
  // The control that could explain a gain away: the label-trained g-SAE run without labels.
  const control = better.find((x) => x.id === "label-free-kl-vs-gsae-plain");
  assert.equal(control?.verdict, "reproduced");
  assert.match(verdictMarkdown(study(0.005)), /g-SAE trained with true labels and run with plain/);
  assert.ok(comparisonsTable(study(0.005)).includes("KL, Fisher g-SAE (own) − g-SAE (plain)"));
});

Deno.test("label-free report: tables, metrics and figures name every variant", () => {
  const r = study(0.003);
  const table = labelFreeTable(r);
  for (const v of ["TopK", "Fisher g-SAE, own selection (no label)"]) assert.ok(table.includes(v));
  assert.ok(comparisonsTable(r).includes("KL, Fisher g-SAE (own) − TopK"));
  assert.ok(deadTable(r).includes("150,000"));
  assert.match(
    sweepAndCostMarkdown(r),
    /2\.0 MiB \(0\.5 MiB, 512 bytes per token, per extra gradient\)/,
  );
  const metrics = labelFreeMetrics(r);
  assert.equal(new Set(metrics.map((m) => m.name)).size, metrics.length);
  assert.ok(metrics.some((m) => m.name === "label_free_kl_fisher"));
  assert.equal(labelFreeFigure(r).data.length, 2 * LABEL_FREE_VARIANTS.length);
  assert.equal(pairedFigure(r).data.length, LABEL_FREE_VARIANTS.length - 1);
});
