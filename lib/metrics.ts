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
import type { GPT2, HookState } from "./gpt2/model.ts";
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
  return tf.tidy(() =>
    tf.mean(tf.cast(tf.notEqual(latents, 0), "float32"), 0).dataSync() as Float32Array
  );
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
    const [err, sq, colSum] = tf.tidy(() =>
      [
        tf.sum(tf.squaredDifference(x, xHat)).dataSync()[0],
        tf.sum(tf.square(x)).dataSync()[0],
        tf.sum(x, 0).dataSync(),
      ] as const
    );
    this.#sumX ??= new Float64Array(d);
    if (this.#sumX.length !== d) {
      throw new Error(`ReconstructionStats: width ${d}, expected ${this.#sumX.length}`);
    }
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
  /**
   * Targets [b, t − 1] of the loss whose gradient `reconstruct` gets (default: the true next
   * tokens; e.g. tokens sampled from the model's own prediction, as a label-free control). CE and
   * KL are always scored on the true next tokens.
   */
  gradientTargets?: tf.Tensor2D;
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
  const [clean, spliced, zero, meanAbl] = [
    sums.ceClean / n,
    sums.ceSpliced / n,
    sums.ceZero / n,
    sums.ceMean / n,
  ];
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
  if (t < 2) {
    throw new Error(`spliceMetrics: sequences of ${t} token(s) have no next-token targets`);
  }
  const gradState = needsGradient
    ? model.gradAtHook(ids, hook, { targets: options.gradientTargets })
    : null;
  const state: HookState = gradState ?? model.runToHook(ids, hook);
  let finals: tf.Tensor2D[] = [];
  let targets: tf.Tensor1D | null = null;
  try {
    const [d, e] = [state.activation.shape[2], model.config.n_embd];
    // Final residuals at the scored positions, [b·(t−1), e]; each pass in its own tidy so only
    // its output outlives it.
    const run = (act: tf.Tensor) =>
      tf.tidy(() =>
        model.runFromHook(hook, { activation: act.reshape([b, t, d]), residual: state.residual })
          .slice([0, 0, 0], [b, t - 1, e]).reshape([b * (t - 1), e]) as tf.Tensor2D
      );
    finals = tf.tidy(() => {
      const x = state.activation.reshape([b * t, d]) as tf.Tensor2D;
      const xHat = reconstruct(
        x,
        gradState?.gradient.reshape([b * t, d]) as tf.Tensor2D | undefined,
      );
      if (!tf.util.arraysEqual(xHat.shape, x.shape)) {
        throw new Error(
          `spliceMetrics: reconstruct returned [${xHat.shape}], expected [${x.shape}]`,
        );
      }
      const mu = options.meanActivation ? tf.tensor1d(options.meanActivation) : tf.mean(x, 0);
      if (mu.shape[0] !== d) {
        throw new Error(`spliceMetrics: meanActivation has ${mu.shape[0]} dims, not ${d}`);
      }
      return [x, xHat, tf.zerosLike(x), tf.broadcastTo(mu, [b * t, d])].map(run);
    });
    targets = tf.tidy(() =>
      ids.slice([0, 1], [b, t - 1]).reshape([b * (t - 1)]).toInt() as tf.Tensor1D
    );
    return scoreFinals(model, finals, targets, chunkRows);
  } finally {
    tf.dispose([...finals, ...(targets ? [targets] : [])]);
    tf.dispose(Object.values(gradState ?? state) as tf.Tensor[]);
  }
}

/** CE sums for [clean, spliced, zero, mean] final residuals and KL(clean ‖ spliced), in row chunks. */
function scoreFinals(
  model: GPT2,
  finals: tf.Tensor2D[],
  targets: tf.Tensor1D,
  chunkRows: number,
): SpliceSums {
  const rows = targets.shape[0];
  const ce = [0, 0, 0, 0];
  let kl = 0;
  for (let start = 0; start < rows; start += chunkRows) {
    const size = Math.min(chunkRows, rows - start);
    tf.tidy(() => {
      const tgt = targets.slice(start, size);
      const logp = (h: tf.Tensor2D) => {
        const logits = model.unembed(h.slice([start, 0], [size, -1]).expandDims(0) as tf.Tensor3D)
          .squeeze([0]);
        return tf.sub(logits, tf.logSumExp(logits, 1, true)) as tf.Tensor2D;
      };
      const vocab = model.config.vocab_size;
      const flat = tf.add(tf.mul(tf.range(0, size, 1, "int32"), tf.scalar(vocab, "int32")), tgt);
      const lps = finals.map(logp);
      for (const [i, lp] of lps.entries()) {
        ce[i] -= tf.sum(tf.gather(lp.reshape([size * vocab]), flat)).dataSync()[0];
      }
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

/**
 * Each decoder row's maximum cosine similarity with any OTHER row, [d_sae], from the normalised
 * Gram matrix Ŵ·Ŵᵀ computed `blockRows` rows at a time (default: blocks of ≤ 2²⁴ entries, 64 MiB)
 * so memory stays bounded at large d_sae. NaN everywhere when d_sae < 2.
 */
export function maxDecoderCosine(
  wDec: tf.Tensor2D,
  options: { blockRows?: number } = {},
): Float32Array {
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
      out.set(
        tf.tidy(() => {
          const sims = matMul(unit.slice([s, 0], [size, -1]), unitT);
          // Push each row's self-similarity (1) below every possible cosine (≥ −1).
          const self = tf.oneHot(tf.range(s, s + size, 1, "int32"), m);
          return tf.max(tf.sub(sims, tf.mul(self, 4)), 1).dataSync();
        }),
        s,
      );
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
   * all-tokens mean should exclude them.
   */
  add(latents: tf.Tensor2D, options: { grad?: tf.Tensor2D; wDec?: tf.Tensor2D } = {}): void {
    const [n, m] = latents.shape;
    if (m !== this.dSae) {
      throw new Error(`LatentStats: latents have ${m} columns, expected ${this.dSae}`);
    }
    const a = latents.dataSync();
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
    const deriv = derivT.dataSync();
    derivT.dispose();
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

/** Arithmetic mean (NaN for no values). */
export function mean(values: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < values.length; i++) s += values[i];
  return s / values.length;
}

/** Standard deviation with `ddof` delta degrees of freedom (default 0, the population std). */
export function std(values: ArrayLike<number>, options: { ddof?: number } = {}): number {
  const mu = mean(values);
  let s = 0;
  for (let i = 0; i < values.length; i++) s += (values[i] - mu) ** 2;
  return Math.sqrt(s / (values.length - (options.ddof ?? 0)));
}

/** Quantile q ∈ [0, 1], linear between order statistics at rank q·(n − 1) (NumPy's default). */
export function quantile(values: ArrayLike<number>, q: number): number {
  if (values.length === 0) return NaN;
  const sorted = Float64Array.from(values).sort();
  const h = q * (sorted.length - 1), lo = Math.floor(h), hi = Math.min(lo + 1, sorted.length - 1);
  return sorted[lo] + (h - lo) * (sorted[hi] - sorted[lo]);
}

/** Median (the 0.5 quantile; mean of the two middle values for even counts). */
export function median(values: ArrayLike<number>): number {
  return quantile(values, 0.5);
}

/** Ranks 1..n, ties given the average of the ranks they span. */
export function averageRanks(values: ArrayLike<number>): Float64Array {
  const order = Array.from({ length: values.length }, (_, i) => i).sort((i, j) =>
    values[i] - values[j]
  );
  const ranks = new Float64Array(values.length);
  for (let start = 0; start < order.length;) {
    let end = start + 1;
    while (end < order.length && values[order[end]] === values[order[start]]) end++;
    for (let k = start; k < end; k++) ranks[order[k]] = (start + end + 1) / 2;
    start = end;
  }
  return ranks;
}

/**
 * Spearman rank correlation: Pearson correlation of the average ranks (ties share their mean
 * rank, as in `scipy.stats.spearmanr`). NaN when either input is constant.
 */
export function spearman(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) {
    throw new Error(`spearman: lengths ${a.length} and ${b.length} differ`);
  }
  const [ra, rb] = [averageRanks(a), averageRanks(b)];
  const [ma, mb] = [mean(ra), mean(rb)];
  let cov = 0, va = 0, vb = 0;
  for (let i = 0; i < ra.length; i++) {
    cov += (ra[i] - ma) * (rb[i] - mb);
    va += (ra[i] - ma) ** 2;
    vb += (rb[i] - mb) ** 2;
  }
  return cov / Math.sqrt(va * vb);
}
