/**
 * GPT-2 in TensorFlow.js, with TransformerLens-style hook points.
 *
 * Each block reads as GPT-2 writes it, x = x + attn(ln_1(x)); x = x + mlp(ln_2(x)), with five
 * named hook points on the way (`hooks.ts`):
 *   blocks.i.hook_resid_pre  → attn_out = Attn(LN1(resid_pre))   blocks.i.hook_attn_out
 *   blocks.i.hook_resid_mid  = resid_pre + attn_out
 *   blocks.i.hook_mlp_out    = MLP(LN2(resid_mid))
 *   blocks.i.hook_resid_post = resid_mid + mlp_out               (= resid_pre of block i+1)
 * The model can run to a hook, run on from a hook with a replacement activation (a splice,
 * without recomputing earlier layers), and give the exact gradient of the next-token loss with
 * respect to the activation at one hook or at several hooks at once, back-propagating only
 * through the layers after the hook.
 *
 * Parameters are kept under Hugging Face's names without the `transformer.` prefix
 * (`wte.weight`, `h.0.attn.c_attn.weight`, …), Conv1D weights as [in, out] (`params.ts`).
 *
 * Why one module (about 650 lines, half of them the hook gradients' memory-bounded passes): the
 * whole model (embedding, blocks, hooks, splice, hook gradients) in one readable file, as nanoGPT
 * keeps it; the parameters are in `params.ts`, the hook names in `hooks.ts` and the gradient
 * checkpointing rule in `checkpointing.ts`.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import {
  causalSoftmax,
  constantOf,
  crossEntropy,
  embeddingLookup,
  geluNew,
  layerNorm,
  linear,
  matMul,
  splitHeads,
} from "../tensor/ops.ts";
import { type GPT2Config, positionsPerKLPass } from "./config.ts";
import { backwardThroughSegments, forwardKeepingInputs } from "./checkpointing.ts";
import {
  HOOK_KINDS,
  type HookFn,
  type HookGradient,
  type HookKind,
  hookName,
  type HookPoint,
  hookPoints,
  type HookState,
  parseHook,
  type Pass,
  RESIDUAL_OF,
} from "./hooks.ts";
import {
  type Affine,
  type BlockParams,
  blockParams,
  expectedShapes,
  randomParams,
} from "./params.ts";

export {
  HOOK_KINDS,
  type HookFn,
  type HookGradient,
  type HookKind,
  hookName,
  type HookState,
} from "./hooks.ts";

/** GPT-2 (pre-LayerNorm blocks, causal attention, gelu_new MLP, ln_f, tied unembedding). */
export class GPT2 {
  /** Hyperparameters. */
  readonly config: GPT2Config;
  /** Parameters by Hugging Face name (no `transformer.` prefix): what loaders and optimisers see. */
  readonly params: Map<string, tf.Variable>;
  /** The same parameters per block, typed. */
  readonly blocks: BlockParams[];
  #masks = new Map<number, tf.Tensor2D>();

  /** Wrap existing parameters; {@link GPT2.random} and `loadGPT2` make them. */
  constructor(config: GPT2Config, params: Map<string, tf.Variable>) {
    this.config = config;
    this.params = params;
    for (const [name, shape] of expectedShapes(config)) {
      const p = params.get(name);
      if (!p) throw new Error(`GPT2: missing parameter ${name}`);
      if (!tf.util.arraysEqual(p.shape, shape)) {
        throw new Error(`GPT2: parameter ${name} has shape [${p.shape}], expected [${shape}]`);
      }
    }
    this.blocks = Array.from(
      { length: config.n_layer },
      (_, i) => blockParams((n) => this.p(n), i),
    );
  }

  /** A randomly initialised model (GPT-2's scheme, see `randomParams`). */
  static random(config: GPT2Config, seed: number, std = 0.02): GPT2 {
    return new GPT2(config, randomParams(config, seed, std));
  }

  /** Every hook name, in forward order. */
  hookNames(): string[] {
    const names: string[] = [];
    for (let i = 0; i < this.config.n_layer; i++) {
      for (const k of HOOK_KINDS) names.push(hookName(i, k));
    }
    return names;
  }

  /** Parse and check a hook name; the error lists the valid forms. */
  parseHook(name: string): { layer: number; kind: HookKind } {
    return parseHook(name, this.config.n_layer);
  }

  /** Token plus position embeddings for int32 ids [batch, seq]. */
  embed(ids: tf.Tensor2D): tf.Tensor3D {
    const [, t] = ids.shape;
    if (t > this.config.n_positions) {
      throw new Error(
        `sequence of ${t} tokens exceeds the model's ${this.config.n_positions} positions`,
      );
    }
    return tf.tidy(() => {
      const tok = embeddingLookup(this.p("wte.weight"), ids);
      const pos = this.p("wpe.weight").slice([0, 0], [t, this.config.n_embd]);
      return tf.add(tok, pos) as tf.Tensor3D;
    });
  }

  /**
   * Full forward pass to logits [batch, seq, vocab]. `hooks` replace activations (run-with-hooks);
   * `cache` lists hooks whose (possibly replaced) activations are returned.
   */
  forward(
    ids: tf.Tensor2D,
    options: { hooks?: Record<string, HookFn>; cache?: string[] } = {},
  ): { logits: tf.Tensor3D; cache: Map<string, tf.Tensor3D> } {
    const cache = new Map<string, tf.Tensor3D>();
    const logits = tf.tidy(() => {
      const h = this.finalResidual(ids, { ...options, cacheInto: cache });
      for (const t of cache.values()) tf.keep(t);
      return this.unembed(h);
    });
    return { logits, cache };
  }

  /**
   * The residual stream after the last block (before ln_f), [batch, seq, d]. Differentiable
   * with respect to the parameters; used for training. Options as in {@link forward}, with
   * cached activations put in `cacheInto`.
   */
  finalResidual(
    ids: tf.Tensor2D,
    options: {
      hooks?: Record<string, HookFn>;
      cache?: string[];
      cacheInto?: Map<string, tf.Tensor3D>;
    } = {},
  ): tf.Tensor3D {
    return this.#run(this.embed(ids), 0, options);
  }

  /** Mean next-token cross-entropy over every position of every sequence (a scalar). */
  meanLoss(ids: tf.Tensor2D): tf.Scalar {
    return tf.mean(this.tokenLosses(ids, this.finalResidual(ids)));
  }

  /** Run to `hook` and stop there, returning its activation (and residual, see {@link HookState}). */
  runToHook(ids: tf.Tensor2D, hook: string): HookState {
    const { layer, kind } = this.parseHook(hook);
    return tf.tidy(() => {
      const reached: Partial<Record<HookKind, tf.Tensor3D>> = {};
      this.#run(this.embed(ids), 0, { stop: { layer, kind, reached } });
      const activation = reached[kind]!;
      const residualKind = RESIDUAL_OF[kind];
      return residualKind ? { activation, residual: reached[residualKind]! } : { activation };
    });
  }

  /**
   * Run on from `hook` with `activation` in place of the model's own (a splice) and return the
   * final residual stream [batch, seq, d] (before ln_f). Needs `state.residual` for attn_out and
   * mlp_out hooks. Hooks in `options` apply after the splice point. Differentiable with respect to
   * `activation`. With `throughLayer` it stops after that block and returns its resid_post (one
   * segment of a checkpointed pass, as e2e-TopK's chunked KL takes it).
   */
  runFromHook(
    hook: string,
    state: HookState,
    options: { hooks?: Record<string, HookFn>; ownTokenGradient?: boolean; throughLayer?: number } =
      {},
  ): tf.Tensor3D {
    const { layer, kind } = this.parseHook(hook);
    if (RESIDUAL_OF[kind] && !state.residual) {
      throw new Error(
        `running from ${hook} needs the residual it is added to (runToHook gives it)`,
      );
    }
    const { throughLayer, ...pass } = options;
    if (throughLayer === undefined) {
      return this.#run(state.activation, layer, { ...pass, start: { layer, kind, state } });
    }
    if (
      !(Number.isInteger(throughLayer) && throughLayer >= layer &&
        throughLayer < this.config.n_layer)
    ) {
      throw new Error(
        `runFromHook: throughLayer must be a block from ${layer} to ${
          this.config.n_layer - 1
        }, got ${throughLayer}`,
      );
    }
    const stop = { layer: throughLayer, kind: "resid_post" as const, reached: {} };
    return this.#run(state.activation, layer, { ...pass, start: { layer, kind, state }, stop });
  }

  /** ln_f then the tied unembedding: final residual [batch, seq, d] → logits [batch, seq, vocab]. */
  unembed(h: tf.Tensor3D): tf.Tensor3D {
    return tf.tidy(() => {
      const [b, t, d] = h.shape;
      const x = this.#layerNorm(h, { weight: this.p("ln_f.weight"), bias: this.p("ln_f.bias") });
      return matMul(x.reshape([b * t, d]), this.p("wte.weight"), false, true)
        .reshape([b, t, this.config.vocab_size]);
    });
  }

  /**
   * Next-token cross-entropy per position, [batch, seq − 1], from the final residual stream.
   * `targets` [batch, seq − 1] defaults to the next input token (ids shifted by one).
   */
  tokenLosses(ids: tf.Tensor2D, finalResidual: tf.Tensor3D, targets?: tf.Tensor2D): tf.Tensor2D {
    return tf.tidy(() => {
      const [b, t, d] = finalResidual.shape;
      // Only positions with a target: drop the last before the (costly) unembedding.
      const h = finalResidual.slice([0, 0, 0], [b, t - 1, d]) as tf.Tensor3D;
      return this.#lossesAt(h, targets ?? ids.slice([0, 1], [b, t - 1]));
    });
  }

  /**
   * Next-token losses [b, n] of final residuals `h` [b, n, d] (before ln_f) against `targets`
   * [b, n]. Each position's loss reads only its own residual, so chunks of positions give the
   * same losses and gradients as one pass.
   */
  #lossesAt(h: tf.Tensor3D, targets: tf.Tensor2D): tf.Tensor2D {
    return tf.tidy(() => {
      const [b, n] = targets.shape;
      const logits = this.unembed(h).reshape([b * n, this.config.vocab_size]) as tf.Tensor2D;
      return crossEntropy(logits, targets.reshape([b * n]).toInt() as tf.Tensor1D).reshape([b, n]);
    });
  }

  /**
   * The activation at `hook`, the gradient of each sequence's summed next-token loss with respect
   * to it, and the per-token losses. The backward pass covers only the layers after the hook.
   *
   * At position t that gradient is Σ_{t' ≥ t} ∂L_{t'}/∂x_t: it depends on every later label. With
   * `perToken` it is ∂L_t/∂x_t alone (the next token's loss only; attention passes gradient along
   * each position's own key and value, see {@link Pass.ownTokenGradient}).
   */
  gradAtHook(
    ids: tf.Tensor2D,
    hook: string,
    options: {
      targets?: tf.Tensor2D;
      perToken?: boolean;
      layersPerPass?: number;
      /** Rows (windows × positions) of logits per pass in a segmented pass (`positionsPerKLPass`). */
      positionsPerLossPass?: number;
    } = {},
  ): HookGradient {
    const state = this.runToHook(ids, hook);
    const perPass = options.layersPerPass ?? this.config.n_layer;
    if (!(Number.isInteger(perPass) && perPass >= 1)) {
      throw new Error(`gradAtHook: layersPerPass must be a positive integer, got ${perPass}`);
    }
    if (this.config.n_layer - this.parseHook(hook).layer > perPass) {
      return this.#gradAtHookInSegments(ids, hook, state, { ...options, perPass });
    }
    // One pass, the logits included, as this path always took them.
    const { value, grad } = this.#topSegmentGradient(ids, state.activation, {
      segment: (x) =>
        this.runFromHook(hook, { ...state, activation: x }, { ownTokenGradient: options.perToken }),
      targets: options.targets,
      rows: Number.POSITIVE_INFINITY,
    });
    return { ...state, gradient: grad, losses: value };
  }

  /**
   * Activations at each of `hooks` and the gradient of each sequence's summed next-token loss with
   * respect to them, from one forward and one backward pass (a zero probe added at every hook
   * carries its gradient), where {@link gradAtHook} takes one pass per hook: for a small model the
   * unembedding and its gradient dominate, so this is several times cheaper over every layer.
   *
   * A backward pass holds every intermediate tensor of the layers it covers. With
   * `layersPerPass` (see `layersPerGradientPass` in `config.ts`) fewer than the layers from the
   * lowest hook up, the layers are taken in segments of that many blocks, from the top down: a
   * forward pass without gradient keeps only each segment's input (its first block's
   * resid_pre); the top segment back-propagates the loss to its input and its hooks, and each
   * lower one back-propagates the gradient at the next segment's input (a vector-Jacobian
   * product). The gradients are the same; the extra cost is a second forward pass over the
   * segments. The caller disposes the returned tensors.
   */
  gradAtHooks(
    ids: tf.Tensor2D,
    hooks: string[],
    options: { layersPerPass?: number } = {},
  ): { activation: tf.Tensor3D; gradient: tf.Tensor3D }[] {
    const parsed = hooks.map((h) => this.parseHook(h));
    if (new Set(hooks).size !== hooks.length) {
      throw new Error(`gradAtHooks: a hook is listed twice in [${hooks.join(", ")}]`);
    }
    const lowest = Math.min(...parsed.map((h) => h.layer));
    const perPass = options.layersPerPass ?? this.config.n_layer;
    if (!(Number.isInteger(perPass) && perPass >= 1)) {
      throw new Error(`gradAtHooks: layersPerPass must be a positive integer, got ${perPass}`);
    }
    if (this.config.n_layer - lowest <= perPass) return this.#gradAtHooksInOnePass(ids, hooks);
    return this.#gradAtHooksInSegments(ids, hooks, { lowest, perPass });
  }

  /**
   * {@link gradAtHook} with the blocks after the hook taken `perPass` at a time (as
   * {@link gradAtHooks} takes them): a forward pass without gradient keeps each segment's input;
   * the top segment gives the losses and their gradient at its input, and each lower segment
   * back-propagates the gradient above it (a vector-Jacobian product, with the same attention
   * rule, so `perToken` stays per token).
   */
  #gradAtHookInSegments(
    ids: tf.Tensor2D,
    hook: string,
    state: HookState,
    o: {
      targets?: tf.Tensor2D;
      perToken?: boolean;
      perPass: number;
      positionsPerLossPass?: number;
    },
  ): HookGradient {
    const { layer, kind } = this.parseHook(hook), n = this.config.n_layer;
    // After a resid_post hook its own block has nothing left to compute.
    const first = kind === "resid_post" ? layer + 1 : layer;
    const starts: number[] = [];
    for (let s = first; s < n; s += o.perPass) starts.push(s);
    const ownTokenGradient = o.perToken ?? false;
    const segment = (k: number, x: tf.Tensor3D): tf.Tensor3D => {
      const end = k + 1 < starts.length ? starts[k + 1] : n;
      const stop = { layer: end - 1, kind: "resid_post" as const, reached: {} };
      const start = k === 0 && kind !== "resid_post"
        ? { layer, kind, state: { ...state, activation: x } }
        : { layer: starts[k], kind: "resid_pre" as const, state: { activation: x } };
      return this.#run(x, start.layer, { start, stop, ownTokenGradient });
    };
    const top = starts.length - 1;
    const { inputs, output } = forwardKeepingInputs(state.activation, segment, { count: top });
    try {
      const { value, grad } = this.#topSegmentGradient(ids, output, {
        segment: (x) => segment(top, x),
        targets: o.targets,
        rows: o.positionsPerLossPass,
      });
      const gradient = backwardThroughSegments(inputs, segment, { above: grad });
      return { ...state, gradient, losses: value };
    } finally {
      tf.dispose(inputs.slice(1));
      if (output !== state.activation) output.dispose();
    }
  }

  /**
   * The losses of the top segment of a checkpointed backward pass and their gradient at its input
   * `x`. Where one pass's logits (positions × vocabulary floats) would pass 2²⁴ floats
   * (`positionsPerKLPass`: GPT-2's 1,023 × 50,257 are 3 such chunks, each beside GPT-2 large's
   * 2.9 GiB of weights in tfjs-wasm's 4 GiB heap), the loss's gradient at the final residual is
   * taken chunk of positions by chunk, then carried through the segment by one vector-Jacobian
   * product; otherwise (and with `rows` infinite), one pass.
   */
  #topSegmentGradient(
    ids: tf.Tensor2D,
    x: tf.Tensor3D,
    o: { segment: (x: tf.Tensor3D) => tf.Tensor3D; targets?: tf.Tensor2D; rows?: number },
  ): { value: tf.Tensor2D; grad: tf.Tensor3D } {
    const [b, t] = ids.shape;
    const rows = o.rows ?? positionsPerKLPass(this.config, b * (t - 1));
    const chunk = Math.max(1, Math.floor(rows / b));
    if (chunk >= t - 1) {
      const { value, grad } = tf.tidy(() =>
        tf.valueAndGrad((y: tf.Tensor) =>
          this.tokenLosses(ids, o.segment(y as tf.Tensor3D), o.targets)
        )(x, tf.ones([b, t - 1]))
      );
      return { value: value as tf.Tensor2D, grad: grad as tf.Tensor3D };
    }
    const final = tf.tidy(() => o.segment(x)), d = final.shape[2];
    const targets = o.targets ?? ids.slice([0, 1], [b, t - 1]);
    const losses: tf.Tensor[] = [], grads: tf.Tensor[] = [];
    try {
      for (let from = 0; from < t - 1; from += chunk) {
        const n = Math.min(chunk, t - 1 - from);
        const { value, grad } = tf.tidy(() =>
          tf.valueAndGrad((h: tf.Tensor) =>
            this.#lossesAt(h as tf.Tensor3D, targets.slice([0, from], [b, n]))
          )(final.slice([0, from, 0], [b, n, d]), tf.ones([b, n]))
        );
        losses.push(value);
        grads.push(grad);
      }
      return tf.tidy(() => {
        // The last position has no target, so no gradient.
        grads.push(tf.zeros([b, 1, d]));
        const atFinal = tf.concat(grads, 1) as tf.Tensor3D;
        const grad = tf.grads((y: tf.Tensor) => o.segment(y as tf.Tensor3D))([x], atFinal)[0];
        return { value: tf.concat(losses, 1) as tf.Tensor2D, grad: grad as tf.Tensor3D };
      });
    } finally {
      tf.dispose([final, ...losses, ...grads]);
      if (targets !== o.targets) targets.dispose();
    }
  }

  #gradAtHooksInOnePass(
    ids: tf.Tensor2D,
    hooks: string[],
  ): { activation: tf.Tensor3D; gradient: tf.Tensor3D }[] {
    const [b, t] = ids.shape, d = this.config.n_embd;
    const captured = new Map<string, tf.Tensor3D>();
    const probes = hooks.map(() => tf.zeros([b, t, d]));
    try {
      const grads = tf.grads((...p: tf.Tensor[]) => {
        const fns = Object.fromEntries(hooks.map((h, i) => [h, (a: tf.Tensor3D) => {
          captured.set(h, tf.keep(a));
          return tf.add(a, p[i]) as tf.Tensor3D;
        }]));
        return tf.sum(this.tokenLosses(ids, this.finalResidual(ids, { hooks: fns })));
      })(probes);
      return hooks.map((h, i) => ({
        activation: captured.get(h)!,
        gradient: grads[i] as tf.Tensor3D,
      }));
    } catch (e) {
      tf.dispose([...captured.values()]);
      throw e;
    } finally {
      tf.dispose(probes);
    }
  }

  #gradAtHooksInSegments(
    ids: tf.Tensor2D,
    hooks: string[],
    o: { lowest: number; perPass: number },
  ): { activation: tf.Tensor3D; gradient: tf.Tensor3D }[] {
    const n = this.config.n_layer;
    const starts: number[] = [];
    for (let s = o.lowest; s < n; s += o.perPass) starts.push(s);
    const inputs = starts.map((s) => hookName(s, "resid_pre"));
    // The lowest segment's input, then each segment's, from a forward pass without gradient.
    const embedded = this.embed(ids);
    let bottom = embedded;
    if (o.lowest > 0) {
      const stop = { layer: o.lowest - 1, kind: "resid_post" as const, reached: {} };
      bottom = tf.tidy(() => this.#run(embedded, 0, { stop }));
      embedded.dispose();
    }
    const segment = (k: number, x: tf.Tensor3D) => {
      const start = { layer: starts[k], kind: "resid_pre" as const, state: { activation: x } };
      const stop = { layer: starts[k + 1] - 1, kind: "resid_post" as const, reached: {} };
      return this.#run(x, starts[k], { start, stop });
    };
    let kept: tf.Tensor3D[] = [bottom];
    try {
      const forward = forwardKeepingInputs(bottom, segment, { count: starts.length - 1 });
      kept = [...forward.inputs, forward.output];
    } catch (e) {
      bottom.dispose();
      throw e;
    }
    const found = new Map<string, { activation: tf.Tensor3D; gradient: tf.Tensor3D }>();
    let above: tf.Tensor3D | undefined; // ∂L/∂(the input of the segment above)
    try {
      for (let k = starts.length - 1; k >= 0; k--) {
        const x = kept[k];
        const end = k + 1 < starts.length ? starts[k + 1] : n;
        const gradIn = this.#segmentGradients(x, above, { ids, hooks, first: starts[k], end });
        gradIn.found.forEach((v, h) => found.set(h, v));
        above?.dispose();
        above = gradIn.input;
        if (hooks.includes(inputs[k])) {
          found.set(inputs[k], { activation: x.clone(), gradient: above!.clone() });
        }
      }
      return hooks.map((h) => found.get(h)!);
    } catch (e) {
      for (const v of found.values()) tf.dispose([v.activation, v.gradient]);
      throw e;
    } finally {
      above?.dispose();
      tf.dispose(kept);
    }
  }

  /**
   * One segment of {@link gradAtHooks}: blocks `first` … `end` − 1 from their input `x`, to the
   * loss when `end` is the top, else to the next segment's input, whose gradient `above` is.
   * Gives the activation and gradient at the segment's hooks (its input's excepted) and, below
   * the lowest hook or where its input is asked for, the gradient at the input.
   */
  #segmentGradients(
    x: tf.Tensor3D,
    above: tf.Tensor3D | undefined,
    o: { ids: tf.Tensor2D; hooks: string[]; first: number; end: number },
  ) {
    const { first, end } = o;
    const inside = o.hooks.filter((h) => {
      const { layer, kind } = this.parseHook(h);
      return layer >= first && layer < end && !(layer === first && kind === "resid_pre");
    });
    const lowest = Math.min(...o.hooks.map((h) => this.parseHook(h).layer));
    const wantInput = first > lowest || o.hooks.includes(hookName(first, "resid_pre"));
    const captured = new Map<string, tf.Tensor3D>();
    const probes = inside.map(() => tf.zeros(x.shape));
    try {
      const grads = tf.grads((...p: tf.Tensor[]) => {
        const input = (wantInput ? p[inside.length] : x) as tf.Tensor3D;
        const fns = Object.fromEntries(inside.map((h, i) => [h, (a: tf.Tensor3D) => {
          captured.set(h, tf.keep(a));
          return tf.add(a, p[i]) as tf.Tensor3D;
        }]));
        const start = { layer: first, kind: "resid_pre" as const, state: { activation: input } };
        if (end === this.config.n_layer) {
          return tf.sum(this.tokenLosses(o.ids, this.#run(input, first, { hooks: fns, start })));
        }
        const stop = { layer: end - 1, kind: "resid_post" as const, reached: {} };
        return this.#run(input, first, { hooks: fns, start, stop });
      })(wantInput ? [...probes, x] : probes, above);
      const found = new Map(inside.map((h, i) => [h, {
        activation: captured.get(h)!,
        gradient: grads[i] as tf.Tensor3D,
      }]));
      return { found, input: wantInput ? grads[inside.length] as tf.Tensor3D : undefined };
    } catch (e) {
      tf.dispose([...captured.values()]);
      throw e;
    } finally {
      tf.dispose(probes);
    }
  }

  /** Free the parameters and cached masks. */
  dispose(): void {
    for (const p of this.params.values()) p.dispose();
    for (const m of this.#masks.values()) m.dispose();
    this.#masks.clear();
  }

  /** A parameter by name. */
  p(name: string): tf.Tensor {
    const v = this.params.get(name);
    if (!v) throw new Error(`GPT2: no parameter ${name}`);
    return v;
  }

  /**
   * Blocks `first` … last on `x` under `pass`; returns the final residual stream. A block the pass
   * touches nowhere (no hook, cache, start or stop in it) runs in its own `tf.tidy`, so its
   * intermediates (the attention scores above all) are freed before the next block rather than at
   * the end of the caller's scope: GPT-2 medium's 16 blocks before its layer-⅔ hook held 4 GiB of
   * them at once, past tfjs-wasm's heap. Under a gradient tape this frees nothing the backward pass
   * needs: tfjs keeps its own copy of every tensor a gradient saves.
   */
  #run(x: tf.Tensor3D, first: number, pass: Pass): tf.Tensor3D {
    const at = hookPoints(pass, this.config.n_layer);
    const touched = touchedLayers(pass, (name) => this.parseHook(name).layer);
    const ownOnly = pass.ownTokenGradient ?? false;
    for (let i = first; i < this.config.n_layer; i++) {
      const input = x;
      x = touched.has(i)
        ? this.#block(i, input, at, ownOnly)
        : tf.tidy(() => this.#block(i, input, at, ownOnly));
      if (pass.stop && i === pass.stop.layer) break;
    }
    return x;
  }

  /**
   * One block, as GPT-2 writes it: x = x + attn(ln_1(x)); x = x + mlp(ln_2(x)), with each of
   * the five hook points passed through `at` on the way.
   */
  #block(i: number, x: tf.Tensor3D, at: HookPoint, ownOnly: boolean): tf.Tensor3D {
    const p = this.blocks[i];
    const pre = at(i, "resid_pre", () => x);
    const attn = at(i, "attn_out", () => this.#attention(p, this.#layerNorm(pre, p.ln_1), ownOnly));
    const mid = at(i, "resid_mid", () => tf.add(pre, attn));
    const mlp = at(i, "mlp_out", () => this.#mlp(p, this.#layerNorm(mid, p.ln_2)));
    return at(i, "resid_post", () => tf.add(mid, mlp));
  }

  #layerNorm(x: tf.Tensor, p: Affine): tf.Tensor3D {
    return layerNorm(x, p.weight, p.bias, this.config.layer_norm_epsilon) as tf.Tensor3D;
  }

  #attention(p: BlockParams, x: tf.Tensor3D, ownOnly: boolean): tf.Tensor3D {
    const [b, t, d] = x.shape;
    const nh = this.config.n_head, hd = d / nh;
    const [q, k, v] = splitHeads(linear(x, p.attn.c_attn.weight, p.attn.c_attn.bias), nh);
    let mixedHeads: tf.Tensor;
    if (!ownOnly) {
      const scores = matMul(q, k, false, true);
      const weights = causalSoftmax(scores, 1 / Math.sqrt(hd), this.#mask(t));
      mixedHeads = matMul(weights, v);
    } else {
      // The same values; gradient reaches a key or value only from its own query's position:
      // other positions see constant copies, and the diagonal adds (k − k̄) and (v − v̄), which
      // are zero in value and carry the gradient.
      const kConst = constantOf(k, (a) => a.clone()), vConst = constantOf(v, (a) => a.clone());
      const eye = tf.eye(t);
      const own = tf.sum(tf.mul(q, tf.sub(k, kConst)), -1, true); // [b, h, t, 1], value 0
      const scores = tf.add(matMul(q, kConst, false, true), tf.mul(own, eye));
      const weights = causalSoftmax(scores, 1 / Math.sqrt(hd), this.#mask(t));
      const selfWeight = tf.sum(tf.mul(weights, eye), -1, true); // [b, h, t, 1]
      mixedHeads = tf.add(matMul(weights, vConst), tf.mul(selfWeight, tf.sub(v, vConst)));
    }
    const mixed = mixedHeads.transpose([0, 2, 1, 3]).reshape([b, t, d]);
    return linear(mixed, p.attn.c_proj.weight, p.attn.c_proj.bias) as tf.Tensor3D;
  }

  #mlp(p: BlockParams, x: tf.Tensor3D): tf.Tensor3D {
    const hidden = geluNew(linear(x, p.mlp.c_fc.weight, p.mlp.c_fc.bias));
    return linear(hidden, p.mlp.c_proj.weight, p.mlp.c_proj.bias) as tf.Tensor3D;
  }

  /** Additive causal mask [t, t]: 0 on and below the diagonal, −1e9 above. Cached per length. */
  #mask(t: number): tf.Tensor2D {
    let m = this.#masks.get(t);
    if (!m) {
      const values = new Float32Array(t * t);
      for (let r = 0; r < t; r++) for (let c = r + 1; c < t; c++) values[r * t + c] = -1e9;
      m = tf.keep(tf.tensor2d(values, [t, t]));
      this.#masks.set(t, m);
    }
    return m;
  }
}

/** The layers whose hook points `pass` reads or replaces (hooks, cache, start, stop). */
function touchedLayers(pass: Pass, layerOf: (hook: string) => number): Set<number> {
  const layers = new Set<number>();
  for (const name of [...Object.keys(pass.hooks ?? {}), ...(pass.cache ?? [])]) {
    layers.add(layerOf(name));
  }
  if (pass.start) layers.add(pass.start.layer);
  if (pass.stop) layers.add(pass.stop.layer);
  return layers;
}
