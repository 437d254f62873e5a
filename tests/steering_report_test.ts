import assert from "node:assert/strict";
import {
  medianLatentIndex,
  steeringClaims,
  steeringExamples,
  steeringFigure,
  steeringMetrics,
  steeringSetup,
  steeringTable,
} from "../lib/experiments/06_steering/steering_report.ts";
import { STEERED, summariseSteering } from "../lib/experiments/06_steering/steering_study.ts";
import { makeTokenizer } from "../lib/data/tokenizer.ts";
import { syntheticComparison } from "./fixtures/steering.ts";

const CMP = syntheticComparison(
  { topk: [1, 2, 3], gsae: [2, 2, 2], e2e_topk: [0, 0, 0] },
  { topk: [0.5, 0.5, 0.5], gsae: [0.5, 0.5, 0.5], e2e_topk: [0.5, 0.5, 0.5] },
);

Deno.test("steeringTable: one row per kind with mean ± std of latents, matched and excess", () => {
  const md = steeringTable(summariseSteering(CMP, 0.99));
  const lines = md.split("\n");
  assert.equal(lines.length, 2 + STEERED.length);
  // TopK: latents 2 ± 1, matched 0.5, excess 1.5 ± 1.
  assert.match(
    lines[2],
    /^\| TopK \| 2 \| .* \| 2\.000 ± 1\.000 \| 0\.500 ± 0\.000 \| 1\.500 ± 1\.000 \|/,
  );
});

Deno.test("steeringExamples: one typical latent per kind of the first seed", () => {
  const md = steeringExamples(CMP, makeTokenizer(), 0.99);
  assert.equal(md.match(/^\*\*/gm)?.length, STEERED.length);
  assert.match(md, /topk-s0, latent 7/); // 1.1 × 1 is the upper median of two
  assert.match(md, /matched random direction: 0\.500/);
  assert.match(md, /`!`\* \+/, "set tokens are starred among the largest gains");
});

Deno.test("medianLatentIndex: among the latents steered at the strength", () => {
  const run = CMP.runs[0];
  assert.equal(medianLatentIndex(run, 0.99, "logOddsGain"), 1);
  assert.equal(medianLatentIndex(run, 0.5, "logOddsGain"), 0); // only the first was swept
  assert.throws(() => medianLatentIndex(run, 0.7, "logOddsGain"), /no latent steered at 0.7/);
});

Deno.test("steeringFigure: three panels, latents and matched random per kind", () => {
  const fig = steeringFigure(CMP);
  assert.equal(fig.data.length, 3 * 2 * STEERED.length);
  assert.equal(fig.data.filter((t) => t.showlegend).length, 2 * STEERED.length);
  assert.ok(fig.layout!.xaxis3 && fig.layout!.yaxis3);
  // Each series sits a small step beside its quantile, no two series at one place.
  const xs = fig.data.filter((t) => !t.xaxis || t.xaxis === "x").map((t) => t.x as number[]);
  for (const x of xs) assert.ok(x.every((v, i) => Math.abs(v - [0.5, 0.99][i]) < 0.02));
  assert.equal(new Set(xs.map((x) => x[0])).size, 2 * STEERED.length);
  // TopK's log-odds gain at 0.5: the first latent only (0.9 × 1, 2, 3).
  assert.ok(Math.abs((fig.data[0].y as number[])[0] - 1.8) < 1e-12);
  // Every series in its own (symbol, dash) pair.
  const pairs = fig.data.filter((t) => t.showlegend).map((t) =>
    `${(t.marker as { symbol: string }).symbol}|${(t.line as { dash: string }).dash}`
  );
  assert.equal(new Set(pairs).size, 2 * STEERED.length);
});

Deno.test("steeringSetup, steeringMetrics and steeringClaims describe the run", () => {
  const setup = steeringSetup(CMP);
  assert.match(setup, /β = 0\.5/);
  assert.match(setup, /TopK 0\.200 ± 0\.000/);
  assert.match(setup, /initial \(random\) rows: TopK 0\.900 ± 0\.000.*TopK SAE: g-SAE 0\.990/);
  const metrics = steeringMetrics(CMP);
  assert.equal(metrics.length, 5 * STEERED.length);
  const c = metrics.find((m) => m.name === "steering_logodds_excess_topk")!;
  assert.ok(Math.abs(c.value - 1.5) < 1e-12);
  const [claim] = steeringClaims(CMP);
  // g-SAE beats its matched directions at every seed, but its excess over them does not beat
  // TopK's (2 − 0.5 vs 0.5, 1.5, 2.5 per seed): the primary conjunction is inconclusive.
  assert.equal(claim.verdict, "inconclusive");
  assert.match(claim.result, /Verdict at the other quantiles \(1 latents\): 0\.5: /);
});
