/**
 * Downstream (spliced) metrics: next-token cross-entropy of GPT-2 with an SAE reconstruction
 * spliced in at a hook, against the clean model and zero- and mean-ablations, and KL(clean ‖
 * spliced). Batches give {@link SpliceSums}; {@link addSpliceSums} adds them and
 * {@link summariseSplice} turns the total into means.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { GPT2, HookState } from "../gpt2/model.ts";

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
