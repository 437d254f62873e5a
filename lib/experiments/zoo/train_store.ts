/**
 * The activation+gradient store every store-fed SAE of a workspace trains on: one per workspace
 * (model, hook and `profile.storeTokens`), built once on disk and loaded into memory once per
 * process. Its windows are spread evenly over the whole training split (which is in
 * chronological order) rather than taken from its start.
 *
 * @module
 */
import { windowsPerPass } from "../../gpt2/config.ts";
import { buildStore, openStore, type StoreRows } from "../../store/mod.ts";
import { type SampledGradients, sampledGradients } from "../../store/sampled.ts";
import { spreadWindows } from "../../data/windows.ts";
import type { ActivationData } from "../../sae/trainer.ts";
import type { Workspace } from "../shared/workspace.ts";

const stores = new Map<string, Promise<StoreRows>>();
const sampledStores = new Map<string, Promise<SampledGradients>>();

/** The seed of the training store's sampled next tokens (one set shared by every SAE seed). */
export const SAMPLED_STORE_SEED = 0;

/**
 * The workspace's store as the trainer's activation data: with the true-token gradients, or,
 * with `sampledGradients`, with that many sampled per-token gradients per token in their place
 * ({@link sampledTrainGradients}; the Fisher g-SAE's).
 */
export async function activationData(
  ws: Workspace,
  options: { sampledGradients?: number } = {},
): Promise<ActivationData> {
  const rows = await trainStore(ws);
  const grad = options.sampledGradients === undefined
    ? rows.grad
    : (await sampledTrainGradients(ws, options.sampledGradients)).grad;
  return {
    kind: "activations" as const,
    x: rows.x,
    grad,
    n: rows.n,
    d: rows.x.length / rows.n,
  };
}

/**
 * `samples` per-token gradients at sampled next tokens (seed {@link SAMPLED_STORE_SEED}) for
 * every row of the training store, in its row order (`lib/store/sampled.ts`): built once beside
 * the store, only when asked for, and kept in memory.
 */
export function sampledTrainGradients(ws: Workspace, samples: number): Promise<SampledGradients> {
  const dir = `${trainStoreDir(ws)}-sampled-S${samples}-seed${SAMPLED_STORE_SEED}`;
  let entry = sampledStores.get(dir);
  if (!entry) {
    entry = (async () => {
      let fresh = true;
      try {
        fresh = (await Deno.stat(`${dir}/manifest.json`)).mtime!.getTime() >= ws.freshAfter;
      } catch { /* not built yet */ }
      if (!fresh) await Deno.remove(dir, { recursive: true });
      const data = spreadWindows(ws.train, storeSequences(ws), ws.model.config.n_positions);
      const rows = await trainStore(ws);
      const out = await sampledGradients(ws.model, data, {
        dir,
        hook: ws.hook,
        samples,
        seed: SAMPLED_STORE_SEED,
        fingerprint: ws.fingerprint,
        batchSequences: logitBatchSequences(ws, 16),
      });
      if (out.n !== rows.n) {
        throw new Error(`${dir}: ${out.n} rows of sampled gradients for a store of ${rows.n}`);
      }
      return out;
    })();
    sampledStores.set(dir, entry);
    entry.catch(() => sampledStores.delete(dir));
  }
  return entry;
}

/**
 * The activation+gradient store of the training split at the workspace's hook, built once
 * (`profile.storeTokens` tokens in windows spread over the split) and loaded into memory.
 */
export function trainStore(ws: Workspace): Promise<StoreRows> {
  const dir = trainStoreDir(ws);
  let rows = stores.get(dir);
  if (!rows) {
    rows = (async () => {
      const data = spreadWindows(ws.train, storeSequences(ws), ws.model.config.n_positions);
      let fresh = true;
      try {
        const m = JSON.parse(await Deno.readTextFile(`${dir}/manifest.json`));
        fresh = Date.parse(m.created_at) >= ws.freshAfter;
      } catch { /* no store yet */ }
      if (!fresh) await Deno.remove(dir, { recursive: true });
      await buildStore(ws.model, data, {
        dir,
        hook: ws.hook,
        tokens: ws.profile.storeTokens,
        modelId: ws.modelName,
        split: "train (spread windows)",
        batchSequences: logitBatchSequences(ws, 16),
        force: true,
      });
      return await (await openStore(dir)).loadAll();
    })();
    stores.set(dir, rows);
    rows.catch(() => stores.delete(dir));
  }
  return rows;
}

/** The folder of the workspace's training store ({@link trainStore}). */
export function trainStoreDir(ws: Workspace): string {
  return `${ws.cacheDir}/stores/${ws.hook}/train-${ws.profile.storeTokens}`;
}

/** Windows per model pass for `ws`'s model: {@link windowsPerPass}. */
export function logitBatchSequences(ws: Workspace, most: number): number {
  return windowsPerPass(ws.model.config, most);
}

/** Windows in the training store (each stores seq − 1 tokens). */
export function storeSequences(ws: Workspace): number {
  return Math.ceil(ws.profile.storeTokens / (ws.model.config.n_positions - 1));
}
