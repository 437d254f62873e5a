/**
 * Decoder geometry and per-latent statistics: unit decoder rows, directional derivatives of the
 * loss along them, each row's maximum cosine with another, and {@link LatentStats} accumulating
 * firing counts, activations and mean |directional derivative| over a window of tokens.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { matMul } from "../tensor/ops.ts";
import { median } from "./stats.ts";

/** Row-normalised copy of W_dec [d_sae, d_in] (zero rows stay zero). */
export function unitRows(wDec: tf.Tensor2D): tf.Tensor2D {
  return tf.tidy(() => tf.div(wDec, tf.maximum(tf.norm(wDec, "euclidean", 1, true), 1e-12)));
}

/** Directional derivatives g·d̂ᵢ [n, d_sae] of gradients g [n, d_in] along unit decoder rows. */
export function directionalDerivatives(grad: tf.Tensor2D, wDec: tf.Tensor2D): tf.Tensor2D {
  return tf.tidy(() => matMul(grad, unitRows(wDec), false, true));
}

/**
 * Each decoder row's maximum cosine similarity with any OTHER row, [d_sae], from the normalised
 * Gram matrix Ŵ·Ŵᵀ computed `blockRows` rows at a time (default: blocks of ≤ 2²⁴ entries, 64 MiB)
 * so memory stays bounded at large d_sae. NaN everywhere when d_sae < 2.
 */
export async function maxDecoderCosine(
  wDec: tf.Tensor2D,
  options: { blockRows?: number } = {},
): Promise<Float32Array> {
  const m = wDec.shape[0];
  const out = new Float32Array(m);
  if (m < 2) return out.fill(NaN);
  const block = options.blockRows ?? Math.max(1, Math.floor(2 ** 24 / m));
  const [unit, unitT] = tf.tidy(() => {
    const u = unitRows(wDec);
    return [u, tf.transpose(u)];
  });
  try {
    for (let s = 0; s < m; s += block) {
      const size = Math.min(block, m - s);
      const maxT = tf.tidy(() => {
        const sims = matMul(unit.slice([s, 0], [size, -1]), unitT);
        // Push each row's self-similarity (1) below every possible cosine (≥ −1).
        const self = tf.oneHot(tf.range(s, s + size, 1, "int32"), m);
        return tf.max(tf.sub(sims, tf.mul(self, 4)), 1);
      });
      try {
        out.set(await maxT.data(), s);
      } finally {
        maxT.dispose();
      }
    }
  } finally {
    unit.dispose();
    unitT.dispose();
  }
  return out;
}

/** Frequency statistics of a window of tokens; see {@link LatentStats.summary}. */
export interface FrequencySummary {
  /** Tokens in the window (N in "dead = no activation over the last N tokens"). */
  tokens: number;
  /** Latents that never fired in the window. */
  dead: number;
  /** dead / d_sae. */
  deadFraction: number;
  /** Median over latents of the activation frequency (dead latents included, as 0). */
  medianFrequency: number;
  /** Fraction of latents firing on more than 1 % of tokens. */
  fractionAbove1pct: number;
  /** Fraction of latents firing on more than 10 % of tokens. */
  fractionAbove10pct: number;
  /** Mean non-zero latents per token (L0) over the window. */
  l0: number;
}

/**
 * Per-latent statistics accumulated over batches (one window of tokens): firing counts, sums of
 * activations, and mean |directional derivative| |∇ₓL·d̂ᵢ| of the LM loss along each latent's unit
 * decoder direction d̂ᵢ = W_dec[i]/‖W_dec[i]‖ (equal to (g·W_decᵀ)ᵢ for unit-norm decoders).
 * A latent "fires" on a token when its activation is non-zero.
 */
export class LatentStats {
  /** Number of latents. */
  readonly dSae: number;
  /** Tokens seen. */
  tokens = 0;
  /** Tokens seen with gradients (the denominator of the all-tokens derivative mean). */
  gradTokens = 0;
  /** Tokens each latent fired on. */
  readonly fireCounts: Float64Array;
  /** Sum of each latent's activations. */
  readonly activationSums: Float64Array;
  /** Σ |g·d̂ᵢ| over tokens with gradients where latent i fired. */
  readonly absDerivFiringSums: Float64Array;
  /** Tokens with gradients where latent i fired. */
  readonly gradFireCounts: Float64Array;
  /** Σ |g·d̂ᵢ| over all tokens with gradients. */
  readonly absDerivAllSums: Float64Array;

  /** An empty window for `dSae` latents. */
  constructor(dSae: number) {
    this.dSae = dSae;
    [
      this.fireCounts,
      this.activationSums,
      this.absDerivFiringSums,
      this.gradFireCounts,
      this.absDerivAllSums,
    ] = Array
      .from({ length: 5 }, () => new Float64Array(dSae));
  }

  /**
   * Adds a batch of latents [n, d_sae]. With `grad` [n, d_in] (∇ₓL at the same tokens) and
   * `wDec` [d_sae, d_in] it also accumulates directional derivatives. Positions without a target
   * (the last of each sequence) have zero gradient: drop them from `grad` and `latents` if the
   * all-tokens mean should exclude them. Reads asynchronously (any backend); the tensors must stay
   * alive until it resolves.
   */
  async add(
    latents: tf.Tensor2D,
    options: { grad?: tf.Tensor2D; wDec?: tf.Tensor2D } = {},
  ): Promise<void> {
    const [n, m] = latents.shape;
    if (m !== this.dSae) {
      throw new Error(`LatentStats: latents have ${m} columns, expected ${this.dSae}`);
    }
    const a = await latents.data();
    for (let r = 0; r < n; r++) {
      for (let i = 0, o = r * m; i < m; i++) {
        const v = a[o + i];
        if (v !== 0) (this.fireCounts[i]++, this.activationSums[i] += v);
      }
    }
    this.tokens += n;
    if (!options.grad) return;
    if (!options.wDec) {
      throw new Error("LatentStats.add: grad needs wDec for directional derivatives");
    }
    // Read back outside tf.tidy: tidy walks a returned typed array element by element (~1 µs
    // each), which made this the slowest step of an evaluation.
    const derivT = directionalDerivatives(options.grad!, options.wDec!);
    let deriv: Float32Array;
    try {
      deriv = await derivT.data() as Float32Array;
    } finally {
      derivT.dispose();
    }
    for (let r = 0; r < n; r++) {
      for (let i = 0, o = r * m; i < m; i++) {
        const g = Math.abs(deriv[o + i]);
        this.absDerivAllSums[i] += g;
        if (a[o + i] !== 0) (this.absDerivFiringSums[i] += g, this.gradFireCounts[i]++);
      }
    }
    this.gradTokens += n;
  }

  /** Activation frequency per latent: fireCounts / tokens. */
  frequencies(): Float32Array {
    return Float32Array.from(this.fireCounts, (c) => c / this.tokens);
  }

  /** Mean activation per latent over the tokens where it fired (NaN if it never fired). */
  meanActivationWhenFiring(): Float32Array {
    return Float32Array.from(this.activationSums, (s, i) => s / this.fireCounts[i]);
  }

  /** Indices of latents that never fired in the window. */
  deadLatents(): number[] {
    const dead: number[] = [];
    this.fireCounts.forEach((c, i) => c === 0 && dead.push(i));
    return dead;
  }

  /** Fraction of latents whose frequency is strictly above `threshold` (e.g. 0.01 for 1 %). */
  fractionAbove(threshold: number): number {
    return this.frequencies().filter((f) => f > threshold).length / this.dSae;
  }

  /**
   * Mean |∇ₓL·d̂ᵢ| per latent: `whenFiring` averages over gradient tokens where latent i fired
   * (NaN if none) — the scale of the latent's loss effect when it is used; `allTokens` averages
   * over every gradient token — the direction's sensitivity regardless of use.
   */
  meanAbsDerivative(): { whenFiring: Float32Array; allTokens: Float32Array } {
    return {
      whenFiring: Float32Array.from(this.absDerivFiringSums, (s, i) => s / this.gradFireCounts[i]),
      allTokens: Float32Array.from(this.absDerivAllSums, (s) => s / this.gradTokens),
    };
  }

  /**
   * Empirical CDF of latent frequencies for plotting: `frequency` ascending and `fraction` =
   * share of latents with frequency ≤ it, at ≤ `points` evenly spaced ranks (default 256).
   */
  frequencyCdf(options: { points?: number } = {}): { frequency: number[]; fraction: number[] } {
    const sorted = this.frequencies().sort();
    const count = Math.min(options.points ?? 256, sorted.length);
    const frequency: number[] = [], fraction: number[] = [];
    for (let p = 0; p < count; p++) {
      const r = count === 1
        ? sorted.length - 1
        : Math.round((p * (sorted.length - 1)) / (count - 1));
      frequency.push(sorted[r]);
      fraction.push((r + 1) / sorted.length);
    }
    return { frequency, fraction };
  }

  /** Dead latents, median frequency, fractions above 1 % and 10 %, L0, over the window. */
  summary(): FrequencySummary {
    const dead = this.deadLatents().length;
    return {
      tokens: this.tokens,
      dead,
      deadFraction: dead / this.dSae,
      medianFrequency: median(this.frequencies()),
      fractionAbove1pct: this.fractionAbove(0.01),
      fractionAbove10pct: this.fractionAbove(0.1),
      l0: this.fireCounts.reduce((s, c) => s + c, 0) / this.tokens,
    };
  }
}
