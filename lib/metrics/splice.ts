/**
 * Downstream (spliced) metrics: next-token cross-entropy of GPT-2 with an SAE reconstruction
 * spliced in at a hook, against the clean model and zero- and mean-ablations, and KL(clean ‖
 * spliced). Batches give {@link SpliceSums}; {@link addSpliceSums} adds them and
 * {@link summariseSplice} turns the total into means.
 *
 * Only the spliced pass depends on the SAE. {@link spliceReference} runs everything else once per
 * batch (the hooked activations and gradient, the clean, zero- and mean-ablated CE, and the clean
 * log-probabilities KL compares with); {@link splicedSums} then scores one reconstruction against
 * it, so many SAEs on the same batches share one reference. {@link spliceMetrics} does both. A
 * reference is plain data on the host (typed arrays), so a cache of references needs no freeing.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { GPT2, HookState } from "../gpt2/model.ts";
import { klDivergence } from "./divergence.ts";
import type { SpliceSums } from "./splice_sums.ts";

export {
  addSpliceSums,
  type SpliceSummary,
  type SpliceSums,
  summariseSplice,
} from "./splice_sums.ts";

/** Options for {@link spliceMetrics}. */
export interface SpliceOptions {
  /** Hook name, e.g. `blocks.7.hook_resid_post`. */
  hook: string;
  /**
   * Reconstruction x̂ [n, d] of the hooked activations x [n, d], n = batch × seq (every position,
   * row-major). `grad` is ∇ₓ of the summed next-token loss of each sequence (true targets; zero at
   * the last position) and is given only when `needsGradient` is set. Called inside a `tf.tidy`:
   * to keep latents for other metrics, `tf.keep` them inside the function.
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

/** Options for {@link spliceReference}: {@link SpliceOptions} without the reconstruction. */
export type SpliceReferenceOptions = Omit<SpliceOptions, "reconstruct"> & {
  /**
   * Keep the clean log-probabilities (rows × vocabulary floats) rather than recomputing them
   * from the clean final residual for each reconstruction (default: when one batch's take at
   * most 2²⁴ floats, 64 MiB).
   */
  keepLogProbs?: boolean;
};

/**
 * What scoring a reconstruction of one batch needs besides the reconstruction: the
 * SAE-independent passes, computed once by {@link spliceReference}, as host arrays.
 */
export interface SpliceReference {
  /** Hook name. */
  hook: string;
  /** Sequences b, positions t, activation width d and final-residual width e. */
  shape: { batch: number; seq: number; d: number; e: number };
  /** The hooked activations x, [b·t, d]. */
  activation: Float32Array;
  /** The residual an attn_out/mlp_out activation is added to, [b, t, e] (see `HookState`). */
  residual?: Float32Array;
  /** ∇ₓ of each sequence's summed next-token loss, [b·t, d] (when asked for). */
  gradient?: Float32Array;
  /** The true next tokens, [b·(t − 1)]. */
  targets: Int32Array;
  /** Rows unembedded at once. */
  chunkRows: number;
  /** Per row chunk, the clean log-probabilities [rows, vocab] (when kept). */
  cleanLogProbs: Float32Array[] | null;
  /** The clean final residual at the scored positions, [b·(t − 1), e] (when log-probs are not). */
  cleanFinal: Float32Array | null;
  /** Σ CE of the clean model and of the zero- and mean-ablations, and the positions scored. */
  sums: Omit<SpliceSums, "ceSpliced" | "kl">;
}

/** A reference's activations x as a [b·t, d] tensor (the caller disposes it). */
export function referenceActivation(ref: SpliceReference): tf.Tensor2D {
  return tf.tensor2d(ref.activation, [ref.activation.length / ref.shape.d, ref.shape.d]);
}

/** A reference's gradient as a [b·t, d] tensor, if it has one (the caller disposes it). */
export function referenceGradient(ref: SpliceReference): tf.Tensor2D | undefined {
  const g = ref.gradient;
  return g ? tf.tensor2d(g, [g.length / ref.shape.d, ref.shape.d]) : undefined;
}

/**
 * The SAE-independent half of {@link spliceMetrics} for one batch of int32 token ids [b, t]:
 * the activations (and gradient) at `options.hook`, and the clean, zero- and mean-ablated CE.
 * Reads tensors asynchronously, so it runs on every backend (webgpu has no synchronous reads).
 */
export async function spliceReference(
  model: GPT2,
  ids: tf.Tensor2D,
  options: SpliceReferenceOptions,
): Promise<SpliceReference> {
  const { hook, needsGradient = false, chunkRows = 512 } = options;
  const [b, t] = ids.shape;
  if (t < 2) {
    throw new Error(`spliceMetrics: sequences of ${t} token(s) have no next-token targets`);
  }
  const rows = b * (t - 1), vocab = model.config.vocab_size, e = model.config.n_embd;
  const keepLogProbs = options.keepLogProbs ?? rows * vocab <= 2 ** 24;
  const gradState = needsGradient
    ? model.gradAtHook(ids, hook, { targets: options.gradientTargets })
    : null;
  const state: HookState = gradState ?? model.runToHook(ids, hook);
  const stateTensors = Object.values(gradState ?? state) as tf.Tensor[];
  const targetsT = tf.tidy(() => ids.slice([0, 1], [b, t - 1]).reshape([rows]).toInt());
  let finals: tf.Tensor2D[] = [];
  try {
    const d = state.activation.shape[2];
    const ref: SpliceReference = {
      hook,
      shape: { batch: b, seq: t, d, e },
      activation: await state.activation.data() as Float32Array,
      residual: await state.residual?.data() as Float32Array | undefined,
      gradient: await gradState?.gradient.data() as Float32Array | undefined,
      targets: await targetsT.data() as Int32Array,
      chunkRows,
      cleanLogProbs: keepLogProbs ? [] : null,
      cleanFinal: null,
      sums: { tokens: rows, ceClean: 0, ceZero: 0, ceMean: 0 },
    };
    finals = tf.tidy(() => {
      const x = state.activation.reshape([b * t, d]) as tf.Tensor2D;
      const mu = options.meanActivation ? tf.tensor1d(options.meanActivation) : tf.mean(x, 0);
      if (mu.shape[0] !== d) {
        throw new Error(`spliceMetrics: meanActivation has ${mu.shape[0]} dims, not ${d}`);
      }
      return [x, tf.zerosLike(x), tf.broadcastTo(mu, [b * t, d]) as tf.Tensor2D].map((a) =>
        finalResidual(model, ref, a, state.residual)
      );
    });
    const [ceClean, ceZero, ceMean] = await chunkedCE(model, ref, finals, async (_chunk, lps) => {
      ref.cleanLogProbs?.push(await lps[0].data() as Float32Array);
    });
    ref.sums = { tokens: rows, ceClean, ceZero, ceMean };
    if (!keepLogProbs) ref.cleanFinal = await finals[0].data() as Float32Array;
    return ref;
  } finally {
    tf.dispose([...finals, ...stateTensors, targetsT]);
  }
}

/**
 * The {@link SpliceSums} of a reconstruction x̂ [b·t, d] of `ref`'s activations: the spliced
 * pass (one run from the hook on), its CE and KL(clean ‖ spliced), with the reference's clean
 * and ablated sums.
 */
export async function splicedSums(
  model: GPT2,
  ref: SpliceReference,
  xHat: tf.Tensor2D,
): Promise<SpliceSums> {
  const { batch: b, seq: t, d, e } = ref.shape;
  if (!tf.util.arraysEqual(xHat.shape, [b * t, d])) {
    throw new Error(
      `spliceMetrics: reconstruct returned [${xHat.shape}], expected [${b * t},${d}]`,
    );
  }
  const spliced = tf.tidy(() => {
    const residual = ref.residual ? tf.tensor3d(ref.residual, [b, t, e]) : undefined;
    return finalResidual(model, ref, xHat, residual);
  });
  const cleanFinal = ref.cleanFinal ? tf.tensor2d(ref.cleanFinal, [b * (t - 1), e]) : null;
  try {
    let kl = 0;
    const [ceSpliced] = await chunkedCE(model, ref, [spliced], async (chunk, [lp]) => {
      const klT = tf.tidy(() => {
        const clean = ref.cleanLogProbs
          ? tf.tensor2d(ref.cleanLogProbs[chunk], lp.shape)
          : logProbs(model, cleanFinal!, ref, chunk);
        return tf.sum(klDivergence(clean, lp));
      });
      kl += (await klT.data())[0];
      klT.dispose();
    });
    return { ...ref.sums, ceSpliced, kl };
  } finally {
    tf.dispose([spliced, ...(cleanFinal ? [cleanFinal] : [])]);
  }
}

/**
 * Clean, spliced, zero- and mean-ablated next-token cross-entropy and KL(clean ‖ spliced) for
 * one batch of int32 token ids [b, t], as sums ({@link SpliceSums}). Replacements are spliced
 * at `hook` with `GPT2.runFromHook` (for attn_out/mlp_out hooks the residual they are added to
 * is kept clean), so layers before the hook run once.
 */
export async function spliceMetrics(
  model: GPT2,
  ids: tf.Tensor2D,
  options: SpliceOptions,
): Promise<SpliceSums> {
  const ref = await spliceReference(model, ids, { ...options, keepLogProbs: false });
  const xHat = tf.tidy(() => options.reconstruct(referenceActivation(ref), referenceGradient(ref)));
  try {
    return await splicedSums(model, ref, xHat);
  } finally {
    xHat.dispose();
  }
}

/** Final residuals at the scored positions, [b·(t−1), e], with `activation` at the hook. */
function finalResidual(
  model: GPT2,
  ref: SpliceReference,
  activation: tf.Tensor2D,
  residual: tf.Tensor3D | undefined,
): tf.Tensor2D {
  const { batch: b, seq: t, d, e } = ref.shape;
  return tf.tidy(() =>
    model.runFromHook(ref.hook, { activation: activation.reshape([b, t, d]), residual })
      .slice([0, 0, 0], [b, t - 1, e]).reshape([b * (t - 1), e]) as tf.Tensor2D
  );
}

/** Log-probabilities of row chunk `chunk` of final residuals `h` [rows, e]. */
function logProbs(model: GPT2, h: tf.Tensor2D, ref: SpliceReference, chunk: number): tf.Tensor2D {
  const start = chunk * ref.chunkRows;
  const size = Math.min(ref.chunkRows, ref.sums.tokens - start);
  return tf.tidy(() => {
    const logits = model.unembed(h.slice([start, 0], [size, -1]).expandDims(0) as tf.Tensor3D)
      .squeeze([0]);
    return tf.sub(logits, tf.logSumExp(logits, 1, true)) as tf.Tensor2D;
  });
}

/**
 * Σ CE of each of `finals` (final residuals [rows, e]) on the true next tokens, a row chunk at a
 * time; `each` sees every chunk's log-probabilities (disposed after it returns). The sums are read
 * asynchronously, outside `tf.tidy` (tidy cannot span an await).
 */
async function chunkedCE(
  model: GPT2,
  ref: SpliceReference,
  finals: tf.Tensor2D[],
  each: (chunk: number, lps: tf.Tensor2D[]) => Promise<void>,
): Promise<number[]> {
  const rows = ref.sums.tokens, vocab = model.config.vocab_size;
  const ce = finals.map(() => 0);
  for (let chunk = 0, start = 0; start < rows; chunk++, start += ref.chunkRows) {
    const size = Math.min(ref.chunkRows, rows - start);
    const { lps, sums } = tf.tidy(() => {
      const tgt = tf.tensor1d(ref.targets.subarray(start, start + size), "int32");
      const flat = tf.add(tf.mul(tf.range(0, size, 1, "int32"), tf.scalar(vocab, "int32")), tgt);
      const lps = finals.map((h) => logProbs(model, h, ref, chunk));
      return { lps, sums: lps.map((lp) => tf.sum(tf.gather(lp.reshape([size * vocab]), flat))) };
    });
    try {
      for (const [i, sum] of sums.entries()) ce[i] -= (await sum.data())[0];
      await each(chunk, lps);
    } finally {
      tf.dispose([...lps, ...sums]);
    }
  }
  return ce;
}
