/**
 * GPT-2's hook points, named as TransformerLens users expect, and how one pass of the model
 * treats them: run-with-hooks replacements, caching, starting from a hook (a splice) and stopping
 * at one. `model.ts` writes each block straight through and passes every hook point through the
 * function {@link hookPoints} makes here.
 *
 * @module
 */
import type * as tf from "@tensorflow/tfjs";

/** The activations each block exposes, in the order they are computed. */
export const HOOK_KINDS = ["resid_pre", "attn_out", "resid_mid", "mlp_out", "resid_post"] as const;
/** One of {@link HOOK_KINDS}. */
export type HookKind = typeof HOOK_KINDS[number];

/** `blocks.{layer}.hook_{kind}`. */
export function hookName(layer: number, kind: HookKind): string {
  return `blocks.${layer}.hook_${kind}`;
}

/** Parse and check a hook name of a model with `nLayer` blocks; the error lists the valid forms. */
export function parseHook(name: string, nLayer: number): { layer: number; kind: HookKind } {
  const m = /^blocks\.(\d+)\.hook_(\w+)$/.exec(name);
  const kind = m?.[2] as HookKind | undefined;
  const layer = m ? Number(m[1]) : -1;
  if (!m || !HOOK_KINDS.includes(kind!) || layer >= nLayer) {
    throw new Error(
      `unknown hook "${name}": expected blocks.<0..${nLayer - 1}>.hook_<${HOOK_KINDS.join("|")}>`,
    );
  }
  return { layer, kind: kind! };
}

/** The residual stream that the attn_out and mlp_out activations are added to. */
export const RESIDUAL_OF: Partial<Record<HookKind, HookKind>> = {
  attn_out: "resid_pre",
  mlp_out: "resid_mid",
};

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

/** What a pass does at hooks, and where it starts (a splice) and stops (run to a hook). */
export interface Pass {
  /** Replacement functions by hook name. */
  hooks?: Record<string, HookFn>;
  /** Hooks whose (possibly replaced) activations go into `cacheInto`. */
  cache?: string[];
  /** Where cached activations go. */
  cacheInto?: Map<string, tf.Tensor3D>;
  /** Start at this hook with this state instead of at the embedding. */
  start?: { layer: number; kind: HookKind; state: HookState };
  /** Compute nothing after this hook; its block's values are put in `reached`. */
  stop?: { layer: number; kind: HookKind; reached: Partial<Record<HookKind, tf.Tensor3D>> };
  /**
   * Attention passes gradient only along each position's own key and value (values unchanged):
   * the gradient of the summed loss at position t is then ∂L_t/∂x_t, the per-token gradient.
   */
  ownTokenGradient?: boolean;
}

/**
 * Evaluates one hook point of a pass: `compute` gives the value the model computes there; what
 * comes back is what the rest of the model sees.
 */
export type HookPoint = (layer: number, kind: HookKind, compute: () => tf.Tensor3D) => tf.Tensor3D;

/**
 * The hook points of one pass over a model with `nLayer` blocks. Before a splice's start (in its
 * block) nothing is computed: the start hook gives the spliced activation, its residual hook
 * (for attn_out and mlp_out) the given residual, and the other earlier points are never read by
 * what follows. After the stop hook nothing is computed either. Everywhere else the model's value
 * goes through the pass's hook function (if any) and into its cache.
 */
export function hookPoints(pass: Pass, nLayer: number): HookPoint {
  const hooks = pass.hooks ?? {}, cacheNames = pass.cache ?? [];
  for (const name of [...Object.keys(hooks), ...cacheNames]) parseHook(name, nLayer);
  const { start, stop } = pass;
  let stopped: tf.Tensor3D | undefined;
  return (layer, kind, compute) => {
    if (stopped) return stopped;
    if (
      start && layer === start.layer && HOOK_KINDS.indexOf(kind) <= HOOK_KINDS.indexOf(start.kind)
    ) {
      const isResidual = kind === RESIDUAL_OF[start.kind];
      return isResidual ? start.state.residual! : start.state.activation;
    }
    const name = hookName(layer, kind);
    const value = compute();
    const fn: HookFn | undefined = Object.hasOwn(hooks, name) ? hooks[name] : undefined;
    const out = fn ? fn(value) : value;
    if (out !== value && !sameShape(out.shape, value.shape)) {
      throw new Error(`hook ${name} returned shape [${out.shape}], expected [${value.shape}]`);
    }
    if (cacheNames.includes(name)) pass.cacheInto?.set(name, out);
    if (stop && layer === stop.layer) {
      stop.reached[kind] = out;
      if (kind === stop.kind) stopped = out;
    }
    return out;
  };
}

function sameShape(a: number[], b: number[]): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}
