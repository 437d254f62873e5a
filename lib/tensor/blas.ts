/**
 * OpenBLAS through Deno FFI: the machine's fast single-precision matmul.
 *
 * tfjs-wasm multiplies matrices at 10-19 GFLOP/s here; OpenBLAS reaches 86-117 GFLOP/s on two
 * threads, measured on this project's 2-core development machines for a [512, 768] × [768, 3072]
 * product. This module only opens the library and wraps
 * `cblas_sgemm`; `blas_kernels.ts` plugs it into TensorFlow.js.
 *
 * @module
 */

/** Row-major sgemm: C = alpha·op(A)·op(B) + beta·C on Float32Array views (any byte offset). */
export interface Blas {
  /** The shared library that was opened. */
  readonly library: string;
  /** Thread count OpenBLAS uses. */
  readonly threads: number;
  /**
   * C[m×n] = alpha · op(A)[m×k] · op(B)[k×n] + beta · C, all row-major.
   * op(A) = Aᵀ when `transA` (A is then stored k×m), likewise for B.
   */
  sgemm(
    transA: boolean,
    transB: boolean,
    dims: { m: number; n: number; k: number; alpha?: number; beta?: number },
    arrays: { a: Float32Array; b: Float32Array; c: Float32Array },
  ): void;
}

const CBLAS_ROW_MAJOR = 101;
const CBLAS_NO_TRANS = 111;
const CBLAS_TRANS = 112;

/** Library names tried in order; Debian's `libopenblas0` provides the first. */
const LIBRARY_CANDIDATES = [
  "libopenblas.so.0",
  "/usr/lib/x86_64-linux-gnu/libopenblas.so.0",
  "/usr/lib/aarch64-linux-gnu/libopenblas.so.0",
  "libopenblas.so",
  "libopenblas.dylib",
];

const SYMBOLS = {
  cblas_sgemm: {
    parameters: [
      "i32",
      "i32",
      "i32",
      "i32",
      "i32",
      "i32",
      "f32",
      "buffer",
      "i32",
      "buffer",
      "i32",
      "f32",
      "buffer",
      "i32",
    ],
    result: "void",
  },
  openblas_get_num_threads: { parameters: [], result: "i32" },
  openblas_set_num_threads: { parameters: ["i32"], result: "void" },
} as const;

/**
 * Running totals over every {@link Blas.sgemm} call in this process (benchmarks read them
 * before and after a step): calls, floating-point operations (2·m·n·k each) and seconds inside.
 */
export const sgemmCounters = { calls: 0, flops: 0, seconds: 0 };

let cached: Blas | null | undefined;
let loadError = "";

/**
 * Open OpenBLAS once. Returns null (and remembers why, see {@link blasUnavailableReason})
 * when FFI is not permitted or the library is absent, so callers can fall back cleanly.
 * `GSAE_BLAS_THREADS` sets the thread count (default: what OpenBLAS picks, i.e. the cores).
 */
export function loadBlas(): Blas | null {
  if (cached !== undefined) return cached;
  cached = null;
  const errors: string[] = [];
  for (const library of LIBRARY_CANDIDATES) {
    try {
      const lib = Deno.dlopen(library, SYMBOLS);
      cached = wrap(lib, library);
      return cached;
    } catch (err) {
      errors.push(`${library}: ${(err as Error).message}`);
      // Without --allow-ffi every candidate fails the same way: stop early.
      if (err instanceof Deno.errors.NotCapable || err instanceof Deno.errors.PermissionDenied) {
        break;
      }
    }
  }
  loadError = errors.join("; ");
  return null;
}

/** Why {@link loadBlas} returned null ("" when it did not). */
export function blasUnavailableReason(): string {
  return loadError;
}

function wrap(lib: Deno.DynamicLibrary<typeof SYMBOLS>, library: string): Blas {
  const wanted = Number(Deno.env.get("GSAE_BLAS_THREADS") ?? "0");
  if (Number.isInteger(wanted) && wanted > 0) lib.symbols.openblas_set_num_threads(wanted);
  const threads = lib.symbols.openblas_get_num_threads();
  const sgemm = lib.symbols.cblas_sgemm;
  return {
    library,
    threads,
    sgemm(transA, transB, { m, n, k, alpha = 1, beta = 0 }, { a, b, c }) {
      if (a.length < m * k || b.length < k * n || c.length < m * n) {
        throw new RangeError(
          `sgemm: arrays too small for m=${m} n=${n} k=${k} ` +
            `(a ${a.length}, b ${b.length}, c ${c.length})`,
        );
      }
      if (m === 0 || n === 0) return;
      if (k === 0) {
        // BLAS leaves C untouched when k = 0 only if beta = 1; make the math explicit.
        if (beta === 0) c.fill(0, 0, m * n);
        else if (beta !== 1) { for (let i = 0; i < m * n; i++) c[i] *= beta; }
        return;
      }
      const start = performance.now();
      sgemm(
        CBLAS_ROW_MAJOR,
        transA ? CBLAS_TRANS : CBLAS_NO_TRANS,
        transB ? CBLAS_TRANS : CBLAS_NO_TRANS,
        m,
        n,
        k,
        alpha,
        a,
        transA ? m : k,
        b,
        transB ? k : n,
        beta,
        c,
        n,
      );
      sgemmCounters.calls++;
      sgemmCounters.flops += 2 * m * n * k;
      sgemmCounters.seconds += (performance.now() - start) / 1000;
    },
  };
}
