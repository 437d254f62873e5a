/**
 * Notebook 06, steering: does adding a latent's decoder direction to the residual stream raise
 * the probability of the latent's associated tokens, in a concentrated and consistent way, in
 * arbitrary contexts? The paper's steering section is cut from our copy; its conclusion is that
 * g-SAE latents "steer model outputs in a concentrated manner in arbitrary contexts by
 * consistently increasing the probability of the associated set of tokens". Our definitions:
 *
 * - **Associated tokens** of a unit direction u (latent i's normalised decoder row d̂ᵢ): the
 *   `setSize` tokens with the largest logit-lens score W_U·(γ ⊙ (u − mean(u))), the direct path
 *   of u through ln_f's centring and per-dimension scale γ into the tied unembedding W_U (option
 *   `lens: "ln_f"`, the default). Exactly, with P the centring, σ and σ′ the clean and steered
 *   residual's standard deviations: ln_f(h + αu) = (σ/σ′)·γ ⊙ Ph/σ + (α/σ′)·γ ⊙ Pu + b, so
 *   steering the final residual scales the clean logits' non-bias part (a temperature change)
 *   and adds (α/σ′) times the lens scores: the lens ranks the tokens the direct path pushes up in
 *   any context. At an earlier hook the later blocks add indirect effects, which the measurements
 *   include and the set's definition does not. `lens: "raw"` ranks W_U·u, which drops the
 *   centring (a per-token offset mean(u)·Σⱼ W_U[t, j]) and γ, so it is not the model's own
 *   direct path. Ids in `exclude` (the reduced vocabulary's out-of-vocabulary id, which stands
 *   for thousands of rare tokens) never enter a set.
 * - **Steering**: α·u is added at the hook at every position of the context windows, the model
 *   runs on from the hook, and each position's next-token distribution p′ is compared with the
 *   clean p. α is given per direction and strength: notebook 06 scales it to each latent's own
 *   activation quantiles (`strength.ts`) and steers the latent's matched random direction
 *   (`matched_random.ts`) at the same α.
 * - Per position: ΔP(S) = p′(S) − p(S) for the set S; the log-odds gain
 *   logit p′(S) − logit p(S) (logit p = log p/(1 − p)); TV = ½Σ|p′ − p|; KL(p ‖ p′).
 * - Per direction: **gain** = mean ΔP(S); **log-odds gain** = its mean over positions, which has
 *   no ceiling (ΔP(S) ≤ 1 − p(S), and the share of positions where ΔP(S) > 0 is 1 for almost
 *   any direction that points at its own lens tokens); **concentration** = mean ΔP(S) / mean TV,
 *   in [−1, 1]: the share of the probability mass the steering moved that landed on S
 *   (ΔP(S) ≤ TV always); **gain per nat** = mean ΔP(S) / mean KL; **consistency** = the
 *   fraction of positions where ΔP(S) > 0.
 *
 * Why one module of ~360 lines: the definition of steering (associated tokens, gain,
 * concentration, consistency) and its measurement belong together; the study over SAEs and seeds
 * is in `steering_study.ts` and the report in `steering_report.ts`.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { GPT2, HookState } from "../../gpt2/model.ts";
import { spreadOffsets, windows } from "../../data/windows.ts";
import { median } from "../../metrics/mod.ts";
import { matMul } from "../../tensor/ops.ts";
import { Rng } from "../../tensor/random.ts";
import { takeAll, takeData } from "../../tensor/read.ts";

/** How associated tokens are ranked (see the module doc). */
export type LensKind = "ln_f" | "raw";

/** Clean contexts shared by every steered direction. */
export interface SteeringContexts {
  /** The hook steered. */
  hook: string;
  /** Token ids [windows, length]. */
  ids: tf.Tensor2D;
  /** The clean activation at the hook (and residual, for attn_out/mlp_out hooks). */
  state: HookState;
  /** Clean next-token log-probabilities [positions, vocab]. */
  cleanLogProbs: tf.Tensor2D;
  /** Clean next-token probabilities [positions, vocab]. */
  cleanProbs: tf.Tensor2D;
  /** Σ p·log p of each clean distribution [positions]. */
  cleanNegEntropy: tf.Tensor1D;
  /** Median ‖x‖ at the hook over every clean position (the unit of α). */
  medianNorm: number;
  /** Positions measured (windows × length). */
  positions: number;
}

/** One direction at one steering strength. */
export interface SteeringPoint {
  /** The strength's label (notebook 06: the activation quantile α was taken at). */
  strength: number;
  /** α in activation units. */
  alpha: number;
  /** Mean ΔP(S). */
  gain: number;
  /** Mean over positions of logit p′(S) − logit p(S). */
  logOddsGain: number;
  /** Mean KL(p ‖ p′), nats. */
  kl: number;
  /** Mean total-variation distance ½Σ|p′ − p|. */
  tv: number;
  /** gain / tv. */
  concentration: number;
  /** gain / kl (probability per nat). */
  gainPerNat: number;
  /** Fraction of positions with ΔP(S) > 0. */
  consistency: number;
  /** Mean p(S), clean. */
  cleanMass: number;
  /** Mean p′(S), steered. */
  steeredMass: number;
  /** Per set token (in set order): mean clean probability. */
  setClean: number[];
  /** Per set token: mean steered probability. */
  setSteered: number[];
  /** The tokens whose mean probability rose most, with the rise. */
  topGained: { id: number; gain: number }[];
}

/** One steered direction. */
export interface DirectionSteering {
  /** Associated token ids, highest lens score first. */
  set: number[];
  /** Their lens scores (W_U·(γ ⊙ centred u), or W_U·u for the raw lens). */
  scores: number[];
  /** One point per strength of the direction's plan, in the order given. */
  points: SteeringPoint[];
}

/** One strength to steer a direction at: its label and α. */
export interface StrengthAlpha {
  /** Label (e.g. the activation quantile). */
  strength: number;
  /** α in activation units. */
  alpha: number;
}

/** Options of {@link steerDirections}. */
export interface SteerOptions {
  /** Per direction, the strengths to steer it at. */
  alphas: readonly (readonly StrengthAlpha[])[];
  /** Associated tokens per direction. */
  setSize: number;
  /** Token ids never in a set (e.g. the out-of-vocabulary id). */
  exclude?: readonly number[];
  /** Lens ranking the set (default `ln_f`). */
  lens?: LensKind;
  /** Tokens kept in {@link SteeringPoint.topGained} (default 5). */
  topGained?: number;
}

/**
 * `contexts` windows of `length` tokens spread evenly over `data` (model ids), run to `hook`,
 * with their clean next-token distributions. Dispose with {@link disposeContexts}.
 */
export async function steeringContexts(
  model: GPT2,
  data: Int32Array,
  options: { hook: string; contexts: number; length: number },
): Promise<SteeringContexts> {
  const ids = windows(
    data,
    spreadOffsets(data.length, options.contexts, options.length),
    options.length,
  );
  const state = model.runToHook(ids, options.hook);
  const positions = options.contexts * options.length, vocab = model.config.vocab_size;
  const [cleanLogProbs, cleanProbs, cleanNegEntropy, norms] = tf.tidy(() => {
    const h = model.runFromHook(options.hook, state);
    const lp = tf.logSoftmax(model.unembed(h).reshape([positions, vocab])) as tf.Tensor2D;
    const p = tf.exp(lp) as tf.Tensor2D;
    return [lp, p, tf.sum(tf.mul(p, lp), 1), tf.norm(state.activation, "euclidean", 2)];
  });
  const medianNorm = median(await takeData(norms));
  return {
    hook: options.hook,
    ids,
    state,
    cleanLogProbs,
    cleanProbs,
    cleanNegEntropy: cleanNegEntropy as tf.Tensor1D,
    medianNorm,
    positions,
  };
}

/** Frees the tensors of {@link steeringContexts}. */
export function disposeContexts(ctx: SteeringContexts): void {
  tf.dispose([
    ctx.ids,
    ctx.cleanLogProbs,
    ctx.cleanProbs,
    ctx.cleanNegEntropy,
    ...Object.values(ctx.state),
  ]);
}

/**
 * Logit-lens scores [directions, vocab] of unit directions [directions, d] (see the module doc).
 */
export function logitLens(
  model: GPT2,
  directions: tf.Tensor2D,
  lens: LensKind = "ln_f",
): tf.Tensor2D {
  return tf.tidy(() => {
    const u = lens === "raw"
      ? directions
      : tf.mul(tf.sub(directions, tf.mean(directions, 1, true)), model.p("ln_f.weight"));
    return matMul(u, model.p("wte.weight"), false, true) as tf.Tensor2D;
  });
}

/** Indices of the `n` largest scores, excluding `exclude`, highest first. */
export function topIndices(
  scores: ArrayLike<number>,
  n: number,
  exclude: readonly number[] = [],
): number[] {
  const skip = new Set(exclude);
  const order = Array.from({ length: scores.length }, (_, i) => i).filter((i) => !skip.has(i));
  order.sort((a, b) => scores[b] - scores[a] || a - b);
  return order.slice(0, n);
}

/** Each direction's associated token set: ids and lens scores, highest first. */
export async function associatedSets(
  model: GPT2,
  directions: Float32Array,
  options: { setSize: number; exclude?: readonly number[]; lens?: LensKind },
): Promise<{ set: number[]; scores: number[] }[]> {
  const d = model.config.n_embd, vocab = model.config.vocab_size, m = directions.length / d;
  const scores = await takeData(
    tf.tidy(() => logitLens(model, tf.tensor2d(directions, [m, d]), options.lens)),
  );
  return Array.from({ length: m }, (_, i) => {
    const row = scores.subarray(i * vocab, (i + 1) * vocab);
    const set = topIndices(row, options.setSize, options.exclude);
    return { set, scores: set.map((id) => row[id]) };
  });
}

/**
 * Steers with each unit direction (rows of `directions`, [m·d]) at each of its strengths
 * (`options.alphas[i]`) and measures its associated set's gains, concentration and consistency
 * (module doc).
 */
export async function steerDirections(
  model: GPT2,
  ctx: SteeringContexts,
  directions: Float32Array,
  options: SteerOptions,
): Promise<DirectionSteering[]> {
  const d = model.config.n_embd, m = directions.length / d;
  if (options.alphas.length !== m) {
    throw new RangeError(`steerDirections: ${options.alphas.length} α lists for ${m} directions`);
  }
  const sets = await associatedSets(model, directions, options);
  const out: DirectionSteering[] = [];
  for (const [i, { set, scores }] of sets.entries()) {
    const u = directions.subarray(i * d, (i + 1) * d);
    const points: SteeringPoint[] = [];
    for (const { strength, alpha } of options.alphas[i]) {
      points.push(
        await steerOne(model, ctx, { u, set, strength, alpha, topGained: options.topGained ?? 5 }),
      );
    }
    out.push({ set, scores, points });
  }
  return out;
}

/**
 * log(p / (1 − p)), with p clamped to [1e-12, 1 − 1e-7] (float32 probabilities: 0 and 1 mean
 * "below" and "within rounding of" them).
 */
export function logOdds(p: number): number {
  const q = Math.min(1 - 1e-7, Math.max(1e-12, p));
  return Math.log(q) - Math.log1p(-q);
}

async function steerOne(
  model: GPT2,
  ctx: SteeringContexts,
  o: { u: Float32Array; set: number[]; strength: number; alpha: number; topGained: number },
): Promise<SteeringPoint> {
  const vocab = model.config.vocab_size, n = o.set.length, rows = ctx.positions;
  const alpha = o.alpha;
  const indicator = new Float32Array(vocab * n);
  o.set.forEach((id, j) => (indicator[id * n + j] = 1));
  const [kl, tv, setP, setClean, meanDiff] = await takeAll(tf.tidy(() => {
    const mask = tf.tensor2d(indicator, [vocab, n]);
    const activation = tf.add(ctx.state.activation, tf.tensor1d(o.u).mul(alpha)) as tf.Tensor3D;
    const h = model.runFromHook(ctx.hook, { ...ctx.state, activation });
    const logits = model.unembed(h).reshape([rows, vocab]) as tf.Tensor2D;
    // One exp pass (the costly op here): p′ = e / s with e = exp(logits − max), and
    // KL(p ‖ p′) = Σ p·log p − Σ p·logits + max + log s.
    const max = tf.max(logits, 1, true);
    const e = tf.exp(tf.sub(logits, max)), s = tf.sum(e, 1, true);
    const p = tf.div(e, s) as tf.Tensor2D, diff = tf.sub(p, ctx.cleanProbs) as tf.Tensor2D;
    const crossLogits = tf.sum(tf.mul(ctx.cleanProbs, logits), 1);
    return [
      tf.add(tf.sub(ctx.cleanNegEntropy, crossLogits), tf.add(max, tf.log(s)).reshape([rows])),
      tf.mul(tf.sum(tf.abs(diff), 1), 0.5),
      matMul(p, mask),
      matMul(ctx.cleanProbs, mask),
      // A column mean as a product with ones: far faster than a reduction along axis 0 here.
      matMul(tf.fill([1, rows], 1 / rows), diff),
    ];
  }));
  let gain = 0, logOddsGain = 0, klSum = 0, tvSum = 0, up = 0, clean = 0;
  const perClean = new Array(n).fill(0), perSteered = new Array(n).fill(0);
  for (let r = 0; r < rows; r++) {
    let before = 0, after = 0;
    for (let j = 0; j < n; j++) {
      before += setClean[r * n + j];
      after += setP[r * n + j];
      perClean[j] += setClean[r * n + j] / rows;
      perSteered[j] += setP[r * n + j] / rows;
    }
    gain += (after - before) / rows;
    logOddsGain += (logOdds(after) - logOdds(before)) / rows;
    clean += before / rows;
    if (after > before) up++;
    klSum += kl[r] / rows;
    tvSum += tv[r] / rows;
  }
  return {
    strength: o.strength,
    alpha,
    gain,
    logOddsGain,
    kl: klSum,
    tv: tvSum,
    concentration: tvSum > 0 ? gain / tvSum : 0,
    gainPerNat: klSum > 0 ? gain / klSum : 0,
    consistency: up / rows,
    cleanMass: clean,
    steeredMass: clean + gain,
    setClean: perClean,
    setSteered: perSteered,
    topGained: topIndices(meanDiff, o.topGained).map((id) => ({ id, gain: meanDiff[id] })),
  };
}

/**
 * `count` distinct latents drawn uniformly (seeded) from those with a non-zero activation
 * frequency, ascending. Fewer when fewer are alive.
 */
export function sampleLiveLatents(
  frequencies: ArrayLike<number>,
  count: number,
  seed: number,
): number[] {
  const live = Array.from(frequencies, (f, i) => [f, i]).filter(([f]) => f > 0).map(([, i]) => i);
  const rng = new Rng((seed * 7919 + 6) | 0);
  const k = Math.min(count, live.length);
  for (let i = 0; i < k; i++) {
    const j = i + rng.int(live.length - i);
    [live[i], live[j]] = [live[j], live[i]];
  }
  return live.slice(0, k).sort((a, b) => a - b);
}

/** `count` isotropic random unit directions in `d` dims, as rows [count·d] (a control). */
export function randomDirections(d: number, count: number, seed: number): Float32Array {
  const rng = new Rng((seed * 104_729 + 17) | 0), out = new Float32Array(count * d);
  for (let i = 0; i < count; i++) {
    let s = 0;
    for (let j = 0; j < d; j++) s += (out[i * d + j] = rng.normal()) ** 2;
    for (let j = 0; j < d; j++) out[i * d + j] /= Math.sqrt(s);
  }
  return out;
}

/** The unit-normalised rows `latents` of a decoder W_dec [d_sae, d], as rows [latents·d]. */
export async function decoderDirections(
  wDec: tf.Tensor2D,
  latents: readonly number[],
): Promise<Float32Array> {
  const [, d] = wDec.shape, all = await wDec.data() as Float32Array;
  const out = new Float32Array(latents.length * d);
  latents.forEach((l, i) => {
    const row = all.subarray(l * d, (l + 1) * d);
    const norm = Math.hypot(...row) || 1;
    for (let j = 0; j < d; j++) out[i * d + j] = row[j] / norm;
  });
  return out;
}
