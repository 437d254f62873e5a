/**
 * `deno task train-sae`: train one SAE as the notebooks do and save it as a SAELens folder. The
 * spec and the trainer settings come from a profile's defaults (flags override them), and the
 * SAE goes through the notebooks' own path: the workspace's activation+gradient store, `trainSpec`
 * (lib/experiments/zoo/sae_zoo.ts) and `evaluateSAE`, so one spec gives the same numbers here and
 * in the notebooks.
 *
 * Why one module of ~330 lines: the command line (help text included) and its up-front
 * checks; the work itself is the zoo's `trainSpec` and `evaluateSAE`.
 *
 * @module
 */
import { dirname } from "node:path";
import { writeJsonAtomic } from "../lib/io/atomic_write.ts";
import { callerPath } from "../lib/io/caller_path.ts";
import { intOption } from "../lib/io/cli_numbers.ts";
import { choiceArg, gsaeCommand, intArg, numberArg, parseCommandLine } from "../lib/io/cli.ts";
import { checkWritable, guardCommitted } from "../lib/io/output_guard.ts";
import { REPO_ROOT } from "../lib/gpt2/embedded_models.ts";
import { modelMemoryLimit } from "../lib/gpt2/config.ts";
import { getProfile, PROFILE_NAMES, PROFILES } from "../lib/experiments/shared/profile.ts";
import { cacheRoot, openWorkspace, type Workspace } from "../lib/experiments/shared/workspace.ts";
import { evaluateSAE, type SAEEvaluation } from "../lib/experiments/zoo/sae_eval.ts";
import {
  type SAESpec,
  saveSpecSAE,
  specLabel,
  type TrainedSAE,
  trainSpec,
} from "../lib/experiments/zoo/sae_zoo.ts";
import { trainStoreDir } from "../lib/experiments/zoo/train_store.ts";
import { architectureOf, ARCHITECTURES } from "../lib/sae/mod.ts";
import { CFG_FILE } from "../lib/sae/saelens.ts";
import type { ArchitectureName } from "../lib/sae/mod.ts";
import { backendOption } from "../lib/tensor/backend_flag.ts";

const DEFAULT = PROFILES.default;

/** The command line (see `--help`); unset numbers take the profile's defaults. */
function command() {
  return gsaeCommand("train-sae", {
    usage: "--architecture ARCH [options]",
    description:
      "Trains one SAE exactly as the notebooks do (the profile's store, budget and trainer\n" +
      "settings; flags override them), evaluates it on the profile's validation windows (ΔCE, KL,\n" +
      "CE recovered, FVU, L0, latent statistics) and saves it (SAELens layout) to --out, with\n" +
      "training_report.json.",
    after:
      "Caches (the store) live under GSAE_CACHE_DIR (default .cache), shared with the notebooks of\n" +
      "the same profile. Every option is checked before the store is built: numbers and ranges (k\n" +
      "between 1 and the latent count, expansion >= 1, lr > 0, tokens >= one batch, evaluation\n" +
      "sequences >= 1, integer seeds), the model's config.json and weights, and --out (by a test\n" +
      "write).",
  })
    .option(
      "--profile <NAME>",
      "every default below comes from this profile",
      choiceArg("profile", PROFILE_NAMES),
      "default",
    )
    .option(
      "--model <NAME>",
      "default | embedded name | folder | hub name (default: the profile's)",
    )
    .option("--hook <HOOK>", "e.g. blocks.2.hook_resid_post (default: the profile's SAE hook)")
    .requiredOption(
      "--architecture <A>",
      `${ARCHITECTURES.join(" | ")} (required)`,
      choiceArg("architecture", ARCHITECTURES),
    )
    // Its range (1 to the latent count) is known once the model is loaded.
    .option("--k <N>", `active latents per token, TopK family (default: main k, ${DEFAULT.mainK})`)
    .option(
      "--expansion <N>",
      `latents = N × d_model (default ${DEFAULT.sae.expansion})`,
      intArg("expansion", { min: 1, max: 1024 }),
    )
    .option(
      "--beta <X>",
      "g-SAE selection strength (default: the architecture's)",
      numberArg("beta", { min: 0 }),
    )
    .option(
      "--tokens <N>",
      `training tokens (default ${DEFAULT.sae.tokens})`,
      intArg("tokens", { min: 1 }),
    )
    .option(
      "--batch-size <N>",
      `tokens per optimiser step (default ${DEFAULT.sae.batchSize})`,
      intArg("batch-size", { min: 1 }),
    )
    .option(
      "--store-tokens <N>",
      `tokens of the activation+gradient store (default ${DEFAULT.storeTokens})`,
      intArg("store-tokens", { min: 1 }),
    )
    .option(
      "--lr <X>",
      `peak learning rate (default ${DEFAULT.sae.lr}, e2e_topk ${DEFAULT.sae.e2eLr}: chosen on ` +
        "held-out store rows; see README, Profiles)",
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
      `validation sequences for the evaluation (default ${DEFAULT.sae.evalSequences})`,
      intArg("eval-sequences", { min: 1 }),
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

/** The parsed command line. */
interface TrainSAEOptions {
  profile: string;
  model?: string;
  hook?: string;
  architecture: ArchitectureName;
  k?: string;
  expansion?: number;
  beta?: number;
  tokens?: number;
  batchSize?: number;
  storeTokens?: number;
  lr?: number;
  seed: number;
  evalSequences?: number;
  out?: string;
  resume?: boolean;
  force?: boolean;
}

/** What one train-sae run produced. */
export interface TrainSAERun {
  /** The trained SAE (its `dir` is --out). */
  trained: TrainedSAE;
  /** Its evaluation (also in --out's training_report.json). */
  evaluation: SAEEvaluation;
}

/**
 * Runs train-sae on command-line `args` (see `--help`); null after `--help`. A bad argument is
 * printed with a pointer to --help and thrown as an error.
 */
export async function trainSAECommand(args: string[]): Promise<TrainSAERun | null> {
  const parsed = parseCommandLine<TrainSAEOptions>(command(), args, { badArgumentExit: 1 });
  if (parsed.exit === 0) return null;
  if (parsed.exit !== undefined) throw new CommandLineError("bad command line (see --help)");
  const v = parsed.options;
  const architecture = v.architecture;
  const profile = getProfile(v.profile);
  // Every number is checked before any work (loading the model comes first only because the
  // ranges of k and the evaluation size depend on it).
  const expansion = v.expansion ?? profile.sae.expansion;
  const seed = v.seed;
  const batchSize = v.batchSize ?? profile.sae.batchSize;
  const tokens = v.tokens ?? profile.sae.tokens;
  if (tokens < batchSize) {
    throw new RangeError(`--tokens must be at least one batch (${batchSize}), got ${tokens}`);
  }
  const storeTokens = v.storeTokens ?? profile.storeTokens;
  const { lr, beta } = v;
  const evalSequences = v.evalSequences ?? profile.sae.evalSequences;

  const ws = await openWorkspace({ profile: profile.name, model: v.model, hook: v.hook });
  ws.model.parseHook(ws.hook);
  ws.profile = {
    ...ws.profile,
    storeTokens,
    sae: {
      ...ws.profile.sae,
      expansion,
      tokens,
      batchSize,
      evalSequences,
      ...(lr !== undefined ? { lr, e2eLr: lr } : {}),
    },
  };
  const d = ws.model.config.n_embd, dSae = expansion * d;
  const entry = architectureOf(architecture);
  const k = "k" in entry.fields
    ? intOption(v.k ?? String(profile.mainK), "k", { min: 1, max: dSae })
    : undefined;
  checkTrainingMemory(d, dSae, storeTokens);
  checkEvalSequences(ws, evalSequences);
  const spec: SAESpec = {
    architecture,
    seed,
    ...(k !== undefined ? { k } : {}),
    ...(beta !== undefined ? { beta } : {}),
  };
  const out = v.out !== undefined
    ? callerPath(v.out)
    : `${REPO_ROOT}/outputs/saes/${ws.modelName.replaceAll("/", "_")}/${ws.hook}/${architecture}` +
      (k !== undefined ? `-k${k}` : "");
  await guardSAEOut(out, { explicit: v.out !== undefined, force: v.force ?? false });
  await checkWritable(dirname(out), { flag: "--out's parent" });
  const workDir = `${cacheRoot()}/sae-train/${out.replaceAll("/", "_")}`;
  await checkWritable(workDir);
  if (v.resume) await sayResume(workDir, out);
  // --force rebuilds the store from scratch: a damaged chunk under an intact manifest is rebuilt too.
  if (v.force) await Deno.remove(trainStoreDir(ws), { recursive: true }).catch(() => {});

  const run = await trainSpec(ws, spec, {
    workDir,
    resume: v.resume ?? false,
    checkpointEvery: 25,
  });
  await saveSpecSAE(ws, run, out);
  const trained: TrainedSAE = {
    sae: run.sae,
    spec,
    label: specLabel(spec),
    dir: out,
    history: run.result.history,
    train: run.train,
    seconds: run.result.seconds,
    dead: run.dead,
  };
  // A label-free architecture (the Fisher g-SAE) is scored with its own sampled gradients.
  const samples = (run.sae.config as { samples?: number }).samples;
  const own = architectureOf(spec.architecture).sampledGradients
    ? { gradient: "fisher" as const, samples }
    : {};
  const evaluation = await evaluateSAE(ws, trained, own);
  const last = run.result.history.at(-1)!;
  await writeJsonAtomic(`${out}/training_report.json`, {
    model: ws.modelName,
    hook: ws.hook,
    profile: ws.profile,
    spec,
    sae: run.sae.config,
    train: run.train,
    final: last,
    dead: run.dead,
    eval: evaluation,
    seconds: run.result.seconds,
  });
  console.log(
    `saved ${out}: ΔCE ${evaluation.deltaCe.toFixed(4)} nats, KL ${evaluation.kl.toFixed(4)}, ` +
      `FVU ${evaluation.fvu.toFixed(4)}, L0 ${evaluation.l0.toFixed(1)}, dead ${run.dead}`,
  );
  return { trained, evaluation };
}

/** The validation split must hold the evaluation windows. */
function checkEvalSequences(ws: Workspace, count: number): void {
  const seq = ws.model.config.n_positions;
  const max = Math.floor(ws.val.length / seq);
  if (count > max) {
    throw new RangeError(
      `--eval-sequences must be an integer between 1 and ${max} (the validation split ` +
        `holds ${max} sequences of ${seq} tokens), got "${count}"`,
    );
  }
}

async function sayResume(workDir: string, out: string): Promise<void> {
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

/** A bad command line, already explained on stderr by commander. */
class CommandLineError extends Error {}

if (import.meta.main) {
  try {
    await trainSAECommand(Deno.args);
  } catch (err) {
    if (!(err instanceof CommandLineError)) console.error(`train-sae: ${(err as Error).message}`);
    Deno.exit(1);
  }
}
