import assert from "node:assert/strict";
import { directionalFigure } from "../lib/experiments/01_directional/directional_figure.ts";
import type {
  DirectionalBootstrap,
  Estimate,
} from "../lib/experiments/01_directional/directional_summary.ts";

const est = (value: number, width = 0.1): Estimate => ({
  value,
  low: value - width,
  high: value + width,
});

/** One seed's bootstrap over `layers` layers, scaled by `scale`. */
function boot(seed: number, layers: number, scale: number): DirectionalBootstrap {
  return {
    seed,
    depthTrend: est(0),
    layers: Array.from({ length: layers }, (_, layer) => ({
      layer,
      mean: {
        activation_difference: est(2 * scale),
        isotropic: est(scale),
        distribution_matched: est(1.5 * scale),
      },
      ratios: {
        differenceToIsotropic: est(2),
        differenceToMatched: est(4 / 3),
        matchedToIsotropic: est(1.5),
      },
    })),
  };
}

Deno.test("directionalFigure: grouped linear bars from 0 and per-seed ratio markers on log", () => {
  const fig = directionalFigure([boot(0, 3, 1), boot(1, 3, 3)], { hookKind: "resid_post" });
  const bars = fig.data.filter((t) => t.type === "bar") as {
    y: number[];
    error_y: { array: number[]; arrayminus: number[] };
    marker: { pattern: { shape: string } };
  }[];
  assert.equal(bars.length, 3);
  // Bars on a linear axis from 0 (never on a log axis, where bar heights mislead); the ratios,
  // markers only, on a log axis.
  const yaxis = fig.layout!.yaxis as { type?: string; rangemode?: string };
  assert.notEqual(yaxis.type, "log");
  assert.equal(yaxis.rangemode, "tozero");
  assert.equal((fig.layout!.yaxis2 as { type: string }).type, "log");
  assert.ok(fig.data.filter((t) => t.yaxis === "y2").every((t) => t.type === "scatter"));
  // The kinds differ in pattern as well as colour (greyscale print).
  const shapes = bars.map((b) => b.marker.pattern.shape);
  assert.equal(new Set(shapes).size, 3);
  assert.equal(fig.layout!.barmode, "group");
  // Difference bars: mean of 2 and 6; error bars reach the lowest and highest interval ends.
  assert.deepEqual(bars[0].y, [4, 4, 4]);
  assert.ok(Math.abs(bars[0].error_y.array[0] - (6.1 - 4)) < 1e-12);
  assert.ok(Math.abs(bars[0].error_y.arrayminus[0] - (4 - 1.9)) < 1e-12);
  const markers = fig.data.filter((t) => t.yaxis === "y2") as { x: number[]; y: number[] }[];
  assert.equal(markers.length, 2 * 2, "two kinds × two seeds");
  assert.deepEqual(markers[0].y, [2, 2, 2]);
  assert.equal(new Set(markers.flatMap((m) => m.x)).size, 12, "markers do not overlap");
});
