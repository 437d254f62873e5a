// The SAE trainer and registry: every architecture trains through one loop, resume is exact,
// e2e-TopK trains through the frozen model, and every architecture survives a save/load.
import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { initBackend } from "../lib/tensor/backend.ts";
import { GPT2 } from "../lib/gpt2/model.ts";
import {
  architectureOf,
  ARCHITECTURES,
  createSAE,
  disposeSAE,
  loadSAE,
  saveSAE,
} from "../lib/sae/mod.ts";
import type { ArchitectureName, SAE } from "../lib/sae/mod.ts";
import { plantedDirections, sampleSynthetic } from "../lib/sae/synthetic.ts";
import { type ActivationData, type SAETrainConfig, trainSAE } from "../lib/sae/trainer.ts";

await initBackend();
const quiet = () => {};
const D_IN = 16, D_SAE = 64;

const synthetic = sampleSynthetic(plantedDirections(32, { dIn: D_IN, seed: 1 }), {
  dIn: D_IN,
  n: 2048,
  activePerToken: 3,
  gradWeight: new Float32Array(32).fill(1e-3),
  seed: 2,
});
const DATA: ActivationData = {
  kind: "activations",
  x: synthetic.x,
  grad: synthetic.grad,
  n: synthetic.n,
  d: D_IN,
};

const CONFIG: SAETrainConfig = {
  tokens: 256 * 24,
  batchSize: 256,
  lr: 3e-3,
  warmupSteps: 2,
  minLrRatio: 0.1,
  seed: 3,
  deadWindowTokens: 1024,
  bDecInit: "geometric_median",
  logEvery: 4,
  checkpointEvery: 5,
};

function make(architecture: ArchitectureName): SAE {
  const extra: Record<string, unknown> = architecture === "jumprelu"
    ? { l0_coefficient: 0.03, bandwidth: 0.03 }
    : architecture === "gated" || architecture === "relu_l1"
    ? { l1_coefficient: 0.3 }
    : { k: 4, aux_k: 8, ...("beta" in architectureOf(architecture).fields ? { beta: 0.5 } : {}) };
  return createSAE({ architecture, d_in: D_IN, d_sae: D_SAE, seed: 7, ...extra });
}

function paramsEqual(a: SAE, b: SAE): boolean {
  return [...a.params].every(([name, v]) =>
    tf.tidy(() => tf.max(tf.abs(tf.sub(v, b.params.get(name)!))).dataSync()[0]) === 0
  );
}

Deno.test("every store-fed architecture trains through the one trainer and its loss falls", async () => {
  for (const architecture of ARCHITECTURES.filter((a) => a !== "e2e_topk")) {
    const sae = make(architecture);
    const result = await trainSAE(sae, DATA, CONFIG, { log: quiet });
    const first = result.history[0].loss, last = result.history.at(-1)!.loss;
    assert.ok(Number.isFinite(last) && last < first, `${architecture}: loss ${first} → ${last}`);
    assert.equal(result.firingCounts.length, D_SAE);
    disposeSAE(sae);
  }
});

Deno.test("trainer stop and resume ends at bit-identical weights", async () => {
  for (const architecture of ["topk", "gsae"] as const) {
    const [dirA, dirB] = [await Deno.makeTempDir(), await Deno.makeTempDir()];
    const full = make(architecture);
    const fullResult = await trainSAE(full, DATA, CONFIG, { workDir: dirA, log: quiet });
    const part = make(architecture);
    const stopped = await trainSAE(part, DATA, CONFIG, {
      workDir: dirB,
      log: quiet,
      stopAfterSteps: 7,
    });
    assert.equal(stopped.stopped, true);
    const resumed = make(architecture);
    const result = await trainSAE(resumed, DATA, CONFIG, {
      workDir: dirB,
      log: quiet,
      resume: true,
    });
    assert.equal(result.steps, fullResult.steps);
    assert.ok(paramsEqual(full, resumed), `${architecture}: weights differ after resume`);
    assert.deepEqual(Array.from(result.tokensSinceFired), Array.from(fullResult.tokensSinceFired));
    for (const s of [full, part, resumed]) disposeSAE(s);
    for (const d of [dirA, dirB]) await Deno.remove(d, { recursive: true });
  }
});

Deno.test("dead latents are counted over the token window", async () => {
  const sae = make("topk");
  // Latent 0 can never win: its encoder bias is hugely negative (and lr 0 keeps it so).
  const bEnc = sae.params.get("b_enc")!;
  bEnc.assign(tf.tidy(() => tf.concat([tf.tensor1d([-1e4]), bEnc.slice([1], [D_SAE - 1])])));
  const result = await trainSAE(sae, DATA, { ...CONFIG, lr: 0, warmupSteps: 1 }, { log: quiet });
  assert.equal(result.firingCounts[0], 0);
  assert.equal(result.tokensSinceFired[0], CONFIG.tokens);
  assert.ok(result.history.at(-1)!.dead >= 1);
  disposeSAE(sae);
});

Deno.test("e2e-TopK trains through the frozen model on KL and leaves the model unchanged", async () => {
  const model = GPT2.random(
    {
      vocab_size: 40,
      n_positions: 16,
      n_embd: D_IN,
      n_layer: 2,
      n_head: 2,
      layer_norm_epsilon: 1e-5,
      activation_function: "gelu_new",
    },
    5,
    0.3,
  );
  const before = new Map([...model.params].map(([n, v]) => [n, v.dataSync().slice()]));
  const ids = Int32Array.from({ length: 4000 }, (_, i) => (i * 7 + (i % 5)) % 40);
  const sae = createSAE({ architecture: "e2e_topk", d_in: D_IN, d_sae: D_SAE, seed: 1, k: 6 });
  const result = await trainSAE(
    sae,
    { kind: "sequences", model, hook: "blocks.0.hook_resid_post", ids, seqLen: 16 },
    { ...CONFIG, tokens: 128 * 30, batchSize: 128, lr: 1e-2 },
    { log: quiet },
  );
  const first = result.history[0].parts.kl, last = result.history.at(-1)!.parts.kl;
  assert.ok(last < first, `KL ${first} → ${last}`);
  for (const [name, v] of model.params) assert.deepEqual(v.dataSync(), before.get(name), name);
  disposeSAE(sae);
});

Deno.test("every architecture round-trips through a SAELens folder", async () => {
  const x = tf.tensor2d(synthetic.x.slice(0, 64 * D_IN), [64, D_IN]);
  for (const architecture of ARCHITECTURES) {
    const sae = make(architecture);
    const dir = await Deno.makeTempDir();
    await saveSAE(sae, `${dir}/sae`, {
      model_name: "synthetic",
      hook_name: "blocks.0.hook_resid_post",
      context_size: 16,
    });
    const { sae: loaded } = await loadSAE(`${dir}/sae`);
    assert.deepEqual(loaded.config, sae.config, architecture);
    const diff = tf.tidy(() =>
      tf.max(tf.abs(tf.sub(sae.encode(x), loaded.encode(x)))).dataSync()[0]
    );
    assert.ok(diff < 1e-5, `${architecture}: encodings differ by ${diff}`);
    disposeSAE(sae);
    disposeSAE(loaded);
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("an unknown architecture is a clear error", () => {
  assert.throws(
    () => createSAE({ architecture: "relu" as ArchitectureName, d_in: 4, d_sae: 8 }),
    /unknown SAE architecture "relu"; known: topk, gsae/,
  );
});
