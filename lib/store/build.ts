/**
 * Writing a store: run the model over the planned sequences chunk by chunk, writing each chunk
 * atomically before the manifest that lists it, so an interrupted build resumes after its last
 * listed chunk and produces byte-identical files to an uninterrupted one.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { join } from "node:path";
import { writeFileAtomic, writeJsonAtomic } from "../io/atomic_write.ts";
import type { GPT2 } from "../gpt2/model.ts";
import { consecutiveOffsets, windows } from "../data/windows.ts";
import { Progress } from "../io/progress.ts";
import { serializeSafetensors } from "../io/safetensors.ts";
import {
  chunkProblem,
  IDENTITY,
  identity,
  MANIFEST,
  readManifest,
  removeMatching,
  sha256Hex,
  STORE_FORMAT,
  StoreError,
  type StoreManifest,
} from "./manifest.ts";
import { type BuildStoreOptions, planStore } from "./plan.ts";
import { emptyRows } from "./reader.ts";

/**
 * Build (or resume, or reuse) the store in `options.dir` from `data` (model token ids) and
 * return its manifest. A folder holding a store with other settings is an error unless `force`.
 */
export async function buildStore(
  model: GPT2,
  data: Int32Array,
  options: BuildStoreOptions,
): Promise<StoreManifest> {
  const log = options.log ?? ((line: string) => console.log(line));
  const plan = await planStore(model, data, options);
  const { dir } = options;
  await Deno.mkdir(dir, { recursive: true });
  // Temporary files of a killed writer would otherwise pile up across resumes.
  await removeMatching(dir, /^(chunk-\d+\.safetensors|manifest\.json)\.tmp-/);
  let manifest = plan;
  let old: StoreManifest | null = null;
  try {
    old = await readManifest(dir);
  } catch (e) {
    if (e instanceof StoreError && options.force) {
      log(`${dir}: rebuilding (force): ${e.message}`);
      await removeMatching(dir, /^(manifest\.json|chunk-\d+\.safetensors)$/);
    } else if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  if (old) {
    const differ = IDENTITY.filter((k) =>
      JSON.stringify(identity(old, k)) !== JSON.stringify(identity(plan, k))
    );
    if (differ.length > 0 && !options.force) {
      const what = differ.map((k) =>
        `${k}: stored ${JSON.stringify(identity(old, k))}, requested ${
          JSON.stringify(identity(plan, k))
        }`
      );
      throw new StoreError(
        `${dir}: holds a store built with other settings (${what.join("; ")}); ` +
          `pass --force (buildStore option force) to rebuild it, or use another folder`,
      );
    }
    if (differ.length > 0) {
      log(
        `${dir}: rebuilding (force): the existing store has other settings (${differ.join(", ")})`,
      );
      await removeMatching(dir, /^(manifest\.json|chunk-\d+\.safetensors)$/);
    } else {
      manifest = { ...plan, created_by: old.created_by, created_at: old.created_at, chunks: [] };
      for (const c of old.chunks) {
        const problem = await chunkProblem(join(dir, c.file), c, true);
        if (problem) {
          log(`warning: ${problem}; rewriting from ${c.file} on`);
          break;
        }
        manifest.chunks.push(c);
      }
    }
  }
  const nChunks = Math.ceil(plan.sequences / plan.chunk_sequences);
  manifest.stored_tokens = manifest.chunks.reduce((s, c) => s + c.tokens, 0);
  manifest.complete = manifest.chunks.length === nChunks;
  if (manifest.complete && old?.complete) return old;

  const progress = new Progress(`store ${options.modelId} ${options.hook}`, {
    total: plan.total_tokens,
    log,
  });
  progress.restart(manifest.stored_tokens);
  if (manifest.chunks.length > 0) {
    log(`${dir}: resuming after ${manifest.chunks.length}/${nChunks} chunks`);
  }
  let written = 0;
  for (let k = manifest.chunks.length; k < nChunks; k++) {
    if (options.stopAfterChunks !== undefined && written >= options.stopAfterChunks) break;
    const first = k * plan.chunk_sequences;
    const count = Math.min(plan.chunk_sequences, plan.sequences - first);
    const t0 = performance.now();
    const tensors = await computeChunk(model, data, plan, first, count, (done) => {
      progress.update(manifest.stored_tokens + done);
    });
    const t1 = performance.now();
    const meta = { format: STORE_FORMAT, hook: plan.hook };
    const bytes = serializeSafetensors(tensors, { metadata: meta }) as Uint8Array<ArrayBuffer>;
    const file = `chunk-${String(k).padStart(5, "0")}.safetensors`;
    await writeFileAtomic(join(dir, file), bytes);
    const chunk = {
      file,
      tokens: count * (plan.seq_len - 1),
      first_sequence: first,
      bytes: bytes.length,
      sha256: await sha256Hex(bytes),
    };
    manifest.chunks.push(chunk);
    manifest.stored_tokens += chunk.tokens;
    manifest.complete = k === nChunks - 1;
    manifest.updated_at = new Date().toISOString();
    await writeJsonAtomic(join(dir, MANIFEST), manifest);
    options.onChunk?.({
      index: k,
      tokens: chunk.tokens,
      computeSeconds: (t1 - t0) / 1000,
      writeSeconds: (performance.now() - t1) / 1000,
    });
    written++;
  }
  progress.update(manifest.stored_tokens, { chunks: `${manifest.chunks.length}/${nChunks}` }, true);
  return manifest;
}

/** Run the model over sequences [first, first + count) in batches and gather the chunk's tensors. */
async function computeChunk(
  model: GPT2,
  data: Int32Array,
  plan: StoreManifest,
  first: number,
  count: number,
  onBatch: (tokensDone: number) => void,
) {
  const { d, seq_len: seq, hook, source } = plan;
  const per = seq - 1, n = count * per;
  const out = emptyRows(n, d);
  for (let s = 0; s < count; s += plan.batch_sequences) {
    const b = Math.min(plan.batch_sequences, count - s);
    const offsets = consecutiveOffsets(b, seq, source.offset + (first + s) * seq);
    const ids = windows(data, offsets, seq);
    const r = model.gradAtHook(ids, hook);
    try {
      const [act, g, losses] = await Promise.all([
        r.activation.data(),
        r.gradient.data(),
        r.losses.data(),
      ]);
      for (let j = 0; j < b; j++) {
        // A sequence's stored rows are its first seq − 1 positions: one contiguous block.
        const row = (s + j) * per;
        out.x.set((act as Float32Array).subarray(j * seq * d, (j * seq + per) * d), row * d);
        out.grad.set((g as Float32Array).subarray(j * seq * d, (j * seq + per) * d), row * d);
        out.ids.set(data.subarray(offsets[j], offsets[j] + per), row);
        out.target.set(data.subarray(offsets[j] + 1, offsets[j] + seq), row);
        out.loss.set((losses as Float32Array).subarray(j * per, (j + 1) * per), row);
        for (let p = 0; p < per; p++) out.position[row + p] = p;
        out.sequence.fill(first + s + j, row, row + per);
      }
    } finally {
      tf.dispose([ids, r.activation, r.gradient, r.losses, ...(r.residual ? [r.residual] : [])]);
    }
    onBatch((s + b) * per);
  }
  return {
    x: { shape: [n, d], data: out.x },
    grad: { shape: [n, d], data: out.grad },
    ids: { shape: [n], data: out.ids },
    target: { shape: [n], data: out.target },
    loss: { shape: [n], data: out.loss },
    position: { shape: [n], data: out.position },
    sequence: { shape: [n], data: out.sequence },
  };
}
