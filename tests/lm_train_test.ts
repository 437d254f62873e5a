import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { initBackend } from "../lib/tensor/backend.ts";
import { evaluateCE, type LMTrainConfig, trainLM } from "../lib/gpt2/lm_train.ts";
import { learningRate } from "../lib/tensor/optim.ts";
import { Rng } from "../lib/tensor/random.ts";
import { CHECKSUM_KEY, readSafetensors, writeSafetensors } from "../lib/io/safetensors.ts";
import { TINY_CONFIG } from "./fixtures/tiny_workspace.ts";

await initBackend();

/** A learnable toy language: a noisy repeating pattern over 20 ids. */
function toyData(length: number, seed: number): Int32Array {
  const rng = new Rng(seed);
  return Int32Array.from({ length }, (_, i) => (rng.uniform() < 0.1 ? rng.int(20) : (i * 7) % 20));
}

const CONFIG: LMTrainConfig = {
  model: { ...TINY_CONFIG, vocab_size: 20 },
  batchSize: 8,
  microBatchSize: 4,
  tokens: 8 * 16 * 24,
  lr: 1e-2,
  warmupSteps: 4,
  minLrRatio: 0.1,
  weightDecay: 0.1,
  beta2: 0.95,
  gradClip: 1,
  seed: 4,
  evalEvery: 8,
  evalSequences: 16,
  checkpointEvery: 5,
};
const DATA = { train: toyData(4000, 1), val: toyData(1000, 2) };
const quiet = () => {};

Deno.test("training on a tiny slice decreases the validation loss", async () => {
  const dir = await Deno.makeTempDir();
  const result = await trainLM(CONFIG, DATA, { workDir: dir, log: quiet });
  assert.equal(result.steps, 24);
  const [first, last] = [result.history[0].valCE, result.history.at(-1)!.valCE];
  assert.ok(last < first - 0.5, `val CE ${first} → ${last}`);
  assert.ok(Math.abs(evaluateCE(result.model, DATA.val, { sequences: 16 }) - last) < 1e-5);
  result.model.dispose();
  await Deno.remove(dir, { recursive: true });
});

Deno.test("stop and resume ends at the same weights as an uninterrupted run", async () => {
  const [dirA, dirB] = [await Deno.makeTempDir(), await Deno.makeTempDir()];
  const full = await trainLM(CONFIG, DATA, { workDir: dirA, log: quiet });
  const part = await trainLM(CONFIG, DATA, { workDir: dirB, log: quiet, stopAfterSteps: 11 });
  assert.equal(part.stopped, true);
  part.model.dispose();
  const resumed = await trainLM(CONFIG, DATA, { workDir: dirB, log: quiet, resume: true });
  assert.equal(resumed.steps, full.steps);
  for (const [name, v] of full.model.params) {
    const diff = tf.max(tf.abs(tf.sub(v, resumed.model.params.get(name)!))).dataSync()[0];
    assert.equal(diff, 0, name);
  }
  assert.deepEqual(resumed.history.map((p) => p.valCE), full.history.map((p) => p.valCE));
  full.model.dispose();
  resumed.model.dispose();
  for (const d of [dirA, dirB]) await Deno.remove(d, { recursive: true });
});

Deno.test("resuming with a different config is refused", async () => {
  const dir = await Deno.makeTempDir();
  (await trainLM(CONFIG, DATA, { workDir: dir, log: quiet, stopAfterSteps: 5 })).model.dispose();
  await assert.rejects(
    () => trainLM({ ...CONFIG, lr: 5e-3 }, DATA, { workDir: dir, log: quiet, resume: true }),
    /checkpoint was made with a different config/,
  );
  await Deno.remove(dir, { recursive: true });
});

Deno.test("a checkpoint whose history was edited is refused, naming the field", async () => {
  const dir = await Deno.makeTempDir();
  (await trainLM(CONFIG, DATA, { workDir: dir, log: quiet, stopAfterSteps: 9 })).model.dispose();
  const path = `${dir}/state.safetensors`;
  const file = await readSafetensors(path);
  const { [CHECKSUM_KEY]: _, ...metadata } = file.metadata;
  const history = JSON.parse(metadata.history);
  history[0].valCE = "low";
  await writeSafetensors(path, Object.fromEntries(file.tensors), {
    metadata: { ...metadata, history: JSON.stringify(history) },
  });
  await assert.rejects(
    () => trainLM(CONFIG, DATA, { workDir: dir, log: quiet, resume: true }),
    (e: Error) => e.message === `${path} (metadata): history[0].valCE: expected number, got string`,
  );
  await Deno.remove(dir, { recursive: true });
});

Deno.test("learning rate warms up linearly then decays by cosine to its floor", () => {
  const s = { lr: 1, warmupSteps: 10, totalSteps: 110, minRatio: 0.1 };
  assert.equal(learningRate(s, 0), 0.1);
  assert.equal(learningRate(s, 9), 1);
  assert.ok(Math.abs(learningRate(s, 60) - 0.55) < 1e-12);
  assert.ok(Math.abs(learningRate(s, 110) - 0.1) < 1e-12);
});
