/**
 * One SAE latent up close, for the tour (notebook 00): where it fires most in validation text
 * (with context), which tokens its decoder direction promotes (the logit lens of `steering.ts`,
 * so notebook 06's associated tokens are the same), and how often a gradient-aware SAE's
 * selection differs from plain TopK on the same weights.
 *
 * @module
 */
import { windowsPerPass } from "../../gpt2/config.ts";
import * as tf from "@tensorflow/tfjs";
import { takeAll, takeData } from "../../tensor/read.ts";
import { jitteredOffsets, spreadOffsets, windows } from "../../data/windows.ts";
import type { SAE } from "../../sae/mod.ts";
import type { SAEEvaluation } from "../zoo/sae_eval.ts";
import { associatedSets } from "../06_steering/steering.ts";
import { showToken } from "./tour.ts";
import type { Workspace } from "../shared/workspace.ts";
import { mdTable } from "../../io/markdown_table.ts";

/**
 * The latent the tour shows: the largest mean |∇L·d̂ᵢ| when firing among latents that fire on a
 * fraction of validation tokens within [`minFrequency`, `maxFrequency`] (defaults 0.5 % and 5 %:
 * neither a rare curiosity nor a near-constant direction); the most frequent latent if none is.
 */
export function chooseTourLatent(
  evaluation: Pick<SAEEvaluation, "frequencies" | "meanAbsDerivFiring">,
  options: { minFrequency?: number; maxFrequency?: number } = {},
): number {
  const lo = options.minFrequency ?? 0.005, hi = options.maxFrequency ?? 0.05;
  const f = evaluation.frequencies;
  let best = -1;
  f.forEach((v, i) => {
    const d = evaluation.meanAbsDerivFiring[i];
    if (v < lo || v > hi || d === null) return;
    if (best < 0 || d > evaluation.meanAbsDerivFiring[best]!) best = i;
  });
  return best >= 0 ? best : f.indexOf(Math.max(...f));
}

/** One activation of a latent in context. */
export interface LatentExample {
  /** The latent's activation. */
  activation: number;
  /** Window start in the validation split, and the position in the window. */
  offset: number;
  /** Position within the window. */
  position: number;
  /** Text before the token (up to `before` tokens). */
  before: string;
  /** The token. */
  token: string;
  /** Text after it (up to `after` tokens). */
  after: string;
}

/** A latent over validation windows, and how the gradient changed the SAE's selection there. */
export interface LatentProbe {
  /** The latent. */
  latent: number;
  /** Its top activations, highest first. */
  examples: LatentExample[];
  /** Fraction of the probed tokens it fired on. */
  frequency: number;
  /** Tokens probed. */
  tokens: number;
  /**
   * Mean number of active latents per token that the gradient-aware selection chose and plain
   * TopK (the same weights, no gradient) would not have: 0 for a TopK SAE.
   */
  swappedPerToken: number;
  /** Mean active latents per token with the gradient. */
  l0: number;
  /** The tokens its decoder direction promotes most (logit lens), with their scores. */
  promoted: { token: string; score: number }[];
}

/**
 * Runs `sae` over `sequences` validation windows (encoding with the true-token gradient, as the
 * evaluation does) and collects `latent`'s top activations with context, its logit lens and the
 * gradient's effect on the selection.
 */
export async function probeLatent(
  ws: Workspace,
  sae: SAE,
  options: {
    latent: number;
    sequences: number;
    top?: number;
    before?: number;
    after?: number;
    lensTokens?: number;
    windowSeed?: number;
  },
): Promise<LatentProbe> {
  const seq = ws.model.config.n_positions, d = ws.model.config.n_embd;
  const offsets = options.windowSeed === undefined
    ? spreadOffsets(ws.val.length, options.sequences, seq)
    : jitteredOffsets(ws.val.length, options.sequences, { seqLen: seq, seed: options.windowSeed });
  const found: { activation: number; offset: number; position: number }[] = [];
  let fired = 0, tokens = 0, swapped = 0, active = 0;
  const per = windowsPerPass(ws.model.config, 8);
  for (let i = 0; i < offsets.length; i += per) {
    const batch = offsets.slice(i, i + per);
    const ids = windows(ws.val, batch, seq);
    const g = ws.model.gradAtHook(ids, ws.hook);
    // Every position but the last has a target (and a gradient).
    const [x, grad] = [g.activation, g.gradient].map((t) =>
      tf.tidy(() => t.slice([0, 0, 0], [batch.length, seq - 1, d]).reshape([-1, d]))
    ) as tf.Tensor2D[];
    const [column, swappedT, activeT] = await takeAll(tf.tidy(() => {
      const withGrad = sae.encode(x, { grad }), plain = sae.encode(x);
      const on = tf.greater(withGrad, 0), onPlain = tf.greater(plain, 0);
      return [
        withGrad.slice([0, options.latent], [-1, 1]),
        tf.sum(tf.logicalAnd(on, tf.logicalNot(onPlain)).toFloat()),
        tf.sum(on.toFloat()),
      ];
    }));
    tf.dispose([ids, x, grad, ...Object.values(g)]);
    swapped += swappedT[0];
    active += activeT[0];
    tokens += column.length;
    column.forEach((a, r) => {
      if (a <= 0) return;
      fired++;
      const b = Math.floor(r / (seq - 1));
      found.push({ activation: a, offset: batch[b], position: r % (seq - 1) });
    });
  }
  found.sort((a, b) => b.activation - a.activation);
  const text = (from: number, to: number) => ws.tokenizer.decode(ws.val.subarray(from, to));
  const before = options.before ?? 12, after = options.after ?? 3;
  const examples = found.slice(0, options.top ?? 10).map((f) => {
    const at = f.offset + f.position;
    return {
      ...f,
      before: text(Math.max(f.offset, at - before), at),
      token: text(at, at + 1),
      after: text(at + 1, Math.min(f.offset + seq, at + 1 + after)),
    };
  });
  return {
    latent: options.latent,
    examples,
    frequency: fired / tokens,
    tokens,
    swappedPerToken: swapped / tokens,
    l0: active / tokens,
    promoted: await logitLensTokens(ws, sae, options.latent, options.lensTokens ?? 10),
  };
}

async function logitLensTokens(ws: Workspace, sae: SAE, latent: number, n: number) {
  const d = ws.model.config.n_embd;
  const row = await takeData(tf.tidy(() => {
    const r = (sae.params.get("W_dec")! as tf.Tensor2D).slice([latent, 0], [1, d]);
    return r.div(tf.norm(r));
  }));
  // The reduced vocabulary's out-of-vocabulary id stands for thousands of rare tokens.
  const exclude = ws.vocabMap ? [ws.vocabMap.oovId] : [];
  const [{ set, scores }] = await associatedSets(ws.model, row, { setSize: n, exclude });
  return set.map((id, i) => ({ token: ws.tokenizer.decode([id]), score: scores[i] }));
}

/** The probe's examples as a markdown table (the token in bold within its context). */
export function examplesTable(probe: LatentProbe): string {
  const esc = (s: string) => s.replace(/\n/g, "↵").replace(/\|/g, "\\|").replace(/[*_`]/g, "\\$&");
  // Markdown emphasis cannot start or end with a space: keep the token's spaces outside it.
  const bold = (t: string) => {
    const [, lead, core, trail] = /^(\s*)(.*?)(\s*)$/s.exec(esc(t))!;
    return core ? `${lead}**${core}**${trail}` : `${lead}**∅**${trail}`;
  };
  const rows = probe.examples.map((e) => [
    e.activation.toFixed(3),
    `…${esc(e.before)}${bold(e.token)}${esc(e.after)}…`,
  ]);
  return mdTable(["activation", "context"], rows);
}

/** The probe's logit-lens tokens as one markdown line. */
export function promotedLine(probe: LatentProbe): string {
  return probe.promoted.map((p) => `${showToken(p.token)} (${p.score.toFixed(2)})`).join(", ");
}
