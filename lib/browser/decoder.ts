/**
 * What a latent's decoder direction says without running any text: its logit lens (the top and
 * bottom tokens of the unembedding of d̂ through ln_f's centring and scale, the definition of
 * notebook 06's associated tokens) and its nearest latents by decoder cosine, in its own SAE and
 * in another one. Work is chunked over latents so a 16k × 50k lens never sits in memory at once.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { logitLens } from "../experiments/06_steering/steering.ts";
import type { GPT2 } from "../gpt2/model.ts";
import { matMul } from "../tensor/ops.ts";
import { unitRows } from "../metrics/latents.ts";
import type { SAE } from "../sae/mod.ts";

/** A token id or latent id with its score, `[id, score]` (compact in JSON). */
export type Scored = [number, number];

/** The unit decoder directions d̂ᵢ of an SAE, row-major [d_sae, d_in] (zero rows stay zero). */
export function unitDecoderRows(sae: SAE): Float32Array {
  return readAndDispose(unitRows(decoderOf(sae)));
}

/** The SAE's decoder W_dec [d_sae, d_in]; an SAE without one cannot be browsed. */
export function decoderOf(sae: SAE): tf.Tensor2D {
  const w = sae.params.get("W_dec");
  if (!w) throw new Error(`a ${sae.config.architecture} SAE without W_dec cannot be browsed`);
  return w as tf.Tensor2D;
}

/**
 * A tensor's values, then the tensor disposed: read outside `tf.tidy`, which would walk every
 * element of a typed array returned from it.
 */
export function readAndDispose(t: tf.Tensor): Float32Array {
  try {
    return t.dataSync() as Float32Array;
  } finally {
    t.dispose();
  }
}

/**
 * Indices of the `n` largest values of `row` (or smallest, with `lowest`), best first; ties go
 * to the lower index; `skip` ids are never chosen. O(length · n), for small n.
 */
export function extremeIndices(
  row: ArrayLike<number>,
  n: number,
  options: { lowest?: boolean; skip?: ReadonlySet<number> } = {},
): number[] {
  const sign = options.lowest ? -1 : 1;
  const best: number[] = [];
  for (let i = 0; i < row.length; i++) {
    if (options.skip?.has(i)) continue;
    const v = sign * row[i];
    if (v !== v) continue;
    if (best.length === n && v <= sign * row[best[n - 1]]) continue;
    let at = best.length < n ? best.length : n - 1;
    while (at > 0 && v > sign * row[best[at - 1]]) at--;
    best.splice(at, 0, i);
    if (best.length > n) best.pop();
  }
  return best;
}

/** Top and bottom logit-lens tokens of one latent. */
export interface LensTokens {
  /** Tokens the direction promotes most, `[id, score]`, highest first. */
  top: Scored[];
  /** Tokens it suppresses most, lowest first. */
  bottom: Scored[];
}

/**
 * The logit lens of every unit direction in `directions` ([m, d] row-major): `n` top and bottom
 * tokens each, never one of `exclude` (e.g. a reduced vocabulary's out-of-vocabulary id).
 */
export function logitLensTokens(
  model: GPT2,
  directions: Float32Array,
  options: { n: number; exclude?: readonly number[]; chunk?: number },
): LensTokens[] {
  const d = model.config.n_embd, vocab = model.config.vocab_size, m = directions.length / d;
  const chunk = options.chunk ?? 128, skip = new Set(options.exclude ?? []);
  const out: LensTokens[] = [];
  for (let s = 0; s < m; s += chunk) {
    const rows = Math.min(chunk, m - s);
    const scores = readAndDispose(
      tf.tidy(() =>
        logitLens(model, tf.tensor2d(directions.subarray(s * d, (s + rows) * d), [rows, d]))
      ),
    );
    for (let r = 0; r < rows; r++) {
      const row = scores.subarray(r * vocab, (r + 1) * vocab);
      const pick = (lowest: boolean): Scored[] =>
        extremeIndices(row, options.n, { lowest, skip }).map((id) => [id, row[id]]);
      out.push({ top: pick(false), bottom: pick(true) });
    }
  }
  return out;
}

/**
 * For each row of `a` ([m, d], unit rows), the `n` rows of `b` ([m′, d], unit rows) with the
 * highest cosine, `[index, cosine]`, highest first. With `self` (b is a), a row is not its own
 * neighbour.
 */
export function nearestByCosine(
  a: Float32Array,
  b: Float32Array,
  options: { d: number; n: number; self?: boolean; chunk?: number },
): Scored[][] {
  const { d, n } = options, m = a.length / d, mb = b.length / d;
  if (!Number.isInteger(m) || !Number.isInteger(mb)) {
    throw new Error(`nearestByCosine: directions are not rows of width ${d}`);
  }
  const chunk = options.chunk ?? 256;
  const out: Scored[][] = [];
  const bt = tf.tensor2d(b, [mb, d]);
  try {
    for (let s = 0; s < m; s += chunk) {
      const rows = Math.min(chunk, m - s);
      const cos = readAndDispose(
        tf.tidy(() =>
          matMul(tf.tensor2d(a.subarray(s * d, (s + rows) * d), [rows, d]), bt, false, true)
        ),
      );
      for (let r = 0; r < rows; r++) {
        const row = cos.subarray(r * mb, (r + 1) * mb);
        const skip = options.self ? new Set([s + r]) : undefined;
        out.push(extremeIndices(row, n, { skip }).map((j) => [j, row[j]]));
      }
    }
  } finally {
    bt.dispose();
  }
  return out;
}
