/**
 * Choose and start the TensorFlow.js compute backend.
 *
 * Order (first that works): `tfjs-node-gpu`, `tfjs-node` (native TensorFlow, for users whose
 * machine can install them; imported dynamically, so their absence is normal), then
 * `wasm` with SIMD plus OpenBLAS matmuls through FFI (`wasm+blas`), plain `wasm`, and `cpu`.
 * `GSAE_BACKEND` forces one of: node-gpu, node, wasm+blas, wasm, cpu.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { setWasmPaths } from "@tensorflow/tfjs-backend-wasm";
import { blasUnavailableReason, loadBlas } from "./blas.ts";
import { installBlasKernels } from "./blas_kernels.ts";
import { installWasmKernels } from "./wasm_kernels.ts";

/** The backends gsae knows, fastest first. */
export const BACKEND_NAMES = ["node-gpu", "node", "wasm+blas", "wasm", "cpu"] as const;
/** One of {@link BACKEND_NAMES}. */
export type BackendName = typeof BACKEND_NAMES[number];

/** What {@link initBackend} chose, and why the faster ones were skipped. */
export interface BackendInfo {
  /** The backend in use. */
  name: BackendName;
  /** tfjs's own backend name ("wasm", "cpu", "tensorflow"). */
  tfjsName: string;
  /** One line per backend tried before it, with the reason it was skipped. */
  skipped: string[];
  /** Extra facts: BLAS library and threads, SIMD. */
  details: string;
}

let active: BackendInfo | null = null;

/**
 * Start the backend once per process and return what was chosen. Later calls return the same.
 * Throws when `GSAE_BACKEND` names a backend that cannot start (a forced choice must not
 * silently become another).
 */
export async function initBackend(options: { log?: (line: string) => void } = {}): Promise<
  BackendInfo
> {
  if (active) return active;
  const forced = Deno.env.get("GSAE_BACKEND")?.trim() || undefined;
  if (forced && !(BACKEND_NAMES as readonly string[]).includes(forced)) {
    throw new Error(`GSAE_BACKEND=${forced} is not one of ${BACKEND_NAMES.join(", ")}`);
  }
  const candidates = forced ? [forced as BackendName] : [...BACKEND_NAMES];
  const skipped: string[] = [];
  for (const name of candidates) {
    const result = await tryBackend(name);
    if (typeof result === "string") {
      if (forced) throw new Error(`GSAE_BACKEND=${forced} cannot start: ${result}`);
      skipped.push(`${name}: ${result}`);
      continue;
    }
    active = { name, tfjsName: tf.getBackend(), skipped, details: result.details };
    options.log?.(describeBackend(active));
    return active;
  }
  throw new Error(`no TensorFlow.js backend could start:\n  ${skipped.join("\n  ")}`);
}

/** One line for logs and notebooks, e.g. `backend: wasm+blas (OpenBLAS libopenblas.so.0, 2 threads, SIMD)`. */
export function describeBackend(info: BackendInfo): string {
  return `backend: ${info.name}${info.details ? ` (${info.details})` : ""}`;
}

/** The backend chosen by {@link initBackend}, or null before it ran. */
export function activeBackend(): BackendInfo | null {
  return active;
}

async function tryBackend(name: BackendName): Promise<{ details: string } | string> {
  try {
    switch (name) {
      case "node-gpu":
      case "node": {
        const pkg = name === "node" ? "tfjs-node" : "tfjs-node-gpu";
        // Only a locally installed package counts: importing an absent npm package would make
        // Deno download it, and its native binary cannot install on every machine.
        const binding = new URL(
          `../node_modules/@tensorflow/${pkg}/lib/napi-v8/tfjs_binding.node`,
          import.meta.url,
        );
        if (!(await exists(binding))) return `@tensorflow/${pkg} is not installed`;
        await import(`npm:@tensorflow/${pkg}@4.22.0`);
        if (!(await tf.setBackend("tensorflow"))) return `${pkg} backend did not start`;
        return { details: `@tensorflow/${pkg}` };
      }
      case "wasm+blas": {
        const blas = loadBlas();
        if (!blas) return `OpenBLAS unavailable (${blasUnavailableReason()})`;
        const wasm = await startWasm();
        if (typeof wasm === "string") return wasm;
        installBlasKernels(blas);
        return { details: `OpenBLAS ${blas.library}, ${blas.threads} threads, ${wasm.details}` };
      }
      case "wasm":
        return await startWasm();
      case "cpu":
        if (!(await tf.setBackend("cpu"))) return "cpu backend did not start";
        return { details: "pure JavaScript, slow" };
    }
  } catch (err) {
    return (err as Error).message.split("\n")[0];
  }
}

async function startWasm(): Promise<{ details: string } | string> {
  // The .wasm binaries ship inside the npm package; point tfjs at the local copies.
  const entry = import.meta.resolve("@tensorflow/tfjs-backend-wasm");
  const distDir = new URL("./", entry).href;
  setWasmPaths(distDir.endsWith("/") ? distDir : `${distDir}/`);
  if (!(await tf.setBackend("wasm"))) return "wasm backend did not start";
  installWasmKernels();
  const simd = tf.env().getBool("WASM_HAS_SIMD_SUPPORT");
  return { details: simd ? "SIMD" : "no SIMD" };
}

async function exists(path: URL): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}
