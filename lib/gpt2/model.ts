/**
 * GPT-2 in TensorFlow.js, with TransformerLens-style hook points.
 *
 * Each block i exposes five activations, named as TransformerLens users expect:
 *   blocks.i.hook_resid_pre  → attn_out = Attn(LN1(resid_pre))   blocks.i.hook_attn_out
 *   blocks.i.hook_resid_mid  = resid_pre + attn_out
 *   blocks.i.hook_mlp_out    = MLP(LN2(resid_mid))
 *   blocks.i.hook_resid_post = resid_mid + mlp_out               (= resid_pre of block i+1)
 * The model can run to a hook, run on from a hook with a replacement activation (a splice,
 * without recomputing earlier layers), and give the exact gradient of the next-token loss with
 * respect to a hooked activation, back-propagating only through the layers after the hook.
 *
 * Parameters are kept under Hugging Face's names without the `transformer.` prefix
 * (`wte.weight`, `h.0.attn.c_attn.weight`, …), Conv1D weights as [in, out].
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import {
  causalSoftmax,
  crossEntropy,
  embeddingLookup,
  geluNew,
  layerNorm,
  linear,
  matMul,
  splitHeads,
} from "../ops.ts";
import { Rng } from "../random.ts";
import { variableFrom } from "../variables.ts";
import type { GPT2Config } from "./config.ts";

/** The activations each block exposes, in the order they are computed. */
export const HOOK_KINDS = ["resid_pre", "attn_out", "resid_mid", "mlp_out", "resid_post"] as const;
/** One of {@link HOOK_KINDS}. */
export type HookKind = typeof HOOK_KINDS[number];

/** `blocks.{layer}.hook_{kind}`. */
export function hookName(layer: number, kind: HookKind): string {
  return `blocks.${layer}.hook_${kind}`;
}

/** A hook's replacement function: receives the activation, returns what the model uses instead. */
export type HookFn = (activation: tf.Tensor3D) => tf.Tensor3D;

/** The activation at a hook and, for attn_out/mlp_out, the residual it is added to. */
export interface HookState {
  /** The activation at the hook, [batch, seq, d]. */
  activation: tf.Tensor3D;
  /** resid_pre (for attn_out) or resid_mid (for mlp_out): needed to run on from those hooks. */
  residual?: tf.Tensor3D;
}

/** Activation, gradient of the summed next-token loss, and per-token losses at one hook. */
export interface HookGradient extends HookState {
  /** ∂(Σ_t loss_t)/∂activation for each sequence, [batch, seq, d]. The last position's is 0. */
  gradient: tf.Tensor3D;
  /** Next-token cross-entropy per position, [batch, seq − 1]. */
  losses: tf.Tensor2D;
}

interface BlockState {
  pre?: tf.Tensor3D;
  attn?: tf.Tensor3D;
  mid?: tf.Tensor3D;
  mlp?: tf.Tensor3D;
  post?: tf.Tensor3D;
}

/** GPT-2 (pre-LayerNorm blocks, causal attention, gelu_new MLP, ln_f, tied unembedding). */
export class GPT2 {
  /** Hyperparameters. */
  readonly config: GPT2Config;
  /** Parameters by Hugging Face name (no `transformer.` prefix). */
  readonly params: Map<string, tf.Variable>;
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
  }

  /** A randomly initialised model (GPT-2's scheme: N(0, 0.02), residual projections / √(2L)). */
  static random(config: GPT2Config, seed: number, std = 0.02): GPT2 {
    const rng = new Rng(seed);
    const params = new Map<string, tf.Variable>();
    for (const [name, shape] of expectedShapes(config)) {
      const size = shape.reduce((a, b) => a * b, 1);
      let values: Float32Array;
      if (name.endsWith("ln_1.weight") || name.endsWith("ln_2.weight") || name === "ln_f.weight") {
        values = new Float32Array(size).fill(1);
      } else if (shape.length === 1) {
        values = new Float32Array(size);
      } else {
        const scale = name.endsWith("c_proj.weight") ? std / Math.sqrt(2 * config.n_layer) : std;
        values = rng.normalArray(size, scale);
      }
      params.set(name, variableFrom(values, shape));
    }
    return new GPT2(config, params);
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
    const m = /^blocks\.(\d+)\.hook_(\w+)$/.exec(name);
    const kind = m?.[2] as HookKind | undefined;
    const layer = m ? Number(m[1]) : -1;
    if (!m || !HOOK_KINDS.includes(kind!) || layer >= this.config.n_layer) {
      throw new Error(
        `unknown hook "${name}": expected blocks.<0..${this.config.n_layer - 1}>.hook_<${
          HOOK_KINDS.join("|")
        }>`,
      );
    }
    return { layer, kind: kind! };
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
    const visit = this.#visitor(
      options.hooks ?? {},
      options.cache ?? [],
      options.cacheInto ?? new Map(),
    );
    let h = this.embed(ids);
    for (let i = 0; i < this.config.n_layer; i++) {
      h = this.#block(i, 0, visit(hookName(i, "resid_pre"), h), {}, visit).post!;
    }
    return h;
  }

  /** Mean next-token cross-entropy over every position of every sequence (a scalar). */
  meanLoss(ids: tf.Tensor2D): tf.Scalar {
    return tf.mean(this.tokenLosses(ids, this.finalResidual(ids)));
  }

  /** Run to `hook` and stop there, returning its activation (and residual, see {@link HookState}). */
  runToHook(ids: tf.Tensor2D, hook: string): HookState {
    const { layer, kind } = this.parseHook(hook);
    const k = HOOK_KINDS.indexOf(kind);
    return tf.tidy(() => {
      let h = this.embed(ids);
      for (let i = 0; i < layer; i++) h = this.#block(i, 0, h, {}, (_, t) => t).post!;
      const s = this.#block(layer, 0, h, {}, (_, t) => t, k);
      const activation = [s.pre, s.attn, s.mid, s.mlp, s.post][k]!;
      const residual = kind === "attn_out" ? s.pre : kind === "mlp_out" ? s.mid : undefined;
      return residual ? { activation, residual } : { activation };
    });
  }

  /**
   * Run on from `hook` with `activation` in place of the model's own (a splice) and return the
   * final residual stream [batch, seq, d] (before ln_f). Needs `state.residual` for attn_out and
   * mlp_out hooks. Differentiable with respect to `activation`.
   */
  runFromHook(hook: string, state: HookState, options: { hooks?: Record<string, HookFn> } = {}) {
    const { layer, kind } = this.parseHook(hook);
    const k = HOOK_KINDS.indexOf(kind);
    if ((kind === "attn_out" || kind === "mlp_out") && !state.residual) {
      throw new Error(
        `running from ${hook} needs the residual it is added to (runToHook gives it)`,
      );
    }
    const visit = this.#visitor(options.hooks ?? {}, [], new Map());
    const start: BlockState = {};
    start[(["pre", "attn", "mid", "mlp", "post"] as const)[k]] = state.activation;
    if (kind === "attn_out") start.pre = state.residual;
    if (kind === "mlp_out") start.mid = state.residual;
    let h = this.#block(layer, k, state.activation, start, visit).post!;
    for (let i = layer + 1; i < this.config.n_layer; i++) {
      h = this.#block(i, 0, visit(hookName(i, "resid_pre"), h), {}, visit).post!;
    }
    return h;
  }

  /** ln_f then the tied unembedding: final residual [batch, seq, d] → logits [batch, seq, vocab]. */
  unembed(h: tf.Tensor3D): tf.Tensor3D {
    return tf.tidy(() => {
      const [b, t, d] = h.shape;
      const x = layerNorm(
        h,
        this.p("ln_f.weight"),
        this.p("ln_f.bias"),
        this.config.layer_norm_epsilon,
      );
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
      const tgt = targets ?? ids.slice([0, 1], [b, t - 1]);
      // Only positions with a target: drop the last before the (costly) unembedding.
      const h = finalResidual.slice([0, 0, 0], [b, t - 1, d]);
      const logits = this.unembed(h).reshape([b * (t - 1), this.config.vocab_size]) as tf.Tensor2D;
      return crossEntropy(logits, tgt.reshape([b * (t - 1)]).toInt() as tf.Tensor1D)
        .reshape([b, t - 1]);
    });
  }

  /**
   * The activation at `hook`, the gradient of each sequence's summed next-token loss with respect
   * to it, and the per-token losses. The backward pass covers only the layers after the hook.
   */
  gradAtHook(
    ids: tf.Tensor2D,
    hook: string,
    options: { targets?: tf.Tensor2D } = {},
  ): HookGradient {
    const state = this.runToHook(ids, hook);
    const [b, t] = ids.shape;
    const { value, grad } = tf.tidy(() =>
      tf.valueAndGrad((x: tf.Tensor) =>
        this.tokenLosses(
          ids,
          this.runFromHook(hook, { ...state, activation: x as tf.Tensor3D }),
          options.targets,
        )
      )(state.activation, tf.ones([b, t - 1]))
    );
    return { ...state, gradient: grad as tf.Tensor3D, losses: value as tf.Tensor2D };
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

  #visitor(hooks: Record<string, HookFn>, cacheNames: string[], cache: Map<string, tf.Tensor3D>) {
    for (const name of [...Object.keys(hooks), ...cacheNames]) this.parseHook(name);
    return (name: string, t: tf.Tensor3D): tf.Tensor3D => {
      const fn: HookFn | undefined = Object.hasOwn(hooks, name) ? hooks[name] : undefined;
      const out = fn ? fn(t) : t;
      if (out !== t && !tf.util.arraysEqual(out.shape, t.shape)) {
        throw new Error(`hook ${name} returned shape [${out.shape}], expected [${t.shape}]`);
      }
      if (cacheNames.includes(name)) cache.set(name, out);
      return out;
    };
  }

  /**
   * Block `i` from stage `from` (an index into HOOK_KINDS) whose value is `x`; `start` holds the
   * residual a later start needs. Visits every later stage; stops after stage `stop`.
   */
  #block(
    i: number,
    from: number,
    x: tf.Tensor3D,
    start: BlockState,
    visit: (name: string, t: tf.Tensor3D) => tf.Tensor3D,
    stop = HOOK_KINDS.length - 1,
  ): BlockState {
    const s: BlockState = { ...start };
    const keys = ["pre", "attn", "mid", "mlp", "post"] as const;
    s[keys[from]] = x;
    const eps = this.config.layer_norm_epsilon;
    const h = `h.${i}.`;
    for (let k = from + 1; k <= stop; k++) {
      let value: tf.Tensor3D;
      if (k === 1) {
        value = this.#attention(
          i,
          layerNorm(s.pre!, this.p(h + "ln_1.weight"), this.p(h + "ln_1.bias"), eps),
        );
      } else if (k === 2) value = tf.add(s.pre!, s.attn!);
      else if (k === 3) {
        const a = layerNorm(s.mid!, this.p(h + "ln_2.weight"), this.p(h + "ln_2.bias"), eps);
        const hidden = geluNew(
          linear(a, this.p(h + "mlp.c_fc.weight"), this.p(h + "mlp.c_fc.bias")),
        );
        value = linear(
          hidden,
          this.p(h + "mlp.c_proj.weight"),
          this.p(h + "mlp.c_proj.bias"),
        ) as tf.Tensor3D;
      } else value = tf.add(s.mid!, s.mlp!);
      s[keys[k]] = visit(hookName(i, HOOK_KINDS[k]), value);
    }
    return s;
  }

  #attention(i: number, x: tf.Tensor): tf.Tensor3D {
    const [b, t, d] = x.shape;
    const nh = this.config.n_head, hd = d / nh;
    const qkv = linear(x, this.p(`h.${i}.attn.c_attn.weight`), this.p(`h.${i}.attn.c_attn.bias`));
    const [q, k, v] = splitHeads(qkv, nh);
    const scores = matMul(q, k, false, true);
    const weights = causalSoftmax(scores, 1 / Math.sqrt(hd), this.#mask(t));
    const mixed = matMul(weights, v).transpose([0, 2, 1, 3]).reshape([b, t, d]);
    return linear(
      mixed,
      this.p(`h.${i}.attn.c_proj.weight`),
      this.p(`h.${i}.attn.c_proj.bias`),
    ) as tf.Tensor3D;
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

/** Every parameter's Hugging Face name (no prefix) and shape for a config. */
export function expectedShapes(c: GPT2Config): [string, number[]][] {
  const d = c.n_embd;
  const out: [string, number[]][] = [["wte.weight", [c.vocab_size, d]], ["wpe.weight", [
    c.n_positions,
    d,
  ]]];
  for (let i = 0; i < c.n_layer; i++) {
    const h = `h.${i}.`;
    out.push(
      [h + "ln_1.weight", [d]],
      [h + "ln_1.bias", [d]],
      [h + "attn.c_attn.weight", [d, 3 * d]],
      [h + "attn.c_attn.bias", [3 * d]],
      [h + "attn.c_proj.weight", [d, d]],
      [h + "attn.c_proj.bias", [d]],
      [h + "ln_2.weight", [d]],
      [h + "ln_2.bias", [d]],
      [h + "mlp.c_fc.weight", [d, 4 * d]],
      [h + "mlp.c_fc.bias", [4 * d]],
      [h + "mlp.c_proj.weight", [4 * d, d]],
      [h + "mlp.c_proj.bias", [d]],
    );
  }
  out.push(["ln_f.weight", [d]], ["ln_f.bias", [d]]);
  return out;
}
