// The fast matmul paths against the plain ones: BLAS kernels (on wasm and on cpu) vs a float64
// reference, and the explicit-transpose matmul (used on plain wasm) vs tf.matMul, values and
// gradients; a tiny GPT-2 on cpu+blas against the default backend.
import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { activeBackend, initBackend } from "../lib/tensor/backend.ts";
import { loadBlas } from "../lib/tensor/blas.ts";
import { blasKernelStats } from "../lib/tensor/blas_kernels.ts";
import { explicitTransposeMatMul } from "../lib/tensor/ops.ts";
import { Rng } from "../lib/tensor/random.ts";
import { GPT2 } from "../lib/gpt2/model.ts";
import { TINY_CONFIG } from "./fixtures/tiny_workspace.ts";

await initBackend();
const rng = new Rng(11);
const rand = (shape: number[]) =>
  tf.tensor(rng.normalArray(shape.reduce((a, b) => a * b, 1)), shape);

/** A reference product computed in float64 JavaScript from the tensors' values. */
function naiveMatMul(a: tf.Tensor, b: tf.Tensor, ta: boolean, tb: boolean): tf.Tensor {
  const A = a.arraySync() as number[][][] | number[][];
  const B = b.arraySync() as number[][][] | number[][];
  const as3 = (a.rank === 2 ? [A] : A) as number[][][];
  const bs3 = (b.rank === 2 ? [B] : B) as number[][][];
  const batch = Math.max(as3.length, bs3.length);
  const out: number[][][] = [];
  for (let i = 0; i < batch; i++) {
    let x = as3[as3.length === 1 ? 0 : i], y = bs3[bs3.length === 1 ? 0 : i];
    if (ta) x = x[0].map((_, c) => x.map((r) => r[c]));
    if (tb) y = y[0].map((_, c) => y.map((r) => r[c]));
    out.push(x.map((row) => y[0].map((_, c) => row.reduce((s, v, k) => s + v * y[k][c], 0))));
  }
  return a.rank === 2 && b.rank === 2 ? tf.tensor(out[0]) : tf.tensor(out);
}

const CASES: [number[], number[], boolean, boolean][] = [
  [[5, 7], [7, 3], false, false],
  [[7, 5], [7, 3], true, false],
  [[5, 7], [3, 7], false, true],
  [[7, 5], [3, 7], true, true],
  [[4, 5, 7], [4, 7, 3], false, false],
  [[4, 7, 5], [4, 3, 7], true, true],
  [[4, 5, 7], [7, 3], false, false], // one shared right matrix: folded into one sgemm
  [[4, 7, 5], [7, 3], true, false],
  [[5, 7], [4, 7, 3], false, false],
];

Deno.test("BLAS matmul kernels equal a float64 reference for every transpose and batch layout", () => {
  if (activeBackend()?.name !== "wasm+blas") {
    console.log(`skipped: backend is ${activeBackend()?.name}, not wasm+blas`);
    return;
  }
  const before = blasKernelStats.blasCalls;
  for (const [sa, sb, ta, tb] of CASES) {
    const a = rand(sa), b = rand(sb);
    const diff =
      tf.max(tf.abs(tf.sub(tf.matMul(a, b, ta, tb), naiveMatMul(a, b, ta, tb)))).dataSync()[0];
    assert.ok(diff < 1e-5, `[${sa}]x[${sb}] ta=${ta} tb=${tb}: ${diff}`);
  }
  assert.ok(blasKernelStats.blasCalls > before, "the BLAS kernel ran");
});

Deno.test("fused matmul with bias and relu equals the unfused ops", () => {
  const a = rand([6, 4]), b = rand([4, 5]), bias = rand([5]);
  const fused = tf.fused.matMul({ a, b, bias, activation: "relu" });
  const plain = tf.relu(tf.add(tf.matMul(a, b), bias));
  assert.ok(tf.max(tf.abs(tf.sub(fused, plain))).dataSync()[0] < 1e-6);
});

Deno.test("explicit-transpose matmul equals tf.matMul in value and gradient", () => {
  for (const [sa, sb, ta, tb] of CASES.slice(0, 6)) {
    const a = rand(sa), b = rand(sb);
    const f = (fn: typeof explicitTransposeMatMul) => (x: tf.Tensor, y: tf.Tensor) =>
      tf.sum(tf.square(fn(x, y, ta, tb)));
    const [ga1, gb1] = tf.grads(f(explicitTransposeMatMul))([a, b]);
    const [ga2, gb2] = tf.grads(f((x, y, p, q) => tf.matMul(x, y, p, q)))([a, b]);
    assert.ok(
      tf.max(tf.abs(tf.sub(explicitTransposeMatMul(a, b, ta, tb), tf.matMul(a, b, ta, tb))))
        .dataSync()[0] < 1e-5,
    );
    assert.ok(
      tf.max(tf.abs(tf.sub(ga1, ga2))).dataSync()[0] < 1e-4,
      `dA [${sa}] ta=${ta} tb=${tb}`,
    );
    assert.ok(
      tf.max(tf.abs(tf.sub(gb1, gb2))).dataSync()[0] < 1e-4,
      `dB [${sb}] ta=${ta} tb=${tb}`,
    );
  }
});

Deno.test("sgemm wrapper rejects arrays too small for the shape", () => {
  const blas = loadBlas();
  if (!blas) return console.log("skipped: OpenBLAS not available");
  const a = new Float32Array(6), b = new Float32Array(6), c = new Float32Array(3);
  assert.throws(() => blas.sgemm(false, false, { m: 2, n: 2, k: 3 }, { a, b, c }), /too small/);
});

Deno.test("cpu+blas: BLAS kernels on the cpu backend equal the float64 reference; plain cpu is stock again", async () => {
  if (!loadBlas()) return console.log("skipped: OpenBLAS not available");
  const original = activeBackend()!.name;
  try {
    await initBackend({ backend: "cpu+blas" });
    assert.equal(tf.getBackend(), "cpu");
    const before = blasKernelStats.blasCalls;
    for (const [sa, sb, ta, tb] of CASES) {
      const a = rand(sa), b = rand(sb);
      const diff =
        tf.max(tf.abs(tf.sub(tf.matMul(a, b, ta, tb), naiveMatMul(a, b, ta, tb)))).dataSync()[0];
      assert.ok(diff < 1e-5, `cpu+blas [${sa}]x[${sb}] ta=${ta} tb=${tb}: ${diff}`);
    }
    const a = rand([6, 4]), b = rand([4, 5]), bias = rand([5]);
    const fused = tf.fused.matMul({ a, b, bias, activation: "relu" });
    assert.ok(
      tf.max(tf.abs(tf.sub(fused, tf.relu(tf.add(tf.matMul(a, b), bias))))).dataSync()[0] < 1e-6,
    );
    assert.ok(blasKernelStats.blasCalls > before, "the BLAS kernel ran on cpu");

    await initBackend({ backend: "cpu" });
    const plain = blasKernelStats.blasCalls;
    tf.matMul(rand([5, 7]), rand([7, 3])).dataSync();
    assert.equal(blasKernelStats.blasCalls, plain, "plain cpu uses the stock matmul");
  } finally {
    await initBackend({ backend: original });
  }
});

Deno.test("cpu+blas: a tiny GPT-2's losses and hook gradient equal those on the default backend", async () => {
  if (!loadBlas()) return console.log("skipped: OpenBLAS not available");
  const original = activeBackend()!.name;
  const ids = tf.tensor2d([[1, 5, 9, 2, 7, 3], [4, 4, 8, 0, 6, 1]], undefined, "int32");
  const numbers = () => {
    const model = GPT2.random(TINY_CONFIG, 5, 0.3);
    const losses = tf.tidy(() => model.tokenLosses(ids, model.finalResidual(ids)));
    const g = model.gradAtHook(ids, "blocks.0.hook_resid_post");
    const out = [losses, g.activation, g.gradient].map((t) => Float32Array.from(t.dataSync()));
    tf.dispose([losses, ...Object.values(g)]);
    model.dispose();
    return out;
  };
  try {
    const reference = numbers();
    await initBackend({ backend: "cpu+blas" });
    const before = tf.memory().numTensors;
    const onCpu = numbers();
    assert.equal(tf.memory().numTensors, before, "no tensor left behind over a pass");
    for (const [i, name] of ["losses", "activation", "hook gradient"].entries()) {
      let diff = 0, scale = 0;
      for (let j = 0; j < onCpu[i].length; j++) {
        diff = Math.max(diff, Math.abs(onCpu[i][j] - reference[i][j]));
        scale = Math.max(scale, Math.abs(reference[i][j]));
      }
      assert.ok(diff / scale < 1e-5, `${name}: relative difference ${diff / scale}`);
    }
  } finally {
    await initBackend({ backend: original });
  }
});
