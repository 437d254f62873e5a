/**
 * Training batches for the SAE trainer: which tokens a step sees (a pure function of seed and
 * step, so a resumed run sees the same batches), gathered from activations held in memory, or
 * token windows run through the frozen model to the hook (end-to-end losses).
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { GPT2 } from "../gpt2/model.ts";
import { Rng } from "../tensor/random.ts";
import { randomOffsets, windows } from "../data/windows.ts";
import type { SAEBatch } from "./base.ts";

/** What batching needs from the training config. */
export interface BatchConfig {
  /** Tokens per step. */
  batchSize: number;
  /** Seed for the batch order. */
  seed: number;
}

/** Activations (and gradients) held in memory, row-major [n, d]. */
export interface ActivationData {
  /** Discriminant. */
  kind: "activations";
  /** Activations, [n, d]. */
  x: Float32Array;
  /**
   * ∇ₓL at the same tokens, [n, d] (gradient-aware SAEs use it); for the Fisher g-SAE S sampled
   * per-token gradients per token, [n, S·d] (see {@link gradWidth}).
   */
  grad?: Float32Array;
  /** Tokens. */
  n: number;
  /** Activation width. */
  d: number;
}

/** Token sequences run through `model` to `hook` each step (for end-to-end losses). */
export interface SequenceData {
  /** Discriminant. */
  kind: "sequences";
  /** The frozen language model. */
  model: GPT2;
  /** The hook the SAE reads. */
  hook: string;
  /** A stream of model token ids; windows of `seqLen` are drawn from it. */
  ids: Int32Array;
  /** Tokens per window. */
  seqLen: number;
}

/** Columns of `data.grad` per token: d, or S·d for S gradients per token. */
export function gradWidth(data: ActivationData): number {
  return data.grad ? data.grad.length / data.n : data.d;
}

/** Token indices of the batch at `step`: epochs are seeded permutations of [0, n). */
export function batchIndices(config: BatchConfig, step: number, n: number): Int32Array {
  const out = new Int32Array(config.batchSize);
  for (let i = 0; i < config.batchSize; i++) {
    const global = step * config.batchSize + i;
    out[i] = epochPermutation(config.seed, Math.floor(global / n), n)[global % n];
  }
  return out;
}

let lastPermutation: { seed: number; epoch: number; n: number; perm: Int32Array } | null = null;

/** The seeded permutation of one epoch; the last one is kept, since steps reuse it. */
function epochPermutation(seed: number, epoch: number, n: number): Int32Array {
  const c = lastPermutation;
  if (c && c.seed === seed && c.epoch === epoch && c.n === n) return c.perm;
  const identity = new Int32Array(n);
  for (let j = 0; j < n; j++) identity[j] = j;
  const perm = new Rng(seed * 7_919 + epoch * 104_729 + 1).shuffle(identity);
  lastPermutation = { seed, epoch, n, perm };
  return perm;
}

/** Rows `rows` of a row-major [·, d] array, gathered into a new [rows.length, d] array. */
export function gatherRowArray(src: Float32Array, rows: Int32Array, d: number): Float32Array {
  const out = new Float32Array(rows.length * d);
  for (let i = 0; i < rows.length; i++) {
    out.set(src.subarray(rows[i] * d, (rows[i] + 1) * d), i * d);
  }
  return out;
}

function gatherRows(src: Float32Array, rows: Int32Array, d: number): tf.Tensor2D {
  return tf.tensor2d(gatherRowArray(src, rows, d), [rows.length, d]);
}

/** The batch at `step` (tensors owned by the caller). */
export function makeBatch(
  config: BatchConfig,
  data: ActivationData | SequenceData,
  step: number,
): SAEBatch {
  if (data.kind === "activations") {
    const rows = batchIndices(config, step, data.n);
    return {
      x: gatherRows(data.x, rows, data.d),
      grad: data.grad ? gatherRows(data.grad, rows, gradWidth(data)) : undefined,
    };
  }
  const sequences = Math.max(1, Math.floor(config.batchSize / data.seqLen));
  const rng = new Rng(config.seed * 1_000_003 + step * 7_919 + 5);
  const offsets = randomOffsets(data.ids.length, sequences, { seqLen: data.seqLen, rng });
  const idsT = windows(data.ids, offsets, data.seqLen);
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

/** Free the tensors of a batch from {@link makeBatch}. */
export function disposeBatch(batch: SAEBatch): void {
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
