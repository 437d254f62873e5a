// The committed embedded models load through the same discovery path as Hugging Face
// checkpoints and reproduce the validation CE their training reports state.
import assert from "node:assert/strict";
import { initBackend } from "../lib/tensor/backend.ts";
import { loadCorpus } from "../lib/data/corpus.ts";
import { DEFAULT_MODEL, LM_PRESETS, REPO_ROOT } from "../lib/gpt2/embedded_models.ts";
import { loadGPT2 } from "../lib/gpt2/checkpoint.ts";
import { resolveModel } from "../lib/gpt2/discovery.ts";
import { evaluateCE } from "../lib/gpt2/lm_train.ts";

await initBackend();

const committed: string[] = [];
for (const name of Object.keys(LM_PRESETS)) {
  try {
    await Deno.stat(`${REPO_ROOT}/outputs/models/${name}/training_report.json`);
    committed.push(name);
  } catch { /* not trained yet */ }
}

Deno.test("the default embedded model is committed", () => {
  assert.ok(committed.includes("sotu-4x128"), `committed models: ${committed.join(", ")}`);
});

for (const name of committed) {
  Deno.test(`${name} loads by name and reproduces its reported validation CE`, async () => {
    const resolved = await resolveModel(name);
    assert.equal(resolved.source, "embedded");
    const { model, vocabMap } = await loadGPT2(resolved.dir);
    assert.ok(vocabMap, "embedded models carry a vocabulary map");
    const report = JSON.parse(await Deno.readTextFile(`${resolved.dir}/training_report.json`));
    const val = vocabMap.toModel((await loadCorpus({ log: () => {} })).val);
    assert.equal(val.length, report.val_tokens);
    const ce = evaluateCE(model, val);
    assert.ok(
      Math.abs(ce - report.final_val_ce) < 2e-3,
      `${name}: CE ${ce} vs reported ${report.final_val_ce}`,
    );
    model.dispose();
  });
}

// The quality bars, read from the reports that the tests above tie to the weights.
async function reportOf(name: string): Promise<{ final_val_ce: number; ce_below_unigram: number }> {
  return JSON.parse(
    await Deno.readTextFile(`${REPO_ROOT}/outputs/models/${name}/training_report.json`),
  );
}

Deno.test("the default model is at least 1.2 nats below the validation unigram entropy", async () => {
  const report = await reportOf(DEFAULT_MODEL);
  assert.ok(report.ce_below_unigram >= 1.2, `${DEFAULT_MODEL}: ${report.ce_below_unigram}`);
});

Deno.test("validation CE improves strictly with size across the committed family", async () => {
  const ces = await Promise.all(committed.map(async (name) => (await reportOf(name)).final_val_ce));
  for (let i = 1; i < committed.length; i++) {
    assert.ok(
      ces[i] < ces[i - 1],
      `${committed[i]} (${ces[i]}) is not below ${committed[i - 1]} (${ces[i - 1]})`,
    );
  }
});
