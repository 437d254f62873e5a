/**
 * e2e-TopK's KL term, KL(p_clean ‖ p_spliced) averaged over positions, with the spliced
 * activation run through the frozen model from the hook: in one pass where it fits, or in pieces
 * for GPT-2's shapes, whose backward pass from the 50,257-way unembedding through the blocks
 * after the hook on a 1,024-token window does not fit tfjs-wasm's 4 GiB heap.
 *
 * The pieces: windows in groups (`windowsPerGradientPass`), the blocks in segments
 * (`layersPerGradientPass`, gradient checkpointing) and the KL over chunks of positions
 * (`positionsPerKLPass`). A forward pass without gradient keeps each segment's input and the
 * final residual stream; the backward pass takes ∂KL/∂(final residual) one chunk of positions at
 * a time (positions are independent after the last block), then back-propagates it through the
 * segments from the top down by vector-Jacobian products, recomputing each segment. The value
 * and gradient equal the one-pass ones up to float32 summation order; the extra cost is a second
 * forward pass through the segments. Where every limit covers the whole batch (the embedded
 * models) the one-pass code runs, unchanged.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import {
  layersPerGradientPass,
  positionsPerKLPass,
  windowsPerGradientPass,
} from "../gpt2/config.ts";
import { hookName, type HookState } from "../gpt2/hooks.ts";
import type { GPT2 } from "../gpt2/model.ts";
import { backwardThroughSegments, forwardKeepingInputs } from "../gpt2/checkpointing.ts";
import { klDivergence } from "../metrics/divergence.ts";

/** Where the splice happens and what the clean model predicted. */
export interface SplicedKLInput {
  /** The hook the SAE writes. */
  hook: string;
  /** The clean state at the hook; its `activation` is replaced, its `residual` kept. */
  state: HookState;
  /** Clean next-token log-probabilities [batch·(seq − 1), vocab]. */
  cleanLogProbs: tf.Tensor2D;
}

/** Limits of one pass (defaults from `config.ts`); tests set them small to force the pieces. */
export interface SplicedKLLimits {
  /** Windows per backward pass through the blocks. */
  windowsPerPass?: number;
  /** Blocks per backward pass. */
  layersPerPass?: number;
  /** Positions per backward pass from the KL. */
  positionsPerPass?: number;
}

/**
 * Mean over positions of KL(p_clean ‖ p_spliced) when `activation` [batch, seq, d] replaces the
 * hook's activation; a scalar, differentiable with respect to `activation` (call inside the
 * gradient, as e2e-TopK's loss does).
 */
export function splicedKL(
  model: GPT2,
  activation: tf.Tensor3D,
  options: SplicedKLInput & SplicedKLLimits,
): tf.Scalar {
  const [b, t] = activation.shape;
  const { layer } = model.parseHook(options.hook);
  const c = model.config;
  const windows = options.windowsPerPass ?? windowsPerGradientPass(c, b);
  const layers = options.layersPerPass ?? layersPerGradientPass(c, windows);
  const positions = options.positionsPerPass ?? positionsPerKLPass(c, b * (t - 1));
  if (windows >= b && layers >= c.n_layer - layer && positions >= b * (t - 1)) {
    return onePass(model, activation, options);
  }
  return inPieces(model, activation, { ...options, windows, layers, positions });
}

/** The whole batch in one pass: e2e-TopK's loss as it always was. */
function onePass(model: GPT2, activation: tf.Tensor3D, o: SplicedKLInput): tf.Scalar {
  const [b, t, d] = activation.shape;
  const h = model.runFromHook(o.hook, { ...o.state, activation });
  const logits = model.unembed(h.slice([0, 0, 0], [b, t - 1, d]));
  const logQ = tf.logSoftmax(logits.reshape([b * (t - 1), logits.shape[2]])) as tf.Tensor2D;
  return tf.mean(klDivergence(o.cleanLogProbs, logQ)) as tf.Scalar;
}

interface Pieces extends SplicedKLInput {
  windows: number;
  layers: number;
  positions: number;
}

function inPieces(model: GPT2, activation: tf.Tensor3D, o: Pieces): tf.Scalar {
  const [b, t] = activation.shape;
  const groups: number[] = [];
  for (let w = 0; w < b; w += o.windows) groups.push(w);
  const rows = b * (t - 1);
  const f = tf.customGrad((a, save) => {
    const x = a as tf.Tensor3D;
    const kept: tf.Tensor[] = [];
    let sum = tf.scalar(0);
    for (const w0 of groups) {
      const group = windowGroup(model, x, { ...o, w0 });
      kept.push(...group.inputs, group.final);
      const next = tf.add(sum, group.klSum) as tf.Scalar;
      tf.dispose([sum, group.klSum]);
      sum = next;
    }
    // Saved for the backward pass (tfjs keeps a clone and frees it after the gradient).
    (save as tf.GradSaveFunc)(kept);
    tf.dispose(kept);
    return {
      value: tf.div(sum, rows) as tf.Scalar,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const perGroup = segmentCount(model, o) + 1; // each segment's input, then the final
        const scale = tf.div(dy, rows) as tf.Scalar;
        const grads = groups.map((w0, g) => {
          const own = saved.slice(g * perGroup, (g + 1) * perGroup) as tf.Tensor3D[];
          const group = { ...o, w0, inputs: own.slice(0, -1), final: own.at(-1)! };
          return groupGradient(model, group, { scale });
        });
        return grads.length === 1 ? grads[0] : tf.concat(grads, 0);
      },
    };
  });
  return f(activation) as tf.Scalar;
}

/**
 * The segments of blocks after the hook: where the first starts (the hook itself, or the next
 * block's resid_pre after a resid_post hook, where the hook's own block has nothing left to
 * compute) and each segment's first block. No segments after the last block's resid_post.
 */
function segmentPlan(model: GPT2, o: { hook: string; layers: number }) {
  const n = model.config.n_layer;
  const { layer, kind } = model.parseHook(o.hook);
  const first = kind === "resid_post" ? layer + 1 : layer;
  const hook = kind === "resid_post" ? hookName(Math.min(first, n - 1), "resid_pre") : o.hook;
  const starts: number[] = [];
  for (let s = first; s < n; s += o.layers) starts.push(s);
  return { hook, starts };
}

function segmentCount(model: GPT2, o: { hook: string; layers: number }): number {
  return segmentPlan(model, o).starts.length;
}

/** Segment `k` of the blocks on `x`, this group's windows: its last block's resid_post. */
function runSegment(
  model: GPT2,
  x: tf.Tensor3D,
  o: { hook: string; layers: number; state: HookState; k: number; w0: number },
): tf.Tensor3D {
  const { hook, starts } = segmentPlan(model, o);
  const end = o.k + 1 < starts.length ? starts[o.k + 1] : model.config.n_layer;
  if (o.k > 0) {
    return model.runFromHook(hookName(starts[o.k], "resid_pre"), { activation: x }, {
      throughLayer: end - 1,
    });
  }
  const residual = o.state.residual && windowsOf(o.state.residual, o.w0, x.shape[0]);
  return model.runFromHook(hook, { activation: x, residual }, { throughLayer: end - 1 });
}

function windowsOf(x: tf.Tensor3D, w0: number, n: number): tf.Tensor3D {
  return x.slice([w0, 0, 0], [n, x.shape[1], x.shape[2]]);
}

/**
 * Forward pass without gradient over windows `w0` … of `x`: each segment's input (the first is
 * the group's slice of `x`), the final residual and the group's summed KL over positions.
 */
function windowGroup(model: GPT2, x: tf.Tensor3D, o: Pieces & { w0: number }) {
  const n = Math.min(o.windows, x.shape[0] - o.w0);
  // No segments when the hook is the last block's resid_post: then `final` is the slice.
  const { inputs, output: final } = forwardKeepingInputs(
    windowsOf(x, o.w0, n),
    (k, input) => runSegment(model, input, { ...o, k }),
    { count: segmentCount(model, o) },
  );
  let klSum = tf.scalar(0) as tf.Scalar;
  forChunks(final, o, (h, clean) => {
    const next = tf.tidy(() => tf.add(klSum, tf.sum(klDivergence(clean, logProbs(model, h)))));
    klSum.dispose();
    klSum = next as tf.Scalar;
  });
  return { inputs, final, klSum };
}

/** Log-probabilities of the next token at positions `h` [1, p, d]: [p, vocab]. */
function logProbs(model: GPT2, h: tf.Tensor3D): tf.Tensor2D {
  const logits = model.unembed(h);
  return tf.logSoftmax(logits.reshape([h.shape[1], logits.shape[2]])) as tf.Tensor2D;
}

/**
 * Calls `each` on chunks of the positions with a next token of `final` (this group's windows
 * from `w0`), as [1, p, d], with the matching rows of the clean log-probabilities. Disposes the
 * chunks after each call.
 */
function forChunks(
  final: tf.Tensor3D,
  o: { positions: number; w0: number; cleanLogProbs: tf.Tensor2D },
  each: (h: tf.Tensor3D, clean: tf.Tensor2D, index: number) => void,
): void {
  const [n, t, d] = final.shape;
  const rows = n * (t - 1), first = o.w0 * (t - 1), vocab = o.cleanLogProbs.shape[1];
  const flat = tf.tidy(() => final.slice([0, 0, 0], [n, t - 1, d]).reshape([rows, d]));
  try {
    for (let r = 0, i = 0; r < rows; r += o.positions, i++) {
      const p = Math.min(o.positions, rows - r);
      const h = tf.tidy(() => flat.slice([r, 0], [p, d]).reshape([1, p, d])) as tf.Tensor3D;
      const clean = o.cleanLogProbs.slice([first + r, 0], [p, vocab]);
      try {
        each(h, clean, i);
      } finally {
        tf.dispose([h, clean]);
      }
    }
  } finally {
    flat.dispose();
  }
}

/**
 * ∂(scale · Σ KL)/∂(the group's slice of the activation): ∂/∂(final residual) one chunk of
 * positions at a time, then back through the segments from the top down.
 */
function groupGradient(
  model: GPT2,
  o: Pieces & { w0: number; inputs: tf.Tensor3D[]; final: tf.Tensor3D },
  s: { scale: tf.Scalar },
): tf.Tensor3D {
  const [n, t, d] = o.final.shape;
  const chunks: tf.Tensor2D[] = [];
  forChunks(o.final, o, (h, clean) => {
    const [g] = gradsInBackward(
      (hc) => tf.mul(tf.sum(klDivergence(clean, logProbs(model, hc as tf.Tensor3D))), s.scale),
      [h],
    );
    chunks.push(g.reshape([h.shape[1], d]));
    g.dispose();
  });
  const above = tf.tidy(() => {
    const g = tf.concat(chunks, 0).reshape([n, t - 1, d]);
    return tf.concat([g, tf.zeros([n, 1, d])], 1) as tf.Tensor3D; // the last position has no KL
  });
  tf.dispose(chunks);
  return backwardThroughSegments(o.inputs, (k, x) => runSegment(model, x, { ...o, k }), {
    above,
    vjp: (f, x, dy) => gradsInBackward((y) => f(y as tf.Tensor3D), [x], dy)[0] as tf.Tensor3D,
  });
}

/**
 * `tf.grads` called from inside a custom gradient's backward pass. tfjs keeps one tape: a
 * gradient started while the outer one back-propagates (its depth back at 0) would replace the
 * outer tape, then set it to null when done, and the outer pass would fail on freeing its saved
 * tensors. The outer tape is put back afterwards.
 */
function gradsInBackward(
  f: (x: tf.Tensor) => tf.Tensor,
  xs: tf.Tensor[],
  dy?: tf.Tensor,
): tf.Tensor[] {
  const state = tf.engine().state;
  const outer = state.activeTape;
  try {
    return tf.grads((...a: tf.Tensor[]) => f(a[0]))(xs, dy);
  } finally {
    state.activeTape = outer;
  }
}
