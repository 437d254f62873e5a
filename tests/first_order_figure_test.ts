import assert from "node:assert/strict";
import type { FirstOrderResult } from "../lib/experiments/02_first_order/first_order.ts";
import {
  firstOrderFigure,
  firstOrderScatter,
} from "../lib/experiments/02_first_order/first_order_figure.ts";
import { summariseFirstOrder } from "../lib/experiments/02_first_order/first_order_summary.ts";

/** A result with two hooks and two magnitudes; samples scale with the magnitude. */
function fake(seed: number, spearmanFirstOrder: number): FirstOrderResult {
  const point = (fraction: number) => ({
    fraction,
    magnitude: fraction * 10,
    spearmanFirstOrder,
    spearmanNorm: 0.5,
    spearmanSigned: spearmanFirstOrder,
    relativeError: fraction,
    medianAbsDeltaLoss: fraction,
    n: 3,
    samples: {
      deltaLoss: [1, -2, 0].map((v) => v * fraction),
      firstOrder: [1.1, -1.9, 0.01].map((v) => v * fraction),
      norm: [1, 1, 1],
      position: [0, 1, 2],
    },
  });
  return {
    seed,
    magnitudeScale: "median_norm",
    sequences: 1,
    offsets: [0],
    seqLen: 16,
    hooks: ["blocks.1.hook_mlp_out", "blocks.1.hook_resid_post"].map((hook) => ({
      hook,
      medianNorm: 10,
      seconds: 0,
      points: [point(0.01), point(1)],
    })),
  };
}

Deno.test("firstOrderFigure: two panels, one line per hook, error bars spanning the seeds", () => {
  const fig = firstOrderFigure(summariseFirstOrder([fake(0, 0.9), fake(1, 0.7)]));
  assert.equal(fig.data.length, 4);
  assert.equal(fig.data.filter((t) => t.xaxis === "x2").length, 2);
  assert.equal((fig.layout!.xaxis as { type: string }).type, "log");
  const left = fig.data[0] as { y: number[]; error_y: { array: number[]; arrayminus: number[] } };
  assert.ok(Math.abs(left.y[0] - 0.8) < 1e-12);
  assert.ok(Math.abs(left.error_y.array[0] - 0.1) < 1e-12);
  assert.ok(Math.abs(left.error_y.arrayminus[0] - 0.1) < 1e-12);
  // The hooks differ in symbol and dash as well as colour (greyscale print).
  const pairs = fig.data.filter((t) => t.xaxis !== "x2").map((t) =>
    `${(t.marker as { symbol: string }).symbol}|${(t.line as { dash: string }).dash}`
  );
  assert.equal(new Set(pairs).size, 2);
});

Deno.test("firstOrderScatter: one trace per magnitude plus the diagonal, zeros left out", () => {
  const fig = firstOrderScatter(fake(0, 0.9), { hook: "blocks.1.hook_resid_post" });
  assert.equal(fig.data.length, 3);
  const first = fig.data[0] as { x: number[]; y: number[] };
  assert.deepEqual(first.y, [0.01, 0.02], "the ΔL = 0 sample is dropped");
  assert.ok(first.x.every((v) => v > 0));
  assert.equal((fig.layout!.yaxis as { type: string }).type, "log");
  assert.throws(() => firstOrderScatter(fake(0, 0.9), { hook: "nope" }), /no hook/);
});
