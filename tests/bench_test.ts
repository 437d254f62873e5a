// The benchmark's measurement helpers (lib/bench/bench.ts) and tables (lib/bench/report.ts).
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { activeBackend, initBackend } from "../lib/tensor/backend.ts";
import {
  benchActivations,
  countMatmuls,
  limitRate,
  lmShapes,
  randomIds,
  runTorchScript,
  saeShapes,
  shapeFlops,
  summarise,
  timeSAESteps,
} from "../lib/bench/bench.ts";
import { type BenchReport, benchTables } from "../lib/bench/report.ts";
import { GPT2 } from "../lib/gpt2/model.ts";
import { TINY_CONFIG } from "./fixtures/tiny_workspace.ts";

await initBackend();
const BLAS = activeBackend()?.name === "wasm+blas";

Deno.test("summarise: median step time and tokens per second", () => {
  const t = summarise([0.5, 0.1, 0.2], 100);
  assert.equal(t.median_s, 0.2);
  assert.equal(t.tokens_per_s, 500);
});

Deno.test("lmShapes counts exactly the sgemm FLOPs gradAtHook runs", () => {
  if (!BLAS) return console.log("skipped: matmuls are not on BLAS here");
  const config = { ...TINY_CONFIG, n_positions: 8, n_layer: 3 };
  const model = GPT2.random(config, 0);
  for (const hookLayer of [0, 1, 2]) {
    const ids = randomIds(2, 8, 50, hookLayer);
    const work = countMatmuls(() => {
      const r = model.gradAtHook(ids, `blocks.${hookLayer}.hook_resid_post`);
      tf.dispose([r.activation, r.gradient, r.losses]);
    });
    assert.equal(
      work.flops,
      shapeFlops(lmShapes(config, 2, 8, hookLayer)),
      `hook layer ${hookLayer}`,
    );
    ids.dispose();
  }
  model.dispose();
});

Deno.test("timeSAESteps times each step and counts its sgemm FLOPs (the encoder product)", async () => {
  const sizes = { d: 8, latents: 32, k: 4, batch: 16 };
  const data = benchActivations(sizes);
  for (const arch of ["topk", "gsae"] as const) {
    const r = await timeSAESteps(arch, data, sizes, { steps: 2, warmup: 1 });
    assert.equal(r.times.length, 2);
    if (BLAS) {
      for (const m of r.matmul) {
        assert.equal(m.flops, shapeFlops(saeShapes(sizes, arch === "gsae")));
      }
    }
  }
});

Deno.test("limitRate is the FLOP-weighted harmonic mean of the shapes' rates", () => {
  const a = { name: "a", m: 10, n: 10, k: 10 }, b = { name: "b", m: 10, n: 10, k: 30 };
  const shapes = [{ shape: a, count: 1 }, { shape: b, count: 1 }];
  assert.equal(limitRate(shapes, { a: 50, b: 50 }), 50);
  // 2,000 FLOPs at 10 and 6,000 at 30: 8,000 FLOPs in 400 ns → 20 GFLOP/s.
  assert.ok(Math.abs(limitRate(shapes, { a: 10, b: 30 }) - 20) < 1e-9);
});

Deno.test("runTorchScript reports a failing script instead of throwing", async () => {
  const r = await runTorchScript("/nonexistent/script.py", []);
  assert.equal(r.ok, false);
  if (!r.ok) assert.match(r.reason, /script\.py|python3/);
});

Deno.test("benchTables prints ratios, and 'skipped' with the reason when PyTorch did not run", () => {
  const timing = summarise([0.1], 4096);
  const report: BenchReport = {
    command: "deno task bench",
    backend: "backend: test",
    rows: [
      {
        key: "topk",
        work: "SAE step, TopK",
        ours: timing,
        torch: summarise([0.3], 4096),
        ratio: 3,
      },
      {
        key: "gsae",
        work: "SAE step, g-SAE",
        ours: timing,
        torch: null,
        torch_note: "no torch",
        ratio: null,
      },
    ].map((r) => ({
      ...r,
      matmul_gflop_per_step: 4.29,
      sgemm_seconds_per_step: 0.05,
      achieved_gflops: 42.9,
      limit_gflops: 100,
      fraction_of_limit: 0.429,
    })),
    gsae_over_topk_step_time: 1,
    sgemm_gflops: { "SAE encoder x·W_enc": 100 },
    store: {
      tokens: 4064,
      d: 128,
      bytes: 1,
      buildTokensPerSecond: 1000,
      computeTokensPerSecond: 1200,
      writeTokensPerSecond: 5000,
      readTokensPerSecond: 9000,
      batchesTokensPerSecond: 8000,
    },
  };
  const text = benchTables(report);
  assert.match(text, /\| SAE step, TopK \| 100 \| 40,960 \| 13,653 \| 3\.00 \| — \| — \|/);
  assert.match(text, /\| SAE step, g-SAE \| 100 \| 40,960 \| skipped \| — \| — \| — \|/);
  assert.match(text, /PyTorch not run: no torch/);
  assert.match(text, /\| SAE step, TopK \| 4\.29 \| 50 % \| 100\.0 \| 42\.9 \| 43 % \|/);
});
