// The fused TopK / g-SAE step (lib/sae/fused.ts) against the plain tfjs path: loss, parts,
// gradients, firing counts, and parameters after trainer steps, with and without dead latents.
import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { initBackend } from "../lib/tensor/backend.ts";
import { loadBlas } from "../lib/tensor/blas.ts";
import { namedGrads } from "../lib/tensor/optim.ts";
import { Rng } from "../lib/tensor/random.ts";
import { type SAE, type SAETrainContext } from "../lib/sae/base.ts";
import { l0 } from "../lib/metrics/reconstruction.ts";
import { fusedLossFor, readSAEArrays } from "../lib/sae/fused.ts";
import { createGSAE } from "../lib/sae/gsae.ts";
import { architectureOf, createSAE, disposeSAE } from "../lib/sae/mod.ts";
import { createTopK } from "../lib/sae/topk.ts";
import { type ActivationData, trainSAE } from "../lib/sae/trainer.ts";

await initBackend();
const HAVE_BLAS = loadBlas() !== null;
const D = 16, F = 128, N = 96;

function batch(seed: number) {
  const rng = new Rng(seed);
  const x = rng.normalArray(N * D);
  for (let i = 0; i < x.length; i++) x[i] += (i % D) * 0.1; // a non-zero mean, so b_dec matters
  return { x, grad: rng.normalArray(N * D, 1e-3) };
}

function context(dead: number[]): SAETrainContext {
  const tokensSinceFired = new Float32Array(F);
  for (const j of dead) tokensSinceFired[j] = 5000;
  return {
    tokensSinceFired,
    deadWindowTokens: 1000,
    firingFrequency: new Float32Array(F),
    step: 0,
  };
}

/** The plain path: `sae.loss` under `tf.variableGrads`, as numbers. */
function plain(sae: SAE, x: Float32Array, grad: Float32Array | undefined, ctx: SAETrainContext) {
  return tf.tidy(() => {
    const b = { x: tf.tensor2d(x, [N, D]), grad: grad ? tf.tensor2d(grad, [N, D]) : undefined };
    const parts: Record<string, number> = {};
    let fired: Float32Array = new Float32Array(F);
    const { value, grads } = namedGrads(() => {
      const r = sae.loss(b, ctx);
      for (const [k, v] of Object.entries(r.parts)) parts[k] = v.dataSync()[0];
      parts.l0 = l0(r.latents).dataSync()[0];
      fired = tf.sum(tf.cast(tf.notEqual(r.latents, 0), "float32"), 0).dataSync() as Float32Array;
      return r.loss;
    }, sae.params);
    const g = Object.fromEntries(
      Object.entries(grads).map(([k, t]) => [k, t.dataSync() as Float32Array]),
    );
    return { loss: value.dataSync()[0], parts, grads: g, fired };
  });
}

function assertClose(a: ArrayLike<number>, b: ArrayLike<number>, tol: number, what: string) {
  assert.equal(a.length, b.length, `${what}: length`);
  let scale = 0, worst = 0;
  for (let i = 0; i < a.length; i++) scale = Math.max(scale, Math.abs(b[i]));
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]));
  assert.ok(worst <= tol * Math.max(scale, 1e-30), `${what}: max |diff| ${worst}, scale ${scale}`);
}

const CASES: [string, () => SAE][] = [
  ["topk", () => createTopK({ d_in: D, d_sae: F, k: 6, seed: 3 })],
  ["gsae", () => createGSAE({ d_in: D, d_sae: F, k: 6, seed: 3, beta: 1 })],
  [
    "gsae, grad_norm none",
    () => createGSAE({ d_in: D, d_sae: F, k: 6, seed: 3, beta: 300, grad_norm: "none" }),
  ],
];

Deno.test("fused loss and gradients equal the plain tfjs path (TopK, g-SAE, with AuxK)", () => {
  if (!HAVE_BLAS) return console.log("skipped: OpenBLAS unavailable");
  for (const [name, make] of CASES) {
    const sae = make();
    const fused = fusedLossFor(sae)!;
    assert.ok(fused, `${name}: has a fused loss`);
    // A b_dec and b_enc away from zero, so their gradients are exercised.
    sae.params.get("b_dec")!.assign(tf.fill([D], 0.3));
    sae.params.get("b_enc")!.assign(tf.tensor1d(new Rng(9).normalArray(F, 0.1)));
    for (const dead of [[], [1, 5, 17, 40, 41, 99]]) {
      for (const seed of [1, 2]) {
        const { x, grad } = batch(seed);
        const ctx = context(dead);
        const want = plain(sae, x, grad, ctx);
        const got = fused.lossAndGrads(readSAEArrays(sae), x, grad, N, ctx);
        const what = `${name}, ${dead.length} dead, seed ${seed}`;
        assert.deepEqual(got.fired, want.fired, `${what}: fired`);
        assert.ok(Math.abs(got.loss - want.loss) <= 1e-5 * want.loss, `${what}: loss`);
        for (const k of ["fvu", "auxk", "l0"] as const) {
          assert.ok(
            Math.abs(got.parts[k] - want.parts[k]) <= 1e-5 * Math.abs(want.parts[k]) + 1e-7,
            `${what}: ${k}`,
          );
        }
        if (dead.length > 0) assert.ok(got.parts.auxk > 0, `${what}: AuxK is active`);
        for (const p of ["W_enc", "W_dec", "b_enc", "b_dec"] as const) {
          assertClose(got.grads[p], want.grads[p], 1e-5, `${what}: d${p}`);
        }
      }
    }
    disposeSAE(sae);
  }
});

/** `n` rows of Gaussian activations with small gradients, as the trainer's store input. */
function randomActivations(seed: number, n: number): ActivationData {
  const rng = new Rng(seed);
  return {
    kind: "activations",
    x: rng.normalArray(n * D),
    grad: rng.normalArray(n * D, 1e-3),
    n,
    d: D,
  };
}

Deno.test("trainer: the fused step ends at the plain path's parameters (AuxK active)", async () => {
  if (!HAVE_BLAS) return console.log("skipped: OpenBLAS unavailable");
  const data = randomActivations(21, 512);
  for (const architecture of ["topk", "gsae"] as const) {
    const run = async (fused: boolean) => {
      const sae = createSAE({ architecture, d_in: D, d_sae: F, seed: 2, k: 4 });
      const r = await trainSAE(sae, data, {
        tokens: 6 * 64,
        batchSize: 64,
        lr: 1e-2,
        warmupSteps: 1,
        minLrRatio: 0.5,
        seed: 3,
        deadWindowTokens: 64, // a latent silent for one batch counts as dead: AuxK runs
        bDecInit: "mean",
        logEvery: 1,
        checkpointEvery: 0,
      }, { log: () => {}, fused });
      const params = readSAEArrays(sae);
      disposeSAE(sae);
      return { r, params };
    };
    const plainRun = await run(false), fusedRun = await run(true);
    assert.ok(fusedRun.r.history.some((h) => h.parts.auxk > 0), `${architecture}: AuxK ran`);
    assert.deepEqual(fusedRun.r.firingCounts, plainRun.r.firingCounts, `${architecture}: firing`);
    for (const [i, h] of fusedRun.r.history.entries()) {
      const want = plainRun.r.history[i];
      assert.ok(Math.abs(h.loss - want.loss) <= 1e-4 * want.loss, `${architecture}: loss ${i}`);
      assert.equal(h.l0, want.l0);
    }
    for (const p of ["W_enc", "W_dec", "b_enc", "b_dec"] as const) {
      assertClose(fusedRun.params[p], plainRun.params[p], 1e-4, `${architecture}: ${p}`);
    }
  }
});

// A regression: the fused update once left one copy of the parameters on the wasm heap per
// step, which aborted the default pipeline after a few hundred thousand tokens of SAE training.
Deno.test("trainer: no tensor outlives its step or the run (fused and plain, with resume)", async () => {
  if (!HAVE_BLAS) return console.log("skipped: OpenBLAS unavailable");
  const data = randomActivations(5, 256);
  const workDir = await Deno.makeTempDir();
  try {
    for (const architecture of ["topk", "gsae"] as const) {
      for (const fused of [true, false]) {
        const before = tf.memory().numTensors;
        const sae = createSAE({ architecture, d_in: D, d_sae: F, seed: 2, k: 4 });
        const counts: number[] = [];
        const config = {
          tokens: 8 * 32,
          batchSize: 32,
          lr: 1e-2,
          warmupSteps: 1,
          minLrRatio: 0.5,
          seed: 3,
          deadWindowTokens: 32,
          bDecInit: "geometric_median" as const,
          logEvery: 1,
          checkpointEvery: 2,
        };
        const options = {
          log: () => {},
          fused,
          workDir,
          onStep: () => counts.push(tf.memory().numTensors),
        };
        await trainSAE(sae, data, config, { ...options, stopAfterSteps: 4 });
        await trainSAE(sae, data, config, { ...options, resume: true });
        const label = `${architecture}, ${fused ? "fused" : "plain"}`;
        assert.equal(counts.length, 8, label);
        assert.ok(counts.every((c) => c === counts[1]), `${label}: tensors per step ${counts}`);
        disposeSAE(sae);
        assert.equal(tf.memory().numTensors, before, `${label}: tensors left after the run`);
        await Deno.remove(`${workDir}/sae_state.safetensors`).catch(() => {});
      }
    }
  } finally {
    await Deno.remove(workDir, { recursive: true });
  }
});

Deno.test("only TopK and g-SAE have the fused step", () => {
  for (const architecture of ["gated", "jumprelu", "mutual_choice", "e2e_topk"] as const) {
    const k = "k" in architectureOf(architecture).fields ? { k: 4 } : {};
    const sae = createSAE({ architecture, d_in: D, d_sae: F, seed: 1, ...k });
    assert.equal(fusedLossFor(sae), null, architecture);
    disposeSAE(sae);
  }
});
