// The Fisher g-SAE (lib/sae/fisher_gsae.ts): with one gradient it selects exactly as the g-SAE;
// its directional norm is sqrt(mean_s (d·g_s)²); the fused step equals the plain one; and on a
// tiny GPT-2 the sampled-token estimator matches the exact Fisher quadratic form dᵀFd, itself
// equal to Var_{y~p}((J d)_y) with J d from finite differences of the logits.
import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { initBackend } from "../lib/tensor/backend.ts";
import { loadBlas } from "../lib/tensor/blas.ts";
import { Rng } from "../lib/tensor/random.ts";
import { GPT2 } from "../lib/gpt2/model.ts";
import { sampleFromLogits } from "../lib/gpt2/generate.ts";
import { preActivations } from "../lib/sae/base.ts";
import {
  createFisherGSAE,
  fisherDirectionalNorm,
  fisherScores,
  fisherTopKMask,
} from "../lib/sae/fisher_gsae.ts";
import { fusedLossFor, readSAEArrays } from "../lib/sae/fused.ts";
import { createGSAE, gradientAwareScores, gradientTopKMask } from "../lib/sae/gsae.ts";
import { createSAE, disposeSAE } from "../lib/sae/mod.ts";
import { type ActivationData, trainSAE } from "../lib/sae/trainer.ts";
import { TINY_CONFIG } from "./fixtures/tiny_workspace.ts";

await initBackend();
const HAVE_BLAS = loadBlas() !== null;
const D = 16, F = 128, N = 96;

function gaussian(seed: number, n: number, scale = 1): Float32Array {
  return new Rng(seed).normalArray(n, scale);
}

Deno.test("fisher_gsae with one gradient selects exactly as the g-SAE (scores bit for bit)", () => {
  for (const gradNorm of ["batch_mean", "none"] as const) {
    const beta = gradNorm === "none" ? 300 : 1;
    const fisher = createFisherGSAE({
      d_in: D,
      d_sae: F,
      k: 6,
      seed: 3,
      beta,
      grad_norm: gradNorm,
    });
    const gsae = createGSAE({ d_in: D, d_sae: F, k: 6, seed: 3, beta, grad_norm: gradNorm });
    tf.tidy(() => {
      const x = tf.tensor2d(gaussian(1, N * D), [N, D]);
      const grad = tf.tensor2d(gaussian(2, N * D, 1e-3), [N, D]);
      const z = preActivations(fisher.params, x);
      const options = { beta, gradNorm };
      const a = fisherScores({ z, grad, params: fisher.params }, options).dataSync();
      const b = gradientAwareScores({ z, grad, params: gsae.params }, options).dataSync();
      assert.deepEqual(a, b, `${gradNorm}: scores`);
      const config = { beta, k: 6, grad_norm: gradNorm };
      const ma = fisherTopKMask({ z, grad, params: fisher.params }, config).dataSync();
      const mb = gradientTopKMask({ z, grad, params: gsae.params }, config).dataSync();
      assert.deepEqual(ma, mb, `${gradNorm}: masks`);
      assert.deepEqual(fisher.encode(x, { grad }).dataSync(), gsae.encode(x, { grad }).dataSync());
    });
    disposeSAE(fisher);
    disposeSAE(gsae);
  }
});

Deno.test("fisherDirectionalNorm is sqrt(mean_s (d_i·g_s)²) over the S gradients of a row", () => {
  const n = 5, s = 3, f = 7;
  const g = gaussian(4, n * s * D), w = gaussian(5, f * D);
  const u = tf.tidy(() =>
    fisherDirectionalNorm(tf.tensor2d(g, [n, s * D]), tf.tensor2d(w, [f, D])).dataSync()
  );
  for (let t = 0; t < n; t++) {
    for (let i = 0; i < f; i++) {
      let sum = 0;
      for (let r = 0; r < s; r++) {
        let dot = 0;
        for (let c = 0; c < D; c++) dot += g[(t * s + r) * D + c] * w[i * D + c];
        sum += dot * dot;
      }
      const want = Math.sqrt(sum / s);
      assert.ok(Math.abs(u[t * f + i] - want) <= 1e-5 * want + 1e-7, `u[${t}, ${i}]`);
    }
  }
  assert.throws(
    () => tf.tidy(() => fisherDirectionalNorm(tf.zeros([2, 20]), tf.zeros([4, D]))),
    /not S gradients of 16/,
  );
});

Deno.test("fisher_gsae: the fused step equals the plain tfjs path (S = 4 and S = 1, AuxK)", () => {
  if (!HAVE_BLAS) return console.log("skipped: OpenBLAS unavailable");
  for (const s of [4, 1]) {
    const sae = createFisherGSAE({ d_in: D, d_sae: F, k: 6, seed: 3, beta: 1, samples: s });
    sae.params.get("b_dec")!.assign(tf.fill([D], 0.3));
    const fused = fusedLossFor(sae)!;
    assert.ok(fused, "has a fused loss");
    const x = gaussian(7, N * D), grad = gaussian(8, N * s * D, 1e-3);
    const tokensSinceFired = new Float32Array(F);
    for (const j of [1, 5, 17, 40]) tokensSinceFired[j] = 5000;
    const ctx = { tokensSinceFired, deadWindowTokens: 1000, firingFrequency: new Float32Array(F) };
    const want = tf.tidy(() => {
      const r = sae.loss({
        x: tf.tensor2d(x, [N, D]),
        grad: tf.tensor2d(grad, [N, s * D]),
      }, { ...ctx, step: 0 });
      const fired = tf.sum(tf.cast(tf.notEqual(r.latents, 0), "float32"), 0).dataSync();
      return { loss: r.loss.dataSync()[0], fired };
    });
    const got = fused.lossAndGrads(readSAEArrays(sae), x, grad, N, ctx);
    assert.deepEqual(got.fired, want.fired, `S=${s}: fired`);
    assert.ok(Math.abs(got.loss - want.loss) <= 1e-5 * want.loss, `S=${s}: loss`);
    if (s === 1) {
      // One gradient: the fused Fisher step is the fused g-SAE step.
      const g = createGSAE({ d_in: D, d_sae: F, k: 6, seed: 3, beta: 1 });
      g.params.get("b_dec")!.assign(tf.fill([D], 0.3));
      const same = fusedLossFor(g)!.lossAndGrads(readSAEArrays(g), x, grad, N, ctx);
      assert.deepEqual(got.fired, same.fired, "S=1: fired as the g-SAE");
      assert.equal(got.loss, same.loss, "S=1: loss as the g-SAE");
      disposeSAE(g);
    }
    disposeSAE(sae);
  }
});

Deno.test("fisher_gsae trains from S-gradient rows; the fused run ends at the plain run's weights", async () => {
  if (!HAVE_BLAS) return console.log("skipped: OpenBLAS unavailable");
  const n = 512, s = 3;
  const data: ActivationData = {
    kind: "activations",
    x: gaussian(21, n * D),
    grad: gaussian(22, n * s * D, 1e-3),
    n,
    d: D,
  };
  const run = async (fused: boolean) => {
    const sae = createSAE({ architecture: "fisher_gsae", d_in: D, d_sae: F, seed: 2, k: 4 });
    const r = await trainSAE(sae, data, {
      tokens: 6 * 64,
      batchSize: 64,
      lr: 1e-2,
      warmupSteps: 1,
      minLrRatio: 0.5,
      seed: 3,
      deadWindowTokens: 64,
      bDecInit: "mean",
      logEvery: 1,
      checkpointEvery: 0,
    }, { log: () => {}, fused });
    const params = readSAEArrays(sae);
    disposeSAE(sae);
    return { r, params };
  };
  const plainRun = await run(false), fusedRun = await run(true);
  assert.deepEqual(fusedRun.r.firingCounts, plainRun.r.firingCounts, "firing");
  for (const p of ["W_enc", "W_dec", "b_enc", "b_dec"] as const) {
    let worst = 0, scale = 0;
    for (let i = 0; i < fusedRun.params[p].length; i++) {
      worst = Math.max(worst, Math.abs(fusedRun.params[p][i] - plainRun.params[p][i]));
      scale = Math.max(scale, Math.abs(plainRun.params[p][i]));
    }
    assert.ok(worst <= 1e-4 * scale, `${p}: max |diff| ${worst}`);
  }
});

/** The tiny model, one window, and what the exact and sampled Fisher forms need. */
function tinySetup() {
  const model = GPT2.random(TINY_CONFIG, 7, 0.3);
  const T = 8, V = TINY_CONFIG.vocab_size, d = TINY_CONFIG.n_embd;
  const rng = new Rng(3);
  const window = Int32Array.from({ length: T }, () => rng.int(V));
  const hook = "blocks.0.hook_resid_post";
  const dirs = [0, 1, 2].map((i) => {
    const v = gaussian(40 + i, d);
    const norm = Math.hypot(...v);
    return v.map((c) => c / norm);
  });
  return { model, T, V, d, window, hook, dirs };
}

/** Per-token gradient rows [rows, T, d] at `targets` [rows, T − 1] for `rows` copies of the window. */
function perTokenGradients(
  model: GPT2,
  window: Int32Array,
  options: { hook: string; targets: Int32Array; rows: number },
): Float32Array {
  const T = window.length, { rows } = options;
  const idsArr = new Int32Array(rows * T);
  for (let r = 0; r < rows; r++) idsArr.set(window, r * T);
  const ids = tf.tensor2d(idsArr, [rows, T], "int32");
  const targets = tf.tensor2d(options.targets, [rows, T - 1], "int32");
  const g = model.gradAtHook(ids, options.hook, { targets, perToken: true });
  const out = g.gradient.dataSync() as Float32Array;
  tf.dispose([ids, targets, ...Object.values(g)]);
  return out;
}

Deno.test("Fisher estimator on a tiny GPT-2: exact dᵀFd = Var_p(J d) (finite differences), and 2,000 samples agree within 4 standard errors", () => {
  const { model, T, V, d, window, hook, dirs } = tinySetup();
  const ids = tf.tensor2d(window, [1, T], "int32");
  const logits = tf.tidy(() => model.unembed(model.finalResidual(ids)).dataSync()) as Float32Array;
  const probs = (t: number) => {
    const row = logits.subarray(t * V, (t + 1) * V), max = Math.max(...row);
    const e = Array.from(row, (v) => Math.exp(v - max)), total = e.reduce((a, b) => a + b, 0);
    return e.map((v) => v / total);
  };
  const dot = (g: Float32Array, o: number, v: Float32Array) => {
    let s = 0;
    for (let c = 0; c < d; c++) s += g[o + c] * v[c];
    return s;
  };
  // Exact: Σ_y p_y (g_y·d)², with g_y the per-token gradient at target y (all V targets).
  const exact: number[][] = Array.from({ length: T - 1 }, () => dirs.map(() => 0));
  const gradsByTarget = perTokenGradients(model, window, {
    hook,
    targets: Int32Array.from({ length: V * (T - 1) }, (_, i) => Math.floor(i / (T - 1))),
    rows: V,
  });
  for (let t = 0; t < T - 1; t++) {
    const p = probs(t);
    for (let y = 0; y < V; y++) {
      dirs.forEach((v, j) => exact[t][j] += p[y] * dot(gradsByTarget, (y * T + t) * d, v) ** 2);
    }
  }

  // Independent: Var_{y~p}((J d)_y), J d by central differences of position t's logits when
  // only x_t moves along d.
  const positions = [0, 3, T - 2];
  const state = model.runToHook(ids, hook);
  const x = state.activation.dataSync() as Float32Array, h = 1e-2;
  for (const t of positions) {
    const p = probs(t);
    dirs.forEach((v, j) => {
      const at = (sign: number) => {
        const moved = x.slice();
        for (let c = 0; c < d; c++) moved[t * d + c] += sign * h * v[c];
        return tf.tidy(() => {
          const activation = tf.tensor3d(moved, [1, T, d]);
          const out = model.unembed(model.runFromHook(hook, { ...state, activation }));
          return out.slice([0, t, 0], [1, 1, V]).dataSync() as Float32Array;
        });
      };
      const plus = at(1), minus = at(-1);
      const jd = Array.from(plus, (a, y) => (a - minus[y]) / (2 * h));
      const mean = jd.reduce((s, a, y) => s + p[y] * a, 0);
      const variance = jd.reduce((s, a, y) => s + p[y] * (a - mean) ** 2, 0);
      const rel = Math.abs(variance - exact[t][j]) / exact[t][j];
      assert.ok(rel < 1e-3, `t=${t} d${j}: Var_p(Jd) ${variance} vs Σ p (g·d)² ${exact[t][j]}`);
    });
  }

  // Monte Carlo: the estimator's samples, (g_s·d)² at y_s ~ p, 8 batches of 250 draws.
  const rng = new Rng(17), rows = 250, batches = 8;
  const sums = exact.map((r) => r.map(() => ({ s: 0, s2: 0 })));
  for (let b = 0; b < batches; b++) {
    const targets = new Int32Array(rows * (T - 1));
    for (let r = 0; r < rows; r++) {
      for (let t = 0; t < T - 1; t++) {
        targets[r * (T - 1) + t] = sampleFromLogits(logits.subarray(t * V, (t + 1) * V), 1, rng);
      }
    }
    const g = perTokenGradients(model, window, { hook, targets, rows });
    for (let r = 0; r < rows; r++) {
      for (let t = 0; t < T - 1; t++) {
        dirs.forEach((v, j) => {
          const q = dot(g, (r * T + t) * d, v) ** 2;
          sums[t][j].s += q;
          sums[t][j].s2 += q * q;
        });
      }
    }
  }
  const n = rows * batches;
  for (let t = 0; t < T - 1; t++) {
    dirs.forEach((_, j) => {
      const mean = sums[t][j].s / n, sd = Math.sqrt(sums[t][j].s2 / n - mean * mean);
      const se = sd / Math.sqrt(n);
      assert.ok(
        Math.abs(mean - exact[t][j]) <= 4 * se,
        `t=${t} d${j}: estimate ${mean} ± ${se} vs exact ${exact[t][j]}`,
      );
    });
  }
  tf.dispose([ids, ...Object.values(state)]);
  model.dispose();
});
