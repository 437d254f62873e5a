// Sparse code products (lib/sae/sparse_rows.ts) against dense float64 reference computations.
import assert from "node:assert/strict";
import { Rng } from "../lib/tensor/random.ts";
import { decodeEntries, entryBackward, transpose } from "../lib/sae/sparse_rows.ts";

const [n, f, d, k] = [5, 9, 4, 3];
const rng = new Rng(3);
const rows = rng.normalArray(f * d);
const idx = Int32Array.from({ length: n * k }, (_, i) => (i * 7 + Math.floor(i / k)) % f);
// Some values zero (a selected latent with z ≤ 0), the rest positive (ReLU outputs).
const val = Float32Array.from({ length: n * k }, (_, i) => (i % 4 === 1 ? 0 : 0.5 + (i % 5)));

/** The dense [n, f] code the entries stand for. */
function dense(): Float64Array {
  const a = new Float64Array(n * f);
  for (let t = 0; t < n; t++) {
    for (let s = 0; s < k; s++) a[t * f + idx[t * k + s]] += val[t * k + s];
  }
  return a;
}

function near(a: ArrayLike<number>, b: ArrayLike<number>, tol: number, what: string) {
  assert.equal(a.length, b.length, what);
  for (let i = 0; i < a.length; i++) {
    assert.ok(Math.abs(a[i] - b[i]) <= tol, `${what}[${i}]: ${a[i]} vs ${b[i]}`);
  }
}

Deno.test("decodeEntries equals the dense code times the rows, plus the bias", () => {
  const code = dense(), bias = Float32Array.from([1, -2, 0.5, 0]);
  const want = new Float64Array(n * d);
  for (let t = 0; t < n; t++) {
    for (let c = 0; c < d; c++) {
      for (let j = 0; j < f; j++) want[t * d + c] += code[t * f + j] * rows[j * d + c];
      want[t * d + c] += bias[c];
    }
  }
  const out = new Float32Array(n * d);
  decodeEntries({ idx, val, k }, rows, d, n, out, bias);
  near(out, want, 1e-5, "with bias");
  decodeEntries({ idx, val, k }, rows, d, n, out, null);
  near(out, want.map((w, i) => w - bias[i % d]), 1e-5, "without bias");
});

Deno.test("entryBackward gives the dense gradients of the decoder, pre-activations and encoder", () => {
  const upstream = rng.normalArray(n * d), xc = rng.normalArray(n * d);
  const code = dense();
  const gRows = new Float32Array(f * d),
    gEncT = new Float32Array(f * d),
    bEnc = new Float64Array(f);
  entryBackward({ idx, val, k }, upstream, xc, rows, d, n, gRows, gEncT, bEnc);
  // Dense: dRows = codeᵀ·upstream; dz = (upstream·rowsᵀ) where the code is positive; dW_encᵀ = dzᵀ·xc.
  const wantRows = new Float64Array(f * d), dz = new Float64Array(n * f);
  for (let t = 0; t < n; t++) {
    for (let j = 0; j < f; j++) {
      for (let c = 0; c < d; c++) wantRows[j * d + c] += code[t * f + j] * upstream[t * d + c];
      if (code[t * f + j] > 0) {
        for (let c = 0; c < d; c++) dz[t * f + j] += upstream[t * d + c] * rows[j * d + c];
      }
    }
  }
  const wantEncT = new Float64Array(f * d), wantBias = new Float64Array(f);
  for (let t = 0; t < n; t++) {
    for (let j = 0; j < f; j++) {
      wantBias[j] += dz[t * f + j];
      for (let c = 0; c < d; c++) wantEncT[j * d + c] += dz[t * f + j] * xc[t * d + c];
    }
  }
  near(gRows, wantRows, 1e-5, "decoder");
  near(bEnc, wantBias, 1e-5, "encoder bias");
  near(gEncT, wantEncT, 1e-5, "encoder (transposed)");
});

Deno.test("transpose swaps rows and columns, also across block edges", () => {
  const [r, c] = [37, 70];
  const a = Float32Array.from({ length: r * c }, (_, i) => i);
  const out = new Float32Array(r * c);
  transpose(a, r, c, out);
  for (let i = 0; i < r; i++) {
    for (let j = 0; j < c; j++) assert.equal(out[j * r + i], a[i * c + j]);
  }
});
