/**
 * `deno task train-sae`: train one SAE as the notebooks do and save it as a SAELens folder. The
 * spec and the trainer settings come from a profile's defaults (flags override them), and the
 * SAE goes through the notebooks' own path: the workspace's activation+gradient store, `trainSpec`
 * (lib/experiments/zoo/sae_zoo.ts) and `evaluateSAE`, so one spec gives the same numbers here and
 * in the notebooks.
 *
 * @module
 */
import { dirname } from "node:path";
import { parseArgs } from "node:util";
import { writeJsonAtomic } from "../lib/io/atomic_write.ts";
import { callerPath } from "../lib/io/caller_path.ts";
import { intOption, numberOption } from "../lib/io/cli_numbers.ts";
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
import { backendFlagHelp, takeBackendFlag } from "../lib/tensor/backend_flag.ts";

const DEFAULT = PROFILES.default;

const HELP = `Usage: deno task train-sae --architecture ARCH [options]

Trains one SAE exactly as the notebooks do (the profile's store, budget and trainer settings;
flags override them), evaluates it on the profile's validation windows (ΔCE, KL, CE recovered,
FVU, L0, latent statistics) and saves it (SAELens layout) to --out, with training_report.json.

Options:
  --profile NAME      ${PROFILE_NAMES.join(" | ")}: every default below (default: default)
  --model NAME        default | embedded name | folder | hub name (default: the profile's)
  --hook HOOK         e.g. blocks.2.hook_resid_post (default: the profile's SAE hook)
  --architecture A    ${ARCHITECTURES.join(" | ")} (required)
  --k N               active latents per token, TopK family (default: the profile's main k,
                      ${DEFAULT.mainK} in default)
  --expansion N       latents = N × d_model (default ${DEFAULT.sae.expansion} in default)
  --beta X            g-SAE selection strength (default: the architecture's)
  --tokens N          training tokens (default ${DEFAULT.sae.tokens} in default)
  --batch-size N      tokens per optimiser step (default ${DEFAULT.sae.batchSize} in default)
  --store-tokens N    tokens of the activation+gradient store (default ${DEFAULT.storeTokens} in default)
  --lr X              peak learning rate (default ${DEFAULT.sae.lr}, e2e_topk ${DEFAULT.sae.e2eLr} in default:
                      chosen on held-out store rows; see README, Profiles)
  --seed N            (default 0)
  --eval-sequences N  validation sequences for the evaluation (default ${DEFAULT.sae.evalSequences} in default)
  --out DIR           (default outputs/saes/<model>/<hook>/<architecture>-k<k>); replaced as a
                      whole, so a folder that exists and is not an SAE folder needs --force
  --resume            continue an interrupted training run into the same --out (its checkpoint
                      is kept per --out; without one, training starts over and says so)
  --force             rebuild the activation store even when a cached one is corrupt or was made
                      with other settings (e.g. the model changed in place), and allow --out to
                      replace a folder that is not an SAE folder or holds committed files
${backendFlagHelp(22)}
  --help

Caches (the store) live under GSAE_CACHE_DIR (default .cache), shared with the notebooks of the
same profile. Every option is checked before the store is built: numbers and ranges (k between 1
and the latent count, expansion >= 1, lr > 0, tokens >= one batch, evaluation sequences >= 1,
integer seeds), the model's config.json and weights, and --out (by a test write).`;

/** What one train-sae run produced. */
export interface TrainSAERun {
  /** The trained SAE (its `dir` is --out). */
  trained: TrainedSAE;
  /** Its evaluation (also in --out's training_report.json). */
  evaluation: SAEEvaluation;
}

/** Runs train-sae on command-line `args` (see HELP). */
export async function trainSAECommand(args: string[]): Promise<TrainSAERun | null> {
  const { values: v } = parseArgs({
    args: takeBackendFlag(args),
    options: {
      profile: { type: "string", default: "default" },
      model: { type: "string" },
      hook: { type: "string" },
      architecture: { type: "string" },
      k: { type: "string" },
      expansion: { type: "string" },
      beta: { type: "string" },
      tokens: { type: "string" },
      "batch-size": { type: "string" },
      "store-tokens": { type: "string" },
      lr: { type: "string" },
      seed: { type: "string", default: "0" },
      "eval-sequences": { type: "string" },
      out: { type: "string" },
      resume: { type: "boolean", default: false },
      force: { type: "boolean", default: false },
      help: { type: "boolean", default: false },
    },
  });
  if (v.help) {
    console.log(HELP);
    return null;
  }
  if (!v.architecture) throw new Error("--architecture is required (see --help)");
  const architecture = v.architecture as ArchitectureName;
  if (!ARCHITECTURES.includes(architecture)) {
    throw new Error(`unknown --architecture ${architecture}`);
  }
  const profile = getProfile(v.profile!);
  // Every number is checked before any work (loading the model comes first only because the
  // ranges of k and the evaluation size depend on it).
  const int = (name: string, value: string | undefined, fallback: number) =>
    value === undefined ? fallback : intOption(value, name, { min: 1 });
  const expansion = v.expansion === undefined
    ? profile.sae.expansion
    : intOption(v.expansion, "expansion", { min: 1, max: 1024 });
  const seed = intOption(v.seed!, "seed", { min: 0, max: 2 ** 32 - 1 });
  const batchSize = int("batch-size", v["batch-size"], profile.sae.batchSize);
  const tokens = v.tokens === undefined
    ? profile.sae.tokens
    : intOption(v.tokens, "tokens", { min: batchSize });
  const storeTokens = int("store-tokens", v["store-tokens"], profile.storeTokens);
  const lr = v.lr !== undefined ? numberOption(v.lr, "lr", { above: 0, max: 1 }) : undefined;
  const beta = v.beta !== undefined ? numberOption(v.beta, "beta", { min: 0 }) : undefined;
  const evalSequences = int("eval-sequences", v["eval-sequences"], profile.sae.evalSequences);

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
  checkEvalSequences(ws, evalSequences, v["eval-sequences"]);
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
  await guardSAEOut(out, { explicit: v.out !== undefined, force: v.force! });
  await checkWritable(dirname(out), { flag: "--out's parent" });
  const workDir = `${cacheRoot()}/sae-train/${out.replaceAll("/", "_")}`;
  await checkWritable(workDir);
  if (v.resume) await sayResume(workDir, out);
  // --force rebuilds the store from scratch: a damaged chunk under an intact manifest is rebuilt too.
  if (v.force) await Deno.remove(trainStoreDir(ws), { recursive: true }).catch(() => {});

  const run = await trainSpec(ws, spec, { workDir, resume: v.resume, checkpointEvery: 25 });
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
  const evaluation = await evaluateSAE(ws, trained);
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
function checkEvalSequences(ws: Workspace, count: number, given: string | undefined): void {
  const seq = ws.model.config.n_positions;
  const max = Math.floor(ws.val.length / seq);
  if (count > max) {
    throw new RangeError(
      `--eval-sequences must be an integer between 1 and ${max} (the validation split ` +
        `holds ${max} sequences of ${seq} tokens), got "${given ?? count}"`,
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

if (import.meta.main) {
  try {
    await trainSAECommand(Deno.args);
  } catch (err) {
    console.error(`train-sae: ${(err as Error).message}`);
    Deno.exit(1);
  }
}
