/**
 * The WebGPU adapter Deno offers, and whether it is a real GPU.
 *
 * Deno exposes `navigator.gpu` only when run with `--unstable-webgpu`. On a machine without a
 * GPU it may still offer an adapter: Mesa's llvmpipe (a software rasteriser on the CPU, through
 * the Mesa packages Debian's chromium pulls in). That adapter runs every tfjs-webgpu kernel, so
 * it is good for tests, but on a 2-core CPU it is far slower than wasm+blas, so automatic
 * backend choice must skip it.
 *
 * How a software adapter is told apart (any one suffices):
 * - `GPUAdapterInfo.isFallbackAdapter` is true: wgpu reports CPU device types (llvmpipe,
 *   lavapipe, SwiftShader, Microsoft's WARP) as fallback adapters;
 * - the vendor id is Mesa's 0x10005 (65541; llvmpipe and lavapipe) or Microsoft's 0x1414
 *   (WARP);
 * - the description names a known software renderer (llvmpipe, lavapipe, softpipe,
 *   SwiftShader, "Microsoft Basic Render Driver").
 * The vendor and name rules catch a runtime whose `isFallbackAdapter` is missing or false.
 *
 * @module
 */

/** What gsae records about a WebGPU adapter. */
export interface WebGPUAdapterFacts {
  /** `GPUAdapterInfo.description` (e.g. "llvmpipe (LLVM 15.0.6, 256 bits)"), or its device. */
  description: string;
  /** `GPUAdapterInfo.vendor`: a PCI vendor id in decimal, or a name, or empty. */
  vendor: string;
  /** `GPUAdapterInfo.architecture`, often empty. */
  architecture: string;
  /** Whether it is a software (CPU) adapter rather than a GPU; see the module notes. */
  software: boolean;
  /** Largest storage buffer binding in bytes (tfjs-webgpu binds each tensor as one). */
  maxStorageBufferBindingSize: number;
}

/** The fields of `GPUAdapterInfo` read here (Deno's types lag the spec on some of them). */
interface AdapterInfoLike {
  vendor?: string;
  architecture?: string;
  device?: string;
  description?: string;
  isFallbackAdapter?: boolean;
}

const SOFTWARE_NAMES = /llvmpipe|lavapipe|softpipe|swiftshader|basic render driver/i;
const MESA_VENDOR = 0x10005;
const MICROSOFT_VENDOR = 0x1414;

/** Whether an adapter with this info is a software adapter (see the module notes). */
export function isSoftwareAdapter(info: AdapterInfoLike): boolean {
  if (info.isFallbackAdapter === true) return true;
  const name = `${info.description ?? ""} ${info.device ?? ""}`;
  if (SOFTWARE_NAMES.test(name)) return true;
  const vendor = Number(info.vendor);
  return vendor === MESA_VENDOR || vendor === MICROSOFT_VENDOR;
}

/**
 * The adapter `navigator.gpu` offers (high-performance preference, as tfjs-backend-webgpu asks
 * for), or the reason there is none.
 */
export async function requestWebGPUAdapter(): Promise<WebGPUAdapterFacts | string> {
  const gpu = (navigator as { gpu?: GPU }).gpu;
  if (!gpu) return "navigator.gpu is missing (run deno with --unstable-webgpu)";
  const adapter = await gpu.requestAdapter({ powerPreference: "high-performance" });
  if (!adapter) return "navigator.gpu offers no adapter (no GPU driver, no Mesa)";
  const info = (adapter as { info?: AdapterInfoLike }).info ?? {};
  return {
    description: info.description || info.device || "unnamed adapter",
    vendor: info.vendor ?? "",
    architecture: info.architecture ?? "",
    software: isSoftwareAdapter(info),
    maxStorageBufferBindingSize: adapter.limits.maxStorageBufferBindingSize,
  };
}

/** One phrase, e.g. `adapter llvmpipe (LLVM 15.0.6, 256 bits), vendor 0x10005, software`. */
export function describeAdapter(a: WebGPUAdapterFacts): string {
  const vendor = /^\d+$/.test(a.vendor) ? `0x${Number(a.vendor).toString(16)}` : a.vendor;
  return [
    `adapter ${a.description}`,
    vendor ? `vendor ${vendor}` : "",
    a.architecture,
    a.software ? "software" : "GPU",
  ].filter((s) => s).join(", ");
}
