/**
 * Choose and start the TensorFlow.js compute backend.
 *
 * Order (first that works): `tfjs-node-gpu`, `tfjs-node` (native TensorFlow, for users whose
 * machine can install them; imported dynamically, so their absence is normal), `webgpu` on a
 * hardware adapter (needs `deno run --unstable-webgpu`; see `webgpu_adapter.ts` for how a
 * software adapter such as Mesa's llvmpipe is told apart and why automatic choice skips it),
 * then `wasm` with SIMD plus OpenBLAS matmuls through FFI (`wasm+blas`), plain `wasm`, `cpu`
 * with OpenBLAS matmuls (`cpu+blas`: tensors in JavaScript memory, for models whose weights do
 * not fit the wasm32 heap, see {@link hostMemoryLimit}) and `cpu`. `GSAE_BACKEND` (or a CLI's
 * `--backend`, see `backend_flag.ts`) forces one of them; a forced `webgpu` also takes a
 * software adapter.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { setWasmPaths } from "@tensorflow/tfjs-backend-wasm";
import { blasUnavailableReason, loadBlas } from "./blas.ts";
import { installBlasKernels, removeBlasKernels } from "./blas_kernels.ts";
import { installWasmKernels } from "./wasm_kernels.ts";
import {
  describeAdapter,
  requestWebGPUAdapter,
  type WebGPUAdapterFacts,
} from "./webgpu_adapter.ts";

/** The backends gsae knows, fastest first. */
export const BACKEND_NAMES = [
  "node-gpu",
  "node",
  "webgpu",
  "wasm+blas",
  "wasm",
  "cpu+blas",
  "cpu",
] as const;
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
  /** Extra facts: BLAS library and threads, SIMD, the WebGPU adapter. */
  details: string;
  /** The WebGPU adapter, for `webgpu` only. */
  adapter?: WebGPUAdapterFacts;
}

let active: BackendInfo | null = null;

/**
 * Whether automatic choice may pick `webgpu` on a hardware adapter. On: the store build, SAE
 * training, evaluation and the notebooks read tensors asynchronously, which tfjs-webgpu in Deno
 * supports (its synchronous reads need a 2d canvas Deno lacks). Entry points that still read
 * synchronously say so with {@link InitBackendOptions.syncReads} and keep a CPU backend.
 */
const WEBGPU_AUTOMATIC = true;

/** Options of {@link initBackend}. */
export interface InitBackendOptions {
  /** Where the chosen backend's line goes. */
  log?: (line: string) => void;
  /**
   * Force this backend, as `GSAE_BACKEND` does (which it overrides). When another backend is
   * already active, switch to this one: tests use it to run the same computation on two
   * backends in one process; tensors move between backends when next read.
   */
  backend?: BackendName;
  /**
   * The caller reads tensors synchronously (`dataSync`), which webgpu cannot do in Deno:
   * automatic choice then passes over `webgpu` (forcing it still works, and fails at the first
   * synchronous read). For the latent browser, LM training and the `gsae` command.
   */
  syncReads?: boolean;
}

/**
 * Start the backend once per process and return what was chosen. Later calls return the same
 * (unless `options.backend` asks for another). Throws when `GSAE_BACKEND` or `options.backend`
 * names a backend that cannot start (a forced choice must not silently become another).
 */
export async function initBackend(options: InitBackendOptions = {}): Promise<BackendInfo> {
  if (active && (options.backend === undefined || options.backend === active.name)) return active;
  const forced = options.backend ?? parseBackendName(Deno.env.get("GSAE_BACKEND"), "GSAE_BACKEND");
  const source = options.backend ? "backend" : "GSAE_BACKEND";
  const candidates = forced ? [forced] : [...BACKEND_NAMES];
  const skipped: string[] = [];
  for (const name of candidates) {
    const result = name === "webgpu" && options.syncReads && !forced
      ? "not chosen automatically: this command reads tensors synchronously, which webgpu " +
        "cannot do in Deno (GSAE_BACKEND=webgpu forces it)"
      : await tryBackend(name, forced !== undefined);
    if (typeof result === "string") {
      if (forced) throw new Error(`${source}=${forced} cannot start: ${result}`);
      skipped.push(`${name}: ${result}`);
      continue;
    }
    active = { name, tfjsName: tf.getBackend(), skipped, ...result };
    options.log?.(describeBackend(active));
    return active;
  }
  throw new Error(`no TensorFlow.js backend could start:\n  ${skipped.join("\n  ")}`);
}

/**
 * `value` as a backend name; undefined for an absent or empty value. An unknown name is an
 * error naming `source` (the variable or flag it came from) and the known names.
 */
export function parseBackendName(
  value: string | undefined,
  source: string,
): BackendName | undefined {
  const name = value?.trim();
  if (!name) return undefined;
  if (!(BACKEND_NAMES as readonly string[]).includes(name)) {
    throw new Error(`${source}=${name} is not one of ${BACKEND_NAMES.join(", ")}`);
  }
  return name as BackendName;
}

/**
 * One line for logs and notebooks, e.g. `backend: wasm+blas (OpenBLAS libopenblas.so.0, 2
 * threads, SIMD)` or `backend: webgpu (adapter llvmpipe (LLVM 15.0.6, 256 bits), vendor
 * 0x10005, software)`.
 */
export function describeBackend(info: BackendInfo): string {
  return `backend: ${info.name}${info.details ? ` (${info.details})` : ""}`;
}

/**
 * The largest memory, in bytes, that tensors of the active backend can take: tfjs-wasm's heap
 * is wasm32 memory, at most 4 GiB (`getHeapMax()` in tfjs-backend-wasm: 65,535 pages of 64
 * KiB). Null where the limit is the machine's (cpu, native TensorFlow) or the device's.
 */
export function hostMemoryLimit(info: BackendInfo | null = active): number | null {
  return info?.tfjsName === "wasm" ? WASM_HEAP_MAX_BYTES : null;
}

/** tfjs-backend-wasm's `getHeapMax()`: 65,535 pages of 64 KiB. */
export const WASM_HEAP_MAX_BYTES = 4_294_901_760;

/** The backend chosen by {@link initBackend}, or null before it ran. */
export function activeBackend(): BackendInfo | null {
  return active;
}

/**
 * Whether the active backend keeps tensors in this process's memory (wasm, cpu, native
 * TensorFlow on the CPU), where reading them into arrays costs a copy at most. False on WebGPU
 * and tfjs-node-gpu: there a CPU path such as the fused SAE step would read the parameters
 * back from the device every step, so callers take the stock tfjs path instead.
 */
export function tensorsOnHost(): boolean {
  const name = active?.name;
  return name !== "webgpu" && name !== "node-gpu";
}

async function tryBackend(
  name: BackendName,
  forced: boolean,
): Promise<{ details: string; adapter?: WebGPUAdapterFacts } | string> {
  try {
    switch (name) {
      case "node-gpu":
      case "node": {
        const pkg = name === "node" ? "tfjs-node" : "tfjs-node-gpu";
        // Only a locally installed package counts: importing an absent npm package would make
        // Deno download it, and its native binary cannot install on every machine.
        const binding = new URL(
          `../../node_modules/@tensorflow/${pkg}/lib/napi-v8/tfjs_binding.node`,
          import.meta.url,
        );
        if (!(await exists(binding))) return `@tensorflow/${pkg} is not installed`;
        await import(`npm:@tensorflow/${pkg}@4.22.0`);
        if (!(await tf.setBackend("tensorflow"))) return `${pkg} backend did not start`;
        return { details: `@tensorflow/${pkg}` };
      }
      case "webgpu": {
        // Checked before asking for an adapter: a process that will not use WebGPU should not
        // start a WebGPU instance (Vulkan and Mesa's threads) it would only tear down at exit.
        if (!WEBGPU_AUTOMATIC && !forced) {
          return "not chosen automatically (GSAE_BACKEND=webgpu forces it)";
        }
        const adapter = await requestWebGPUAdapter();
        if (typeof adapter === "string") return adapter;
        if (adapter.software && !forced) {
          return `${describeAdapter(adapter)} is a software adapter; the CPU backends below ` +
            "are faster (GSAE_BACKEND=webgpu forces it)";
        }
        // Imported here, not at the top: it registers itself only where navigator.gpu exists,
        // and other backends should not pay for loading it.
        await import("@tensorflow/tfjs-backend-webgpu");
        if (!(await tf.setBackend("webgpu"))) return "webgpu backend did not start";
        return { details: describeAdapter(adapter), adapter };
      }
      case "wasm+blas": {
        const blas = loadBlas();
        if (!blas) return `OpenBLAS unavailable (${blasUnavailableReason()})`;
        const wasm = await startWasm();
        if (typeof wasm === "string") return wasm;
        installBlasKernels(blas, { backend: "wasm" });
        return { details: `OpenBLAS ${blas.library}, ${blas.threads} threads, ${wasm.details}` };
      }
      case "cpu+blas": {
        const blas = loadBlas();
        if (!blas) return `OpenBLAS unavailable (${blasUnavailableReason()})`;
        if (!(await startCpu())) return "cpu backend did not start";
        installBlasKernels(blas, { backend: "cpu" });
        return {
          details: `OpenBLAS ${blas.library}, ${blas.threads} threads; other ops in JavaScript, ` +
            "tensors in JavaScript memory (no 4 GiB wasm heap)",
        };
      }
      case "wasm": {
        const wasm = await startWasm();
        if (typeof wasm !== "string") removeBlasKernels("wasm"); // after wasm+blas
        return wasm;
      }
      case "cpu":
        if (!(await startCpu())) return "cpu backend did not start";
        removeBlasKernels("cpu"); // after cpu+blas in the same process
        return { details: "pure JavaScript, slow" };
    }
  } catch (err) {
    return (err as Error).message.split("\n")[0];
  }
}

async function startCpu(): Promise<boolean> {
  if (!(await tf.setBackend("cpu"))) return false;
  // tfjs-cpu prints "looks like you are running TensorFlow.js in Node.js ... install our node
  // backend" at its first write when it sees Deno's Node compatibility; here that package
  // cannot install, and the backend line already says what runs. `firstUse` is its flag.
  (tf.backend() as unknown as { firstUse?: boolean }).firstUse = false;
  return true;
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
