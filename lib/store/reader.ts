/**
 * Reading a complete store: {@link openStore} validates the folder, {@link Store.readChunk}
 * verifies and parses one chunk, {@link Store.loadAll} concatenates them and
 * {@link Store.batches} streams shuffled (x, grad) training batches.
 *
 * @module
 */
import { join } from "node:path";
import { Rng } from "../tensor/random.ts";
import { parseSafetensors, requireTensor } from "../io/safetensors.ts";
import {
  chunkProblem,
  MANIFEST,
  readManifest,
  REBUILD,
  StoreError,
  type StoreManifest,
} from "./manifest.ts";

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
export function emptyRows(n: number, d: number): StoreRows {
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
