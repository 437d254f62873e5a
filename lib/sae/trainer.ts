/**
 * One trainer for every SAE architecture: Adam with warmup and decay over a token budget,
 * seeded batch order, dead-latent tracking over a token window, atomic checkpoints and a resume
 * that ends at bit-identical weights (a batch is a pure function of seed and step).
 *
 * Data comes either from an activation+gradient store loaded in memory (shuffled tokens), or,
 * for end-to-end losses, as token sequences run through the frozen model each step.
 *
 * Why one module of ~330 lines: the one training loop (schedule, batches, dead-latent window,
 * fused or plain step, checkpoints, progress) reads top to bottom, as nanoGPT's train.py does.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { AdamW, learningRate, namedGrads } from "../tensor/optim.ts";
import { Progress } from "../io/progress.ts";
import { z } from "../io/json_file.ts";
import {
  loadTrainState,
  progressMetadata,
  readProgress,
  saveTrainState,
} from "../io/train_state.ts";
import { initialiseDecoderBias } from "./topk.ts";
import type { SAE, SAEBatch, SAETrainContext } from "./base.ts";
import { l0 } from "../metrics/reconstruction.ts";
import { applyFusedUpdate, fusedLossFor, readSAEArrays } from "./fused.ts";
import {
  type ActivationData,
  batchIndices,
  disposeBatch,
  gatherRowArray,
  gradWidth,
  makeBatch,
  type SequenceData,
} from "./batches.ts";

export type { ActivationData, SequenceData } from "./batches.ts";

/** Training hyperparameters shared by all architectures. */
export interface SAETrainConfig {
  /** Training tokens in all. */
  tokens: number;
  /** Tokens per step (4,096 in the benchmarks; Gao et al. use 131,072 on GPUs). */
  batchSize: number;
  /** Peak learning rate. */
  lr: number;
  /** Linear warmup steps. */
  warmupSteps: number;
  /** Final learning rate as a fraction of the peak (cosine decay; 1 = constant after warmup). */
  minLrRatio: number;
  /** Seed for the batch order. */
  seed: number;
  /** A latent that has not fired for this many training tokens counts as dead. */
  deadWindowTokens: number;
  /** How to initialise b_dec before the first step (Gao et al. use the geometric median). */
  bDecInit: "mean" | "geometric_median" | "none";
  /** Record a history point every this many steps. */
  logEvery: number;
  /** Write a resumable checkpoint every this many steps (0: only at the end or a stop). */
  checkpointEvery: number;
}

/** One history point. */
export interface SAETrainPoint {
  step: number;
  tokens: number;
  loss: number;
  l0: number;
  dead: number;
  parts: Record<string, number>;
}

/** A history point in the checkpoint metadata, as read back on resume. */
const trainPointSchema: z.ZodType<SAETrainPoint> = z.object({
  step: z.number().int().nonnegative(),
  tokens: z.number().nonnegative(),
  loss: z.number(),
  l0: z.number(),
  dead: z.number(),
  parts: z.record(z.string(), z.number()),
});

/** What training returns; the SAE's parameters are trained in place. */
export interface SAETrainResult {
  history: SAETrainPoint[];
  steps: number;
  seconds: number;
  stopped: boolean;
  /** Per-latent tokens since the latent last fired, at the end. */
  tokensSinceFired: Float32Array;
  /** Per-latent firing counts over all training tokens. */
  firingCounts: Float32Array;
}

/** Number of steps `config` runs. */
export function saeSteps(config: SAETrainConfig): number {
  return Math.max(1, Math.floor(config.tokens / config.batchSize));
}

/**
 * Train `sae` in place. `workDir` (optional) holds `sae_state.safetensors`; `resume` continues
 * from it; `stopAfterSteps` stops early after checkpointing.
 */
export async function trainSAE(
  sae: SAE,
  data: ActivationData | SequenceData,
  config: SAETrainConfig,
  options: {
    workDir?: string;
    resume?: boolean;
    stopAfterSteps?: number;
    log?: (line: string) => void;
    label?: string;
    /** Called after each step with its wall-clock seconds (benchmarks). */
    onStep?: (step: number, seconds: number) => void;
    /**
     * Use the fused TopK / g-SAE step (`fused.ts`) when the SAE and data allow it (default
     * true); false forces the plain tfjs path, which computes the same step.
     */
    fused?: boolean;
  } = {},
): Promise<SAETrainResult> {
  const log = options.log ?? ((line: string) => console.log(line));
  const label = options.label ?? `train-sae ${sae.config.architecture}`;
  const steps = saeSteps(config);
  const dSae = sae.config.d_sae;
  const opt = new AdamW();
  const statePath = options.workDir ? `${options.workDir}/sae_state.safetensors` : null;
  let step = 0, seconds = 0, history: SAETrainPoint[] = [];
  let tokensSinceFired: Float32Array = new Float32Array(dSae);
  let firingCounts: Float32Array = new Float32Array(dSae);
  const restored = options.resume && statePath ? await restore(statePath, sae, opt, config) : null;
  if (restored) ({ step, seconds, history, tokensSinceFired, firingCounts } = restored);
  else {
    const first = makeBatch(config, data, 0);
    if (config.bDecInit !== "none") {
      const sample = first.x.slice([0, 0], [Math.min(8192, first.x.shape[0]), -1]);
      await initialiseDecoderBias(sae, sample, { method: config.bDecInit });
      sample.dispose();
    }
    disposeBatch(first);
  }
  if (restored) log(`${label}: resumed at step ${step}/${steps}`);
  const schedule = {
    lr: config.lr,
    warmupSteps: config.warmupSteps,
    totalSteps: steps,
    minRatio: config.minLrRatio,
  };
  const progress = new Progress(label, { total: steps * config.batchSize, log });
  progress.restart(step * config.batchSize);
  let runStart = performance.now();
  const sums: Record<string, number> = {};
  let sumCount = 0;
  const stopAt = Math.min(steps, options.stopAfterSteps ?? steps);

  const checkpoint = async () => {
    seconds += (performance.now() - runStart) / 1000;
    runStart = performance.now();
    if (statePath) {
      await save(statePath, {
        sae,
        opt,
        config,
        step,
        seconds,
        history,
        tokensSinceFired,
        firingCounts,
      });
    }
  };

  const fused = options.fused === false || data.kind !== "activations" ? null : fusedLossFor(sae);
  while (step < stopAt) {
    const stepStart = performance.now();
    const total = step * config.batchSize;
    const ctx: SAETrainContext = {
      tokensSinceFired,
      deadWindowTokens: config.deadWindowTokens,
      firingFrequency: firingCounts.map((c) => c / Math.max(1, total)),
      step,
    };
    let numbers: Record<string, number> = {};
    let fired: Float32Array = new Float32Array(dSae);
    const lr = learningRate(schedule, step);
    if (fused && data.kind === "activations") {
      // The fast path: loss, gradients and the update on arrays (fused.ts).
      const rows = batchIndices(config, step, data.n);
      const x = gatherRowArray(data.x, rows, data.d);
      const grad = data.grad ? gatherRowArray(data.grad, rows, gradWidth(data)) : undefined;
      const values = readSAEArrays(sae);
      const r = fused.lossAndGrads(values, x, grad, rows.length, ctx);
      applyFusedUpdate(sae, opt, { values, grads: r.grads, lr });
      numbers = { loss: r.loss, ...r.parts };
      fired = r.fired;
    } else {
      const batch = makeBatch(config, data, step);
      let readouts: StepReadouts | null = null;
      tf.tidy(() => {
        const r = plainLossAndGrads(sae, batch, ctx);
        readouts = r.readouts;
        sae.adjustGradients?.(r.grads);
        opt.apply(sae.params, r.grads, lr);
      });
      sae.afterStep?.();
      disposeBatch(batch);
      ({ numbers, fired } = await readReadouts(readouts!));
    }
    if (!Number.isFinite(numbers.loss)) {
      throw new Error(`${label}: loss is ${numbers.loss} at step ${step} (diverged)`);
    }
    for (let i = 0; i < dSae; i++) {
      firingCounts[i] += fired[i];
      tokensSinceFired[i] = fired[i] > 0 ? 0 : tokensSinceFired[i] + config.batchSize;
    }
    for (const [k, v] of Object.entries(numbers)) sums[k] = (sums[k] ?? 0) + v;
    sumCount++;
    options.onStep?.(step, (performance.now() - stepStart) / 1000);
    step++;
    const dead = tokensSinceFired.filter((t) => t >= config.deadWindowTokens).length;
    progress.update(step * config.batchSize, {
      step: `${step}/${steps}`,
      loss: numbers.loss,
      L0: numbers.l0,
      dead,
    });
    if (step % config.logEvery === 0 || step === steps) {
      const mean = (k: string) => sums[k] / sumCount;
      const parts = Object.fromEntries(
        Object.keys(sums).filter((k) => k !== "loss" && k !== "l0").map((k) => [k, mean(k)]),
      );
      history.push({
        step,
        tokens: step * config.batchSize,
        loss: mean("loss"),
        l0: mean("l0"),
        dead,
        parts,
      });
      for (const k of Object.keys(sums)) delete sums[k];
      sumCount = 0;
    }
    if ((config.checkpointEvery > 0 && step % config.checkpointEvery === 0) || step === stopAt) {
      await checkpoint();
    }
  }
  if (!statePath) seconds += (performance.now() - runStart) / 1000;
  opt.dispose();
  return { history, steps: step, seconds, stopped: step < steps, tokensSinceFired, firingCounts };
}

/**
 * The step's numbers as tensors: the loss parts, L0 and the loss in `scalars` (named by
 * `names`), and how often each latent fired. Read after the step ({@link readReadouts}), not
 * during it: a GPU backend can only read tensors asynchronously.
 */
interface StepReadouts {
  names: string[];
  scalars: tf.Tensor1D;
  fired: tf.Tensor1D;
}

/** The tfjs path: `sae.loss` under `tf.variableGrads` (call inside `tf.tidy`). */
function plainLossAndGrads(sae: SAE, batch: SAEBatch, ctx: SAETrainContext) {
  const names: string[] = [];
  const parts: tf.Tensor[] = [];
  let fired: tf.Tensor1D | null = null;
  const { value, grads } = namedGrads(() => {
    const r = sae.loss(batch, ctx);
    for (const [k, v] of Object.entries(r.parts)) {
      names.push(k);
      parts.push(tf.keep(v.reshape([])));
    }
    names.push("l0");
    parts.push(tf.keep(l0(r.latents)));
    fired = tf.keep(tf.sum(tf.cast(tf.notEqual(r.latents, 0), "float32"), 0) as tf.Tensor1D);
    return r.loss;
  }, sae.params);
  names.push("loss");
  // Kept: the caller's tidy must not release what readReadouts reads after it.
  const scalars = tf.keep(tf.stack([...parts, value]) as tf.Tensor1D);
  tf.dispose(parts);
  const readouts: StepReadouts = { names, scalars, fired: fired! };
  return { readouts, grads };
}

/** The numbers of {@link StepReadouts}, read asynchronously; releases the tensors. */
async function readReadouts(r: StepReadouts) {
  const [scalars, fired] = await Promise.all([r.scalars.data(), r.fired.data()]);
  tf.dispose([r.scalars, r.fired]);
  const numbers: Record<string, number> = {};
  r.names.forEach((name, i) => numbers[name] = scalars[i]);
  return { numbers, fired: Float32Array.from(fired) };
}

async function save(
  path: string,
  s: {
    sae: SAE;
    opt: AdamW;
    config: SAETrainConfig;
    step: number;
    seconds: number;
    history: SAETrainPoint[];
    tokensSinceFired: Float32Array;
    firingCounts: Float32Array;
  },
): Promise<void> {
  await saveTrainState(path, {
    params: s.sae.params,
    opt: s.opt,
    arrays: { tokens_since_fired: s.tokensSinceFired, firing_counts: s.firingCounts },
    metadata: {
      sae_config: JSON.stringify(s.sae.config),
      train_config: JSON.stringify(s.config),
      ...progressMetadata(s),
    },
  });
}

async function restore(path: string, sae: SAE, opt: AdamW, config: SAETrainConfig) {
  const identity = { sae_config: JSON.stringify(sae.config), train_config: JSON.stringify(config) };
  const state = await loadTrainState(path, { params: sae.params, opt, identity });
  if (!state) return null;
  return {
    ...readProgress(state.metadata, { point: trainPointSchema, source: `${path} (metadata)` }),
    tokensSinceFired: state.arrays.get("tokens_since_fired")!,
    firingCounts: state.arrays.get("firing_counts")!,
  };
}
