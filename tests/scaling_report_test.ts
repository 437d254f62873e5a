import assert from "node:assert/strict";
import { SCALING_VARIANTS } from "../lib/experiments/07_scaling/scaling.ts";
import {
  betaMarkdown,
  differencesTable,
  paperModelsNote,
  scalingClaims,
  scalingFigure,
  scalingMetrics,
  scalingTable,
} from "../lib/experiments/07_scaling/scaling_report.ts";
import { syntheticScaling } from "./fixtures/scaling.ts";

const RESULT = syntheticScaling({
  small: { topk: [0.3, 0.32], gsae: [0.2, 0.22] },
  large: { topk: [0.2, 0.22], gsae: [0.25, 0.27] },
});

Deno.test("scalingTable and differencesTable: one row per model", () => {
  const t = scalingTable(RESULT).split("\n");
  assert.equal(t.length, 4);
  assert.match(
    t[2],
    /^\| small \| blocks\.1\.hook_resid_post \| 1,000 \| 4\.000 \| 0\.3100 ± 0\.0141 \|/,
  );
  const c = differencesTable(RESULT).split("\n");
  assert.equal(c.length, 4);
  assert.equal(c[0].split("|").length - 2, 6, "model + four ΔCE variants + KL");
  // g-SAE's ΔCE, then the sampled-gradient variant (here equal to TopK's), …, then KL.
  assert.match(c[2], /^\| small \| -0\.1000 \(-32\.3 %, holds\) \| \+0\.0000 \(0\.0 %, tie\) \|/);
  assert.match(c[2], /\| -0\.0500 \(-32\.3 %, holds\) \|$/);
  assert.match(c[3], /^\| large \| \+0\.0500 \(23\.8 %, contradicts\)/);
});

Deno.test("scalingFigure: markers only, variants side by side in each model's slot", () => {
  const fig = scalingFigure(RESULT);
  assert.equal(fig.data.length, 2 * SCALING_VARIANTS.length);
  // Categorical models: no line joins them.
  assert.ok(fig.data.every((t) => t.mode === "markers"));
  const xaxis = fig.layout!.xaxis as { tickvals: number[]; ticktext: string[] };
  assert.deepStrictEqual(xaxis.ticktext, ["small<br>(1/2)", "large<br>(2/4)"]);
  assert.deepStrictEqual(xaxis.tickvals, [0, 1]);
  // Each variant sits at its own offset within the slot, never on a neighbour's slot.
  const xs = fig.data.filter((t) => t.xaxis === "x").map((t) => (t.x as number[])[0]);
  assert.equal(new Set(xs).size, SCALING_VARIANTS.length);
  assert.ok(xs.every((x) => Math.abs(x) < 0.5));
  // Every variant has its own (symbol, dash) pair.
  const pairs = fig.data.filter((t) => t.showlegend).map((t) =>
    `${(t.marker as { symbol: string }).symbol}|${(t.line as { dash: string }).dash}`
  );
  assert.equal(new Set(pairs).size, SCALING_VARIANTS.length);
  assert.ok(fig.layout!.xaxis2 && fig.layout!.yaxis2);
});

Deno.test("betaMarkdown and paperModelsNote", () => {
  const md = betaMarkdown({
    beta: 0.5,
    betaByKl: 0.5,
    sweep: [{ beta: 0.5, deltaCe: 0.1, kl: 0.05 }, { beta: 1, deltaCe: 0.2, kl: 0.1 }],
  }, "m");
  assert.match(md, /\*\*0\.5\*\*/);
  // Header, divider and one row per β.
  assert.equal(md.split("\n").filter((l) => l.startsWith("|")).length, 4);
  const note = paperModelsNote([{ model: "gpt2", found: false }], "07_scaling");
  assert.match(note, /`gpt2` not found/);
  assert.match(note, /GSAE_PROFILE=paper .*nb_runner\.py/);
  assert.match(note, /notebooks\/07_scaling\.ipynb/);
});

Deno.test("scalingMetrics and scalingClaims", () => {
  const metrics = scalingMetrics(RESULT);
  assert.equal(metrics.length, 2 * (SCALING_VARIANTS.length + 2));
  assert.ok(metrics.every((m) => Number.isFinite(m.value)));
  const [claim] = scalingClaims(RESULT);
  assert.equal(claim.verdict, "not reproduced"); // better at one size, worse at the other
  assert.match(claim.result, /small: g-SAE 0\.2100 ± 0\.0141 vs TopK 0\.3100 ± 0\.0141/);
});
