/**
 * One trainer for every SAE architecture: Adam with warmup and decay over a token budget,
 * seeded batch order, dead-latent tracking over a token window, atomic checkpoints and a resume
 * that ends at bit-identical weights (a batch is a pure function of seed and step).
 *
 * Data comes either from an activation+gradient store loaded in memory (shuffled tokens), or,
 * for end-to-end losses, as token sequences run through the frozen model each step.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { GPT2 } from "../gpt2/model.ts";
import { AdamW, learningRate, namedGrads } from "../optim.ts";
import { Progress } from "../progress.ts";
import { Rng } from "../random.ts";
import { loadTrainState, saveTrainState } from "../train_state.ts";
import { initialiseDecoderBias } from "./topk.ts";
import type { SAE, SAEBatch, SAETrainContext } from "./base.ts";
import { l0 } from "./base.ts";

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

/** Activations (and gradients) held in memory, row-major [n, d]. */
export interface ActivationData {
  kind: "activations";
  x: Float32Array;
  grad?: Float32Array;
  n: number;
  d: number;
}

/** Token sequences run through `model` to `hook` each step (for end-to-end losses). */
export interface SequenceData {
  kind: "sequences";
  model: GPT2;
  hook: string;
  /** A stream of model token ids; windows of `seqLen` are drawn from it. */
  ids: Int32Array;
  seqLen: number;
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

/** Token indices of the batch at `step`: epochs are seeded permutations of [0, n). */
export function batchIndices(config: SAETrainConfig, step: number, n: number): Int32Array {
  const out = new Int32Array(config.batchSize);
  let perm: Int32Array | null = null, permEpoch = -1;
  for (let i = 0; i < config.batchSize; i++) {
    const global = step * config.batchSize + i;
    const epoch = Math.floor(global / n);
    if (epoch !== permEpoch) {
      perm = new Rng(config.seed * 7_919 + epoch * 104_729 + 1).shuffle(
        Int32Array.from({ length: n }, (_, j) => j),
      );
      permEpoch = epoch;
    }
    out[i] = perm![global % n];
  }
  return out;
}

function gatherRows(src: Float32Array, rows: Int32Array, d: number): tf.Tensor2D {
  const out = new Float32Array(rows.length * d);
  rows.forEach((r, i) => out.set(src.subarray(r * d, (r + 1) * d), i * d));
  return tf.tensor2d(out, [rows.length, d]);
}

/** The batch at `step` (tensors owned by the caller). */
export function makeBatch(
  config: SAETrainConfig,
  data: ActivationData | SequenceData,
  step: number,
): SAEBatch {
  if (data.kind === "activations") {
    const rows = batchIndices(config, step, data.n);
    return {
      x: gatherRows(data.x, rows, data.d),
      grad: data.grad ? gatherRows(data.grad, rows, data.d) : undefined,
    };
  }
  const sequences = Math.max(1, Math.floor(config.batchSize / data.seqLen));
  const rng = new Rng(config.seed * 1_000_003 + step * 7_919 + 5);
  const ids = new Int32Array(sequences * data.seqLen);
  for (let s = 0; s < sequences; s++) {
    const start = rng.int(data.ids.length - data.seqLen + 1);
    ids.set(data.ids.subarray(start, start + data.seqLen), s * data.seqLen);
  }
  const idsT = tf.tensor2d(ids, [sequences, data.seqLen], "int32");
  const state = data.model.runToHook(idsT, data.hook);
  const cleanLogProbs = tf.tidy(() => {
    const logits = data.model.unembed(data.model.runFromHook(data.hook, state));
    const [b, t, v] = logits.shape;
    return tf.logSoftmax(
      logits.slice([0, 0, 0], [b, t - 1, v]).reshape([b * (t - 1), v]),
    ) as tf.Tensor2D;
  });
  const x = state.activation.reshape([-1, state.activation.shape[2]]) as tf.Tensor2D;
  return { x, lm: { model: data.model, hook: data.hook, ids: idsT, state, cleanLogProbs } };
}

function disposeBatch(batch: SAEBatch): void {
  tf.dispose(
    [
      batch.x,
      batch.grad,
      batch.lm?.ids,
      batch.lm?.state.activation,
      batch.lm?.state.residual,
      batch.lm?.cleanLogProbs,
    ].filter((t) => t !== undefined) as tf.Tensor[],
  );
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
      initialiseDecoderBias(sae, sample, { method: config.bDecInit });
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

  while (step < stopAt) {
    const stepStart = performance.now();
    const batch = makeBatch(config, data, step);
    const total = step * config.batchSize;
    const ctx: SAETrainContext = {
      tokensSinceFired,
      deadAfterTokens: config.deadWindowTokens,
      firingFrequency: firingCounts.map((c) => c / Math.max(1, total)),
      step,
    };
    const numbers: Record<string, number> = {};
    let fired: Float32Array = new Float32Array(dSae);
    tf.tidy(() => {
      const { value, grads } = namedGrads(() => {
        const r = sae.loss(batch, ctx);
        for (const [k, v] of Object.entries(r.parts)) numbers[k] = v.dataSync()[0];
        numbers.l0 = l0(r.latents).dataSync()[0];
        fired = tf.sum(tf.cast(tf.notEqual(r.latents, 0), "float32"), 0).dataSync() as Float32Array;
        return r.loss;
      }, sae.params);
      numbers.loss = value.dataSync()[0];
      sae.adjustGradients?.(grads);
      opt.apply(sae.params, grads, learningRate(schedule, step));
    });
    sae.afterStep?.();
    disposeBatch(batch);
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
      step: String(s.step),
      seconds: String(s.seconds),
      history: JSON.stringify(s.history),
    },
  });
}

async function restore(path: string, sae: SAE, opt: AdamW, config: SAETrainConfig) {
  const identity = { sae_config: JSON.stringify(sae.config), train_config: JSON.stringify(config) };
  const state = await loadTrainState(path, { params: sae.params, opt, identity });
  if (!state) return null;
  const m = state.metadata;
  return {
    step: Number(m.step),
    seconds: Number(m.seconds),
    history: JSON.parse(m.history) as SAETrainPoint[],
    tokensSinceFired: state.arrays.get("tokens_since_fired")!,
    firingCounts: state.arrays.get("firing_counts")!,
  };
}
