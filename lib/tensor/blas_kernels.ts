/**
 * Route TensorFlow.js matmuls on the wasm backend to OpenBLAS, keeping tfjs autodiff.
 *
 * The replacement `BatchMatMul` and `_FusedMatMul` kernels read the operands' bytes straight
 * from the wasm heap and let `cblas_sgemm` write into a freshly allocated output there, so no
 * data is copied. Transposes become BLAS flags (free), which also makes the backward pass of
 * every matmul fast: tfjs expresses it as matmuls with transpose flags. Shapes this fast path
 * does not cover (general batch broadcasts, unusual activations) fall back to the stock kernel.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { Blas } from "./blas.ts";

/** The parts of tfjs-backend-wasm's `BackendWasm` this module touches (not in its public types). */
interface WasmBackendInternals {
  dataIdMap: { get(dataId: object): { memoryOffset: number } };
  makeOutput(shape: number[], dtype: "float32"): tf.TensorInfo;
  wasm: { HEAPU8: Uint8Array };
}

interface MatMulAttrs {
  transposeA: boolean;
  transposeB: boolean;
  activation?: string;
  leakyreluAlpha?: number;
}

/** Counters for tests and benchmarks: how many matmuls went to BLAS and how many fell back. */
export const blasKernelStats = { blasCalls: 0, fallbacks: 0 };

let installed = false;

/**
 * Replace the wasm backend's `BatchMatMul` and `_FusedMatMul` with BLAS-backed kernels.
 * Idempotent. Call after `tf.setBackend("wasm")` has resolved.
 */
export function installBlasKernels(blas: Blas): void {
  if (installed) return;
  const stockBatch = tf.getKernel("BatchMatMul", "wasm");
  const stockFused = tf.getKernel("_FusedMatMul", "wasm");
  if (!stockBatch || !stockFused) {
    throw new Error("installBlasKernels: the wasm backend's matmul kernels are not registered");
  }
  tf.unregisterKernel("BatchMatMul", "wasm");
  tf.registerKernel({
    kernelName: "BatchMatMul",
    backendName: "wasm",
    kernelFunc: (args) =>
      blasMatMul(blas, args, null) ?? fallback(stockBatch.kernelFunc, args) as tf.TensorInfo,
  });
  tf.unregisterKernel("_FusedMatMul", "wasm");
  tf.registerKernel({
    kernelName: "_FusedMatMul",
    backendName: "wasm",
    kernelFunc: (args) => {
      const attrs = args.attrs as unknown as MatMulAttrs;
      const inputs = args.inputs as Record<string, tf.TensorInfo | undefined>;
      const activation = attrs.activation ?? "linear";
      const bias = inputs.bias ?? null;
      const simple = (activation === "linear" || activation === "relu") &&
        inputs.preluActivationWeights == null &&
        (bias === null || bias.shape.length <= 1);
      const out = simple ? blasMatMul(blas, args, { bias, relu: activation === "relu" }) : null;
      return out ?? fallback(stockFused.kernelFunc, args) as tf.TensorInfo;
    },
  });
  installed = true;
}

function fallback(kernelFunc: tf.KernelFunc, args: Parameters<tf.KernelFunc>[0]) {
  blasKernelStats.fallbacks++;
  return kernelFunc(args);
}

/**
 * The BLAS matmul, or null when the shapes need a broadcast this path does not handle.
 * `epilogue` adds a rank-0/1 bias and an optional ReLU (the `_FusedMatMul` contract).
 */
function blasMatMul(
  blas: Blas,
  args: Parameters<tf.KernelFunc>[0],
  epilogue: { bias: tf.TensorInfo | null; relu: boolean } | null,
): tf.TensorInfo | null {
  const { a, b } = args.inputs as { a: tf.TensorInfo; b: tf.TensorInfo };
  const { transposeA, transposeB } = args.attrs as unknown as MatMulAttrs;
  if (a.dtype !== "float32" || b.dtype !== "float32") return null;
  const backend = args.backend as unknown as WasmBackendInternals;

  const ra = a.shape.length, rb = b.shape.length;
  const m = transposeA ? a.shape[ra - 1] : a.shape[ra - 2];
  const k = transposeA ? a.shape[ra - 2] : a.shape[ra - 1];
  const kb = transposeB ? b.shape[rb - 1] : b.shape[rb - 2];
  const n = transposeB ? b.shape[rb - 2] : b.shape[rb - 1];
  if (k !== kb) {
    throw new Error(
      `matMul: inner dimensions differ (${k} vs ${kb}) for shapes [${a.shape}] and [${b.shape}] ` +
        `with transposeA=${transposeA}, transposeB=${transposeB}`,
    );
  }
  const outerA = a.shape.slice(0, -2), outerB = b.shape.slice(0, -2);
  const batchA = product(outerA), batchB = product(outerB);
  const outer = tf.backend_util.assertAndGetBroadcastShape(outerA, outerB);
  const batch = product(outer);
  // Supported: equal batches, or one side a single matrix shared by every batch.
  if (!(batchA === batchB && batchA === batch) && batchA !== 1 && batchB !== 1) return null;
  if (batchA === 1 && batchB === 1 && batch !== 1) return null;

  const out = backend.makeOutput([...outer, m, n], "float32");
  // Read the heap only after makeOutput: malloc may grow (and so replace) the wasm memory.
  const heap = backend.wasm.HEAPU8.buffer;
  const view = (t: tf.TensorInfo, size: number) =>
    new Float32Array(heap, backend.dataIdMap.get(t.dataId).memoryOffset, size);
  const A = view(a, batchA * m * k), B = view(b, batchB * k * n), C = view(out, batch * m * n);

  if (batchB === 1 && !transposeA) {
    // Fold A's batch into its rows: one large sgemm instead of `batch` small ones.
    blas.sgemm(false, transposeB, { m: batch * m, n, k }, { a: A, b: B, c: C });
    blasKernelStats.blasCalls++;
  } else {
    for (let i = 0; i < batch; i++) {
      const ai = batchA === 1 ? 0 : i, bi = batchB === 1 ? 0 : i;
      blas.sgemm(transposeA, transposeB, { m, n, k }, {
        a: A.subarray(ai * m * k, (ai + 1) * m * k),
        b: B.subarray(bi * k * n, (bi + 1) * k * n),
        c: C.subarray(i * m * n, (i + 1) * m * n),
      });
      blasKernelStats.blasCalls++;
    }
  }
  if (epilogue) applyEpilogue(C, n, epilogue, epilogue.bias ? view(epilogue.bias, 0) : null);
  return out;
}

function applyEpilogue(
  c: Float32Array,
  n: number,
  { bias, relu }: { bias: tf.TensorInfo | null; relu: boolean },
  biasView: Float32Array | null,
): void {
  if (bias && biasView) {
    const size = product(bias.shape);
    const values = new Float32Array(biasView.buffer, biasView.byteOffset, size);
    if (size !== 1 && size !== n) {
      throw new Error(`_FusedMatMul: bias of shape [${bias.shape}] does not match ${n} columns`);
    }
    for (let i = 0; i < c.length; i++) c[i] += values[size === 1 ? 0 : i % n];
  }
  if (relu) { for (let i = 0; i < c.length; i++) if (c[i] < 0) c[i] = 0; }
}

function product(shape: readonly number[]): number {
  let p = 1;
  for (const s of shape) p *= s;
  return p;
}
