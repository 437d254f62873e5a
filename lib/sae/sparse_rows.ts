/**
 * Sparse latent codes as (index, value) entries per token, and the products the TopK family's
 * fused training step needs with them. A code of n tokens holds k entries per token: token t's
 * latents `idx[t·k .. (t+1)·k)` with values `val[…]`; a latent j stands for row j of a
 * row-major [d_sae, d] matrix (the decoder W_dec, or the transposed encoder).
 *
 * Each product visits only the n·k entries, O(n·k·d) work instead of the O(n·d_sae·d) of a
 * dense matmul with the mostly-zero [n, d_sae] code. Sums run in float64.
 *
 * @module
 */

/** k (latent, value) entries per token. */
export interface Entries {
  /** Latent indices, [n·k]. */
  idx: Int32Array;
  /** Their values, [n·k]. */
  val: Float32Array;
  /** Entries per token. */
  k: number;
}

/**
 * out[t] = Σ_s val[t,s] · rows[idx[t,s]] (+ bias), [n, d]: decoding a sparse code. The sum is
 * rounded to float32 before the bias is added, as a matmul followed by a bias add would be.
 */
export function decodeEntries(
  entries: Entries,
  rows: Float32Array,
  d: number,
  n: number,
  out: Float32Array,
  bias: Float32Array | null,
): void {
  const { idx, val, k } = entries;
  const acc = new Float64Array(d);
  for (let t = 0; t < n; t++) {
    acc.fill(0);
    for (let s = t * k; s < (t + 1) * k; s++) {
      const a = val[s];
      if (a === 0) continue;
      const base = idx[s] * d;
      for (let c = 0; c < d; c++) acc[c] += a * rows[base + c];
    }
    const o = t * d;
    if (bias) { for (let c = 0; c < d; c++) out[o + c] = Math.fround(acc[c]) + bias[c]; }
    else for (let c = 0; c < d; c++) out[o + c] = acc[c];
  }
}

/**
 * Backward pass of `out = decodeEntries(entries, rows)` where the values are ReLU(z) of the
 * pre-activations z = xc·W_enc + b_enc, given ∂L/∂out (`upstream`, [n, d]). Accumulates:
 *
 * - `gRows[j] += val · upstream[t]` (∂L/∂W_dec),
 * - ∂L/∂z = upstream[t]·rows[j] where z > 0 (the ReLU's derivative; a zero value had z ≤ 0),
 *   into `bEnc[j]` (∂L/∂b_enc) and `gEncT[j] += ∂L/∂z · xc[t]` (∂L/∂W_enc, transposed).
 */
export function entryBackward(
  entries: Entries,
  upstream: Float32Array,
  xc: Float32Array,
  rows: Float32Array,
  d: number,
  n: number,
  gRows: Float32Array,
  gEncT: Float32Array,
  bEnc: Float64Array,
): void {
  const { idx, val, k } = entries;
  for (let t = 0; t < n; t++) {
    const o = t * d;
    for (let s = t * k; s < (t + 1) * k; s++) {
      const a = val[s];
      if (!(a > 0)) continue;
      const j = idx[s], base = j * d;
      // Four partial sums: one would make each iteration wait for the previous addition.
      let d0 = 0, d1 = 0, d2 = 0, d3 = 0, c = 0;
      for (; c + 3 < d; c += 4) {
        d0 += upstream[o + c] * rows[base + c];
        d1 += upstream[o + c + 1] * rows[base + c + 1];
        d2 += upstream[o + c + 2] * rows[base + c + 2];
        d3 += upstream[o + c + 3] * rows[base + c + 3];
      }
      for (; c < d; c++) d0 += upstream[o + c] * rows[base + c];
      const dz = d0 + d1 + d2 + d3;
      bEnc[j] += dz;
      for (let c = 0; c < d; c++) {
        gRows[base + c] += a * upstream[o + c];
        gEncT[base + c] += dz * xc[o + c];
      }
    }
  }
}

/** out[c, r] = a[r, c] for a row-major [rows, cols] array. */
export function transpose(a: Float32Array, rows: number, cols: number, out: Float32Array): void {
  const B = 32;
  for (let r0 = 0; r0 < rows; r0 += B) {
    for (let c0 = 0; c0 < cols; c0 += B) {
      const r1 = Math.min(rows, r0 + B), c1 = Math.min(cols, c0 + B);
      for (let r = r0; r < r1; r++) {
        for (let c = c0; c < c1; c++) out[c * rows + r] = a[r * cols + c];
      }
    }
  }
}
