/**
 * Evaluation metrics for sparse autoencoders: reconstruction, downstream (spliced) loss,
 * per-latent statistics, decoder geometry, and small statistics helpers.
 *
 * Conventions: activations x, reconstructions x̂, gradients g are `tf.Tensor2D` [n, d] (n tokens);
 * latents are [n, d_sae] with zeros where a latent is off; `W_dec` is [d_sae, d_in]. Results are
 * plain numbers or Float32Arrays. Batch functions give one batch's value; the accumulators
 * ({@link ReconstructionStats}, {@link LatentStats}, {@link SpliceSums}) aggregate many batches
 * exactly (sums first, ratios last), so an evaluation over N tokens is not a mean of batch ratios.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { GPT2 } from "./gpt2/model.ts";
import { matMul } from "./ops.ts";

/** Reads a scalar tensor expression to a number, freeing every intermediate. */
function scalar(fn: () => tf.Tensor): number {
  return tf.tidy(() => fn().dataSync()[0]);
}

/** MSE: mean over tokens and dimensions of (x̂ − x)². */
export function mse(x: tf.Tensor2D, xHat: tf.Tensor2D): number {
  return scalar(() => tf.mean(tf.squaredDifference(xHat, x)));
}

/** Normalised MSE: mean((x̂ − x)²) / mean(x²) — the error relative to predicting x̂ = 0. */
export function normalisedMse(x: tf.Tensor2D, xHat: tf.Tensor2D): number {
  return scalar(() => tf.div(tf.sum(tf.squaredDifference(xHat, x)), tf.sum(tf.square(x))));
}

/**
 * FVU (fraction of variance unexplained): Σₙ‖xₙ − x̂ₙ‖² / Σₙ‖xₙ − x̄‖², where x̄ is the mean of
 * x over the tokens given — the error relative to predicting the mean activation.
 */
export function fvu(x: tf.Tensor2D, xHat: tf.Tensor2D): number {
  return scalar(() =>
    tf.div(tf.sum(tf.squaredDifference(x, xHat)), tf.sum(tf.square(tf.sub(x, tf.mean(x, 0, true)))))
  );
}

/** L0: mean over tokens of the number of non-zero latents. */
export function l0(latents: tf.Tensor2D): number {
  return scalar(() => tf.mean(tf.sum(tf.cast(tf.notEqual(latents, 0), "float32"), 1)));
}

/** Activation frequency of each latent in one batch: fraction of its tokens where it is non-zero. */
export function activationFrequency(latents: tf.Tensor2D): Float32Array {
  return tf.tidy(() => tf.mean(tf.cast(tf.notEqual(latents, 0), "float32"), 0).dataSync() as Float32Array);
}

/**
 * Accumulates the sums behind {@link mse}, {@link normalisedMse}, {@link fvu} and {@link l0} over
 * many batches (in float64), so the ratios are over all tokens seen; x̄ in FVU is the mean over
 * all of them.
 */
export class ReconstructionStats {
  /** Tokens seen. */
  tokens = 0;
  /** Tokens whose latents were given (the L0 denominator). */
  latentTokens = 0;
  #sumSqErr = 0;
  #sumSq = 0;
  #sumX: Float64Array | null = null;
  #nonZero = 0;

  /** Adds a batch: x and x̂ [n, d], and optionally its latents [n, d_sae] for L0. */
  add(x: tf.Tensor2D, xHat: tf.Tensor2D, latents?: tf.Tensor2D): void {
    const [n, d] = x.shape;
    const [err, sq, colSum] = tf.tidy(() => [
      tf.sum(tf.squaredDifference(x, xHat)).dataSync()[0],
      tf.sum(tf.square(x)).dataSync()[0],
      tf.sum(x, 0).dataSync(),
    ] as const);
    this.#sumX ??= new Float64Array(d);
    if (this.#sumX.length !== d) throw new Error(`ReconstructionStats: width ${d}, expected ${this.#sumX.length}`);
    for (let j = 0; j < d; j++) this.#sumX[j] += colSum[j];
    this.#sumSqErr += err;
    this.#sumSq += sq;
    this.tokens += n;
    if (latents) {
      this.#nonZero += scalar(() => tf.sum(tf.cast(tf.notEqual(latents, 0), "float32")));
      this.latentTokens += latents.shape[0];
    }
  }

  /** Mean squared error per element over everything seen. */
  get mse(): number {
    return this.#sumSqErr / (this.tokens * (this.#sumX?.length ?? NaN));
  }

  /** Σ(x̂ − x)² / Σx² over everything seen. */
  get normalisedMse(): number {
    return this.#sumSqErr / this.#sumSq;
  }

  /** Σ‖x − x̂‖² / Σ‖x − x̄‖², using Σ‖x − x̄‖² = Σ‖x‖² − n‖x̄‖². */
  get fvu(): number {
    let meanSq = 0;
    for (const s of this.#sumX ?? []) meanSq += (s / this.tokens) ** 2;
    return this.#sumSqErr / (this.#sumSq - this.tokens * meanSq);
  }

  /** Mean non-zero latents per token (NaN when no latents were given). */
  get l0(): number {
    return this.#nonZero / this.latentTokens;
  }
}

/** Options for {@link spliceMetrics}. */
export interface SpliceOptions {
  /** Hook name, e.g. `blocks.7.hook_resid_post`. */
  hook: string;
  /**
   * Reconstruction x̂ [n, d] of the hooked activations x [n, d], n = batch × seq (every position,
   * row-major). `grad` is ∇ₓ of the summed next-token loss of each sequence (true targets; zero at
   * the last position) and is given only when `needsGradient` is set. Called inside a `tf.tidy`:
   * to keep latents for other metrics, read them to JS (or `tf.keep` them) inside the function.
   */
  reconstruct: (activation: tf.Tensor2D, grad?: tf.Tensor2D) => tf.Tensor2D;
  /** Compute the gradient at the hook (one backward pass) for gradient-aware encoders. */
  needsGradient?: boolean;
  /** Mean activation [d] for mean-ablation; default: the mean over this batch's tokens. */
  meanActivation?: Float32Array;
  /** Positions unembedded at once, bounding memory to rows × vocab floats (default 512). */
  chunkRows?: number;
}

/**
 * Per-batch sums of next-token losses over the positions `GPT2.tokenLosses` scores (every
 * position but the last), in nats. Add batches with {@link addSpliceSums}; turn into means with
 * {@link summariseSplice}.
 */
export interface SpliceSums {
  /** Positions scored. */
  tokens: number;
  /** Σ CE of the clean model. */
  ceClean: number;
  /** Σ CE with x̂ spliced in at the hook. */
  ceSpliced: number;
  /** Σ CE with the hooked activation replaced by zeros. */
  ceZero: number;
  /** Σ CE with the hooked activation replaced by the mean activation. */
  ceMean: number;
  /** Σ KL(p_clean ‖ p_spliced) of the next-token distributions. */
  kl: number;
}

/** Means derived from {@link SpliceSums}; see {@link summariseSplice} for definitions. */
export interface SpliceSummary {
  /** Positions scored. */
  tokens: number;
  /** Mean clean CE. */
  ceClean: number;
  /** Mean CE with x̂ spliced in. */
  ceSpliced: number;
  /** ΔCE (CE loss added) = ceSpliced − ceClean. */
  deltaCe: number;
  /** Mean KL(clean ‖ spliced). */
  kl: number;
  /** Mean CE under zero-ablation. */
  ceZero: number;
  /** Mean CE under mean-ablation. */
  ceMean: number;
  /** (ceZero − ceSpliced) / (ceZero − ceClean). */
  fracRecoveredZero: number;
  /** (ceMean − ceSpliced) / (ceMean − ceClean). */
  fracRecoveredMean: number;
}

/** Sum of two batches' {@link SpliceSums}. */
export function addSpliceSums(a: SpliceSums, b: SpliceSums): SpliceSums {
  return {
    tokens: a.tokens + b.tokens,
    ceClean: a.ceClean + b.ceClean,
    ceSpliced: a.ceSpliced + b.ceSpliced,
    ceZero: a.ceZero + b.ceZero,
    ceMean: a.ceMean + b.ceMean,
    kl: a.kl + b.kl,
  };
}

/**
 * Downstream metrics from summed losses. CE means are over all scored positions (tokens t whose
 * next token t+1 is in the batch). ΔCE = CE_spliced − CE_clean. KL = mean over positions of
 * Σ_v p_clean(v)·(log p_clean(v) − log p_spliced(v)). Fraction of CE recovered vs an ablation A
 * (zero: x → 0; mean: x → mean activation) = (CE_A − CE_spliced) / (CE_A − CE_clean): 1 is a
 * perfect splice, 0 is no better than the ablation.
 */
export function summariseSplice(sums: SpliceSums): SpliceSummary {
  const n = sums.tokens;
  const [clean, spliced, zero, meanAbl] = [sums.ceClean / n, sums.ceSpliced / n, sums.ceZero / n, sums.ceMean / n];
  return {
    tokens: n,
    ceClean: clean,
    ceSpliced: spliced,
    deltaCe: spliced - clean,
    kl: sums.kl / n,
    ceZero: zero,
    ceMean: meanAbl,
    fracRecoveredZero: (zero - spliced) / (zero - clean),
    fracRecoveredMean: (meanAbl - spliced) / (meanAbl - clean),
  };
}

/**
 * Clean, spliced, zero- and mean-ablated next-token cross-entropy and KL(clean ‖ spliced) for
 * one batch of int32 token ids [b, t], as sums ({@link SpliceSums}). Replacements are spliced
 * at `hook` with `GPT2.runFromHook` (for attn_out/mlp_out hooks the residual they are added to
 * is kept clean), so layers before the hook run once.
 */
export function spliceMetrics(model: GPT2, ids: tf.Tensor2D, options: SpliceOptions): SpliceSums {
  const { hook, reconstruct, needsGradient = false, chunkRows = 512 } = options;
  const [b, t] = ids.shape;
  if (t < 2) throw new Error(`spliceMetrics: sequences of ${t} token(s) have no next-token targets`);
  const state = needsGradient ? model.gradAtHook(ids, hook) : model.runToHook(ids, hook);
  try {
    return tf.tidy(() => {
      const d = state.activation.shape[2];
      const x = state.activation.reshape([b * t, d]) as tf.Tensor2D;
      const grad = "gradient" in state ? state.gradient.reshape([b * t, d]) as tf.Tensor2D : undefined;
      const xHat = reconstruct(x, grad);
      if (!tf.util.arraysEqual(xHat.shape, x.shape)) {
        throw new Error(`spliceMetrics: reconstruct returned [${xHat.shape}], expected [${x.shape}]`);
      }
      const meanVec = options.meanActivation ? tf.tensor1d(options.meanActivation) : tf.mean(x, 0);
      if (meanVec.shape[0] !== d) throw new Error(`spliceMetrics: meanActivation has ${meanVec.shape[0]} dims, expected ${d}`);
      // Final residuals at the scored positions, flattened to [b·(t−1), d].
      const run = (act: tf.Tensor) =>
        model.runFromHook(hook, { activation: act.reshape([b, t, d]) as tf.Tensor3D, residual: state.residual })
          .slice([0, 0, 0], [b, t - 1, model.config.n_embd]).reshape([b * (t - 1), model.config.n_embd]) as tf.Tensor2D;
      const finals = [run(x), run(xHat), run(tf.zerosLike(x)), run(tf.broadcastTo(meanVec, [b * t, d]))];
      const targets = ids.slice([0, 1], [b, t - 1]).reshape([b * (t - 1)]).toInt() as tf.Tensor1D;
      return scoreFinals(model, finals, targets, chunkRows);
    });
  } finally {
    for (const tensor of Object.values(state)) (tensor as tf.Tensor | undefined)?.dispose();
  }
}

/** CE sums for [clean, spliced, zero, mean] final residuals and KL(clean ‖ spliced), in row chunks. */
function scoreFinals(model: GPT2, finals: tf.Tensor2D[], targets: tf.Tensor1D, chunkRows: number): SpliceSums {
  const rows = targets.shape[0];
  const ce = [0, 0, 0, 0];
  let kl = 0;
  for (let start = 0; start < rows; start += chunkRows) {
    const size = Math.min(chunkRows, rows - start);
    tf.tidy(() => {
      const tgt = targets.slice(start, size);
      const logp = (h: tf.Tensor2D) => {
        const logits = model.unembed(h.slice([start, 0], [size, -1]).expandDims(0) as tf.Tensor3D).squeeze([0]);
        return tf.sub(logits, tf.logSumExp(logits, 1, true)) as tf.Tensor2D;
      };
      const vocab = model.config.vocab_size;
      const flat = tf.add(tf.mul(tf.range(0, size, 1, "int32"), tf.scalar(vocab, "int32")), tgt);
      const lps = finals.map(logp);
      lps.forEach((lp, i) => (ce[i] -= tf.sum(tf.gather(lp.reshape([size * vocab]), flat)).dataSync()[0]));
      kl += tf.sum(tf.mul(tf.exp(lps[0]), tf.sub(lps[0], lps[1]))).dataSync()[0];
    });
  }
  return { tokens: rows, ceClean: ce[0], ceSpliced: ce[1], ceZero: ce[2], ceMean: ce[3], kl };
}

/** Row-normalised copy of W_dec [d_sae, d_in] (zero rows stay zero). */
export function unitRows(wDec: tf.Tensor2D): tf.Tensor2D {
  return tf.tidy(() => tf.div(wDec, tf.maximum(tf.norm(wDec, "euclidean", 1, true), 1e-12)));
}

/** Directional derivatives g·d̂ᵢ [n, d_sae] of gradients g [n, d_in] along unit decoder rows. */
export function directionalDerivatives(grad: tf.Tensor2D, wDec: tf.Tensor2D): tf.Tensor2D {
  return tf.tidy(() => matMul(grad, unitRows(wDec), false, true));
}
