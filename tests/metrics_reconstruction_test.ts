import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { initBackend } from "../lib/tensor/backend.ts";
import {
  fvu,
  fvuDenominator,
  l0,
  mse,
  normalisedMse,
  ReconstructionStats,
} from "../lib/metrics/reconstruction.ts";
import { close } from "./metrics_fixtures.ts";

await initBackend();

// x̂ − x = [[0, −1], [0, 1]]: Σ err² = 2; Σ x² = 30; x̄ = [2, 3] so Σ‖x − x̄‖² = 4.
const X = [[1, 2], [3, 4]], X_HAT = [[1, 1], [3, 5]];

Deno.test("reconstruction metrics on a hand-computed example", () => {
  const [x, xHat] = [tf.tensor2d(X), tf.tensor2d(X_HAT)];
  const read = (t: tf.Scalar) => {
    const v = t.dataSync()[0];
    t.dispose();
    return v;
  };
  close(read(mse(x, xHat)), 0.5);
  close(read(normalisedMse(x, xHat)), 0.5 / 7.5);
  close(read(fvu(x, xHat)), 0.5);
  close(fvuDenominator(new Float32Array(X.flat()), 2, 2), 4);
  close(fvuDenominator(new Float32Array([3, 3, 3]), 3, 1), 1e-12, 1e-20);
  const latents = tf.tensor2d([[0, 1, 2], [0, 0, -3]]);
  close(read(l0(latents)), 1.5);
  tf.dispose([x, xHat, latents]);
});

Deno.test("ReconstructionStats over two batches equals the metrics over their union", async () => {
  const stats = new ReconstructionStats();
  for (let i = 0; i < 2; i++) {
    const [x, xHat, z] = [tf.tensor2d([X[i]]), tf.tensor2d([X_HAT[i]]), tf.tensor2d([[i, 1, 0]])];
    await stats.add(x, xHat, z);
    tf.dispose([x, xHat, z]);
  }
  assert.equal(stats.tokens, 2);
  close(stats.mse, 0.5);
  close(stats.normalisedMse, 0.5 / 7.5);
  close(stats.fvu, 0.5, 1e-9, "fvu uses the mean over both batches");
  close(stats.l0, 1.5);
});

Deno.test("ReconstructionStats: shrinkage γ is c for x̂ = c·x, and Σ‖x̂‖²/Σx̂·x in general", async () => {
  const scaled = new ReconstructionStats();
  const x = tf.tensor2d([[1, 2, -1], [0.5, -3, 2]]);
  const half = tf.mul(x, 0.5) as tf.Tensor2D;
  await scaled.add(x, half);
  close(scaled.shrinkage, 0.5);
  const general = new ReconstructionStats();
  const xHat = tf.tensor2d([[1, 1, 0], [0, -2, 2]]);
  await general.add(x, xHat);
  // Σ‖x̂‖² = 2 + 8 = 10; Σ x̂·x = (1 + 2) + (6 + 4) = 13.
  close(general.shrinkage, 10 / 13);
  tf.dispose([x, half, xHat]);
});
