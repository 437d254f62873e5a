import assert from "node:assert/strict";
import { initBackend } from "../lib/tensor/backend.ts";
import type { GPT2Config } from "../lib/gpt2/config.ts";
import { GPT2 } from "../lib/gpt2/model.ts";
import { mean, std } from "../lib/metrics/mod.ts";
import { Rng } from "../lib/tensor/random.ts";
import { jitteredOffsets } from "../lib/data/windows.ts";
import {
  firstOrderVsNorm,
  perturbationRadius,
} from "../lib/experiments/02_first_order/first_order.ts";
import { TINY_CONFIG } from "./fixtures/tiny_workspace.ts";

await initBackend();

const CONFIG: GPT2Config = TINY_CONFIG;
const model = GPT2.random(CONFIG, 7, 0.3);
const rng = new Rng(11);
const DATA = Int32Array.from({ length: 4000 }, () => rng.int(CONFIG.vocab_size));

Deno.test("perturbationRadius is uniform with mean m and std m/2", () => {
  const v = Array.from({ length: 10001 }, (_, i) => i / 10000);
  const r = v.map((x) => perturbationRadius(2, x));
  assert.ok(Math.abs(mean(r) - 2) < 1e-3);
  assert.ok(Math.abs(std(r) - 1) < 1e-3);
  assert.ok(Math.min(...r) > 0);
});

const HOOKS = ["blocks.0.hook_mlp_out", "blocks.0.hook_resid_post", "blocks.1.hook_resid_post"];
const firstOrder = await firstOrderVsNorm(model, DATA, {
  hooks: HOOKS,
  magnitudes: [1e-3, 0.3],
  perturbations: 100,
  replicas: 20,
  seed: 4,
});

Deno.test("firstOrderVsNorm: tiny perturbations are predicted by the first-order estimate", () => {
  assert.equal(firstOrder.hooks.length, 3);
  assert.equal(firstOrder.sequences, 5);
  for (const h of firstOrder.hooks) {
    const [tiny, large] = h.points;
    assert.equal(tiny.n, 100);
    assert.ok(tiny.magnitude === 1e-3 * h.medianNorm && h.medianNorm > 0);
    assert.ok(tiny.spearmanFirstOrder > 0.95, `${h.hook}: ${tiny.spearmanFirstOrder}`);
    assert.ok(tiny.spearmanSigned > 0.95, `${h.hook}: ${tiny.spearmanSigned}`);
    // The exactness check: ΔL ≈ ∇L·δ up to second-order terms.
    assert.ok(tiny.relativeError < 0.05, `${h.hook}: relative error ${tiny.relativeError}`);
    assert.ok(Number.isFinite(tiny.spearmanNorm) && Number.isFinite(large.spearmanFirstOrder));
    assert.ok(large.relativeError > tiny.relativeError);
    assert.ok(tiny.samples.position.every((p) => p >= 0 && p < CONFIG.n_positions - 1));
  }
});

Deno.test("firstOrderVsNorm is deterministic for a seed; windowSeed changes the windows", async () => {
  const options = {
    hooks: HOOKS.slice(0, 1),
    magnitudes: [1e-3, 0.3],
    perturbations: 100,
    replicas: 20,
    seed: 4,
  };
  const again = await firstOrderVsNorm(model, DATA, options);
  assert.deepEqual(again.hooks[0].points, firstOrder.hooks[0].points);
  const moved = await firstOrderVsNorm(model, DATA, {
    ...options,
    perturbations: 20,
    windowSeed: 5,
  });
  assert.deepEqual(moved.offsets, jitteredOffsets(DATA.length, 1, { seqLen: 16, seed: 5 }));
  assert.deepEqual(again.offsets, [0, 996, 1992, 2988, 3984]);
  // Same plan, other tokens: the first perturbation's ΔL differs.
  assert.notEqual(
    moved.hooks[0].points[0].samples.deltaLoss[0],
    again.hooks[0].points[0].samples.deltaLoss[0],
  );
});

Deno.test("firstOrderVsNorm: absolute magnitudes are used as given", async () => {
  const r = await firstOrderVsNorm(model, DATA, {
    hooks: HOOKS.slice(1, 2),
    magnitudes: [0.01],
    magnitudeScale: "absolute",
    perturbations: 10,
    replicas: 10,
    seed: 1,
  });
  assert.equal(r.magnitudeScale, "absolute");
  assert.equal(r.hooks[0].points[0].magnitude, 0.01);
  const norms = r.hooks[0].points[0].samples.norm;
  assert.ok(norms.every((n) => n > 0.01 * (1 - Math.sqrt(3) / 2) - 1e-9));
});

Deno.test("firstOrderVsNorm: copies of a window run one per pass give the same loss changes", async () => {
  const options = {
    hooks: HOOKS.slice(0, 2),
    magnitudes: [1e-3, 0.3],
    perturbations: 20,
    replicas: 10,
    seed: 4,
  };
  const batched = await firstOrderVsNorm(model, DATA, options);
  const single = await firstOrderVsNorm(model, DATA, { ...options, copiesPerPass: 1 });
  batched.hooks.forEach((h, i) =>
    h.points.forEach((p, j) => {
      const other = single.hooks[i].points[j].samples.deltaLoss;
      const scale = Math.max(...p.samples.deltaLoss.map(Math.abs));
      assert.ok(scale > 0);
      p.samples.deltaLoss.forEach((v, k) =>
        // Up to float32 rounding of the summed losses (~15 tokens × ~4 nats), which other batch
        // shapes change.
        assert.ok(Math.abs(v - other[k]) <= 1e-5 + 1e-4 * scale, `${h.hook} m=${p.fraction}`)
      );
    })
  );
});
