/**
 * Sampled per-token gradients beside a store, for the Fisher g-SAE (`lib/sae/fisher_gsae.ts`):
 * for every stored token, S gradients g_s = ∂(−log p(y_s | context))/∂x_t of the token's OWN
 * next-token loss (`gradAtHook`'s `perToken`) at next tokens y_s drawn from the model's own
 * prediction at temperature 1. No label is read. Built only when a Fisher g-SAE needs it, in a
 * folder of its own keyed by S and the sampling seed, so the ordinary store is untouched.
 *
 * Layout: `manifest.json` (format {@link SAMPLED_FORMAT}: the model fingerprint, hook, window
 * length and count, S, seed, the SHA-256 of the token ids, the chunks `{file, tokens, bytes,
 * sha256, seconds}` and `complete`), and `chunk-00000.safetensors`, … each with one F32 tensor
 * `grad` [tokens, S·d]: row t is g_1(t) … g_S(t), in the store's row order (window by window, each
 * window's first seq − 1 positions). Chunks are written atomically before the manifest that
 * lists them; the draws of a chunk come from a seed of its own, so a resumed build writes the
 * same bytes as an uninterrupted one.
 *
 * Cost: per window, one forward pass for the logits and S forward + backward passes from the hook
 * (the true-token store takes one); S·d·4 bytes per token.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { join } from "node:path";
import { perTokenLayersPerGradientPass } from "../gpt2/config.ts";
import type { GPT2 } from "../gpt2/model.ts";
import { writeFileAtomic, writeJsonAtomic } from "../io/atomic_write.ts";
import { parseJson, z } from "../io/json_file.ts";
import { parseSafetensors, requireTensor, serializeSafetensors } from "../io/safetensors.ts";
import { takeData } from "../tensor/read.ts";
import { Rng } from "../tensor/random.ts";
import { bytesOf, chunkProblem, REBUILD, sha256Hex, StoreError } from "./manifest.ts";

/** Format tag of a sampled-gradient folder's `manifest.json`. */
export const SAMPLED_FORMAT = "gsae-sampled-gradients/1";

/** What identifies a sampled-gradient folder, and how it is built. */
export interface SampledGradientOptions {
  /** The folder. */
  dir: string;
  /** Hook name. */
  hook: string;
  /** Gradients per token, S. */
  samples: number;
  /** Seed of the sampled next tokens. */
  seed: number;
  /** The model's fingerprint (`modelFingerprint`), recorded and checked on reuse. */
  fingerprint: string;
  /** Windows per model pass (default 16). */
  batchSequences?: number;
  /** Windows per chunk file (default 64). */
  chunkSequences?: number;
  /** Progress sink (default console.log). */
  log?: (line: string) => void;
}

const chunkSchema = z.object({
  file: z.string(),
  tokens: z.number().int().nonnegative(),
  bytes: z.number().int().nonnegative(),
  sha256: z.string(),
  seconds: z.number().nonnegative(),
});

const manifestSchema = z.object({
  format: z.literal(SAMPLED_FORMAT),
  fingerprint: z.string(),
  hook: z.string(),
  d: z.number().int(),
  seq_len: z.number().int(),
  sequences: z.number().int(),
  samples: z.number().int(),
  seed: z.number().int(),
  data_sha256: z.string(),
  chunk_sequences: z.number().int(),
  chunks: z.array(chunkSchema),
  complete: z.boolean(),
});

/** A sampled-gradient folder's `manifest.json`. */
export type SampledManifest = z.output<typeof manifestSchema>;

/** The sampled gradients of a complete folder and what they cost to build. */
export interface SampledGradients {
  /** Rows (tokens). */
  n: number;
  /** Gradients per token. */
  samples: number;
  /** [n, samples·d], row-major. */
  grad: Float32Array;
  /** Seconds spent computing and writing the chunks (summed over resumes). */
  buildSeconds: number;
  /** Bytes of the chunk files. */
  bytes: number;
}

/**
 * Build (or resume, or reuse) the sampled gradients of `data` (consecutive windows of the
 * model's context, as the store's) in `options.dir` and load them. A folder built with other
 * settings is rebuilt.
 */
export async function sampledGradients(
  model: GPT2,
  data: Int32Array,
  options: SampledGradientOptions,
): Promise<SampledGradients> {
  const log = options.log ?? ((line: string) => console.log(line));
  const seq = model.config.n_positions, d = model.config.n_embd, per = seq - 1;
  const sequences = Math.floor(data.length / seq);
  const chunkSequences = options.chunkSequences ?? 64;
  const plan: SampledManifest = {
    format: SAMPLED_FORMAT,
    fingerprint: options.fingerprint,
    hook: options.hook,
    d,
    seq_len: seq,
    sequences,
    samples: options.samples,
    seed: options.seed,
    data_sha256: await sha256Hex(bytesOf(data.subarray(0, sequences * seq))),
    chunk_sequences: chunkSequences,
    chunks: [],
    complete: false,
  };
  await Deno.mkdir(options.dir, { recursive: true });
  const manifestPath = join(options.dir, "manifest.json");
  let manifest = plan;
  try {
    const old = parseJson(await Deno.readTextFile(manifestPath), manifestSchema, {
      source: manifestPath,
    });
    const same = (m: SampledManifest) => JSON.stringify({ ...m, chunks: [], complete: false });
    if (same(old) === same(plan)) manifest = old;
    else log(`${options.dir}: rebuilding: built with other settings`);
  } catch { /* no manifest yet, or a damaged one: build from the start */ }
  const nChunks = Math.ceil(sequences / chunkSequences);
  for (let k = manifest.chunks.length; k < nChunks; k++) {
    const t0 = performance.now();
    const first = k * chunkSequences, count = Math.min(chunkSequences, sequences - first);
    const grad = await computeChunk(model, data.subarray(first * seq, (first + count) * seq), {
      hook: options.hook,
      samples: options.samples,
      rng: new Rng(options.seed * 1_000_003 + k * 7_919 + 11),
      batchSequences: options.batchSequences ?? 16,
    });
    const tokens = count * per;
    const bytes = serializeSafetensors({
      grad: { shape: [tokens, options.samples * d], data: grad },
    }, { metadata: { format: SAMPLED_FORMAT, hook: options.hook } }) as Uint8Array<ArrayBuffer>;
    const file = `chunk-${String(k).padStart(5, "0")}.safetensors`;
    await writeFileAtomic(join(options.dir, file), bytes);
    const seconds = (performance.now() - t0) / 1000;
    manifest.chunks.push({
      file,
      tokens,
      bytes: bytes.length,
      sha256: await sha256Hex(bytes),
      seconds,
    });
    manifest.complete = k === nChunks - 1;
    await writeJsonAtomic(manifestPath, manifest);
    log(
      `sampled gradients S=${options.samples}: chunk ${k + 1}/${nChunks} (${seconds.toFixed(1)} s)`,
    );
  }
  if (nChunks === 0) manifest.complete = true;
  return await loadSampled(options.dir, manifest);
}

/** Every chunk of a complete folder, checked (size, SHA-256, shape) and concatenated. */
async function loadSampled(dir: string, m: SampledManifest): Promise<SampledGradients> {
  const width = m.samples * m.d, n = m.chunks.reduce((s, c) => s + c.tokens, 0);
  const grad = new Float32Array(n * width);
  let at = 0;
  for (const c of m.chunks) {
    const path = join(dir, c.file);
    const bytes = await Deno.readFile(path);
    const problem = await chunkProblem(path, { ...c, first_sequence: 0 }, true, bytes);
    if (problem) throw new StoreError(`${problem}; ${REBUILD}`);
    const file = parseSafetensors(bytes, { source: path });
    grad.set(requireTensor(file, "grad", [c.tokens, width], path).data as Float32Array, at);
    at += c.tokens * width;
  }
  return {
    n,
    samples: m.samples,
    grad,
    buildSeconds: m.chunks.reduce((s, c) => s + c.seconds, 0),
    bytes: m.chunks.reduce((s, c) => s + c.bytes, 0),
  };
}

/**
 * The sampled per-token gradients of consecutive windows `ids`, [windows·(seq − 1), S·d]: per
 * batch of windows, the logits once, S next tokens per position drawn from them (one softmax per
 * position), then S per-token gradient passes.
 */
async function computeChunk(
  model: GPT2,
  ids: Int32Array,
  o: { hook: string; samples: number; rng: Rng; batchSequences: number },
): Promise<Float32Array> {
  const seq = model.config.n_positions, d = model.config.n_embd, per = seq - 1, S = o.samples;
  const windowsIn = ids.length / seq;
  const out = new Float32Array(windowsIn * per * S * d);
  for (let w0 = 0; w0 < windowsIn; w0 += o.batchSequences) {
    const b = Math.min(o.batchSequences, windowsIn - w0);
    const idsT = tf.tensor2d(ids.subarray(w0 * seq, (w0 + b) * seq), [b, seq], "int32");
    try {
      const targets = await sampleNextTokens(model, idsT, { samples: S, rng: o.rng });
      for (let s = 0; s < S; s++) {
        const targetsT = tf.tensor2d(targets[s], [b, per], "int32");
        // A few blocks per backward pass where one would not fit (GPT-2's shapes).
        const layersPerPass = perTokenLayersPerGradientPass(model.config, b);
        const r = model.gradAtHook(idsT, o.hook, {
          targets: targetsT,
          perToken: true,
          layersPerPass,
        });
        try {
          const g = await r.gradient.data() as Float32Array;
          for (let j = 0; j < b; j++) {
            for (let p = 0; p < per; p++) {
              const row = (w0 + j) * per + p;
              out.set(g.subarray((j * seq + p) * d, (j * seq + p + 1) * d), (row * S + s) * d);
            }
          }
        } finally {
          tf.dispose([targetsT, ...(Object.values(r) as tf.Tensor[])]);
        }
      }
    } finally {
      idsT.dispose();
    }
  }
  return out;
}

/**
 * S sets of next tokens [b·(t − 1)] drawn (temperature 1) from the model's prediction at each
 * position of `ids` [b, t]: the softmax of a position is formed once and its S draws are
 * inverse-CDF lookups of S uniforms from `rng`, in the order position, then sample.
 */
export async function sampleNextTokens(
  model: GPT2,
  ids: tf.Tensor2D,
  options: { samples: number; rng: Rng },
): Promise<Int32Array[]> {
  const [b, t] = ids.shape, vocab = model.config.vocab_size, S = options.samples;
  const logits = await takeData(tf.tidy(() => model.unembed(model.finalResidual(ids))));
  const out = Array.from({ length: S }, () => new Int32Array(b * (t - 1)));
  const cdf = new Float64Array(vocab);
  for (let r = 0; r < b; r++) {
    for (let p = 0; p < t - 1; p++) {
      const o = (r * t + p) * vocab;
      let max = -Infinity;
      for (let v = 0; v < vocab; v++) max = Math.max(max, logits[o + v]);
      let total = 0;
      for (let v = 0; v < vocab; v++) cdf[v] = total += Math.exp(logits[o + v] - max);
      for (let s = 0; s < S; s++) {
        const u = options.rng.uniform() * total;
        // The first v with cdf[v] ≥ u (binary search).
        let lo = 0, hi = vocab - 1;
        while (lo < hi) {
          const mid = (lo + hi) >> 1;
          if (cdf[mid] >= u) hi = mid;
          else lo = mid + 1;
        }
        out[s][r * (t - 1) + p] = lo;
      }
    }
  }
  return out;
}
