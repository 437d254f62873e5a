import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { initBackend } from "../lib/tensor/backend.ts";
import { GPT2 } from "../lib/gpt2/model.ts";
import {
  addSpliceSums,
  referenceActivation,
  referenceGradient,
  splicedSums,
  spliceMetrics,
  spliceReference,
  summariseSplice,
} from "../lib/metrics/splice.ts";
import { TINY_CONFIG } from "./fixtures/tiny_workspace.ts";
import { close } from "./metrics_fixtures.ts";

await initBackend();

const model = GPT2.random(TINY_CONFIG, 0);
const ids = tf.tensor2d(Array.from({ length: 24 }, (_, i) => (i * 17 + 3) % 50), [3, 8], "int32");
const cleanLossSum = tf.tidy(() =>
  tf.sum(model.tokenLosses(ids, model.finalResidual(ids))).dataSync()[0]
);

for (const hook of ["blocks.0.hook_resid_post", "blocks.1.hook_mlp_out"]) {
  Deno.test(`spliceMetrics at ${hook}: identity, zeros and mean reconstructions`, async () => {
    const before = tf.memory().numTensors;
    const identity = await spliceMetrics(model, ids, { hook, reconstruct: (x) => x });
    assert.equal(identity.tokens, 3 * 7);
    close(identity.ceClean, cleanLossSum, 1e-4, "clean CE matches tokenLosses");
    const s = summariseSplice(identity);
    close(s.deltaCe, 0, 1e-5, "ΔCE");
    close(s.kl, 0, 1e-5, "KL");
    assert.ok(Math.abs(s.ceZero - s.ceClean) > 1e-4, "zero-ablation must change the loss");
    close(s.fracRecoveredZero, 1, 1e-4, "fraction recovered vs zero");
    close(s.fracRecoveredMean, 1, 1e-3, "fraction recovered vs mean");

    const zeros = await spliceMetrics(model, ids, { hook, reconstruct: (x) => tf.zerosLike(x) });
    close(zeros.ceSpliced, zeros.ceZero, 1e-4, "zeros = zero-ablation");
    close(summariseSplice(zeros).fracRecoveredZero, 0, 1e-6);
    assert.ok(zeros.kl > 0);

    const mean = await spliceMetrics(model, ids, {
      hook,
      reconstruct: (x) => tf.broadcastTo(tf.mean(x, 0), x.shape),
    });
    close(mean.ceSpliced, mean.ceMean, 1e-4, "batch mean = mean-ablation");

    let sawGrad = false;
    const withGrad = await spliceMetrics(model, ids, {
      hook,
      needsGradient: true,
      reconstruct: (x, grad) => {
        assert.deepEqual(grad?.shape, x.shape);
        sawGrad = true;
        return x;
      },
    });
    assert.ok(sawGrad);
    close(summariseSplice(withGrad).deltaCe, 0, 1e-5, "ΔCE with gradient");
    assert.equal(tf.memory().numTensors, before, "no leaked tensors");

    const twice = summariseSplice(addSpliceSums(identity, zeros));
    assert.equal(twice.tokens, 42);
    close(twice.ceClean, s.ceClean, 1e-9);
  });
}

Deno.test("spliceMetrics rejects a reconstruction of the wrong shape", async () => {
  await assert.rejects(
    () =>
      spliceMetrics(model, ids, {
        hook: "blocks.0.hook_resid_post",
        reconstruct: (x) => x.slice(0, 2),
      }),
    /reconstruct returned \[2,16\], expected \[24,16\]/,
  );
});

Deno.test("one spliceReference scores many reconstructions exactly as spliceMetrics does", async () => {
  const hook = "blocks.1.hook_mlp_out";
  const reconstructions = [
    (x: tf.Tensor2D) => tf.mul(x, 0.5) as tf.Tensor2D,
    (x: tf.Tensor2D, g?: tf.Tensor2D) => tf.add(x, tf.mul(g!, 3)) as tf.Tensor2D,
  ];
  const before = tf.memory().numTensors;
  for (const keepLogProbs of [true, false]) {
    const ref = await spliceReference(model, ids, {
      hook,
      needsGradient: true,
      chunkRows: 5,
      keepLogProbs,
    });
    assert.equal(ref.cleanLogProbs === null, !keepLogProbs);
    assert.equal(ref.cleanFinal === null, keepLogProbs);
    for (const reconstruct of reconstructions) {
      const expected = await spliceMetrics(model, ids, {
        hook,
        needsGradient: true,
        chunkRows: 5,
        reconstruct,
      });
      const xHat = tf.tidy(() => reconstruct(referenceActivation(ref), referenceGradient(ref)));
      assert.deepStrictEqual(await splicedSums(model, ref, xHat), expected);
      xHat.dispose();
    }
    const wrong = tf.zeros([2, 16]) as tf.Tensor2D;
    await assert.rejects(
      () => splicedSums(model, ref, wrong),
      /reconstruct returned \[2,16\], expected \[24,16\]/,
    );
    wrong.dispose();
  }
  assert.equal(tf.memory().numTensors, before, "a reference holds no tensors");
});
