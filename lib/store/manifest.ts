/**
 * The store's `manifest.json` ({@link StoreManifest}, format {@link STORE_FORMAT}) and the checks
 * shared by building and reading: parsing the manifest, comparing the settings that identify a
 * store, checking a chunk file against its manifest entry (size, SHA-256), and the store folder's
 * location. The on-disk layout is described in `mod.ts`.
 *
 * @module
 */
import { join } from "node:path";
import { REPO_ROOT } from "../gpt2/embedded_models.ts";
import { JsonFileError, parseJson, z } from "../io/json_file.ts";

/** Format tag of `manifest.json`. */
export const STORE_FORMAT = "gsae-store/1";

/** One chunk file as listed in the manifest. */
export interface StoreChunk {
  /** File name inside the store folder. */
  file: string;
  /** Stored tokens (rows). */
  tokens: number;
  /** Index of the chunk's first sequence. */
  first_sequence: number;
  /** File size in bytes. */
  bytes: number;
  /** Lower-case hex SHA-256 of the file. */
  sha256: string;
}

/** Contents of `manifest.json`. */
export interface StoreManifest {
  /** Always {@link STORE_FORMAT}. */
  format: string;
  /** The caller's model id, a hash of config + all weights ({@link modelFingerprint}), sizes. */
  model: { id: string; fingerprint: string; n_layer: number; n_embd: number; vocab_size: number };
  /** Hook name, e.g. `blocks.7.hook_resid_post`. */
  hook: string;
  /** Activation width. */
  d: number;
  /** Tokens per sequence window (stored per sequence: seq_len − 1). */
  seq_len: number;
  /** Float dtype of x, grad and loss; ids are I32. */
  dtype: "F32";
  /** What `grad` is the gradient of. */
  gradient: string;
  /** The token budget asked for (total_tokens rounds it up to whole sequences). */
  requested_tokens: number;
  /** Sequences planned. */
  sequences: number;
  /** Tokens planned: sequences × (seq_len − 1). */
  total_tokens: number;
  /** Tokens in the listed chunks. */
  stored_tokens: number;
  /** Sequences per chunk (the last chunk may hold fewer). */
  chunk_sequences: number;
  /** Sequences per gradAtHook call. */
  batch_sequences: number;
  /** Where the token ids came from; sha256 covers exactly the tokens used. */
  source: { split: string; offset: number; data_tokens: number; sha256: string };
  /** Written chunks, in order. */
  chunks: StoreChunk[];
  /** Whether every planned chunk is written. */
  complete: boolean;
  /** Command that created the store. */
  created_by: string;
  /** ISO time of creation. */
  created_at: string;
  /** ISO time of the last manifest write. */
  updated_at: string;
}

const count = z.number().int().nonnegative();

/** {@link StoreManifest} as read back from `manifest.json`. */
export const storeManifestSchema: z.ZodType<StoreManifest> = z.object({
  format: z.literal(STORE_FORMAT),
  model: z.object({
    id: z.string(),
    fingerprint: z.string(),
    n_layer: count,
    n_embd: count,
    vocab_size: count,
  }),
  hook: z.string(),
  d: count,
  seq_len: count,
  dtype: z.literal("F32"),
  gradient: z.string(),
  requested_tokens: count,
  sequences: count,
  total_tokens: count,
  stored_tokens: count,
  chunk_sequences: count,
  batch_sequences: count,
  source: z.object({ split: z.string(), offset: count, data_tokens: count, sha256: z.string() }),
  chunks: z.array(z.object({
    file: z.string(),
    tokens: count,
    first_sequence: count,
    bytes: count,
    sha256: z.string(),
  })),
  complete: z.boolean(),
  created_by: z.string(),
  created_at: z.string(),
  updated_at: z.string(),
});

/** A store problem (corrupt, incomplete or mismatched); the message names the file or folder. */
export class StoreError extends Error {
  /** @param message what is wrong, starting with the path. */
  constructor(message: string) {
    super(message);
    this.name = "StoreError";
  }
}

/** Advice appended to every corruption error. */
export const REBUILD = "the store is corrupt; rebuild it with --force " +
  "(deno task train-sae ... --force; deno task reproduce --force for the notebooks' stores; " +
  "buildStore option force)";
/** File name of the manifest inside a store folder. */
export const MANIFEST = "manifest.json";
/** Fields that must agree for an existing store to be resumed or reused. */
export const IDENTITY = [
  "format",
  "model",
  "hook",
  "seq_len",
  "requested_tokens",
  "chunk_sequences",
  "batch_sequences",
  "source",
] as const;

/** `<cache>/stores/<model>/<hook>/<split>-<tokens>`; cache is `$GSAE_CACHE_DIR` or `<repo>/.cache`. */
export function storeDirFor(
  modelName: string,
  hook: string,
  split: string,
  tokens: number,
): string {
  const root = Deno.env.get("GSAE_CACHE_DIR") || join(REPO_ROOT, ".cache");
  const safe = (s: string) => s.replace(/[^\w.-]+/g, "_");
  return join(root, "stores", safe(modelName), safe(hook), `${safe(split)}-${tokens}`);
}

/** Why chunk file `path` does not match its manifest entry (size; SHA-256 too when `hash`), or null. */
export async function chunkProblem(
  path: string,
  c: StoreChunk,
  hash: boolean,
  bytes?: Uint8Array<ArrayBuffer>,
): Promise<string | null> {
  let size: number;
  try {
    size = bytes?.length ?? (await Deno.stat(path)).size;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return `${path}: chunk file missing`;
    throw e;
  }
  if (size !== c.bytes) {
    return `${path}: ${size} bytes, the manifest says ${c.bytes} (truncated or overwritten)`;
  }
  if (!hash) return null;
  const sha = await sha256Hex(bytes ?? await Deno.readFile(path));
  return sha === c.sha256
    ? null
    : `${path}: checksum mismatch (SHA-256 ${sha}, the manifest says ${c.sha256})`;
}

/** Parse `dir/manifest.json`; NotFound propagates, anything malformed is a StoreError. */
export async function readManifest(dir: string): Promise<StoreManifest> {
  const path = join(dir, MANIFEST);
  const text = await Deno.readTextFile(path);
  try {
    return parseJson(text, storeManifestSchema, { source: path });
  } catch (e) {
    if (e instanceof JsonFileError) throw new StoreError(`${e.message}; ${REBUILD}`);
    throw e;
  }
}

/** Field `k` of a manifest as compared on resume (the data's full length does not matter). */
export function identity(m: StoreManifest, k: typeof IDENTITY[number]): unknown {
  return k === "source" ? { ...m.source, data_tokens: undefined } : m[k];
}

/** Delete the files in `dir` whose names match `pattern`, and nothing else. */
export async function removeMatching(dir: string, pattern: RegExp): Promise<void> {
  for await (const e of Deno.readDir(dir)) {
    if (pattern.test(e.name)) await Deno.remove(join(dir, e.name));
  }
}

/** The bytes of a typed array, as a fresh ArrayBuffer-backed view (WebCrypto needs one). */
export function bytesOf(a: Float32Array | Int32Array): Uint8Array<ArrayBuffer> {
  const whole = a.byteOffset === 0 && a.byteLength === a.buffer.byteLength;
  if (whole && a.buffer instanceof ArrayBuffer) return new Uint8Array(a.buffer);
  return new Uint8Array(a.buffer.slice(a.byteOffset, a.byteOffset + a.byteLength) as ArrayBuffer);
}

/** Lower-case hex SHA-256. */
export async function sha256Hex(bytes: Uint8Array<ArrayBuffer>): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  return Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
}
