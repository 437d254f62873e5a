import assert from "node:assert/strict";
import {
  failure,
  fitAxes,
  groupOverSeeds,
  selectGroups,
  spreadSideways,
} from "../lib/experiments/03_pareto/frontier_layout.ts";
import { point } from "./pareto_fixtures.ts";

Deno.test("groupOverSeeds: one group per configuration, duplicates once, mean ± sd", () => {
  const pts = [
    point({ architecture: "topk", seed: 0, deltaCe: 0.1 }),
    point({ architecture: "topk", seed: 1, deltaCe: 0.3 }),
    point({ architecture: "topk", seed: 0, deltaCe: 0.1 }), // the same SAE again
    point({ architecture: "topk", k: 16, seed: 0 }),
    point({ architecture: "gsae", seed: 0, mode: "plain" }),
    point({ architecture: "gsae", seed: 0 }),
  ];
  const groups = groupOverSeeds(pts);
  assert.deepStrictEqual(groups.map((g) => [g.name, g.first.mode, g.seeds]), [
    ["topk-k8", "true", [0, 1]],
    ["topk-k16", "true", [0]],
    ["gsae-k8", "plain", [0]],
    ["gsae-k8", "true", [0]],
  ]);
  assert.ok(Math.abs(groups[0].metrics.deltaCe.mean - 0.2) < 1e-12);
  assert.ok(Math.abs(groups[0].metrics.deltaCe.std - Math.sqrt(0.02)) < 1e-12);
  assert.equal(groups[1].metrics.deltaCe.std, 0);
  assert.equal(selectGroups(groups, { architecture: "gsae", mode: "plain" }).length, 1);
  assert.equal(selectGroups(groups, { architecture: "gsae" })[0], groups[3]);
});

Deno.test("failure: L0 below 1 or CE recovered below mean-ablation", () => {
  const [ok, low, neg] = groupOverSeeds([
    point({ architecture: "topk" }),
    point({ architecture: "gated", name: "a", label: "a", l0: 0.5 }),
    point({ architecture: "gated", name: "b", label: "b", fracRecoveredMean: -0.1 }),
  ]);
  assert.equal(failure(ok), null);
  assert.equal(failure(low), "collapsed: L0 0.50");
  assert.equal(failure(neg), "collapsed: CE recovered -10.0 %");
});

Deno.test("fitAxes: fits the focus, draws what is within reach, names the rest", () => {
  const groups = groupOverSeeds([
    point({ architecture: "topk", k: 10, deltaCe: 0.1 }),
    point({ architecture: "topk", k: 100, deltaCe: 0.01 }),
    point({ architecture: "gsae", k: 50, deltaCe: 0.019 }), // within reach: drawn
    point({ architecture: "e2e_topk", k: 50, deltaCe: 0.5 }), // 5× above: left off
    point({ architecture: "gated", k: null, l0: 0.8, name: "g", fracRecoveredMean: -1 }),
  ]);
  const fit = fitAxes(groups, { metric: "deltaCe", focus: [{ architecture: "topk" }] });
  assert.deepStrictEqual(fit.drawn.map((g) => g.name), ["topk-k10", "topk-k100", "gsae-k50"]);
  assert.deepStrictEqual(fit.leftOff.map((l) => [l.group.name, l.why]), [
    ["g", "collapsed: L0 0.80, CE recovered -100.0 %"],
    ["e2e_topk-k50", "off scale: ΔCE 0.500"],
  ]);
  const near = (a: number, b: number) => Math.abs(a - b) < 1e-9;
  assert.ok(near(fit.x[0], Math.log10(10 / 1.15)) && near(fit.x[1], Math.log10(100 * 1.15)));
  assert.ok(near(fit.y[0], Math.log10(0.01 / 1.15)) && near(fit.y[1], Math.log10(0.1 * 1.15)));
  // Without a focus every healthy group is fitted; the collapsed one is still left off.
  const all = fitAxes(groups, { metric: "deltaCe" });
  assert.equal(all.drawn.length, 4);
  assert.deepStrictEqual(all.leftOff.map((l) => l.group.name), ["g"]);
});

Deno.test("spreadSideways: clusters at one L0 spread around it, lone points stay", () => {
  const step = 0.01;
  const off = spreadSideways([32, 16, 32, 32.05, 64], { step });
  assert.deepStrictEqual(off.map((o) => Math.round(o / step * 1000) / 1000), [-1, 0, 0, 1, 0]);
  assert.deepStrictEqual(spreadSideways([]), []);
});
