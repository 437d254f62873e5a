/**
 * Store benchmark: build a store from scratch, then read it back, timing each part.
 *
 * @module
 */
import type { GPT2 } from "../gpt2/model.ts";
import { buildStore } from "./build.ts";
import { removeMatching } from "./manifest.ts";
import type { BuildStoreOptions } from "./plan.ts";
import { openStore } from "./reader.ts";

/** Build and read rates of a store, in stored tokens per second ({@link measureStoreThroughput}). */
export interface StoreThroughput {
  /** Stored tokens. */
  tokens: number;
  /** Activation width. */
  d: number;
  /** Bytes of all chunk files. */
  bytes: number;
  /** The whole build: forward and backward passes, serialization, hashing, writes. */
  buildTokensPerSecond: number;
  /** The gradAtHook part of the build. */
  computeTokensPerSecond: number;
  /** The serialize + atomic write + hash + manifest part of the build. */
  writeTokensPerSecond: number;
  /** readChunk over every chunk (read, SHA-256 check, parse). */
  readTokensPerSecond: number;
  /** One epoch of {@link Store.batches} with batches of `batchSize` rows. */
  batchesTokensPerSecond: number;
}

/** Build a store from scratch in `options.dir` (its store files are deleted first) and time it. */
export async function measureStoreThroughput(
  model: GPT2,
  data: Int32Array,
  options: BuildStoreOptions & { batchSize?: number },
): Promise<StoreThroughput> {
  await Deno.mkdir(options.dir, { recursive: true });
  await removeMatching(options.dir, /^(manifest\.json|chunk-\d+\.safetensors)$/);
  let compute = 0, write = 0;
  const seconds = async (fn: () => Promise<unknown>) => {
    const t0 = performance.now();
    await fn();
    return (performance.now() - t0) / 1000;
  };
  const build = await seconds(() =>
    buildStore(model, data, {
      ...options,
      onChunk: (c) => {
        compute += c.computeSeconds;
        write += c.writeSeconds;
      },
    })
  );
  const store = await openStore(options.dir);
  const n = store.manifest.stored_tokens;
  const read = await seconds(async () => {
    for (let i = 0; i < store.manifest.chunks.length; i++) await store.readChunk(i);
  });
  const batches = await seconds(async () => {
    for await (const _ of store.batches({ batchSize: options.batchSize ?? 4096, seed: 0 }));
  });
  return {
    tokens: n,
    d: store.manifest.d,
    bytes: store.manifest.chunks.reduce((s, c) => s + c.bytes, 0),
    buildTokensPerSecond: n / build,
    computeTokensPerSecond: n / compute,
    writeTokensPerSecond: n / write,
    readTokensPerSecond: n / read,
    batchesTokensPerSecond: n / batches,
  };
}
