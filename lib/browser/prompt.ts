/**
 * The prompt page's analysis: a text through the model and each SAE. Per token: the active
 * latents with their activations; for gradient-aware SAEs, the latents the gradient swapped in
 * or out compared with plain selection on the same weights (with the pre-activation z and
 * |d̂·g|, g the gradient of the loss at the hook); and the token's next-token loss clean and with
 * the SAE's reconstruction spliced in at the hook.
 *
 * As in the evaluation, gradient-aware SAEs select with the gradient of the loss at the true next
 * tokens of the text (the last token has none, so its gradient is 0).
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { GPT2 } from "../gpt2/model.ts";
import { directionalDerivatives } from "../metrics/latents.ts";
import { architectureOf } from "../sae/mod.ts";
import { preActivations } from "../sae/base.ts";
import type { Tokenizer } from "../data/tokenizer.ts";
import type { BrowserSAE } from "./data.ts";
import { sig4 } from "./data.ts";
import { decoderOf, readAndDispose } from "./decoder.ts";

/** A prompt that cannot be analysed (empty, too long): the server answers 4xx with the message. */
export class PromptError extends Error {
  /** @param message What is wrong, for the user. */
  constructor(message: string) {
    super(message);
    this.name = "PromptError";
  }
}

/** A latent the gradient swapped in or out at one token. */
export interface SwappedLatent {
  /** Latent index. */
  id: number;
  /** Its activation (with the gradient for swapped-in, plain for swapped-out latents). */
  act: number;
  /** Its pre-activation z (null for architectures without a linear encoder). */
  z: number | null;
  /** |d̂·g| at this token. */
  dg: number;
}

/** One token under one SAE. */
export interface PromptTokenView {
  /** Active latents `[id, activation]`, strongest first. */
  active: [number, number][];
  /** Latents active with the gradient and not under plain selection (gradient-aware SAEs). */
  swappedIn: SwappedLatent[];
  /** Latents active under plain selection that the gradient dropped. */
  swappedOut: SwappedLatent[];
  /** Next-token loss with the reconstruction spliced in (null at the last token). */
  lossSpliced: number | null;
}

/** One SAE's view of the prompt. */
export interface PromptSAEView {
  /** The SAE's name. */
  name: string;
  /** Whether it selects with the gradient. */
  gradientAware: boolean;
  /** Per token. */
  tokens: PromptTokenView[];
  /** Mean next-token loss, spliced. */
  meanLossSpliced: number;
}

/** The prompt page's data. */
export interface PromptResult {
  /** The tokens: id, text and clean next-token loss (null at the last token). */
  tokens: { id: number; text: string; lossClean: number | null }[];
  /** Mean clean next-token loss. */
  meanLossClean: number;
  /** One view per SAE. */
  saes: PromptSAEView[];
}

/** Options of {@link analysePrompt}. */
export interface PromptOptions {
  /** The SAEs (default: all given). */
  saes: readonly BrowserSAE[];
  /** Most active latents listed per token (default 32). */
  maxActive?: number;
}

/**
 * Analyses `text` (see the module doc).
 * @throws PromptError when the text has fewer than two tokens or more than the model's context.
 */
export function analysePrompt(
  lm: { model: GPT2; tokenizer: Tokenizer },
  text: string,
  options: PromptOptions,
): PromptResult {
  const ids = lm.tokenizer.encode(text);
  const context = lm.model.config.n_positions;
  if (ids.length < 2) throw new PromptError("the prompt needs at least two tokens");
  if (ids.length > context) {
    throw new PromptError(`the prompt has ${ids.length} tokens; the model's context is ${context}`);
  }
  const T = ids.length, maxActive = options.maxActive ?? 32;
  const input = tf.tensor2d(ids, [1, T], "int32");
  const hooks = [...new Set(options.saes.map((s) => s.hook))];
  let lossClean: Float32Array | null = null;
  const views = new Map<string, PromptSAEView>();
  try {
    for (const hook of hooks) {
      const g = lm.model.gradAtHook(input, hook);
      try {
        lossClean ??= g.losses.dataSync() as Float32Array;
        for (const s of options.saes.filter((s) => s.hook === hook)) {
          views.set(s.name, viewOf(lm.model, s, { input, g, maxActive }));
        }
      } finally {
        tf.dispose(Object.values(g));
      }
    }
  } finally {
    input.dispose();
  }
  const clean = lossClean!;
  return {
    tokens: Array.from(ids, (id, p) => ({
      id,
      text: lm.tokenizer.decode([id]),
      lossClean: p < T - 1 ? sig4(clean[p]) : null,
    })),
    meanLossClean: sig4(clean.reduce((a, b) => a + b, 0) / clean.length),
    saes: options.saes.map((s) => views.get(s.name)!),
  };
}

function viewOf(
  model: GPT2,
  s: BrowserSAE,
  o: {
    input: tf.Tensor2D;
    g: { activation: tf.Tensor3D; gradient: tf.Tensor3D; residual?: tf.Tensor3D };
    maxActive: number;
  },
): PromptSAEView {
  const [, T, d] = o.g.activation.shape, f = s.sae.config.d_sae;
  const gradientAware = architectureOf(s.sae.config.architecture).usesGradient;
  const hasLinearEncoder = s.sae.params.has("W_enc") && s.sae.params.has("b_enc");
  const wDec = decoderOf(s.sae);
  const tensors = tf.tidy(() => {
    const x = o.g.activation.reshape([T, d]) as tf.Tensor2D;
    const grad = o.g.gradient.reshape([T, d]) as tf.Tensor2D;
    const a = s.sae.encode(x, { grad });
    const p = gradientAware ? s.sae.encode(x) : a.clone();
    const recon = s.sae.decode(a).reshape([1, T, d]) as tf.Tensor3D;
    const h = model.runFromHook(s.hook, { ...o.g, activation: recon });
    return [
      a,
      p,
      tf.abs(directionalDerivatives(grad, wDec)),
      model.tokenLosses(o.input, h),
      ...(hasLinearEncoder ? [preActivations(s.sae.params, x)] : []),
    ];
  });
  const [acts, plain, dg, spliced, z = null] = tensors.map(readAndDispose);
  const tokens: PromptTokenView[] = [];
  for (let t = 0; t < T; t++) {
    const row = (m: Float32Array, j: number) => m[t * f + j];
    const active: [number, number][] = [];
    const swappedIn: SwappedLatent[] = [], swappedOut: SwappedLatent[] = [];
    const swapped = (j: number, act: number): SwappedLatent => ({
      id: j,
      act: sig4(act),
      z: z ? sig4(row(z, j)) : null,
      dg: sig4(row(dg, j)),
    });
    for (let j = 0; j < f; j++) {
      const a = row(acts, j), p = row(plain, j);
      if (a > 0) active.push([j, sig4(a)]);
      if (!gradientAware) continue;
      if (a > 0 && !(p > 0)) swappedIn.push(swapped(j, a));
      if (p > 0 && !(a > 0)) swappedOut.push(swapped(j, p));
    }
    active.sort((x, y) => y[1] - x[1] || x[0] - y[0]);
    tokens.push({
      active: active.slice(0, o.maxActive),
      swappedIn,
      swappedOut,
      lossSpliced: t < T - 1 ? sig4(spliced[t]) : null,
    });
  }
  return {
    name: s.name,
    gradientAware,
    tokens,
    meanLossSpliced: sig4(spliced.reduce((a, b) => a + b, 0) / spliced.length),
  };
}
