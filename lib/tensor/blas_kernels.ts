/**
 * Route TensorFlow.js matmuls on the wasm or cpu backend to OpenBLAS, keeping tfjs autodiff.
 *
 * The replacement `BatchMatMul` and `_FusedMatMul` kernels read the operands' floats where the
 * backend keeps them (the wasm heap, or the cpu backend's JavaScript typed arrays) and let
 * `cblas_sgemm` write into a freshly allocated output there, so no data is copied. Transposes
 * become BLAS flags (free), which also makes the backward pass of every matmul fast: tfjs
 * expresses it as matmuls with transpose flags. Shapes this fast path does not cover (general
 * batch broadcasts, unusual activations) fall back to the stock kernel.
 *
 * `wasm+blas` is the fast CPU backend; `cpu+blas` exists for models whose weights do not fit
 * the wasm32 heap (4 GiB: GPT-2 xl's 6.2 GB of float32), since the cpu backend's tensors live in
 * JavaScript memory. Its other ops are tfjs-cpu's plain JavaScript.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { Blas } from "./blas.ts";
import { heapViews, type WasmBackendInternals } from "./wasm_kernels.ts";

/** The tfjs backends whose tensors this module can hand to BLAS. */
export type HostBackendName = "wasm" | "cpu";

/** Where a host backend keeps a tensor's floats, and how it makes a new one. */
interface HostMemory {
  /** A new float32 tensor of `shape`; its contents are overwritten by the caller. */
  allocate(backend: unknown, shape: number[]): tf.TensorInfo;
  /**
   * `t`'s floats, in place. On wasm, take views only after the last `allocate`: malloc may
   * grow (and so replace) the heap. Null where the data are not floats.
   */
  view(backend: unknown, t: tf.TensorInfo): Float32Array | null;
}

/** The parts of tfjs-backend-cpu's `MathBackendCPU` this module touches. */
interface CpuBackendInternals {
  data: { get(dataId: object): { values?: unknown } };
  makeTensorInfo(shape: number[], dtype: "float32", values: Float32Array): tf.TensorInfo;
}

const HOST_MEMORY: Record<HostBackendName, HostMemory> = {
  wasm: {
    allocate: (backend, shape) => (backend as WasmBackendInternals).makeOutput(shape, "float32"),
    view: (backend, t) => heapViews(backend).f32(t),
  },
  cpu: {
    allocate: (backend, shape) =>
      (backend as CpuBackendInternals).makeTensorInfo(
        shape,
        "float32",
        new Float32Array(product(shape)),
      ),
    view(backend, t) {
      const values = (backend as CpuBackendInternals).data.get(t.dataId).values;
      return values instanceof Float32Array && values.length === product(t.shape) ? values : null;
    },
  },
};

interface MatMulAttrs {
  transposeA: boolean;
  transposeB: boolean;
  activation?: string;
  leakyreluAlpha?: number;
}

/** Counters for tests and benchmarks: how many matmuls went to BLAS and how many fell back. */
export const blasKernelStats = { blasCalls: 0, fallbacks: 0 };

/** The stock kernels replaced on each backend, kept so that {@link removeBlasKernels} can restore them. */
const stockKernels = new Map<HostBackendName, { batch: tf.KernelConfig; fused: tf.KernelConfig }>();

/**
 * Replace `backendName`'s `BatchMatMul` and `_FusedMatMul` with BLAS-backed kernels.
 * Idempotent. Call after `tf.setBackend(backendName)` has resolved.
 */
export function installBlasKernels(blas: Blas, options: { backend: HostBackendName }): void {
  const backendName = options.backend;
  if (stockKernels.has(backendName)) return;
  const stockBatch = tf.getKernel("BatchMatMul", backendName);
  const stockFused = tf.getKernel("_FusedMatMul", backendName);
  if (!stockBatch || !stockFused) {
    throw new Error(
      `installBlasKernels: the ${backendName} backend's matmul kernels are not registered`,
    );
  }
  const memory = HOST_MEMORY[backendName];
  tf.unregisterKernel("BatchMatMul", backendName);
  tf.registerKernel({
    kernelName: "BatchMatMul",
    backendName,
    kernelFunc: (args) =>
      blasMatMul(blas, memory, args, null) ??
        fallback(stockBatch.kernelFunc, args) as tf.TensorInfo,
  });
  tf.unregisterKernel("_FusedMatMul", backendName);
  tf.registerKernel({
    kernelName: "_FusedMatMul",
    backendName,
    kernelFunc: (args) => {
      const attrs = args.attrs as unknown as MatMulAttrs;
      const inputs = args.inputs as Record<string, tf.TensorInfo | undefined>;
      const activation = attrs.activation ?? "linear";
      const bias = inputs.bias ?? null;
      const simple = (activation === "linear" || activation === "relu") &&
        inputs.preluActivationWeights == null &&
        (bias === null || bias.shape.length <= 1);
      const out = simple
        ? blasMatMul(blas, memory, args, { bias, relu: activation === "relu" })
        : null;
      return out ?? fallback(stockFused.kernelFunc, args) as tf.TensorInfo;
    },
  });
  stockKernels.set(backendName, { batch: stockBatch, fused: stockFused });
}

/**
 * Put `backendName`'s stock matmul kernels back (no-op where BLAS kernels are not installed):
 * plain `cpu` after `cpu+blas` in one process must be the plain JavaScript it says it is.
 */
export function removeBlasKernels(backendName: HostBackendName): void {
  const stock = stockKernels.get(backendName);
  if (!stock) return;
  for (const kernel of [stock.batch, stock.fused]) {
    tf.unregisterKernel(kernel.kernelName, backendName);
    tf.registerKernel(kernel);
  }
  stockKernels.delete(backendName);
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
  memory: HostMemory,
  args: Parameters<tf.KernelFunc>[0],
  epilogue: { bias: tf.TensorInfo | null; relu: boolean } | null,
): tf.TensorInfo | null {
  const { a, b } = args.inputs as { a: tf.TensorInfo; b: tf.TensorInfo };
  const { transposeA, transposeB } = args.attrs as unknown as MatMulAttrs;
  if (a.dtype !== "float32" || b.dtype !== "float32") return null;
  const backend = args.backend;

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

  // Views only after allocating: on wasm, malloc may grow (and so replace) the heap.
  const out = memory.allocate(backend, [...outer, m, n]);
  const A = memory.view(backend, a), B = memory.view(backend, b), C = memory.view(backend, out);
  const biasView = epilogue?.bias ? memory.view(backend, epilogue.bias) : null;
  if (!A || !B || !C || (epilogue?.bias && !biasView)) {
    (backend as tf.KernelBackend).disposeData(out.dataId);
    return null;
  }

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
  if (epilogue) applyEpilogue(C, n, epilogue, biasView);
  return out;
}

function applyEpilogue(
  c: Float32Array,
  n: number,
  { bias, relu }: { bias: tf.TensorInfo | null; relu: boolean },
  biasView: Float32Array | null,
): void {
  if (bias && biasView) {
    const size = biasView.length;
    if (size !== 1 && size !== n) {
      throw new Error(`_FusedMatMul: bias of shape [${bias.shape}] does not match ${n} columns`);
    }
    for (let i = 0; i < c.length; i++) c[i] += biasView[size === 1 ? 0 : i % n];
  }
  if (relu) { for (let i = 0; i < c.length; i++) if (c[i] < 0) c[i] = 0; }
}

function product(shape: readonly number[]): number {
  let p = 1;
  for (const s of shape) p *= s;
  return p;
}
