import * as tf from "@tensorflow/tfjs";
import { z } from "zod";
import assert from "node:assert/strict";
import { initBackend } from "../lib/tensor/backend.ts";
import { AdamW } from "../lib/tensor/optim.ts";
import { CHECKSUM_KEY, readSafetensors } from "../lib/io/safetensors.ts";
import {
  loadTrainState,
  progressMetadata,
  readProgress,
  saveTrainState,
} from "../lib/io/train_state.ts";
import { variableFrom } from "../lib/tensor/variables.ts";

await initBackend();

function state() {
  const params = new Map([["w", variableFrom(new Float32Array([1, 2, 3, 4]), [2, 2])]]);
  const opt = new AdamW();
  opt.apply(params, { w: tf.ones([2, 2]) }, 0.1);
  return { params, opt };
}

Deno.test("a training checkpoint carries a checksum and a damaged one is refused with a remedy", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/sae_state.safetensors`;
    const saved = state();
    await saveTrainState(path, { ...saved, metadata: { step: "1", config: "a" } });
    assert.match((await readSafetensors(path)).metadata[CHECKSUM_KEY], /^[0-9a-f]{64}$/);
    const restored = state();
    const got = await loadTrainState(path, { ...restored, identity: { config: "a" } });
    assert.equal(got?.metadata.step, "1");
    assert.deepEqual(
      restored.params.get("w")!.dataSync(),
      saved.params.get("w")!.dataSync(),
    );

    // A weight overwritten in place (here: 1e6 in the last float) no longer matches.
    const bytes = await Deno.readFile(path);
    new DataView(bytes.buffer).setFloat32(bytes.length - 4, 1e6, true);
    await Deno.writeFile(path, bytes);
    await assert.rejects(
      () => loadTrainState(path, { ...state(), identity: { config: "a" } }),
      new RegExp(
        `^SafetensorsError: ${path}: checksum mismatch.*delete ${path} to start over, or run without --resume`,
      ),
    );
    assert.equal(
      await loadTrainState(`${dir}/none.safetensors`, { ...state(), identity: {} }),
      null,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("progressMetadata and readProgress round-trip a run's progress", () => {
  const progress = {
    step: 12,
    seconds: 3.25,
    history: [{ step: 5, loss: 0.5 }, { step: 10, loss: 0.25 }],
  };
  const metadata = progressMetadata(progress);
  assert.deepEqual(Object.keys(metadata).sort(), ["history", "seconds", "step"]);
  assert.ok(Object.values(metadata).every((v) => typeof v === "string"));
  const point = z.object({ step: z.number(), loss: z.number() });
  assert.deepEqual(readProgress(metadata, { point, source: "state" }), progress);
  assert.throws(
    () => readProgress({ ...metadata, step: "x" }, { point, source: "state" }),
    /state: step: /,
  );
  assert.throws(
    () => readProgress({ ...metadata, history: '[{"step": 1}]' }, { point, source: "state" }),
    /state: history\[0\]\.loss|state: history.0.loss|loss/,
  );
});
