/**
 * The few tensor operations GPT-2 and the SAEs need beyond stock tfjs, each chosen for speed on
 * the wasm backend (where, for example, a matMul with a transpose flag is 20–40× slower than an
 * explicit transpose and a plain matMul) with exact gradients.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { activeBackend, tensorsOnHost } from "./backend.ts";
import { hasKernel, KERNELS, runKernel } from "./wasm_kernels.ts";

/**
 * Batched matmul, `op(a) · op(b)` over the last two axes.
 *
 * On stock tfjs-wasm a matmul with a transpose flag is 20-40× slower than transposing first,
 * and tfjs expresses every matmul gradient with transpose flags. There this wraps the product
 * in a custom gradient that transposes explicitly. Every other backend (wasm+blas passes the
 * flags to BLAS for free) uses `tf.matMul` as it is.
 */
export function matMul<T extends tf.Tensor>(
  a: T,
  b: tf.Tensor,
  transposeA = false,
  transposeB = false,
): T {
  if (activeBackend()?.name !== "wasm") return tf.matMul(a, b, transposeA, transposeB) as T;
  return explicitTransposeMatMul(a, b, transposeA, transposeB) as T;
}

function swapLast(t: tf.Tensor): tf.Tensor {
  const perm = t.shape.map((_, i) => i);
  const r = perm.length;
  [perm[r - 2], perm[r - 1]] = [perm[r - 1], perm[r - 2]];
  return tf.transpose(t, perm);
}

function plainProduct(a: tf.Tensor, b: tf.Tensor, transposeA: boolean, transposeB: boolean) {
  return tf.matMul(transposeA ? swapLast(a) : a, transposeB ? swapLast(b) : b);
}

/** `matMul` whose forward and backward passes use only untransposed products. */
export function explicitTransposeMatMul(
  a: tf.Tensor,
  b: tf.Tensor,
  transposeA = false,
  transposeB = false,
): tf.Tensor {
  const f = tf.customGrad((x, y, save) => {
    const [xa, yb] = [x as tf.Tensor, y as tf.Tensor];
    (save as tf.GradSaveFunc)([xa, yb]);
    return {
      value: plainProduct(xa, yb, transposeA, transposeB),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [sa, sb] = saved;
        // d(A·B): dA = dy·Bᵀ, dB = Aᵀ·dy, adjusted for the transposes used in the forward pass.
        let da = transposeA
          ? plainProduct(sb, dy, transposeB, true)
          : plainProduct(dy, sb, false, !transposeB);
        let db = transposeB
          ? plainProduct(dy, sa, true, transposeA)
          : plainProduct(sa, dy, !transposeA, false);
        da = reduceToShape(da, sa.shape);
        db = reduceToShape(db, sb.shape);
        return [da, db];
      },
    };
  });
  return f(a, b);
}

/** Sum leading broadcast axes away so a gradient has its input's shape. */
function reduceToShape(g: tf.Tensor, shape: number[]): tf.Tensor {
  if (g.rank === shape.length) return g;
  const extra = g.rank - shape.length;
  return tf.sum(g, [...Array(extra).keys()]);
}

/**
 * `x · w + b` for x of any rank ≥ 2 against a 2-D weight (Conv1D layout, [in, out]).
 * Flattens to 2-D first: tfjs returns a wrongly shaped gradient for the 2-D side of a 3-D × 2-D
 * matmul.
 */
export function linear(x: tf.Tensor, w: tf.Tensor, b?: tf.Tensor): tf.Tensor {
  const lead = x.shape.slice(0, -1) as number[];
  const y = matMul(x.reshape([-1, x.shape[x.rank - 1]!]), w);
  return (b ? tf.add(y, b) : y).reshape([...lead, w.shape[1]!]);
}

/**
 * GPT-2's `gelu_new`: 0.5·x·(1 + tanh(√(2/π)(x + 0.044715x³))), computed as x·sigmoid(2u),
 * which is exactly equal and about 7× cheaper on wasm than tanh. On wasm the gradient is one
 * fused kernel (`wasm_kernels.ts`) instead of autodiff through seven elementwise ops.
 */
export function geluNew(x: tf.Tensor): tf.Tensor {
  const sigmoidOf2u = (v: tf.Tensor) => {
    const cube = tf.mul(tf.mul(v, v), v);
    return tf.sigmoid(tf.mul(tf.add(v, tf.mul(cube, 0.044715)), 2 * Math.sqrt(2 / Math.PI)));
  };
  if (!hasKernel(KERNELS.geluGrad)) return tf.tidy(() => tf.mul(x, sigmoidOf2u(x)));
  const f = tf.customGrad((input, save) => {
    const sig = sigmoidOf2u(input as tf.Tensor);
    (save as tf.GradSaveFunc)([input as tf.Tensor, sig]);
    return {
      value: tf.mul(input as tf.Tensor, sig),
      gradFunc: (dy: tf.Tensor, [sx, ssig]: tf.Tensor[]) =>
        runKernel(KERNELS.geluGrad, { x: sx, sig: ssig, dy }),
    };
  });
  return f(x);
}

/**
 * Causal attention weights: softmax over the last axis of `scores`·`scale` + `mask`, the
 * additive causal mask [t, t] (0 on and below the diagonal, a large negative above). On wasm the
 * gradient is one fused kernel instead of autodiff through softmax, scale and mask.
 */
export function causalSoftmax(scores: tf.Tensor, scale: number, mask: tf.Tensor): tf.Tensor {
  const forward = (s: tf.Tensor) => tf.softmax(tf.add(tf.mul(s, scale), mask));
  if (!hasKernel(KERNELS.causalSoftmaxGrad)) return forward(scores);
  const f = tf.customGrad((input, save) => {
    const p = forward(input as tf.Tensor);
    (save as tf.GradSaveFunc)([p]);
    return {
      value: p,
      gradFunc: (dy: tf.Tensor, [sp]: tf.Tensor[]) =>
        runKernel(KERNELS.causalSoftmaxGrad, { probs: sp, dy }, { scale }),
    };
  });
  return f(scores);
}

/** LayerNorm over the last axis with weight `g` and bias `b` (biased variance, like PyTorch). */
export function layerNorm(x: tf.Tensor, g: tf.Tensor, b: tf.Tensor, eps: number): tf.Tensor {
  return tf.tidy(() => {
    const axis = x.rank - 1;
    const mean = tf.mean(x, axis, true);
    const centred = tf.sub(x, mean);
    const variance = tf.mean(tf.mul(centred, centred), axis, true);
    return tf.add(tf.mul(tf.mul(centred, tf.rsqrt(tf.add(variance, eps))), g), b);
  });
}

/**
 * Per-row cross-entropy −log softmax(logits)[target] for logits [N, V] and int32 targets [N].
 *
 * A custom gradient (softmax − one-hot) avoids tfjs's gather gradient, which needs a kernel
 * the wasm backend lacks. On wasm, tfjs's (SIMD) softmax plus fused kernels (`wasm_kernels.ts`)
 * give the loss and reuse the probabilities in the gradient, never building a one-hot matrix.
 */
export function crossEntropy(logits: tf.Tensor2D, targets: tf.Tensor1D): tf.Tensor1D {
  if (hasKernel(KERNELS.crossEntropy)) {
    const f = tf.customGrad((l, save) => {
      const t = targets.toInt();
      const probs = tf.softmax(l as tf.Tensor);
      const [loss] = runKernel(KERNELS.crossEntropy, { logits: l as tf.Tensor, probs, targets: t });
      // Saved tensors outlive the caller's tidy, which the gradient pass may run after.
      (save as tf.GradSaveFunc)([probs, t]);
      return {
        value: loss,
        gradFunc: (dy: tf.Tensor, [sp, st]: tf.Tensor[]) =>
          runKernel(KERNELS.crossEntropyGrad, { probs: sp, targets: st, dy }),
      };
    });
    return f(logits) as tf.Tensor1D;
  }
  const [n, v] = logits.shape;
  const f = tf.customGrad((l, save) => {
    const x = l as tf.Tensor2D;
    const lse = tf.logSumExp(x, 1);
    const t = targets.toInt();
    const flat = tf.add(tf.mul(tf.range(0, n, 1, "int32"), tf.scalar(v, "int32")), t);
    const picked = tf.gather(x.reshape([n * v]), flat);
    // Saved tensors outlive the caller's tidy, which the gradient pass may run after.
    (save as tf.GradSaveFunc)([x, lse, t]);
    return {
      value: tf.sub(lse, picked),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [sx, slse, st] = saved;
        const softmax = tf.exp(tf.sub(sx, slse.reshape([n, 1])));
        const grad = tf.sub(softmax, tf.oneHot(st as tf.Tensor1D, v));
        return [tf.mul(grad, dy.reshape([n, 1]))];
      },
    };
  });
  return f(logits) as tf.Tensor1D;
}

/**
 * Embedding lookup `table[ids]` for int32 ids of any shape, with a gradient that scatter-adds
 * rows in JavaScript: tfjs's gather gradient needs `UnsortedSegmentSum`, which the wasm backend
 * lacks, and a one-hot matmul would cost vocab × tokens memory. On a GPU backend (webgpu) the
 * gradient is `UnsortedSegmentSum` on the device: reading tensors synchronously is not possible
 * there (tfjs-webgpu's sync read needs a 2d canvas, which Deno lacks).
 */
export function embeddingLookup(table: tf.Tensor, ids: tf.Tensor): tf.Tensor {
  const [vocab, d] = table.shape;
  const f = tf.customGrad((t, save) => {
    const idsInt = ids.toInt();
    (save as tf.GradSaveFunc)([idsInt]);
    return {
      value: hasKernel(KERNELS.gatherRows)
        ? runKernel(KERNELS.gatherRows, { table: t as tf.Tensor, ids: idsInt })[0]
        : tf.gather(t as tf.Tensor2D, idsInt),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        if (!tensorsOnHost()) {
          return [tf.unsortedSegmentSum(dy.reshape([-1, d]), saved[0].flatten(), vocab)];
        }
        // Host backends only (above): a gradient function is synchronous, and on wasm this
        // scatter-add beats tfjs' UnsortedSegmentSum.
        const index = saved[0].dataSync();
        const upstream = dy.dataSync();
        const grad = new Float32Array(vocab * d);
        for (let i = 0; i < index.length; i++) {
          const row = index[i] * d, src = i * d;
          for (let j = 0; j < d; j++) grad[row + j] += upstream[src + j];
        }
        return [tf.tensor2d(grad, [vocab, d])];
      },
    };
  });
  return f(table);
}

/**
 * Split the fused attention input qkv [b, t, 3·heads·hd] into q, k and v as heads
 * [b, heads, t, hd]. On wasm one copy kernel per part (tfjs-wasm's split and transpose copy the
 * whole input once per piece); elsewhere split, reshape and transpose.
 */
export function splitHeads(qkv: tf.Tensor, heads: number): [tf.Tensor, tf.Tensor, tf.Tensor] {
  const [b, t, width] = qkv.shape;
  const hd = width / 3 / heads;
  if (!hasKernel(KERNELS.takeHeads)) {
    const parts = tf.split(qkv, 3, 2);
    return parts.map((z) => z.reshape([b, t, heads, hd]).transpose([0, 2, 1, 3])) as [
      tf.Tensor,
      tf.Tensor,
      tf.Tensor,
    ];
  }
  const take = (part: number) =>
    tf.customGrad((x) => ({
      value: runKernel(KERNELS.takeHeads, { x: x as tf.Tensor }, { part, heads })[0],
      gradFunc: (dy: tf.Tensor) => runKernel(KERNELS.putHeads, { dy }, { part })[0],
    }))(qkv);
  return [take(0), take(1), take(2)];
}

/**
 * `fn(x)` as a constant on the gradient tape: no op inside `fn` is recorded and the gradient
 * with respect to `x` is zero (tfjs has no stop-gradient op). For backends that cannot rebuild
 * a tensor from its values synchronously (webgpu); on the others a fresh tensor from
 * `dataSync()` does the same. Intermediates of `fn` are released.
 */
export function constantOf<T extends tf.Tensor>(x: tf.Tensor, fn: (x: tf.Tensor) => T): T {
  const f = tf.customGrad((input) => {
    const i = input as tf.Tensor;
    return { value: tf.tidy(() => fn(i)), gradFunc: () => tf.zeros(i.shape) };
  });
  return f(x) as T;
}
