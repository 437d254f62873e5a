/**
 * The activation + gradient store: for one model, hook and token budget, the hooked activations
 * x, the gradients g = ∇ₓ(Σ_t loss_t of the sequence), the token ids and the per-token
 * next-token losses, written to disk once and streamed to SAE training many times.
 *
 * Layout of a store folder:
 * - `manifest.json` ({@link StoreManifest}, format `gsae-store/1`): model id + fingerprint, hook,
 *   d, seq_len, the data source, the chunk list `{file, tokens, bytes, sha256}`, `complete`.
 * - `chunk-00000.safetensors`, … : tensors `x` [n, d] F32, `grad` [n, d] F32 (F32 because
 *   gradients are often ~1e-5, below F16's normal range), and I32 `ids`, `target` (next token),
 *   `position` (in the sequence), `sequence` (global index), plus F32 `loss`, each [n].
 *
 * Sequences are consecutive non-overlapping windows of `seq_len` tokens of the data from
 * `offset`. Every position but the last is stored (the last has no next token, so no loss and
 * no gradient contribution of its own); the budget is rounded up to whole sequences and each
 * chunk holds whole sequences. Chunks are written atomically before the manifest that lists
 * them, so an interrupted build resumes after its last listed chunk and produces byte-identical
 * files to an uninterrupted one.
 *
 * @module
 */
export { STORE_FORMAT, storeDirFor, StoreError } from "./manifest.ts";
export type { StoreChunk, StoreManifest } from "./manifest.ts";
export { buildStore } from "./build.ts";
export { modelFingerprint } from "./plan.ts";
export type { BuildStoreOptions } from "./plan.ts";
export { openStore, Store } from "./reader.ts";
export type { StoreBatch, StoreBatchOptions, StoreRows } from "./reader.ts";
export { measureStoreThroughput } from "./throughput.ts";
export type { StoreThroughput } from "./throughput.ts";
