import assert from "node:assert/strict";
import {
  betaSweepFigure,
  CONTROL_CONDITIONS,
  controlsFigure,
  seriesName,
} from "../lib/experiments/03_pareto/pareto_figures.ts";
import { point, synthetic } from "./pareto_fixtures.ts";

Deno.test("seriesName names an architecture in an evaluation mode", () => {
  assert.deepStrictEqual(seriesName("gsae"), "g-SAE");
  assert.deepStrictEqual(seriesName("gsae", "plain"), "g-SAE, plain TopK selection");
  assert.deepStrictEqual(seriesName("topk", "selection"), "TopK + g-SAE selection");
});

Deno.test("betaSweepFigure: three panels, TopK reference lines, the chosen β marked", () => {
  const row = (beta: number) => ({
    beta,
    dev: point({ architecture: beta ? "gsae" : "topk" }),
    val: point({ architecture: beta ? "gsae" : "topk" }),
    valPlain: point({ architecture: beta ? "gsae" : "topk", mode: "plain" }),
  });
  const fig = betaSweepFigure({ chosen: 0.5, chosenByKl: 1, rows: [row(0), row(0.5), row(1)] });
  assert.ok(fig.layout!.xaxis3);
  const shapes = fig.layout!.shapes as { x0: number }[];
  assert.deepStrictEqual(shapes.map((s) => s.x0), [0.5, 0.5, 0.5]);
  const g = fig.data.filter((t) => (t.name as string).startsWith("g-SAE"));
  assert.ok(g.every((t) => (t.x as number[]).join() === "0.5,1"), "β = 0 is not on the log axis");
  assert.ok(fig.data.some((t) => t.name === "TopK (β = 0), val"));
  // Five series, told apart without colour: each has its own (symbol, dash) pair.
  const legend = fig.data.filter((t) => t.showlegend);
  assert.equal(legend.length, 5);
  const pairs = legend.map((t) =>
    `${(t.marker as { symbol: string }).symbol}|${(t.line as { dash: string }).dash}`
  );
  assert.equal(new Set(pairs).size, 5);
});

Deno.test("controlsFigure: a bar per condition (mean ± sd) and a dot per seed", () => {
  const { mainK } = synthetic();
  const fig = controlsFigure(mainK);
  assert.deepStrictEqual(
    fig.data[0].x,
    CONTROL_CONDITIONS.map((c) => seriesName(c.architecture, c.mode)),
  );
  assert.deepStrictEqual((fig.data[1].y as number[]).length, 3 * CONTROL_CONDITIONS.length);
  assert.deepStrictEqual(fig.data.filter((t) => t.xaxis === "x2").length, 2);
  // A condition that was not run is left out.
  const noE2e = controlsFigure(mainK.filter((p) => p.architecture !== "e2e_topk"));
  assert.deepStrictEqual((noE2e.data[0].x as string[]).length, CONTROL_CONDITIONS.length - 1);
});
