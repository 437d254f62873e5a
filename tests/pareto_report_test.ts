import assert from "node:assert/strict";
import { CONTROL_CONDITIONS } from "../lib/experiments/03_pareto/pareto_figures.ts";
import {
  betaSweepTable,
  buysAndCosts,
  mainKTable,
  paretoClaims,
  pointsTable,
  recordParetoMetrics,
} from "../lib/experiments/03_pareto/pareto_report.ts";
import { PROFILES } from "../lib/experiments/shared/profile.ts";
import { NotebookResults } from "../lib/experiments/shared/results.ts";
import type { Workspace } from "../lib/experiments/shared/workspace.ts";
import { point, synthetic } from "./pareto_fixtures.ts";

Deno.test("paretoClaims computes each verdict from the numbers", () => {
  const claims = paretoClaims(synthetic());
  const verdict = Object.fromEntries(claims.map((c) => [c.id, c.verdict]));
  assert.deepStrictEqual(verdict, {
    "pareto-delta-ce": "reproduced",
    "pareto-delta-ce-vs-e2e": "not reproduced", // e2e-TopK is 10 % better than g-SAE here
    "pareto-kl-label-free": "not reproduced",
    "pareto-plain-selection": "not reproduced",
    "control-sampled-gradient": "inconclusive", // seeds 0–1 gain a little, seed 2 loses
    "control-per-token-gradient": "reproduced",
    "control-topk-selection": "reproduced",
    "control-e2e-trained": "inconclusive", // equal KL: the interval is a point at 0
  });
  const kinds = Object.fromEntries(claims.map((c) => [c.id, c.kind]));
  assert.equal(kinds["pareto-delta-ce"], "claim");
  assert.equal(kinds["pareto-kl-label-free"], "sub-comparison");
  assert.equal(kinds["control-topk-selection"], "control");
  // Differences 0.1·j − 0.125·j for j = 1, 1.01, 1.02: mean −0.02525 (printed to 3 digits).
  assert.match(
    claims[0].result,
    /paired difference -0\.0252 \(95 % CI -0\.0\d+ to -0\.0\d+, n = 3\)/,
  );
  assert.match(claims[0].result, /k = 4: -0\.05 \(no interval: n = 1\)/);
  const topkSelection = claims.find((c) => c.id === "control-topk-selection")!;
  assert.ok(!topkSelection.result.includes("Other k"), "this control has no frontier");
});

Deno.test("tables: a row per point, per condition, per β", () => {
  const { frontier, mainK } = synthetic();
  assert.deepStrictEqual(pointsTable(frontier).split("\n").length, 2 + frontier.length);
  assert.deepStrictEqual(mainKTable(mainK).split("\n").length, 2 + CONTROL_CONDITIONS.length);
  assert.match(mainKTable(mainK), /\| g-SAE \| 3 \| 8\.0 \| 0\.1010 ± 0\.0010 \|/);
  const row = (beta: number) => ({
    beta,
    dev: point({ architecture: "gsae" }),
    val: point({ architecture: "gsae" }),
    valPlain: point({ architecture: "gsae", mode: "plain" }),
  });
  const table = betaSweepTable({ chosen: 0.5, chosenByKl: 1, rows: [row(0), row(0.5), row(1)] });
  assert.match(table, /\| 0 \(TopK\) \|/);
  assert.match(table, /\| 0\.5 \*\*\(chosen: ΔCE\)\*\* \|/);
  assert.match(table, /\| 1 \*\*\(chosen: KL\)\*\* \|/);
});

Deno.test("recordParetoMetrics records finite metrics with seed-spread tolerances", () => {
  const { frontier, mainK } = synthetic();
  const ws = { profile: PROFILES.smoke, modelName: "m", hook: "h", backend: "b", runDir: "/x" };
  const results = new NotebookResults(ws as unknown as Workspace, "03_test");
  const row = { beta: 0, dev: frontier[0], val: frontier[0], valPlain: frontier[0] };
  recordParetoMetrics(results, {
    frontier,
    mainK,
    sweep: { chosen: 1, chosenByKl: 1, rows: [row] },
    further: [],
  });
  const metrics = results.toJSON().metrics;
  assert.ok(metrics["deltaCe_gsae_k8_mean"]);
  assert.ok(metrics["kl_topk-k4-s0"]);
  assert.ok(metrics["deltaCe_gsae-k8-s0_plain"]);
  assert.deepStrictEqual(metrics["beta_chosen"].value, 1);
  assert.ok(Math.abs(metrics["gain_pareto-delta-ce"].value - 0.025 * 1.01) < 1e-12);
  assert.ok(metrics["gain_control-sampled-gradient"].abs > 1e-3);
  assert.ok(Object.values(metrics).every((m) => m.rel >= 0.1 && Number.isFinite(m.value)));
});

Deno.test("buysAndCosts states each condition's paired change against TopK", () => {
  const text = buysAndCosts(synthetic().mainK);
  assert.match(text, /k = 8/);
  // g-SAE's ΔCE is 0.1·j against TopK's 0.125·j for every seed: −20 %.
  assert.match(text, /\*\*g-SAE\*\*: ΔCE -20\.0 % \(-20\.0 % … -20\.0 %\)/);
  assert.deepStrictEqual(text.split("\n").length, 2 + CONTROL_CONDITIONS.length - 1);
});
