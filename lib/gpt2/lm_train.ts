/**
 * Train a GPT-2-architecture language model from scratch: deterministic from a seed, AdamW
 * with warmup and cosine decay, atomic checkpoints, and a resume that ends at the same weights
 * as an uninterrupted run (batches and learning rates are functions of the step alone).
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import {
  loadTrainState,
  progressMetadata,
  readProgress,
  saveTrainState,
} from "../io/train_state.ts";
import { AdamW, clipGlobalNorm, learningRate, namedGrads } from "../tensor/optim.ts";
import { GPT2 } from "./model.ts";
import type { GPT2Config } from "./config.ts";
import { Progress } from "../io/progress.ts";
import { Rng } from "../tensor/random.ts";
import { z } from "../io/json_file.ts";
import { consecutiveOffsets, randomOffsets, windows } from "../data/windows.ts";

/** Everything that defines a training run; equal configs and data give equal weights. */
export interface LMTrainConfig {
  /** Model hyperparameters (n_positions is the context length trained on). */
  model: GPT2Config;
  /** Sequences per step. */
  batchSize: number;
  /**
   * Sequences per forward/backward pass; gradients of the micro-batches are summed. Bounds the
   * autodiff tape's memory: the wasm heap cannot grow past a few GiB.
   */
  microBatchSize: number;
  /** Training tokens in all (steps = tokens / (batchSize · n_positions)). */
  tokens: number;
  /** Peak learning rate. */
  lr: number;
  /** Linear warmup steps. */
  warmupSteps: number;
  /** Final learning rate as a fraction of the peak (cosine decay). */
  minLrRatio: number;
  /** AdamW decoupled weight decay on matrices. */
  weightDecay: number;
  /** AdamW β₂ (0.95, as for GPT-2-style training). */
  beta2: number;
  /** Clip the global gradient norm to this. */
  gradClip: number;
  /** Seed for the initial weights and the batch order. */
  seed: number;
  /** Validate every this many steps. */
  evalEvery: number;
  /** Validation sequences per periodic evaluation (the first ones of the split). */
  evalSequences: number;
  /** Write a resumable checkpoint every this many steps. */
  checkpointEvery: number;
}

/** One validation measurement. */
export interface EvalPoint {
  /** Optimiser step at which it was taken. */
  step: number;
  /** Tokens trained on by then. */
  tokens: number;
  /** Mean next-token cross-entropy on the validation sequences, in nats. */
  valCE: number;
  /** Mean training loss over the steps since the previous point. */
  trainLoss: number;
}

/** What {@link trainLM} returns. */
export interface LMTrainResult {
  /** The trained model (its variables are owned by the caller). */
  model: GPT2;
  /** Validation curve. */
  history: EvalPoint[];
  /** Steps completed. */
  steps: number;
  /** Wall-clock seconds spent training, summed over resumed runs. */
  seconds: number;
  /** True when the run stopped early because of `stopAfterSteps`. */
  stopped: boolean;
}

/** Number of optimiser steps a config runs. */
export function totalSteps(c: LMTrainConfig): number {
  return Math.max(1, Math.floor(c.tokens / (c.batchSize * c.model.n_positions)));
}

/** Sequence start offsets for `step`: a pure function of seed and step, so resume is exact. */
export function batchOffsets(c: LMTrainConfig, step: number, dataLength: number): number[] {
  const rng = new Rng((c.seed * 1_000_003 + step * 7919 + 17) | 0);
  if (dataLength <= c.model.n_positions) {
    throw new Error(`training data (${dataLength} tokens) is shorter than one sequence`);
  }
  return randomOffsets(dataLength, c.batchSize, { seqLen: c.model.n_positions, rng });
}

/** Mean next-token CE (nats) over consecutive non-overlapping windows of `data`. */
export function evaluateCE(
  model: GPT2,
  data: Int32Array,
  options: { sequences?: number; batchSize?: number } = {},
): number {
  const seq = model.config.n_positions;
  const available = Math.floor((data.length - 1) / seq);
  const n = Math.min(options.sequences ?? available, available);
  const bs = options.batchSize ?? 32;
  let sum = 0, count = 0;
  for (let i = 0; i < n; i += bs) {
    const offsets = consecutiveOffsets(Math.min(bs, n - i), seq, i * seq);
    const loss = tf.tidy(() => {
      const ids = windows(data, offsets, seq);
      return tf.sum(model.tokenLosses(ids, model.finalResidual(ids))).dataSync()[0];
    });
    sum += loss;
    count += offsets.length * (seq - 1);
  }
  return sum / count;
}

/**
 * Train (or, with `resume`, continue) a model. `workDir` holds `state.safetensors`, the
 * resumable checkpoint. `stopAfterSteps` ends the run early after checkpointing (for tests and
 * for splitting long runs).
 */
export async function trainLM(
  config: LMTrainConfig,
  data: { train: Int32Array; val: Int32Array },
  options: {
    workDir: string;
    resume?: boolean;
    stopAfterSteps?: number;
    log?: (line: string) => void;
    label?: string;
  },
): Promise<LMTrainResult> {
  const log = options.log ?? ((line: string) => console.log(line));
  const steps = totalSteps(config);
  const statePath = `${options.workDir}/state.safetensors`;
  const model = GPT2.random(config.model, config.seed);
  const opt = new AdamW({ beta2: config.beta2, weightDecay: config.weightDecay });
  let step = 0, seconds = 0, history: EvalPoint[] = [];
  if (options.resume) {
    const restored = await restore(statePath, config, model, opt);
    if (restored) ({ step, seconds, history } = restored);
    log(
      restored
        ? `resumed from ${statePath} at step ${step}/${steps}`
        : `no checkpoint at ${statePath}; starting fresh`,
    );
  }
  const schedule = {
    lr: config.lr,
    warmupSteps: config.warmupSteps,
    totalSteps: steps,
    minRatio: config.minLrRatio,
  };
  const tokensPerStep = config.batchSize * config.model.n_positions;
  const progress = new Progress(options.label ?? "train-lm", { total: steps * tokensPerStep, log });
  progress.restart(step * tokensPerStep);
  let runStart = performance.now(), lossSum = 0, lossCount = 0;
  const stopAt = Math.min(steps, options.stopAfterSteps ?? steps);

  const checkpoint = async () => {
    seconds += (performance.now() - runStart) / 1000;
    runStart = performance.now();
    await save(statePath, { config, model, opt, step, seconds, history });
  };

  while (step < stopAt) {
    const lr = learningRate(schedule, step);
    const loss = trainStep(
      model,
      opt,
      config,
      windows(data.train, batchOffsets(config, step, data.train.length), config.model.n_positions),
      lr,
    );
    if (!Number.isFinite(loss)) {
      throw new Error(`training diverged: loss is ${loss} at step ${step}`);
    }
    step++;
    lossSum += loss;
    lossCount++;
    progress.update(step * tokensPerStep, { step: `${step}/${steps}`, loss, lr });
    if (step % config.evalEvery === 0 || step === steps) {
      const valCE = evaluateCE(model, data.val, { sequences: config.evalSequences });
      history.push({ step, tokens: step * tokensPerStep, valCE, trainLoss: lossSum / lossCount });
      log(
        `${options.label ?? "train-lm"} | step ${step} | train loss ${
          (lossSum / lossCount).toFixed(4)
        } | val CE ${valCE.toFixed(4)}`,
      );
      lossSum = 0;
      lossCount = 0;
    }
    if (step % config.checkpointEvery === 0 || step === stopAt) await checkpoint();
  }
  opt.dispose();
  return { model, history, steps: step, seconds, stopped: step < steps };
}

/** One optimiser step on `ids` [batch, seq], accumulating micro-batch gradients. Returns the mean loss. */
function trainStep(
  model: GPT2,
  opt: AdamW,
  config: LMTrainConfig,
  ids: tf.Tensor2D,
  lr: number,
): number {
  const [b, t] = ids.shape;
  const grads: Record<string, tf.Tensor> = {};
  let loss = 0;
  for (let start = 0; start < b; start += config.microBatchSize) {
    const size = Math.min(config.microBatchSize, b - start);
    const weight = size / b;
    tf.tidy(() => {
      const chunk = ids.slice([start, 0], [size, t]);
      const { value, grads: g } = namedGrads(
        () => tf.mul(model.meanLoss(chunk), weight) as tf.Scalar,
        model.params,
      );
      loss += value.dataSync()[0];
      for (const [name, gi] of Object.entries(g)) {
        const prev = grads[name];
        grads[name] = tf.keep(prev ? tf.add(prev, gi) : gi);
        prev?.dispose();
      }
    });
  }
  ids.dispose();
  clipGlobalNorm(grads, config.gradClip);
  opt.apply(model.params, grads, lr);
  for (const g of Object.values(grads)) g.dispose();
  return loss;
}

async function save(
  path: string,
  s: {
    config: LMTrainConfig;
    model: GPT2;
    opt: AdamW;
    step: number;
    seconds: number;
    history: EvalPoint[];
  },
): Promise<void> {
  await saveTrainState(path, {
    params: s.model.params,
    opt: s.opt,
    metadata: {
      config: JSON.stringify(s.config),
      ...progressMetadata(s),
    },
  });
}

async function restore(path: string, config: LMTrainConfig, model: GPT2, opt: AdamW) {
  const state = await loadTrainState(path, {
    params: model.params,
    opt,
    identity: { config: JSON.stringify(config) },
  });
  return state
    ? readProgress(state.metadata, { point: evalPointSchema, source: `${path} (metadata)` })
    : null;
}

/** A history point in the checkpoint metadata, as read back on resume. */
const evalPointSchema: z.ZodType<EvalPoint> = z.object({
  step: z.number().int().nonnegative(),
  tokens: z.number().nonnegative(),
  valCE: z.number(),
  trainLoss: z.number(),
});
