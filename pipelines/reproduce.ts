/**
 * `deno task reproduce`: the main job. Until the notebooks land it runs what exists: a summary
 * of the default embedded model, its validation loss on a fixed slice, and a gradient demo at a
 * middle-layer hook, written to `outputs/foundation.json`.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { parseArgs } from "node:util";
import { describeBackend, initBackend } from "../lib/backend.ts";
import { loadCorpus } from "../lib/corpus.ts";
import { loadGPT2 } from "../lib/gpt2/checkpoint.ts";
import { parameterCount } from "../lib/gpt2/config.ts";
import { resolveModel } from "../lib/gpt2/discovery.ts";
import { writeJsonAtomic } from "../lib/atomic_write.ts";
import { evaluateCE } from "../lib/lm_train.ts";
import { REPO_ROOT } from "../lib/embedded_models.ts";
import { toModelIds } from "../lib/tokenizer.ts";

const HELP = `Usage: deno task reproduce [--model NAME] [--help]

Runs the reproduction on the embedded default model (or --model: an embedded name, a folder,
or a Hugging Face name in the local hub cache) and writes outputs/foundation.json.`;

async function main(): Promise<void> {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      model: { type: "string", default: "default" },
      help: { type: "boolean", default: false },
    },
  });
  if (values.help) return console.log(HELP);
  const started = performance.now();
  const backend = await initBackend();
  console.log(describeBackend(backend));
  const resolved = await resolveModel(values.model!);
  const { model, tokenizer, vocabMap } = await loadGPT2(resolved.dir);
  const c = model.config;
  console.log(
    `model ${resolved.name}: ${c.n_layer} layers × ${c.n_embd}, ${
      parameterCount(c).toLocaleString("en-US")
    } parameters`,
  );

  const corpus = await loadCorpus({ log: console.log });
  const val = toModelIds(corpus.val, vocabMap);
  const sequences = 64;
  const valCE = evaluateCE(model, val, { sequences });
  console.log(
    `validation CE on the first ${sequences} validation sequences: ${valCE.toFixed(4)} nats`,
  );

  const hook = `blocks.${Math.floor(c.n_layer / 2)}.hook_resid_post`;
  const text = "The state of the Union is strong, and our economy is growing.";
  const ids = tokenizer.encode(text);
  const g = model.gradAtHook(tf.tensor2d(ids, [1, ids.length], "int32"), hook);
  const norms = Array.from(tf.norm(g.gradient, "euclidean", 2).dataSync());
  const losses = Array.from(g.losses.dataSync());
  console.log(`gradient of the summed loss at ${hook}, per token:`);
  ids.forEach((id, i) => {
    const loss = i < losses.length ? losses[i].toFixed(3) : "  -  ";
    console.log(
      `  ${JSON.stringify(tokenizer.decode([id])).padEnd(14)} loss ${loss}  |∇ₓL| ${
        norms[i].toExponential(3)
      }`,
    );
  });
  await writeJsonAtomic(`${REPO_ROOT}/outputs/foundation.json`, {
    model: resolved.name,
    backend: describeBackend(backend),
    config: c,
    parameters: parameterCount(c),
    val_ce_first_64_sequences: valCE,
    gradient_demo: { hook, text, token_ids: Array.from(ids), losses, grad_norms: norms },
    seconds: (performance.now() - started) / 1000,
  });
  console.log(
    `wrote outputs/foundation.json in ${((performance.now() - started) / 1000).toFixed(1)} s`,
  );
}

if (import.meta.main) {
  try {
    await main();
  } catch (err) {
    console.error(`reproduce: ${(err as Error).message}`);
    Deno.exit(1);
  }
}
