import assert from "node:assert/strict";
import { paretoFigure } from "../lib/experiments/03_pareto/pareto_frontier_figure.ts";
import { point, synthetic } from "./pareto_fixtures.ts";

Deno.test("paretoFigure: a line per frontier, seed spreads, further points, a panel per metric", () => {
  const { frontier, mainK } = synthetic();
  const further = [point({ architecture: "gated", k: null, l0: 20, label: "gated-s0" })];
  const fig = paretoFigure({ frontier, mainK, further }, {
    panels: [{ metric: "deltaCe" }, { metric: "kl" }],
    title: "t",
  });
  const names = fig.data.map((t) => t.name as string);
  for (const n of ["TopK", "g-SAE", "g-SAE, plain TopK selection", "e2e-TopK"]) {
    assert.ok(names.includes(n), n);
  }
  assert.ok(names.some((n) => n.startsWith("Gated (gated-s0)")));
  assert.ok(fig.data.some((t) => t.xaxis === "x2"));
  assert.deepStrictEqual((fig.layout!.yaxis2 as { type: string }).type, "log");
  assert.ok(names.some((n) => n.includes("mean ± sd over 3 seeds")));
  // Lines run in order of L0; only the first panel fills the legend.
  const topk = fig.data.filter((t) => t.name === "TopK");
  assert.deepStrictEqual(topk[0].x, [4, 8, 16]);
  assert.deepStrictEqual(topk.map((t) => t.showlegend), [true, false]);
  const one = paretoFigure({ frontier }, { panels: [{ metric: "fvu" }], title: "t" });
  assert.ok(!one.layout!.xaxis2);
  assert.deepStrictEqual((one.layout!.xaxis as { domain: number[] }).domain, [0, 1]);
});

Deno.test("paretoFigure: a focused panel fits its conditions and names off-scale points", () => {
  const { frontier, mainK } = synthetic();
  const further = [
    point({ architecture: "gated", k: null, l0: 20, label: "g1", deltaCe: 5 }),
    point({ architecture: "mutual_choice", k: 8, deltaCe: 0.1 }),
  ];
  const fig = paretoFigure({ frontier, mainK, further }, {
    panels: [{ metric: "deltaCe", focus: [{ architecture: "topk" }, { architecture: "gsae" }] }],
    title: "t",
  });
  const range = (fig.layout!.yaxis as { range: number[] }).range;
  // TopK's and g-SAE's ΔCE span 0.05 (g-SAE at k = 16) to 0.25 (TopK at k = 4).
  assert.ok(Math.abs(range[0] - Math.log10(0.05 / 1.15)) < 1e-9);
  assert.ok(Math.abs(range[1] - Math.log10(0.25 * 1.15)) < 1e-9);
  const names = fig.data.map((t) => t.name as string);
  assert.ok(names.includes("Gated (g1) (off scale: 5.00)"));
  assert.ok(names.includes("Mutual Choice"));
});
