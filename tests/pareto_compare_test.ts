import assert from "node:assert/strict";
import {
  frontierGaps,
  interpolateFrontier,
  pairedGain,
  pairedValues,
  select,
} from "../lib/experiments/03_pareto/pareto_compare.ts";
import { point, synthetic } from "./pareto_fixtures.ts";

Deno.test("interpolateFrontier is exact on a power law in log-log, and extrapolates", () => {
  const frontier = [4, 16, 64].map((k) => point({ architecture: "topk", k }));
  for (const l0 of [4, 8, 30, 64, 2, 128]) {
    assert.ok(Math.abs(interpolateFrontier(frontier, l0, "deltaCe") - 1 / l0) < 1e-12);
  }
  assert.deepStrictEqual(interpolateFrontier(frontier.slice(0, 1), 99, "fvu"), 0.5);
  assert.throws(() => interpolateFrontier([], 1, "kl"), /empty/);
});

Deno.test("select picks an architecture in a mode (true by default)", () => {
  const { mainK } = synthetic();
  assert.deepStrictEqual(select(mainK, { architecture: "gsae" }).length, 3);
  assert.ok(
    select(mainK, { architecture: "gsae", mode: "plain" }).every((p) => p.mode === "plain"),
  );
  assert.deepStrictEqual(select(mainK, { architecture: "gated" }), []);
});

Deno.test("frontierGaps and pairedGain: signs say which is better; seeds are paired", () => {
  const { frontier, mainK } = synthetic();
  const gaps = frontierGaps(
    select(frontier, { architecture: "gsae" }),
    select(frontier, { architecture: "topk" }),
    "deltaCe",
  );
  assert.deepStrictEqual(gaps.map((g) => g.k), [4, 8, 16]);
  for (const g of gaps) assert.ok(Math.abs(g.gap + 0.2) < 1e-12);
  // Pairing is by seed, whatever the order of the points.
  const shuffled = [...mainK].reverse();
  const v = pairedValues(shuffled, { architecture: "gsae" }, { architecture: "topk" }, "deltaCe");
  assert.deepStrictEqual(v.seeds, [2, 1, 0]);
  const gain = pairedGain(mainK, { architecture: "gsae" }, { architecture: "topk" }, "deltaCe");
  gain.values.forEach((g, seed) => assert.ok(Math.abs(g - 0.025 * (1 + 0.01 * seed)) < 1e-12));
  assert.throws(
    () => pairedGain(mainK, { architecture: "gated" }, { architecture: "topk" }, "kl"),
    /no seed/,
  );
});
