/**
 * Which latents fire: selection rules on plain score matrices, run outside the gradient tape.
 *
 * Every rule takes a row-major Float32Array of scores with shape [n, f] (n tokens, f latents)
 * and returns a 0/1 Float32Array mask of the same shape. The SAEs multiply ReLU(z) by that mask,
 * so gradients flow through the selected pre-activations only and the selection itself never
 * touches the tape: `tf.topk` has no gradient, and indices computed on the tape break the
 * backward pass with int32/float32 dtype errors.
 *
 * Ties are broken deterministically, so every rule selects exactly as many entries as it says:
 * between equal scores the lower index wins (lower latent within a row, lower token within a
 * column, lower flat index `row·f + column` over the batch). NaN ranks below every number.
 *
 * Why one module of ~400 lines: the three rules share the heap and threshold helpers, and the
 * per-row, over-batch and per-column contracts are easiest to check side by side
 * (tests/sae_topk_test.ts compares them with a full sort).
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { tensorsOnHost } from "../tensor/backend.ts";
import { constantOf } from "../tensor/ops.ts";
import { overBatchMaskOnDevice, perColumnMaskOnDevice } from "./select_device.ts";

/** Shape of a score matrix and the per-row budget. */
export interface PerRowOptions {
  /** Rows (tokens). */
  n: number;
  /** Columns (latents). */
  f: number;
  /** Entries kept per row. */
  k: number;
  /**
   * Optional per-column eligibility (length f, non-zero = may be chosen). A row then keeps its
   * top k among eligible columns only, or all of them when fewer than k are eligible.
   */
  eligible?: Uint8Array;
}

/** Shape of a score matrix and the budget shared by the whole batch. */
export interface OverBatchOptions {
  /** Rows (tokens). */
  n: number;
  /** Columns (latents). */
  f: number;
  /** Entries kept in the whole matrix. */
  budget: number;
}

/** Shape of a score matrix and the per-column budget. */
export interface PerColumnOptions {
  /** Rows (tokens). */
  n: number;
  /** Columns (latents). */
  f: number;
  /** Rows kept per column. */
  m: number;
}

/** Ranking key: NaN counts as −∞ so it is never preferred over a number. */
function key(v: number): number {
  return v !== v ? -Infinity : v;
}

/**
 * Keep, in `heap[base .. base+size)`, the best entries seen so far as a min-heap whose root is
 * the worst kept one. Entry e's score is `scores[offset + e·stride]`; "worse" means a lower
 * score, or an equal score and a higher index (so lower indices win ties).
 */
function isWorse(scores: Float32Array, offset: number, stride: number, a: number, b: number) {
  const va = key(scores[offset + a * stride]), vb = key(scores[offset + b * stride]);
  return va < vb || (va === vb && a > b);
}

function siftDown(
  heap: Int32Array,
  base: number,
  size: number,
  scores: Float32Array,
  offset: number,
  stride: number,
): void {
  let i = 0;
  for (;;) {
    const l = 2 * i + 1, r = l + 1;
    let worst = i;
    if (l < size && isWorse(scores, offset, stride, heap[base + l], heap[base + worst])) worst = l;
    if (r < size && isWorse(scores, offset, stride, heap[base + r], heap[base + worst])) worst = r;
    if (worst === i) return;
    const t = heap[base + i];
    heap[base + i] = heap[base + worst];
    heap[base + worst] = t;
    i = worst;
  }
}

function siftUp(
  heap: Int32Array,
  base: number,
  index: number,
  scores: Float32Array,
  offset: number,
  stride: number,
): void {
  let i = index;
  while (i > 0) {
    const parent = (i - 1) >> 1;
    if (!isWorse(scores, offset, stride, heap[base + i], heap[base + parent])) return;
    const t = heap[base + i];
    heap[base + i] = heap[base + parent];
    heap[base + parent] = t;
    i = parent;
  }
}

/**
 * Per-row top k (TopK SAEs, Gao et al. 2024): each row keeps its k highest scores.
 * Returns the 0/1 mask; {@link topkIndicesPerRow} gives the column indices instead.
 */
export function topkPerRow(scores: Float32Array, options: PerRowOptions): Float32Array {
  const { n, f } = options;
  const { indices, k } = topkIndicesPerRow(scores, options);
  const mask = new Float32Array(n * f);
  for (let r = 0; r < n; r++) {
    for (let i = 0; i < k; i++) mask[r * f + indices[r * k + i]] = 1;
  }
  return mask;
}

/**
 * Per-row top k as column indices: row r's selected columns are `indices[r·k .. (r+1)·k)`, in
 * increasing order, where `k` (returned) is min(options.k, f, eligible columns), the same for
 * every row. `out` (length ≥ n·k) is reused when given, so a training loop allocates nothing.
 *
 * A size-k min-heap per row whose root (the worst kept entry) is cached as a number: after the
 * first k columns most entries lose to it with one comparison, so a row costs about f reads.
 */
export function topkIndicesPerRow(
  scores: Float32Array,
  options: PerRowOptions,
  out?: Int32Array,
): { indices: Int32Array; k: number } {
  const { n, f, eligible } = options;
  checkSize(scores, n, f);
  let count = f;
  if (eligible) {
    count = 0;
    for (let c = 0; c < f; c++) if (eligible[c]) count++;
  }
  const k = Math.max(0, Math.min(options.k, count));
  const indices = out && out.length >= n * k ? out : new Int32Array(n * k);
  if (k === 0) return { indices, k };
  for (let r = 0; r < n; r++) {
    heapSelect(scores, r * f, f, k, eligible, indices, r * k);
    indices.subarray(r * k, (r + 1) * k).sort();
  }
  return { indices, k };
}

/** Top k of `scores[offset .. offset+f)` (eligible columns only) into `out[base .. base+k)`. */
function heapSelect(
  scores: Float32Array,
  offset: number,
  f: number,
  k: number,
  eligible: Uint8Array | undefined,
  out: Int32Array,
  base: number,
): void {
  // A view of the row: indexing it up to its own length lets V8 drop the bounds checks (a bare
  // scan of 4,096 × 4,096 took 26 ms this way against 45 ms; the whole selection about 5 % less).
  const row = scores.subarray(offset, offset + f);
  let size = 0, c = 0;
  for (; size < k; c++) {
    if (eligible && !eligible[c]) continue;
    out[base + size] = c;
    siftUp(out, base, size++, row, 0, 1);
  }
  // Columns come in increasing order, so a tie with the root loses (lower index wins) and NaN
  // (ranked as -Infinity) never beats it: a strict > on the cached key is exact.
  let root = key(row[out[base]]);
  for (; c < row.length; c++) {
    if (row[c] > root && (!eligible || eligible[c])) {
      out[base] = c;
      siftDown(out, base, k, row, 0, 1);
      root = key(row[out[base]]);
    }
  }
}

/**
 * Per-column top m (Feature Choice, Ayonrinde 2024): each column keeps its m highest rows.
 *
 * One size-m min-heap per column, filled in a single row-major pass so memory is read in order.
 */
export function topkPerColumn(scores: Float32Array, options: PerColumnOptions): Float32Array {
  const { n, f } = options;
  checkSize(scores, n, f);
  const m = Math.max(0, Math.min(options.m, n));
  const mask = new Float32Array(n * f);
  if (m === 0) return mask;
  const heaps = new Int32Array(f * m);
  const sizes = new Int32Array(f);
  // Each full heap's root score, kept contiguous: rows come in increasing order, so an entry no
  // higher than its column's root loses (a tie goes to the root's lower row) and is skipped with
  // one read instead of a jump into that column's heap.
  const roots = new Float32Array(f);
  for (let r = 0; r < n; r++) {
    for (let c = 0; c < f; c++) {
      if (sizes[c] === m && key(scores[r * f + c]) <= roots[c]) continue;
      const base = c * m;
      // Entries of column c are rows; row r's score sits at offset c + r·f (stride f).
      if (sizes[c] < m) {
        heaps[base + sizes[c]] = r;
        siftUp(heaps, base, sizes[c]++, scores, c, f);
      } else {
        heaps[base] = r;
        siftDown(heaps, base, m, scores, c, f);
      }
      if (sizes[c] === m) roots[c] = key(scores[heaps[base] * f + c]);
    }
  }
  for (let c = 0; c < f; c++) {
    for (let i = 0; i < sizes[c]; i++) mask[heaps[c * m + i] * f + c] = 1;
  }
  return mask;
}

/**
 * The top `budget` entries of the whole matrix (Mutual Choice, Ayonrinde 2024; the same rule as
 * BatchTopK). Exactly `budget` entries are selected (all of them if budget ≥ n·f).
 *
 * Quickselect finds the threshold value t (the budget-th largest); every entry above t is kept,
 * then entries equal to t in flat-index order until the budget is met. Expected O(n·f).
 * Memory: up to one float32 copy of the scores.
 */
export function topkOverBatch(scores: Float32Array, options: OverBatchOptions): Float32Array {
  const { n, f } = options;
  checkSize(scores, n, f);
  const total = n * f;
  const budget = Math.max(0, Math.min(options.budget, total));
  const mask = new Float32Array(total);
  if (budget === 0) return mask;
  if (budget === total) return mask.fill(1);
  const threshold = budgetThreshold(scores, budget);
  let above = 0;
  for (let i = 0; i < total; i++) {
    if (key(scores[i]) > threshold) {
      mask[i] = 1;
      above++;
    }
  }
  let ties = budget - above;
  for (let i = 0; i < total && ties > 0; i++) {
    if (key(scores[i]) === threshold) {
      mask[i] = 1;
      ties--;
    }
  }
  return mask;
}

/** Strided sample size for {@link budgetThreshold}'s pre-filter. */
const SAMPLE = 4096;

/**
 * The budget-th largest key of `scores`. On large inputs a strided sample first gives a lower
 * bound (its quantile for twice the budget's share, plus slack); if at least `budget` entries
 * reach the bound, the answer is among them and quickselect runs on those few candidates only.
 * Otherwise (unlucky sample) it runs on a copy of everything. Either way the result is exact.
 */
function budgetThreshold(scores: Float32Array, budget: number): number {
  const total = scores.length;
  if (total > 8 * SAMPLE) {
    const stride = Math.floor(total / SAMPLE);
    const sample = new Float32Array(SAMPLE);
    for (let i = 0; i < SAMPLE; i++) sample[i] = key(scores[i * stride]);
    const rank = Math.min(SAMPLE, Math.ceil((2 * budget * SAMPLE) / total) + 32);
    const bound = kthLargest(sample, rank);
    let count = 0;
    for (let i = 0; i < total; i++) if (key(scores[i]) >= bound) count++;
    if (count >= budget && count < total / 2) {
      const candidates = new Float32Array(count);
      for (let i = 0, j = 0; i < total; i++) {
        const v = key(scores[i]);
        if (v >= bound) candidates[j++] = v;
      }
      return kthLargest(candidates, budget);
    }
  }
  // Keys are float32 values, so a float32 copy loses nothing.
  const work = new Float32Array(total);
  for (let i = 0; i < total; i++) work[i] = key(scores[i]);
  return kthLargest(work, budget);
}

/**
 * The k-th largest value (1-based) of `a`, reordering `a` in place. Iterative quickselect with a
 * three-way partition, because ReLU outputs are full of equal values (zeros) that would make a
 * two-way partition quadratic; the median of three samples guards against sorted input.
 */
function kthLargest(a: Float32Array, k: number): number {
  let lo = 0, hi = a.length - 1;
  const target = k - 1; // index of the answer if `a` were sorted descending
  while (lo < hi) {
    const mid = lo + ((hi - lo) >> 1);
    const pivot = medianOfThree(a[lo], a[mid], a[hi]);
    // Partition [lo, hi] into  > pivot | == pivot | < pivot  (descending order).
    let lt = lo, i = lo, gt = hi;
    while (i <= gt) {
      const v = a[i];
      if (v > pivot) {
        a[i++] = a[lt];
        a[lt++] = v;
      } else if (v < pivot) {
        a[i] = a[gt];
        a[gt--] = v;
      } else i++;
    }
    if (target < lt) hi = lt - 1;
    else if (target > gt) lo = gt + 1;
    else return pivot;
  }
  return a[lo];
}

function medianOfThree(a: number, b: number, c: number): number {
  return Math.max(Math.min(a, b), Math.min(Math.max(a, b), c));
}

function checkSize(scores: Float32Array, n: number, f: number): void {
  if (scores.length !== n * f) {
    throw new Error(`selection: scores have ${scores.length} entries, expected ${n}×${f}`);
  }
}

/** A selection rule for {@link maskFromTensor}. */
export type SelectionRule =
  | { kind: "per_row"; k: number; eligible?: Uint8Array }
  | { kind: "over_batch"; budget: number }
  | { kind: "per_column"; m: number };

/**
 * The 0/1 mask [n, f] that `rule` picks from a score tensor. Reads the scores with `dataSync()`
 * and builds the mask as a fresh tensor, which has no history on the gradient tape: call it
 * inside the loss freely, the mask acts as a constant. On a GPU backend (no synchronous reads)
 * every rule runs on the device instead ({@link perRowMaskOnDevice}, `select_device.ts`); ties
 * at the threshold may select a few more there.
 */
export function maskFromTensor(scores: tf.Tensor2D, rule: SelectionRule): tf.Tensor2D {
  if (!tensorsOnHost()) {
    switch (rule.kind) {
      case "per_row":
        return perRowMaskOnDevice(scores, rule.k, rule.eligible);
      case "over_batch":
        return overBatchMaskOnDevice(scores, rule.budget);
      case "per_column":
        return perColumnMaskOnDevice(scores, rule.m);
    }
  }
  const [n, f] = scores.shape;
  // Host backends only (above): the mask is built inside the synchronous loss, on the tape.
  const values = scores.dataSync() as Float32Array;
  let mask: Float32Array;
  switch (rule.kind) {
    case "per_row":
      mask = topkPerRow(values, { n, f, k: rule.k, eligible: rule.eligible });
      break;
    case "over_batch":
      mask = topkOverBatch(values, { n, f, budget: rule.budget });
      break;
    case "per_column":
      mask = topkPerColumn(values, { n, f, m: rule.m });
      break;
  }
  return tf.tensor2d(mask, [n, f]);
}

/**
 * The per-row top-k mask computed on the device, for backends that cannot read tensors
 * synchronously: a score is selected when it is at least its row's k-th largest (ties at the
 * k-th value may select a few more than k, which the CPU rule breaks by index; with float
 * scores they are rare). Latents not `eligible` never win. The mask is a constant on the
 * gradient tape (`constantOf`), as the CPU rule's fresh tensor is.
 */
export function perRowMaskOnDevice(
  scores: tf.Tensor2D,
  k: number,
  eligible?: Uint8Array,
): tf.Tensor2D {
  const [n, f] = scores.shape;
  const kk = Math.min(k, f);
  if (kk <= 0) return tf.zeros([n, f]);
  return constantOf(scores, (input) => {
    let s = input as tf.Tensor2D;
    if (eligible) {
      const ok = tf.tensor1d(Float32Array.from(eligible), "float32").reshape([1, f]);
      s = tf.where(tf.greater(ok, 0), s, tf.fill([n, f], -Infinity)) as tf.Tensor2D;
    }
    const kth = tf.topk(s, kk).values.slice([0, kk - 1], [n, 1]);
    // -Infinity rows (fewer eligible latents than k) select nothing where they tie at -Infinity.
    return tf.cast(tf.logicalAnd(tf.greaterEqual(s, kth), tf.isFinite(s)), "float32");
  }) as tf.Tensor2D;
}
