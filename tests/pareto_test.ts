import assert from "node:assert/strict";
import {
  betaSweep,
  evaluatePoint,
  frontiers,
  furtherArchitectures,
  mainKComparison,
} from "../lib/experiments/03_pareto/pareto.ts";
import { penaltyOptions } from "../lib/experiments/zoo/penalty.ts";
import { select } from "../lib/experiments/03_pareto/pareto_compare.ts";
import { paretoClaims } from "../lib/experiments/03_pareto/pareto_report.ts";
import { trainedSAE } from "../lib/experiments/zoo/sae_zoo.ts";
import { withSmokeWorkspace } from "./fixtures/smoke_workspace.ts";

Deno.test("the experiment runs end to end on a tiny budget and shares its SAEs", async () => {
  await withSmokeWorkspace(async (ws) => {
    const sweep = await betaSweep(ws);
    assert.deepStrictEqual(sweep.rows.map((r) => r.beta), [0, 0.5, 1]);
    assert.ok([0.5, 1].includes(sweep.chosen));
    const best = Math.min(...sweep.rows.slice(1).map((r) => r.dev.deltaCe));
    assert.deepStrictEqual(sweep.rows.find((r) => r.beta === sweep.chosen)!.dev.deltaCe, best);
    // TopK ignores the gradient: its plain evaluation is its true-gradient one.
    assert.deepStrictEqual(sweep.rows[0].valPlain.deltaCe, sweep.rows[0].val.deltaCe);

    // Gradient-free SAEs share one evaluation for every mode but the selection control.
    const topk = await trainedSAE(ws, { architecture: "topk", k: 8, seed: 0 });
    assert.deepStrictEqual(
      { ...(await evaluatePoint(ws, topk, { mode: "plain" })), mode: "true" },
      await evaluatePoint(ws, topk),
    );
    await assert.rejects(() => evaluatePoint(ws, topk, { mode: "selection" }), /selectionBeta/);

    const frontier = await frontiers(ws, sweep.chosen);
    // TopK, g-SAE (true, plain, sampled) and e2e-TopK at 2 ks, one frontier seed.
    assert.deepStrictEqual(frontier.length, 2 * 5);
    for (const p of frontier) assert.ok(p.l0 <= p.k! + 1e-9 && Number.isFinite(p.deltaCe));

    const mainK = await mainKComparison(ws, { beta: sweep.chosen, e2e: false });
    assert.deepStrictEqual(mainK.length, 2 * 6); // TopK, selection, g-SAE in four modes
    // The seed-0 SAEs are the frontier's (cached, so their numbers are identical).
    const g0 = select(mainK, { architecture: "gsae" })[0];
    assert.deepStrictEqual(g0, frontier.find((p) => p.label === g0.label && p.mode === "true"));

    const further = await furtherArchitectures(ws, {
      beta: sweep.chosen,
      penaltyMultiples: { gated: [1], relu_l1: [1] },
      architectures: [
        { architecture: "mutual_choice" },
        { architecture: "mutual_choice", options: { aux_zipf_coefficient: 0 } },
        { architecture: "gradient_feature_choice" },
      ],
      seeds: [0],
    });
    assert.deepStrictEqual(
      further.map((p) => `${p.architecture}/${p.mode}`),
      [
        "gated/true",
        "relu_l1/true",
        "mutual_choice/true",
        "mutual_choice/true",
        "gradient_feature_choice/true",
        "gradient_feature_choice/plain",
      ],
    );
    const gated1 = await penaltyOptions(ws, "gated", 1);
    assert.ok((await penaltyOptions(ws, "gated", 2)).l1_coefficient > gated1.l1_coefficient);
    assert.deepStrictEqual(further[0].name, "gated-x1-s0");
    assert.deepStrictEqual(further[0].multiple, 1);
    assert.ok(further[3].label.endsWith("aux_zipf_coefficient=0"), further[3].label);
    for (const p of further) assert.ok(p.shrinkage > 0 && Number.isFinite(p.shrinkage), p.label);
    assert.deepStrictEqual(g0.name, "gsae-k8-s0"); // β left out: it is recorded on its own
    // e2e-TopK is left out of the main-k comparison here, so its two rows are left out.
    assert.deepStrictEqual(paretoClaims({ frontier, mainK }).length, 6);
  }, {
    seeds: [0, 1],
    frontierSeeds: [0],
    ks: [4, 8],
    mainK: 8,
    betas: [0.5, 1],
    sae: { tokens: 1024, e2eTokens: 1024, evalSequences: 2 },
  });
});
