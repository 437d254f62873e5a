import assert from "node:assert/strict";
import { paretoFigure } from "../lib/experiments/03_pareto/pareto_frontier_figure.ts";
import { point, synthetic } from "./pareto_fixtures.ts";

type Trace = {
  name: string;
  x: number[];
  y: number[];
  mode: string;
  showlegend: boolean;
  xaxis?: string;
  error_y: { array: number[] };
  text: string[];
  marker: { symbol: string };
  line: { dash: string };
};

Deno.test("paretoFigure: a line per frontier, means ± sd over seeds, a panel per metric", () => {
  const { frontier, mainK } = synthetic();
  const further = [point({ architecture: "gated", k: null, l0: 20, label: "gated-s0" })];
  const fig = paretoFigure({ frontier, mainK, further }, {
    panels: [{ metric: "deltaCe" }, { metric: "kl" }],
    title: "t",
  });
  const traces = fig.data as Trace[];
  const names = traces.map((t) => t.name);
  for (const n of ["TopK", "g-SAE", "g-SAE, plain TopK selection", "e2e-TopK", "Gated"]) {
    assert.ok(names.includes(n), n);
  }
  assert.ok(traces.some((t) => t.xaxis === "x2"));
  assert.deepStrictEqual((fig.layout!.yaxis2 as { type: string }).type, "log");
  // Lines run in order of L0; only the first panel fills the legend; Gated is markers only.
  const topk = traces.filter((t) => t.name === "TopK");
  assert.deepStrictEqual(topk.map((t) => t.showlegend), [true, false]);
  assert.equal(topk[0].mode, "lines+markers");
  assert.equal(traces.find((t) => t.name === "Gated")!.mode, "markers");
  // TopK at k = 8 is the mean of three seeds (the frontier's seed 0 counts once) with its sd;
  // k = 4 and 16 have one seed: no bar, n = 1 in the hover text.
  assert.equal(topk[0].y.length, 3);
  const mean = 0.125 * (1 + 1.01 + 1.02) / 3;
  assert.ok(Math.abs(topk[0].y[1] - mean) < 1e-12);
  assert.ok(topk[0].error_y.array[1] > 0);
  assert.equal(topk[0].error_y.array[0], 0);
  assert.match(topk[0].text[0], /n = 1 seed \(0\)/);
  assert.match(topk[0].text[1], /n = 3 seeds \(0, 1, 2\)/);
  const one = paretoFigure({ frontier }, { panels: [{ metric: "fvu" }], title: "t" });
  assert.ok(!one.layout!.xaxis2);
  assert.deepStrictEqual((one.layout!.xaxis as { domain: number[] }).domain, [0, 1]);
});

Deno.test("paretoFigure: markers at one L0 are spread sideways, each series in its own style", () => {
  const { frontier, mainK } = synthetic();
  const further = [
    point({ architecture: "mutual_choice", k: 8 }),
    point({ architecture: "gradient_mutual_choice", k: 8, mode: "plain" }),
  ];
  const fig = paretoFigure({ frontier, mainK, further }, {
    panels: [{ metric: "deltaCe" }],
    title: "t",
  });
  const traces = fig.data as Trace[];
  // Six series at L0 = 8: six distinct x positions within a few % of 8, centred on it.
  const at8 = traces.map((t) => t.x.find((x) => Math.abs(Math.log10(x / 8)) < 0.05)!);
  assert.equal(at8.length, 6);
  assert.equal(new Set(at8).size, 6);
  const logs = at8.map((x) => Math.log10(x / 8));
  assert.ok(Math.abs(logs.reduce((a, b) => a + b, 0)) < 1e-12);
  // Distinct (symbol, dash) pairs: the series stay apart in greyscale.
  const pairs = traces.map((t) => `${t.marker.symbol}|${t.line.dash}`);
  assert.equal(new Set(pairs).size, traces.length);
  // The hover text keeps the true L0.
  assert.match(traces[0].text[1], /L0 8\.0/);
});

Deno.test("paretoFigure: the axes fit the frontiers; collapsed and far-off points are named", () => {
  const { frontier, mainK } = synthetic();
  const further = [
    // A collapsed Gated run: L0 below 1 and CE recovered below mean-ablation.
    point({
      architecture: "gated",
      k: null,
      l0: 0.8,
      name: "gated-x1-s0",
      deltaCe: 2.25,
      fracRecoveredMean: -0.048,
    }),
    // Healthy but far above the frontiers' ΔCE.
    point({ architecture: "jumprelu", k: 8, deltaCe: 5 }),
    // Near the frontiers: drawn, widening the axis a little.
    point({ architecture: "mutual_choice", k: 8, deltaCe: 0.3 }),
  ];
  const fig = paretoFigure({ frontier, mainK, further }, {
    panels: [{ metric: "deltaCe", focus: [{ architecture: "topk" }, { architecture: "gsae" }] }],
    title: "t",
  });
  const traces = fig.data as Trace[];
  const names = traces.map((t) => t.name);
  assert.ok(!names.includes("Gated") && !names.includes("JumpReLU"), "left off");
  assert.ok(names.includes("Mutual Choice"));
  const note = (fig.layout!.annotations as { text: string }[])[0].text.replaceAll("<br>", " ");
  assert.match(note, /Gated gated-x1 \(collapsed: L0 0\.80, CE recovered -4\.8 %\)/);
  assert.match(note, /JumpReLU jumprelu-k8 \(off scale: ΔCE 5\.00\)/);
  // x: the frontiers' L0 (4 … 16), not stretched to the collapsed run's 0.8.
  const x = (fig.layout!.xaxis as { range: number[] }).range;
  assert.ok(x[0] > Math.log10(3) && x[1] < Math.log10(25), `x range ${x}`);
  // y: every drawn point, from e2e-TopK's ΔCE at k = 16 (0.7 / 16, within reach of the focus)
  // up to Mutual Choice's 0.3, with a margin.
  const y = (fig.layout!.yaxis as { range: number[] }).range;
  assert.ok(Math.abs(y[0] - Math.log10(0.7 / 16 / 1.15)) < 1e-9);
  assert.ok(Math.abs(y[1] - Math.log10(0.3 * 1.15)) < 1e-9);
});
