// The committed embedded models load through the same discovery path as Hugging Face
// checkpoints and reproduce the validation CE their training reports state.
import assert from "node:assert/strict";
import { initBackend } from "../lib/backend.ts";
import { loadCorpus } from "../lib/corpus.ts";
import { LM_PRESETS, REPO_ROOT } from "../lib/embedded_models.ts";
import { loadGPT2 } from "../lib/gpt2/checkpoint.ts";
import { resolveModel } from "../lib/gpt2/discovery.ts";
import { evaluateCE } from "../lib/lm_train.ts";

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
