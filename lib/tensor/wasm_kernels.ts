/**
 * Hand-written TensorFlow.js kernels for the wasm backend that replace chains of stock ops in
 * GPT-2's passes: the softmax cross-entropy's loss and gradient, the gradients of gelu_new and
 * of the causal softmax of attention, the embedding lookup, and splitting q|k|v into heads.
 *
 * Autodiff through stock tfjs-wasm runs each as 5-10 kernels, each a pass over the whole tensor
 * with a freshly allocated output (for the cross-entropy over [tokens, vocabulary], also a
 * one-hot matrix cast to float32). These make one pass over the wasm heap, like
 * `blas_kernels.ts`. They do only arithmetic: exponentials stay with tfjs's Exp, Softmax and
 * Sigmoid kernels, which are about twice as fast as the best JavaScript exp measured here.
 * `ops.ts` uses them through `tf.customGrad` and keeps the stock formulation for other backends;
 * `tests/wasm_kernels_test.ts` checks both agree.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";

/** The parts of tfjs-backend-wasm's `BackendWasm` these kernels touch (not in its public types). */
export interface WasmBackendInternals {
  /** Where each tensor's bytes start in the wasm heap. */
  dataIdMap: { get(dataId: object): { memoryOffset: number } };
  /** A new tensor in the wasm heap. */
  makeOutput(shape: number[], dtype: "float32" | "int32"): tf.TensorInfo;
  /** The module: its heap. */
  wasm: { HEAPU8: Uint8Array };
}

/**
 * Float32Array views of tensors in the wasm heap. Take them only after the last `makeOutput`:
 * malloc may grow (and so replace) the heap, detaching earlier views.
 */
export function heapViews(backend: unknown): {
  f32(t: tf.TensorInfo): Float32Array;
  i32(t: tf.TensorInfo): Int32Array;
} {
  const b = backend as WasmBackendInternals;
  const heap = b.wasm.HEAPU8.buffer;
  const size = (t: tf.TensorInfo) => t.shape.reduce((a, c) => a * c, 1);
  const at = (t: tf.TensorInfo) => b.dataIdMap.get(t.dataId).memoryOffset;
  return {
    f32: (t) => new Float32Array(heap, at(t), size(t)),
    i32: (t) => new Int32Array(heap, at(t), size(t)),
  };
}

/** Kernel names, as registered on the wasm backend. */
export const KERNELS = {
  crossEntropy: "GsaeSoftmaxCrossEntropy",
  crossEntropyGrad: "GsaeSoftmaxCrossEntropyGrad",
  geluGrad: "GsaeGeluNewGrad",
  causalSoftmaxGrad: "GsaeCausalSoftmaxGrad",
  gatherRows: "GsaeGatherRows",
  takeHeads: "GsaeTakeHeads",
  putHeads: "GsaePutHeads",
} as const;

let enabled = true;

/**
 * Switch the fused kernels off (false) or back on, process-wide: `ops.ts` then takes the stock
 * formulation. For benchmarks and tests that compare the two.
 */
export function setWasmKernelsEnabled(on: boolean): void {
  enabled = on;
}

/** Whether the fused kernel `name` (one of {@link KERNELS}) is enabled on the active backend. */
export function hasKernel(name: string): boolean {
  return enabled && tf.getKernel(name, tf.getBackend()) !== undefined;
}

/** Run kernel `name` on tensors (the kernels above; outputs as the kernel returns them). */
export function runKernel(
  name: string,
  inputs: Record<string, tf.Tensor>,
  attrs: Record<string, number> = {},
): tf.Tensor[] {
  const out = tf.engine().runKernel(name, inputs as tf.NamedTensorMap, attrs);
  return Array.isArray(out) ? out as tf.Tensor[] : [out as tf.Tensor];
}

type KernelArgs = Parameters<tf.KernelFunc>[0];

/** Below this probability, −log p of the target is recomputed from the logits (see below). */
const TINY_PROBABILITY = 1e-30;

/**
 * Softmax cross-entropy from the probabilities p = softmax(logits) (tfjs's XNNPACK softmax is
 * several times faster than anything in JavaScript): loss[r] = −log p[target], one read per
 * row. Where p[target] is tiny (float32 loses precision near 1e-38 and is 0 below), the row is
 * read in full instead: logsumexp − x[target], with logsumexp = x_j − log p_j at the row's
 * argmax j (p_j ≥ 1/v, so no underflow). Inputs logits and p [n, v], int32 targets [n].
 */
function crossEntropyKernel({ inputs, backend }: KernelArgs): tf.TensorInfo {
  const { logits, probs, targets } = inputs as Record<string, tf.TensorInfo>;
  const [n, v] = logits.shape;
  const lossT = (backend as unknown as WasmBackendInternals).makeOutput([n], "float32");
  const h = heapViews(backend);
  const x = h.f32(logits), p = h.f32(probs), tgt = h.i32(targets), loss = h.f32(lossT);
  for (let r = 0; r < n; r++) {
    const target = tgt[r], o = r * v;
    if (!(target >= 0 && target < v)) {
      throw new RangeError(`cross-entropy: target ${target} of row ${r} is outside [0, ${v})`);
    }
    const pt = p[o + target];
    if (pt > TINY_PROBABILITY) {
      loss[r] = -Math.log(pt);
      continue;
    }
    let argmax = o;
    for (let j = o + 1; j < o + v; j++) if (x[j] > x[argmax]) argmax = j;
    loss[r] = x[argmax] - Math.log(p[argmax]) - x[o + target];
  }
  return lossT;
}

/** tfjs-wasm's own Identity, kept for string tensors (set by {@link installWasmKernels}). */
let stockIdentity: tf.KernelFunc | null = null;

/**
 * Identity without a copy: the output shares the input's bytes, as on tfjs's CPU backend
 * (tfjs-wasm copies). tfjs clones every tensor it saves for a backward pass, so the copies
 * cost about a tenth of an LM training step. Sharing is safe because no kernel here or in
 * tfjs-wasm writes into its inputs (each writes only a fresh `makeOutput`).
 */
function sharedIdentityKernel({ inputs, backend }: KernelArgs): tf.TensorInfo {
  const { x } = inputs as Record<string, tf.TensorInfo>;
  if (x.dtype === "string") return stockIdentity!({ inputs, backend, attrs: {} }) as tf.TensorInfo;
  (backend as unknown as { incRef(dataId: object): void }).incRef(x.dataId);
  return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
}

/** d loss / d logits = (p − one-hot(target)) · dy, from the probabilities p. */
function crossEntropyGradKernel({ inputs, backend }: KernelArgs): tf.TensorInfo {
  const { probs, targets, dy } = inputs as Record<string, tf.TensorInfo>;
  const [n, v] = probs.shape;
  const out = (backend as unknown as WasmBackendInternals).makeOutput([n, v], "float32");
  const h = heapViews(backend);
  const p = h.f32(probs), tgt = h.i32(targets), g = h.f32(dy), dx = h.f32(out);
  for (let r = 0; r < n; r++) {
    const o = r * v, scale = g[r];
    for (let j = 0; j < v; j++) dx[o + j] = p[o + j] * scale;
    dx[o + tgt[r]] = (p[o + tgt[r]] - 1) * scale;
  }
  return out;
}

const GELU_A = 2 * Math.sqrt(2 / Math.PI), GELU_B = 0.044715;

/** d gelu_new / dx · dy = (σ + x·σ(1 − σ)·2u′) · dy, with σ saved by the forward kernel. */
function geluGradKernel({ inputs, backend }: KernelArgs): tf.TensorInfo {
  const { x, sig, dy } = inputs as Record<string, tf.TensorInfo>;
  const out = (backend as unknown as WasmBackendInternals).makeOutput(x.shape, "float32");
  const h = heapViews(backend);
  const xs = h.f32(x), s = h.f32(sig), g = h.f32(dy), dx = h.f32(out);
  for (let i = 0; i < xs.length; i++) {
    const v = xs[i], sg = s[i];
    dx[i] = g[i] * (sg + v * sg * (1 - sg) * GELU_A * (1 + 3 * GELU_B * v * v));
  }
  return out;
}

/** Gradient of the causal softmax: scale · p ⊙ (dy − Σ_j dy·p), from the probabilities p. */
function causalSoftmaxGradKernel({ inputs, backend, attrs }: KernelArgs): tf.TensorInfo {
  const { probs, dy } = inputs as Record<string, tf.TensorInfo>;
  const scale = (attrs as { scale: number }).scale;
  const t = probs.shape[probs.shape.length - 1];
  const out = (backend as unknown as WasmBackendInternals).makeOutput(probs.shape, "float32");
  const h = heapViews(backend);
  const p = h.f32(probs), g = h.f32(dy), dx = h.f32(out);
  for (let o = 0; o < p.length; o += t) {
    const i = (o / t) % t;
    let dot = 0;
    for (let j = 0; j <= i; j++) dot += g[o + j] * p[o + j];
    for (let j = 0; j <= i; j++) dx[o + j] = scale * p[o + j] * (g[o + j] - dot);
    dx.fill(0, o + i + 1, o + t);
  }
  return out;
}

/** table [v, d] and int32 ids [...] → table rows [..., d] (an embedding lookup). */
function gatherRowsKernel({ inputs, backend }: KernelArgs): tf.TensorInfo {
  const { table, ids } = inputs as Record<string, tf.TensorInfo>;
  const [v, d] = table.shape;
  const out = (backend as unknown as WasmBackendInternals).makeOutput([...ids.shape, d], "float32");
  const h = heapViews(backend);
  const t = h.f32(table), index = h.i32(ids), y = h.f32(out);
  for (let i = 0; i < index.length; i++) {
    const row = index[i];
    if (!(row >= 0 && row < v)) throw new RangeError(`embedding: id ${row} is outside [0, ${v})`);
    y.set(t.subarray(row * d, (row + 1) * d), i * d);
  }
  return out;
}

/** Sizes of a fused q|k|v tensor [b, t, 3·heads·hd] and one part of it. */
function headSizes(shape: number[], attrs: unknown) {
  const { part, heads } = attrs as { part: number; heads: number };
  const [b, t, width] = shape;
  return { b, t, width, heads, hd: width / 3 / heads, part };
}

/** Part `part` (0 q, 1 k, 2 v) of qkv [b, t, 3d] as heads [b, heads, t, hd]. */
function takeHeadsKernel({ inputs, backend, attrs }: KernelArgs): tf.TensorInfo {
  const { x } = inputs as Record<string, tf.TensorInfo>;
  const { b, t, width, heads, hd, part } = headSizes(x.shape, attrs);
  const out = (backend as unknown as WasmBackendInternals).makeOutput([b, heads, t, hd], "float32");
  const h = heapViews(backend);
  const src = h.f32(x), dst = h.f32(out);
  for (let s = 0; s < b; s++) {
    for (let i = 0; i < t; i++) {
      const from = (s * t + i) * width + part * heads * hd;
      for (let k = 0; k < heads; k++) {
        const to = ((s * heads + k) * t + i) * hd, at = from + k * hd;
        for (let j = 0; j < hd; j++) dst[to + j] = src[at + j];
      }
    }
  }
  return out;
}

/** Gradient of {@link takeHeadsKernel}: dy [b, heads, t, hd] into part `part` of zeros [b, t, 3d]. */
function putHeadsKernel({ inputs, backend, attrs }: KernelArgs): tf.TensorInfo {
  const { dy } = inputs as Record<string, tf.TensorInfo>;
  const [b, heads, t, hd] = dy.shape;
  const width = 3 * heads * hd;
  const out = (backend as unknown as WasmBackendInternals).makeOutput([b, t, width], "float32");
  const h = heapViews(backend);
  const src = h.f32(dy), dst = h.f32(out);
  const part = (attrs as { part: number }).part;
  dst.fill(0);
  for (let s = 0; s < b; s++) {
    for (let i = 0; i < t; i++) {
      const to = (s * t + i) * width + part * heads * hd;
      for (let k = 0; k < heads; k++) {
        const from = ((s * heads + k) * t + i) * hd, at = to + k * hd;
        for (let j = 0; j < hd; j++) dst[at + j] = src[from + j];
      }
    }
  }
  return out;
}

let installed = false;

/** Register the kernels on the wasm backend (idempotent). Call after `tf.setBackend("wasm")`. */
export function installWasmKernels(): void {
  if (installed) return;
  const kernels: [string, tf.KernelFunc][] = [
    [KERNELS.crossEntropy, crossEntropyKernel as tf.KernelFunc],
    [KERNELS.crossEntropyGrad, crossEntropyGradKernel as tf.KernelFunc],
    [KERNELS.geluGrad, geluGradKernel as tf.KernelFunc],
    [KERNELS.causalSoftmaxGrad, causalSoftmaxGradKernel as tf.KernelFunc],
    [KERNELS.gatherRows, gatherRowsKernel as tf.KernelFunc],
    [KERNELS.takeHeads, takeHeadsKernel as tf.KernelFunc],
    [KERNELS.putHeads, putHeadsKernel as tf.KernelFunc],
  ];
  for (const [kernelName, kernelFunc] of kernels) {
    tf.registerKernel({ kernelName, backendName: "wasm", kernelFunc });
  }
  const stock = tf.getKernel("Identity", "wasm") as tf.KernelConfig | undefined;
  if (stock) {
    stockIdentity = stock.kernelFunc;
    tf.unregisterKernel("Identity", "wasm");
    tf.registerKernel({
      kernelName: "Identity",
      backendName: "wasm",
      kernelFunc: sharedIdentityKernel as tf.KernelFunc,
    });
  }
  installed = true;
}
