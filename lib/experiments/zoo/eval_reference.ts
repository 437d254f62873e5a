/**
 * The SAE-independent half of every evaluation, computed once per workspace (model and hook),
 * split, window set and gradient source, and kept in memory: per batch of evaluation windows, a
 * {@link SpliceReference} (activations, gradient, clean and ablated CE, clean log-probabilities)
 * and the true-token gradient the latent statistics use. `evaluateSAE` then runs only the
 * spliced pass of each SAE.
 *
 * The references are host arrays held by a `WeakMap` on the workspace, so they go when the
 * workspace does; nothing needs freeing. A sampled-gradient entry is the true-token entry with the
 * encoder's gradient taken at sampled next tokens (drawn in batch order from its seed, as before
 * the cache existed), and a per-token entry the true-token entry with the per-token gradient; both
 * share every target-independent array with the true-token entry.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { sampleFromLogits } from "../../gpt2/generate.ts";
import type { GPT2 } from "../../gpt2/model.ts";
import { layersPerGradientPass, perTokenLayersPerGradientPass } from "../../gpt2/config.ts";
import { spreadOffsets, windows } from "../../data/windows.ts";
import { type SpliceReference, spliceReference } from "../../metrics/mod.ts";
import { Rng } from "../../tensor/random.ts";
import { takeData } from "../../tensor/read.ts";
import { sampleNextTokens } from "../../store/sampled.ts";
import { logitBatchSequences, storeSequences } from "./train_store.ts";
import type { Workspace } from "../shared/workspace.ts";

/** Evaluation windows per batch (fewer where the logits would not fit: `logitBatchSequences`). */
const BATCH_SEQUENCES = 8;

/** Which reference: the split's windows and the gradient the encoder gets. */
export interface ReferenceKey {
  /** `val`: the validation windows; `dev`: development windows of the training split. */
  split: "val" | "dev";
  /** The seed of sampled next tokens whose gradient the encoder gets; absent: the true tokens. */
  sampledSeed?: number;
  /**
   * The encoder gets the per-token gradient ∂L_t/∂x_t of the true next token's loss alone,
   * instead of the summed-window gradient Σ_{t' ≥ t} ∂L_{t'}/∂x_t (which depends on later labels).
   */
  perToken?: boolean;
  /**
   * The encoder gets this many per-token gradients per token, [b·t, S·d], at next tokens sampled
   * (S per token, from `sampledSeed`) from the model's prediction: the Fisher g-SAE's own signal.
   */
  fisherSamples?: number;
}

/** One batch of evaluation windows, ready for any SAE. */
export interface EvalBatch {
  /** The SAE-independent passes; its gradient is the one the encoder gets. */
  reference: SpliceReference;
  /** The true-token gradient [b·t, d] (the reference's own unless the encoder's is sampled). */
  trueGradient: Float32Array;
}

// The pending computation is cached, so concurrent callers share one (the reads are asynchronous).
const cache = new WeakMap<Workspace, Map<string, Promise<EvalBatch[]>>>();

/** The validation windows every evaluation uses: `profile.sae.evalSequences`, spread evenly. */
export function evalOffsets(ws: Workspace): number[] {
  const seq = ws.model.config.n_positions;
  return spreadOffsets(ws.val.length, ws.profile.sae.evalSequences, seq);
}

/**
 * Development windows in the training split for choosing hyperparameters: each lies midway
 * between two consecutive windows of the SAE store (`trainStore`), so no SAE trained on it.
 */
export function devOffsets(ws: Workspace): number[] {
  const seq = ws.model.config.n_positions;
  const store = spreadOffsets(ws.train.length, storeSequences(ws), seq);
  const count = Math.min(ws.profile.sae.devSequences, store.length - 1);
  return spreadOffsets(store.length - 1, count, 1).map((j) => {
    if (store[j + 1] - store[j] < 2 * seq) {
      throw new Error(`the store's windows are too dense for development windows between them`);
    }
    return Math.floor((store[j] + store[j + 1]) / 2);
  });
}

/**
 * The evaluation batches of `key` on the workspace's model and hook: computed on first use,
 * then shared by every evaluation in this process.
 */
export async function evalReference(ws: Workspace, key: ReferenceKey): Promise<EvalBatch[]> {
  const [data, offsets] = key.split === "dev"
    ? [ws.train, devOffsets(ws)]
    : [ws.val, evalOffsets(ws)];
  const id = JSON.stringify({
    fingerprint: ws.fingerprint,
    hook: ws.hook,
    split: key.split,
    data: data.length,
    offsets,
    sampledSeed: key.sampledSeed ?? null,
    perToken: key.perToken ?? false,
    fisherSamples: key.fisherSamples ?? null,
  });
  let entries = cache.get(ws);
  if (!entries) cache.set(ws, entries = new Map());
  let batches = entries.get(id);
  if (!batches) {
    if (key.sampledSeed !== undefined && key.perToken) {
      throw new Error("evalReference: a sampled gradient is summed over the window, not per token");
    }
    const { sampledSeed, perToken, fisherSamples } = key;
    batches = fisherSamples !== undefined
      ? evalReference(ws, { split: key.split }).then((truth) =>
        withFisherGradients(ws, data, {
          offsets,
          truth,
          samples: fisherSamples,
          seed: sampledSeed ?? 0,
        })
      )
      : sampledSeed !== undefined
      ? evalReference(ws, { split: key.split }).then((truth) =>
        withSampledGradient(ws, data, { offsets, seed: sampledSeed, truth })
      )
      : perToken
      ? evalReference(ws, { split: key.split }).then((truth) =>
        withGradient(ws, data, { offsets, truth, perToken: true })
      )
      : computeReference(ws, data, offsets);
    entries.set(id, batches);
    // A failed computation is not cached: the next call tries again.
    batches.catch(() => entries.delete(id));
  }
  return await batches;
}

async function computeReference(
  ws: Workspace,
  data: Int32Array,
  offsets: number[],
): Promise<EvalBatch[]> {
  const { model, hook } = ws, seq = model.config.n_positions;
  const batches: EvalBatch[] = [];
  const per = logitBatchSequences(ws, BATCH_SEQUENCES);
  for (let i = 0; i < offsets.length; i += per) {
    const ids = windows(data, offsets.slice(i, i + per), seq);
    try {
      const reference = await spliceReference(model, ids, { hook, needsGradient: true });
      batches.push({ reference, trueGradient: reference.gradient! });
    } finally {
      ids.dispose();
    }
  }
  return batches;
}

/**
 * The true-token reference `truth` with the encoder's gradient replaced by the gradient at next
 * tokens sampled from the model (drawn batch by batch from `seed`). Everything else (activations,
 * clean and ablated CE, clean log-probabilities) does not depend on the targets, so it is shared
 * with `truth` rather than computed again; the true-token gradient stays for the statistics.
 */
async function withSampledGradient(
  ws: Workspace,
  data: Int32Array,
  options: { offsets: number[]; seed: number; truth: EvalBatch[] },
): Promise<EvalBatch[]> {
  const rng = new Rng(options.seed);
  return await withGradient(ws, data, {
    ...options,
    targets: (ids) => sampleTargets(ws.model, ids, rng),
  });
}

/**
 * The true-token reference `truth` with the encoder's gradient computed again: at the targets
 * `options.targets` gives (batch by batch, in order), and per token or summed over the window.
 * Everything that does not depend on the gradient is shared with `truth`.
 */
async function withGradient(
  ws: Workspace,
  data: Int32Array,
  options: {
    offsets: number[];
    truth: EvalBatch[];
    targets?: (ids: tf.Tensor2D) => Promise<tf.Tensor2D>;
    perToken?: boolean;
  },
): Promise<EvalBatch[]> {
  const { model, hook } = ws, seq = model.config.n_positions;
  const per = logitBatchSequences(ws, BATCH_SEQUENCES);
  // Blocks per backward pass (GPT-2's shapes: a few; the embedded models: all). The per-token
  // rule's attention holds about twice the score-sized tensors, so it takes half as many.
  const layersPerPass = options.perToken
    ? perTokenLayersPerGradientPass(model.config, per)
    : layersPerGradientPass(model.config, per);
  const out: EvalBatch[] = [];
  for (const [j, batch] of options.truth.entries()) {
    const start = j * per;
    const ids = windows(data, options.offsets.slice(start, start + per), seq);
    const targets = options.targets ? await options.targets(ids) : undefined;
    const state = model.gradAtHook(ids, hook, {
      targets,
      perToken: options.perToken,
      layersPerPass,
    });
    try {
      const gradient = await state.gradient.data() as Float32Array;
      out.push({ reference: { ...batch.reference, gradient }, trueGradient: batch.trueGradient });
    } finally {
      tf.dispose([ids, ...(targets ? [targets] : []), ...(Object.values(state) as tf.Tensor[])]);
    }
  }
  return out;
}

/**
 * The true-token reference `truth` with the encoder's gradient replaced by `samples` per-token
 * gradients per token at next tokens sampled from the model ([b·t, S·d], row t: g_1 … g_S;
 * `sampleNextTokens` of the sampled store, drawn batch by batch from `seed`). The last position
 * of a window has no next token: its gradients are zero. Everything else is shared with `truth`.
 */
async function withFisherGradients(
  ws: Workspace,
  data: Int32Array,
  options: { offsets: number[]; seed: number; samples: number; truth: EvalBatch[] },
): Promise<EvalBatch[]> {
  const { model, hook } = ws, seq = model.config.n_positions, d = model.config.n_embd;
  const per = logitBatchSequences(ws, BATCH_SEQUENCES), S = options.samples;
  const rng = new Rng(options.seed * 1_000_003 + 17);
  const out: EvalBatch[] = [];
  for (const [j, batch] of options.truth.entries()) {
    const start = j * per;
    const ids = windows(data, options.offsets.slice(start, start + per), seq);
    try {
      const draws = await sampleNextTokens(model, ids, { samples: S, rng });
      const layersPerPass = perTokenLayersPerGradientPass(model.config, ids.shape[0]);
      const rows = ids.shape[0] * seq, gradient = new Float32Array(rows * S * d);
      for (let s = 0; s < S; s++) {
        const targets = tf.tensor2d(draws[s], [ids.shape[0], seq - 1], "int32");
        const state = model.gradAtHook(ids, hook, { targets, perToken: true, layersPerPass });
        try {
          const g = await state.gradient.data() as Float32Array;
          for (let r = 0; r < rows; r++) {
            gradient.set(g.subarray(r * d, (r + 1) * d), (r * S + s) * d);
          }
        } finally {
          tf.dispose([targets, ...(Object.values(state) as tf.Tensor[])]);
        }
      }
      out.push({ reference: { ...batch.reference, gradient }, trueGradient: batch.trueGradient });
    } finally {
      ids.dispose();
    }
  }
  return out;
}

/**
 * Next tokens [b, t − 1] sampled (temperature 1) from the clean model's prediction at each
 * position: the gradient at these needs no labels.
 */
export async function sampleTargets(
  model: GPT2,
  ids: tf.Tensor2D,
  rng: Rng,
): Promise<tf.Tensor2D> {
  const [b, t] = ids.shape, vocab = model.config.vocab_size;
  const logits = await takeData(tf.tidy(() => model.unembed(model.finalResidual(ids))));
  const out = new Int32Array(b * (t - 1));
  for (let r = 0; r < b; r++) {
    for (let p = 0; p < t - 1; p++) {
      const o = (r * t + p) * vocab;
      out[r * (t - 1) + p] = sampleFromLogits(logits.subarray(o, o + vocab), 1, rng);
    }
  }
  return tf.tensor2d(out, [b, t - 1], "int32");
}
