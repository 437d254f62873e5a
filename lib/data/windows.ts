/**
 * Windows of a token stream: where they start (spread evenly, jittered within equal slots,
 * consecutive, or at random) and the token ids they hold, as one concatenated array or an int32
 * [windows, seq] tensor. Everything that cuts sequences out of a split (the store, evaluation,
 * the probes, LM and e2e training) takes them from here.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { Rng } from "../tensor/random.ts";

function checkFits(dataLength: number, count: number, seqLen: number): void {
  if (dataLength - seqLen < 0 || count < 1) {
    throw new Error(`cannot take ${count} windows of ${seqLen} tokens from ${dataLength} tokens`);
  }
}

/**
 * `count` window starts spread evenly over `dataLength` tokens (first at 0, last at the end), so
 * the windows come from many different documents and do not overlap when the data is long enough.
 */
export function spreadOffsets(dataLength: number, count: number, seqLen: number): number[] {
  checkFits(dataLength, count, seqLen);
  const span = dataLength - seqLen;
  return Array.from(
    { length: count },
    (_, i) => count === 1 ? 0 : Math.floor(i * span / (count - 1)),
  );
}

/**
 * `count` windows of `seqLen` tokens, one per equal slot of the data, each at a random start
 * within its slot (drawn from `seed`): spread over the whole data like {@link spreadOffsets},
 * but a different sample of tokens per seed. Windows overlap only when a slot is shorter than
 * `seqLen`.
 */
export function jitteredOffsets(
  dataLength: number,
  count: number,
  options: { seqLen: number; seed: number },
): number[] {
  const slot = Math.floor((dataLength - options.seqLen + 1) / count);
  if (slot < 1 || count < 1) {
    throw new Error(
      `cannot take ${count} windows of ${options.seqLen} tokens from ${dataLength} tokens`,
    );
  }
  const rng = new Rng((options.seed * 7_919 + 17) | 0);
  return Array.from({ length: count }, (_, i) => i * slot + rng.int(slot));
}

/** `count` back-to-back windows of `seqLen` tokens from token `start` on. */
export function consecutiveOffsets(count: number, seqLen: number, start = 0): number[] {
  return Array.from({ length: count }, (_, i) => start + i * seqLen);
}

/**
 * `count` window starts drawn uniformly (with replacement) from every start that leaves
 * `seqLen` tokens, by `options.rng` (which advances).
 */
export function randomOffsets(
  dataLength: number,
  count: number,
  options: { seqLen: number; rng: Rng },
): number[] {
  checkFits(dataLength, 1, options.seqLen);
  return Array.from({ length: count }, () => options.rng.int(dataLength - options.seqLen + 1));
}

/** The `seq`-token windows of `data` starting at `offsets`, concatenated. */
export function windowIds(data: Int32Array, offsets: number[], seq: number): Int32Array {
  const out = new Int32Array(offsets.length * seq);
  offsets.forEach((o, i) => {
    if (o < 0 || o + seq > data.length) {
      throw new RangeError(`window [${o}, ${o + seq}) lies outside the ${data.length} tokens`);
    }
    out.set(data.subarray(o, o + seq), i * seq);
  });
  return out;
}

/** The windows of {@link windowIds} as an int32 [offsets, seq] tensor. */
export function windows(data: Int32Array, offsets: number[], seq: number): tf.Tensor2D {
  return tf.tensor2d(windowIds(data, offsets, seq), [offsets.length, seq], "int32");
}

/** `count` windows of `seq` tokens spread evenly over `data` ({@link spreadOffsets}), concatenated. */
export function spreadWindows(data: Int32Array, count: number, seq: number): Int32Array {
  return windowIds(data, spreadOffsets(data.length, count, seq), seq);
}
