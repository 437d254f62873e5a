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
import * as tf from "@tensorflow/tfjs";
import { basename, join } from "node:path";
import { writeFileAtomic, writeJsonAtomic } from "./atomic_write.ts";
import { REPO_ROOT } from "./embedded_models.ts";
import { expectedShapes, type GPT2 } from "./gpt2/model.ts";
import { windows } from "./lm_train.ts";
import { Progress } from "./progress.ts";
import { Rng } from "./random.ts";
import { parseSafetensors, requireTensor, serializeSafetensors } from "./safetensors.ts";

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

/** A store problem (corrupt, incomplete or mismatched); the message names the file or folder. */
export class StoreError extends Error {
  /** @param message what is wrong, starting with the path. */
  constructor(message: string) {
    super(message);
    this.name = "StoreError";
  }
}

const REBUILD = "the store is corrupt; rebuild it with --force (buildStore option force)";
const MANIFEST = "manifest.json";
// Fields that must agree for an existing store to be resumed or reused.
const IDENTITY = [
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

/** SHA-256 (hex) over the config and every parameter, hashed one at a time to bound memory. */
export async function modelFingerprint(model: GPT2): Promise<string> {
  const lines = [JSON.stringify(Object.entries(model.config).sort())];
  for (const [name] of expectedShapes(model.config)) {
    lines.push(`${name} ${await sha256Hex(bytesOf(model.p(name).dataSync() as Float32Array))}`);
  }
  return await sha256Hex(new TextEncoder().encode(lines.join("\n")));
}

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

/** All the rows of one chunk (or of a whole store, from {@link Store.loadAll}). */
export interface StoreRows {
  /** Rows. */
  n: number;
  /** Activations, [n, d]. */
  x: Float32Array;
  /** ∇ₓ of the sequence's summed next-token loss, [n, d]. */
  grad: Float32Array;
  /** Input token (model id) at each row. */
  ids: Int32Array;
  /** The next token, which `loss` is the cross-entropy of. */
  target: Int32Array;
  /** Next-token loss (nats). */
  loss: Float32Array;
  /** Position in the sequence, 0 … seq_len − 2. */
  position: Int32Array;
  /** Global sequence index. */
  sequence: Int32Array;
}

/** Zero-filled rows for `n` tokens of width `d`. */
function emptyRows(n: number, d: number): StoreRows {
  return {
    n,
    x: new Float32Array(n * d),
    grad: new Float32Array(n * d),
    ids: new Int32Array(n),
    target: new Int32Array(n),
    loss: new Float32Array(n),
    position: new Int32Array(n),
    sequence: new Int32Array(n),
  };
}

/** A shuffled training batch from {@link Store.batches}. */
export interface StoreBatch {
  /** Rows in the batch (batchSize, except perhaps the last of an epoch). */
  n: number;
  /** Activations, [n, d]. */
  x: Float32Array;
  /** Gradients, [n, d]. */
  grad: Float32Array;
}

/** Options for {@link Store.batches}. */
export interface StoreBatchOptions {
  /** Rows per batch. */
  batchSize: number;
  /** Shuffle seed; equal seeds give equal batches. */
  seed: number;
  /** Passes over the store (default 1; Infinity streams until the consumer stops). */
  epochs?: number;
  /** Chunks shuffled together in memory (default 8). */
  bufferChunks?: number;
  /** Drop each epoch's final short batch (default false). */
  dropLast?: boolean;
}

/** A complete store opened for reading ({@link openStore}). */
export class Store {
  /** The store folder. */
  readonly dir: string;
  /** Its manifest. */
  readonly manifest: StoreManifest;

  /** Use {@link openStore}, which validates the folder first. */
  constructor(dir: string, manifest: StoreManifest) {
    this.dir = dir;
    this.manifest = manifest;
  }

  /** Read chunk `i`, checking its size, SHA-256 and tensor shapes. */
  async readChunk(i: number): Promise<StoreRows> {
    const c = this.manifest.chunks[i];
    if (!c) {
      throw new RangeError(
        `${this.dir}: no chunk ${i} (the store has ${this.manifest.chunks.length})`,
      );
    }
    const path = join(this.dir, c.file);
    const bytes = await Deno.readFile(path).catch((e) => {
      throw e instanceof Deno.errors.NotFound
        ? new StoreError(`${path}: chunk file missing; ${REBUILD}`)
        : e;
    });
    const problem = await chunkProblem(path, c, true, bytes);
    if (problem) throw new StoreError(`${problem}; ${REBUILD}`);
    const file = parseSafetensors(bytes, { source: path });
    const [n, d] = [c.tokens, this.manifest.d];
    const get = (name: string, shape: number[]) => requireTensor(file, name, shape, path).data;
    return {
      n,
      x: get("x", [n, d]) as Float32Array,
      grad: get("grad", [n, d]) as Float32Array,
      ids: get("ids", [n]) as Int32Array,
      target: get("target", [n]) as Int32Array,
      loss: get("loss", [n]) as Float32Array,
      position: get("position", [n]) as Int32Array,
      sequence: get("sequence", [n]) as Int32Array,
    };
  }

  /** Every chunk concatenated in store order (x and grad take tokens × d × 8 bytes). */
  async loadAll(): Promise<StoreRows> {
    const { d, stored_tokens: n } = this.manifest;
    const all = emptyRows(n, d);
    let at = 0;
    for (let i = 0; i < this.manifest.chunks.length; i++) {
      const c = await this.readChunk(i);
      for (const key of ["x", "grad", "ids", "target", "loss", "position", "sequence"] as const) {
        all[key].set(c[key], key === "x" || key === "grad" ? at * d : at);
      }
      at += c.n;
    }
    return all;
  }

  /**
   * Shuffled batches of (x, grad). Scheme, deterministic from `seed` (one {@link Rng} for the
   * whole run): each epoch shuffles the chunk order, then takes the chunks `bufferChunks` at a
   * time; each group's rows, plus the rows left over from the previous group, are shuffled
   * together and cut into batches; the rows left over after the last group form the epoch's
   * final (short) batch. So every token appears exactly once per epoch and a batch mixes up to
   * `bufferChunks` chunks. The next group is read while the current one is served, so memory
   * holds about two groups: 2 × bufferChunks × chunk_tokens × d × 8 bytes.
   */
  async *batches(options: StoreBatchOptions): AsyncGenerator<StoreBatch> {
    const { batchSize, epochs = 1, bufferChunks = 8, dropLast = false } = options;
    if (!(batchSize >= 1 && Number.isInteger(batchSize))) {
      throw new RangeError(`batchSize must be a positive integer, got ${batchSize}`);
    }
    const d = this.manifest.d;
    const rng = new Rng(options.seed);
    const load = (group: number[]) => Promise.all(group.map((i) => this.readChunk(i)));
    for (let epoch = 0; epoch < epochs; epoch++) {
      const order = rng.shuffle(this.manifest.chunks.map((_, i) => i));
      const groups: number[][] = [];
      for (let i = 0; i < order.length; i += bufferChunks) {
        groups.push(order.slice(i, i + bufferChunks));
      }
      let carry: StoreBatch = { n: 0, x: new Float32Array(0), grad: new Float32Array(0) };
      let next = groups.length > 0 ? load(groups[0]) : null;
      for (let g = 0; g < groups.length; g++) {
        const chunks = await next!;
        next = g + 1 < groups.length ? load(groups[g + 1]) : null;
        // Rows are addressed as (part, row) instead of being copied into one buffer first,
        // which would hold a third copy of the group in memory.
        const parts: StoreBatch[] = [carry, ...chunks];
        const n = parts.reduce((s, p) => s + p.n, 0);
        const partOf = new Uint16Array(n), rowOf = new Uint32Array(n);
        let at = 0;
        parts.forEach((p, k) => {
          partOf.fill(k, at, at + p.n);
          for (let r = 0; r < p.n; r++) rowOf[at + r] = r;
          at += p.n;
        });
        const perm = rng.shuffle(Uint32Array.from({ length: n }, (_, i) => i));
        const take = (rows: Uint32Array) => gather(parts, partOf, rowOf, rows, d);
        let start = 0;
        for (; start + batchSize <= n; start += batchSize) {
          yield take(perm.subarray(start, start + batchSize));
        }
        carry = take(perm.subarray(start));
      }
      if (carry.n > 0 && !dropLast) yield carry;
    }
  }
}

/** Open a complete store, checking its manifest and that every chunk file is present at its size. */
export async function openStore(dir: string): Promise<Store> {
  const manifest = await readManifest(dir).catch((e) => {
    throw e instanceof Deno.errors.NotFound
      ? new StoreError(`${dir}: no store here (${MANIFEST} missing); build it first`)
      : e;
  });
  if (!manifest.complete) {
    throw new StoreError(
      `${dir}: the store is incomplete (${manifest.stored_tokens}/${manifest.total_tokens} tokens in ` +
        `${manifest.chunks.length} chunks); run the build again to resume it`,
    );
  }
  for (const c of manifest.chunks) {
    const problem = await chunkProblem(join(dir, c.file), c, false);
    if (problem) throw new StoreError(`${problem}; ${REBUILD}`);
  }
  return new Store(dir, manifest);
}

/** The manifest a fresh build would write (no chunks yet), after checking every option. */
async function planStore(
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
    const offsets = Array.from({ length: b }, (_, j) => source.offset + (first + s + j) * seq);
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

/** Rows `rows` (indices into the concatenation of `parts`) of x and grad, as a new batch. */
function gather(
  parts: StoreBatch[],
  partOf: Uint16Array,
  rowOf: Uint32Array,
  rows: Uint32Array,
  d: number,
): StoreBatch {
  const n = rows.length;
  const x = new Float32Array(n * d), grad = new Float32Array(n * d);
  for (let i = 0; i < n; i++) {
    const p = parts[partOf[rows[i]]], r = rowOf[rows[i]] * d;
    x.set(p.x.subarray(r, r + d), i * d);
    grad.set(p.grad.subarray(r, r + d), i * d);
  }
  return { n, x, grad };
}

/** Why chunk file `path` does not match its manifest entry (size; SHA-256 too when `hash`), or null. */
async function chunkProblem(
  path: string,
  c: StoreChunk,
  hash: boolean,
  bytes?: Uint8Array<ArrayBuffer>,
) {
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
async function readManifest(dir: string): Promise<StoreManifest> {
  const path = join(dir, MANIFEST);
  const text = await Deno.readTextFile(path);
  let m: StoreManifest;
  try {
    m = JSON.parse(text);
  } catch (e) {
    throw new StoreError(`${path}: not valid JSON (${(e as Error).message}); ${REBUILD}`);
  }
  if (m?.format !== STORE_FORMAT || !Array.isArray(m.chunks)) {
    throw new StoreError(
      `${path}: not a ${STORE_FORMAT} manifest (format ${JSON.stringify(m?.format)}); ${REBUILD}`,
    );
  }
  return m;
}

/** Field `k` of a manifest as compared on resume (the data's full length does not matter). */
function identity(m: StoreManifest, k: typeof IDENTITY[number]): unknown {
  return k === "source" ? { ...m.source, data_tokens: undefined } : m[k];
}

/** Delete the files in `dir` whose names match `pattern`, and nothing else. */
async function removeMatching(dir: string, pattern: RegExp): Promise<void> {
  for await (const e of Deno.readDir(dir)) {
    if (pattern.test(e.name)) await Deno.remove(join(dir, e.name));
  }
}

/** The bytes of a typed array, as a fresh ArrayBuffer-backed view (WebCrypto needs one). */
function bytesOf(a: Float32Array | Int32Array): Uint8Array<ArrayBuffer> {
  const whole = a.byteOffset === 0 && a.byteLength === a.buffer.byteLength;
  if (whole && a.buffer instanceof ArrayBuffer) return new Uint8Array(a.buffer);
  return new Uint8Array(a.buffer.slice(a.byteOffset, a.byteOffset + a.byteLength) as ArrayBuffer);
}

/** Lower-case hex SHA-256. */
async function sha256Hex(bytes: Uint8Array<ArrayBuffer>): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  return Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
}

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
