import assert from "node:assert/strict";
import {
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

const CMP = syntheticComparison({
  topk: [0.1, 0.2, 0.3],
  gsae: [0.2, 0.2, 0.2],
  e2e_topk: [0, 0, 0],
  random: [0.05, 0.05, 0.05],
});

Deno.test("steeringTable: one row per kind with mean ± std", () => {
  const md = steeringTable(summariseSteering(CMP, 0.5));
  const lines = md.split("\n");
  assert.equal(lines.length, 2 + STEERED.length);
  assert.match(lines[2], /^\| TopK \| .* \| 0\.200 ± 0\.100 \|/);
});

Deno.test("steeringExamples: one typical direction per kind of the first seed", () => {
  const md = steeringExamples(CMP, makeTokenizer(), 0.5);
  assert.equal(md.match(/^\*\*/gm)?.length, STEERED.length);
  assert.match(md, /topk-s0, latent \d+/);
  assert.match(md, /random-s0, direction \d+/);
  assert.match(md, /`!`\* \+/, "set tokens are starred among the largest gains");
});

Deno.test("steeringFigure: three panels, one trace per kind and panel", () => {
  const fig = steeringFigure(CMP);
  assert.equal(fig.data.length, 3 * STEERED.length);
  assert.equal(fig.data.filter((t) => t.showlegend).length, STEERED.length);
  assert.ok(fig.layout!.xaxis3 && fig.layout!.yaxis3);
  // Each kind sits a small step in log α beside the true α, no two kinds at one place.
  const xs = fig.data.filter((t) => !t.xaxis || t.xaxis === "x").map((t) => t.x as number[]);
  for (const x of xs) {
    assert.ok(x.every((v, i) => Math.abs(Math.log10(v / [0.5, 1][i])) < 0.05));
  }
  assert.equal(new Set(xs.map((x) => x[0])).size, STEERED.length);
  // Every kind in its own (symbol, dash) pair.
  const pairs = fig.data.filter((t) => t.showlegend).map((t) =>
    `${(t.marker as { symbol: string }).symbol}|${(t.line as { dash: string }).dash}`
  );
  assert.equal(new Set(pairs).size, STEERED.length);
});

Deno.test("steeringSetup, steeringMetrics and steeringClaims describe the run", () => {
  const setup = steeringSetup(CMP);
  assert.match(setup, /β = 0\.5/);
  assert.match(setup, /TopK 0\.200 ± 0\.000/);
  assert.match(setup, /initial \(random\) rows: TopK 0\.900 ± 0\.000.*TopK SAE: g-SAE 0\.990/);
  const metrics = steeringMetrics(CMP);
  assert.equal(metrics.length, 3 * STEERED.length);
  const c = metrics.find((m) => m.name === "steering_concentration_topk")!;
  assert.ok(Math.abs(c.value - 0.2) < 1e-12);
  const [claim] = steeringClaims(CMP);
  // g-SAE 0.2 at every seed vs TopK 0.1–0.3 (overlap): the primary comparison spans 0.
  assert.equal(claim.verdict, "inconclusive");
  assert.match(claim.result, /Verdict at the other strengths: 1: inconclusive/);
});
