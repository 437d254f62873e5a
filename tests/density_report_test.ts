import assert from "node:assert/strict";
import { deadCurves, densityTable } from "../lib/experiments/04_density/density.ts";
import {
  deadLatentsFigure,
  densityClaims,
  densityMarkdown,
  densityMetrics,
  frequencyCdfFigure,
} from "../lib/experiments/04_density/density_report.ts";
import { freqs, run, RUNS } from "./density_fixtures.ts";

// Three seeds (two give a t quantile of 12.7, too wide to separate anything), the paper's pattern.
const RUNS3 = [0, 1, 2].flatMap((s) => [
  run("topk", s, freqs(3, 5, 1), 2 + 0.1 * s),
  run("gsae", s, freqs(6, 1, 3), 0),
  run("e2e_topk", s, freqs(1, 8, 0), 4),
]);

Deno.test("densityClaims: verdicts follow the numbers", () => {
  const claims = densityClaims(densityTable(RUNS3));
  const v = Object.fromEntries(claims.map((c) => [c.id, c.verdict]));
  assert.equal(v["density-dead-latents"], "reproduced");
  assert.equal(v["density-above-1pct"], "reproduced");
  assert.equal(v["density-above-10pct"], "reproduced");
  // TopK's and e2e's medians are both 5 %: TopK < e2e does not hold, but it is a sub-comparison;
  // the primary comparison (g-SAE below TopK) decides.
  assert.equal(v["density-median-frequency"], "reproduced");
  assert.match(claims[1].result, /TopK < e2e: no difference/);
  // Swap the roles of g-SAE and e2e: the claims fail.
  const swapped = RUNS3.map((r) => ({
    ...r,
    architecture: r.architecture === "gsae"
      ? "e2e_topk" as const
      : r.architecture === "e2e_topk"
      ? "gsae" as const
      : r.architecture,
  }));
  const w = Object.fromEntries(densityClaims(densityTable(swapped)).map((c) => [c.id, c.verdict]));
  assert.equal(w["density-dead-latents"], "not reproduced");
  assert.equal(w["density-above-10pct"], "not reproduced");
  assert.throws(() => densityClaims(densityTable(RUNS.filter((r) => r.architecture !== "topk"))));
  // Under plain selection g-SAE looks like TopK: the plain comparisons no longer hold.
  // The primary comparison (the paper's gradient selection) still decides; the plain one is
  // described beside it.
  const plainLikeTopk = RUNS3.map((r) =>
    r.architecture === "gsae" ? { ...r, plainFrequencies: freqs(3, 5, 1) } : r
  );
  const p = densityClaims(densityTable(plainLikeTopk));
  const pv = Object.fromEntries(p.map((c) => [c.id, c.verdict]));
  assert.equal(pv["density-above-1pct"], "reproduced");
  assert.match(
    p.find((c) => c.id === "density-above-1pct")!.result,
    /plain selection vs TopK: no difference/,
  );
  assert.match(
    p.find((c) => c.id === "density-median-frequency")!.result,
    /plain selection 5\.000 ± 0\.000 %/,
  );
});

Deno.test("frequencyCdfFigure: log x, zeros dropped, one legend entry per architecture", () => {
  const fig = frequencyCdfFigure(RUNS);
  // One curve per SAE, and a plain-selection one per g-SAE.
  assert.equal(fig.data.length, RUNS.length + 2);
  assert.equal((fig.layout!.xaxis as { type: string }).type, "log");
  const topk = fig.data[0] as { x: number[]; y: number[]; showlegend: boolean };
  assert.ok(topk.x.every((x) => x > 0));
  assert.equal(topk.y[0], 0.4); // one never-firing latent + three at 0.5 %
  assert.deepEqual(fig.data.map((d) => d.showlegend), [
    true,
    true,
    true,
    true,
    false,
    false,
    false,
    false,
  ]);
  assert.equal(fig.data[2].name, "g-SAE, plain TopK selection");
});

Deno.test("densityMarkdown, densityMetrics and the dead-latent figure", () => {
  const table = densityTable(RUNS);
  const md = densityMarkdown(table);
  assert.match(md, /\| 1,000 \|/); // the saved dead window
  assert.match(md, /plain \(no gradient\)/);
  assert.match(md, /\| g-SAE \|/);
  assert.match(md, /0\.24 %/); // the paper's g-SAE median beside ours
  const metrics = densityMetrics(table);
  assert.ok(metrics.some((m) => m.name === "median_frequency_gsae" && m.value === 0.005));
  assert.ok(metrics.some((m) => m.name === "fraction_above_10pct_topk"));
  const fig = deadLatentsFigure(deadCurves(RUNS));
  assert.equal(fig.data.length, 9); // band low, band high, mean line per architecture
});

Deno.test("densityClaims: no dead latents anywhere is inconclusive, and says so", () => {
  const none = RUNS.map((r) => ({ ...r, deadAtEnd: 0 }));
  const claim = densityClaims(densityTable(none)).find((c) => c.id === "density-dead-latents")!;
  assert.equal(claim.verdict, "inconclusive");
  assert.match(claim.result, /No SAE had a dead latent/);
  assert.match(claim.result, /N = 1,000/);
});
