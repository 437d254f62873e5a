/**
 * The options of a store build and the manifest they plan: every option checked, the model
 * identified by a fingerprint of its config and weights, the data by a hash of the tokens used.
 *
 * @module
 */
import { basename } from "node:path";
import type { GPT2 } from "../gpt2/model.ts";
import { expectedShapes } from "../gpt2/params.ts";
import { bytesOf, sha256Hex, STORE_FORMAT, type StoreManifest } from "./manifest.ts";

/** Options for {@link buildStore}. */
export interface BuildStoreOptions {
  /** Store folder (see {@link storeDirFor}). */
  dir: string;
  /** Hook name. */
  hook: string;
  /** Token budget, rounded up to whole sequences of seqLen − 1 stored tokens. */
  tokens: number;
  /** The model's name or path, recorded and checked on resume. */
  modelId: string;
  /** Window length (default the model's n_positions). */
  seqLen?: number;
  /** Sequences per gradAtHook call (default 16). */
  batchSequences?: number;
  /** Target tokens per chunk, rounded to whole sequences (default 8192). */
  chunkTokens?: number;
  /** Data split name for the manifest (default "unknown"). */
  split?: string;
  /** First token of the first window in `data` (default 0). */
  offset?: number;
  /** Delete a store built with other settings instead of refusing. */
  force?: boolean;
  /** Stop after writing this many new chunks (tests, and splitting long builds). */
  stopAfterChunks?: number;
  /** Recorded as `created_by` (default: this process's main module and arguments). */
  createdBy?: string;
  /** Progress and warning sink (default console.log). */
  log?: (line: string) => void;
  /** Called after each written chunk with its compute and write times (benchmarks). */
  onChunk?: (
    info: { index: number; tokens: number; computeSeconds: number; writeSeconds: number },
  ) => void;
}

/** SHA-256 (hex) over the config and every parameter, hashed one at a time to bound memory. */
export async function modelFingerprint(model: GPT2): Promise<string> {
  const lines = [JSON.stringify(Object.entries(model.config).sort())];
  for (const [name] of expectedShapes(model.config)) {
    lines.push(`${name} ${await sha256Hex(bytesOf(await model.p(name).data() as Float32Array))}`);
  }
  return await sha256Hex(new TextEncoder().encode(lines.join("\n")));
}

/** The manifest a fresh build would write (no chunks yet), after checking every option. */
export async function planStore(
  model: GPT2,
  data: Int32Array,
  o: BuildStoreOptions,
): Promise<StoreManifest> {
  const c = model.config;
  model.parseHook(o.hook);
  const seq = o.seqLen ?? c.n_positions, offset = o.offset ?? 0;
  const positive = (v: number, what: string) => {
    if (!(Number.isInteger(v) && v >= 1)) {
      throw new RangeError(`${what} must be a positive integer, got ${v}`);
    }
    return v;
  };
  positive(o.tokens, "tokens");
  if (!(Number.isInteger(seq) && seq >= 2 && seq <= c.n_positions)) {
    throw new RangeError(`seqLen must be an integer in [2, ${c.n_positions}], got ${seq}`);
  }
  const per = seq - 1, sequences = Math.ceil(o.tokens / per);
  if (!(Number.isInteger(offset) && offset >= 0)) {
    throw new RangeError(`offset must be >= 0, got ${offset}`);
  }
  const used = data.subarray(offset, offset + sequences * seq);
  if (used.length < sequences * seq) {
    throw new RangeError(
      `${o.tokens} tokens need ${sequences} windows of ${seq} = ${sequences * seq} data ` +
        `tokens from offset ${offset}, but the data has ${data.length}`,
    );
  }
  const bad = used.findIndex((id) => id < 0 || id >= c.vocab_size);
  if (bad >= 0) {
    throw new RangeError(
      `data[${offset + bad}] = ${used[bad]} is not a model id (vocab_size ${c.vocab_size})`,
    );
  }
  const now = new Date().toISOString();
  return {
    format: STORE_FORMAT,
    model: {
      id: o.modelId,
      fingerprint: await modelFingerprint(model),
      n_layer: c.n_layer,
      n_embd: c.n_embd,
      vocab_size: c.vocab_size,
    },
    hook: o.hook,
    d: c.n_embd,
    seq_len: seq,
    dtype: "F32",
    gradient: "d(sum of the sequence's next-token losses)/dx",
    requested_tokens: o.tokens,
    sequences,
    total_tokens: sequences * per,
    stored_tokens: 0,
    chunk_sequences: Math.max(1, Math.round(positive(o.chunkTokens ?? 8192, "chunkTokens") / per)),
    batch_sequences: positive(o.batchSequences ?? 16, "batchSequences"),
    source: {
      split: o.split ?? "unknown",
      offset,
      data_tokens: data.length,
      sha256: await sha256Hex(bytesOf(used)),
    },
    chunks: [],
    complete: false,
    created_by: o.createdBy ?? ["deno run", basename(Deno.mainModule), ...Deno.args].join(" "),
    created_at: now,
    updated_at: now,
  };
}
