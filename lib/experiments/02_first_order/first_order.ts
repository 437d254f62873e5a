/**
 * Notebook 02, the paper's Fig. 3: does the first-order estimate ∇L·δ predict the loss change
 * ΔL of a perturbation δ better than its norm ‖δ‖ does?
 *
 * At a hook (e.g. `blocks.L.hook_mlp_out`, `blocks.L.hook_resid_post`) we add δ to one token's
 * activation and run on from the hook. δ = r·u with u isotropic (uniform on the sphere) and r
 * uniform with mean m and standard deviation m/2, i.e. on [m(1 − √3/2), m(1 + √3/2)]; the lower
 * end is 0.13·m > 0, so no clipping is ever needed. m is a fraction of the hook's typical scale,
 * the median ‖x‖ over the sampled tokens (or absolute, with `magnitudeScale: "absolute"`), so
 * one list of fractions suits hooks whose norms differ (mlp_out is much smaller than resid_post).
 *
 * L is the perturbed sequence's summed next-token loss and ∇L its gradient at the clean
 * activation (`GPT2.gradAtHook`). The paper correlates the loss change's magnitude: we report
 * Spearman(|ΔL|, |∇L·δ|) and Spearman(|ΔL|, ‖δ‖), plus the signed Spearman(ΔL, ∇L·δ) and the
 * relative error mean|ΔL − ∇L·δ| / mean|ΔL|. Each perturbation's sequence, position, direction
 * and uniform draw are shared by every magnitude (common random numbers), so magnitudes differ
 * only in scale. The summary over seeds, the verdicts and the figure are in
 * `first_order_summary.ts`.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { windowsPerPass } from "../../gpt2/config.ts";
import type { GPT2 } from "../../gpt2/model.ts";
import { jitteredOffsets, spreadOffsets, windows } from "../../data/windows.ts";
import { mean, median, spearman } from "../../metrics/mod.ts";
import { Rng } from "../../tensor/random.ts";
import { takeAll, takeData } from "../../tensor/read.ts";

/** Default magnitudes, as fractions of the hook's median activation norm. */
export const DEFAULT_FRACTIONS: readonly number[] = [0.01, 0.03, 0.1, 0.3, 1];

/** Options of {@link firstOrderVsNorm}. */
export interface FirstOrderOptions {
  /** Hooks to perturb, e.g. `["blocks.1.hook_mlp_out", "blocks.1.hook_resid_post"]`. */
  hooks: string[];
  /** Mean perturbation norms m: fractions of the median ‖x‖ (default {@link DEFAULT_FRACTIONS}). */
  magnitudes?: readonly number[];
  /** Perturbations per hook and magnitude. */
  perturbations: number;
  /** Seeds positions, directions and radii. */
  seed: number;
  /** `median_norm` (default): magnitudes are fractions of the median ‖x‖; `absolute`: as given. */
  magnitudeScale?: "median_norm" | "absolute";
  /** Tokens per sequence (default: the model's n_positions). */
  seqLen?: number;
  /** Perturbations per sequence, all run in one batched pass (default 25). */
  replicas?: number;
  /**
   * Copies of a window (the clean one and its perturbations) per model pass (default
   * `windowsPerPass`: all of them for short contexts, one for GPT-2's 1,024-token windows).
   */
  copiesPerPass?: number;
  /**
   * When given, each window starts at a random point of its slot (see `jitteredOffsets`), so
   * different seeds perturb different tokens; otherwise the windows are evenly spread.
   */
  windowSeed?: number;
}

/** The measurements at one hook and magnitude. */
export interface FirstOrderPoint {
  /** m as given (a fraction of the median norm, or absolute). */
  fraction: number;
  /** m in activation units. */
  magnitude: number;
  /** Spearman(|ΔL|, |∇L·δ|): the paper's left panel. */
  spearmanFirstOrder: number;
  /** Spearman(|ΔL|, ‖δ‖): the paper's right panel. */
  spearmanNorm: number;
  /** Spearman(ΔL, ∇L·δ), signed. */
  spearmanSigned: number;
  /** mean|ΔL − ∇L·δ| / mean|ΔL|: how far from exact the first-order estimate is. */
  relativeError: number;
  /** Median |ΔL|. */
  medianAbsDeltaLoss: number;
  /** Perturbations. */
  n: number;
  /** Per perturbation: ΔL, ∇L·δ, ‖δ‖ and the perturbed position. */
  samples: { deltaLoss: number[]; firstOrder: number[]; norm: number[]; position: number[] };
}

/** One hook's results. */
export interface FirstOrderHook {
  /** The hook. */
  hook: string;
  /** Median ‖x‖ over every position of the sampled sequences. */
  medianNorm: number;
  /** One point per magnitude, in the order given. */
  points: FirstOrderPoint[];
  /** Wall time for this hook. */
  seconds: number;
}

/** Result of {@link firstOrderVsNorm}. */
export interface FirstOrderResult {
  /** The seed. */
  seed: number;
  /** How magnitudes were scaled. */
  magnitudeScale: "median_norm" | "absolute";
  /** Sequences used per hook. */
  sequences: number;
  /** Start of each sequence in the data. */
  offsets: number[];
  /** Tokens per sequence. */
  seqLen: number;
  /** One entry per hook. */
  hooks: FirstOrderHook[];
}

interface CleanSequence {
  ids: tf.Tensor2D;
  residual?: tf.Tensor3D;
  act: Float32Array;
  grad: Float32Array;
}

interface Perturbation {
  sequence: number;
  position: number;
  direction: Float64Array;
  /** Uniform draw in [0, 1) that sets the radius. */
  v: number;
}

/**
 * Perturb single-token activations at each hook and compare the actual change of the sequence's
 * summed loss with ∇L·δ and with ‖δ‖, per magnitude (see the module doc). `data` holds model
 * token ids (e.g. the validation split); sequences are spread evenly over it.
 */
export async function firstOrderVsNorm(
  model: GPT2,
  data: Int32Array,
  options: FirstOrderOptions,
): Promise<FirstOrderResult> {
  const t = options.seqLen ?? model.config.n_positions, d = model.config.n_embd;
  const replicas = options.replicas ?? 25, scale = options.magnitudeScale ?? "median_norm";
  const count = Math.ceil(options.perturbations / replicas);
  const offsets = options.windowSeed === undefined
    ? spreadOffsets(data.length, count, t)
    : jitteredOffsets(data.length, count, { seqLen: t, seed: options.windowSeed });
  const hooks: FirstOrderHook[] = [];
  for (const [h, hook] of options.hooks.entries()) {
    const t0 = performance.now();
    const clean: CleanSequence[] = [];
    try {
      for (const o of offsets) clean.push(await cleanPass(model, hook, windows(data, [o], t)));
      const norms: number[] = [];
      for (const c of clean) for (let p = 0; p < t; p++) norms.push(rowNorm(c.act, p, d));
      const medianNorm = median(norms);
      const rng = new Rng((options.seed * 1_000_003 + h * 7919 + 2) | 0);
      const plan: Perturbation[] = Array.from({ length: options.perturbations }, (_, k) => ({
        sequence: Math.floor(k / replicas),
        // The last position has no target and no later tokens: perturbing it changes nothing.
        position: rng.int(t - 1),
        direction: unitVector(d, rng),
        v: rng.uniform(),
      }));
      const points: FirstOrderPoint[] = [];
      for (const fraction of options.magnitudes ?? DEFAULT_FRACTIONS) {
        const m = scale === "absolute" ? fraction : fraction * medianNorm;
        const copiesPerPass = options.copiesPerPass;
        points.push(
          await measure(model, hook, { clean, plan, fraction, magnitude: m, copiesPerPass }),
        );
      }
      hooks.push({ hook, medianNorm, points, seconds: (performance.now() - t0) / 1000 });
    } finally {
      for (const c of clean) tf.dispose([c.ids, ...(c.residual ? [c.residual] : [])]);
    }
  }
  return {
    seed: options.seed,
    magnitudeScale: scale,
    sequences: offsets.length,
    offsets,
    seqLen: t,
    hooks,
  };
}

/** The radius for uniform draw v ∈ [0, 1): uniform with mean m and std m/2. */
export function perturbationRadius(m: number, v: number): number {
  return m * (1 + Math.sqrt(3) * (v - 0.5));
}

async function cleanPass(model: GPT2, hook: string, ids: tf.Tensor2D): Promise<CleanSequence> {
  const g = model.gradAtHook(ids, hook);
  const [act, grad] = await takeAll([g.activation, g.gradient]);
  g.losses.dispose();
  return { ids, residual: g.residual, act, grad };
}

function rowNorm(a: ArrayLike<number>, row: number, d: number): number {
  let s = 0;
  for (let j = 0; j < d; j++) s += a[row * d + j] ** 2;
  return Math.sqrt(s);
}

function unitVector(d: number, rng: Rng): Float64Array {
  const z = Float64Array.from({ length: d }, () => rng.normal());
  const n = rowNorm(z, 0, d);
  return z.map((x) => x / n);
}

async function measure(
  model: GPT2,
  hook: string,
  o: {
    clean: CleanSequence[];
    plan: Perturbation[];
    fraction: number;
    magnitude: number;
    copiesPerPass?: number;
  },
): Promise<FirstOrderPoint> {
  const d = model.config.n_embd;
  const samples = {
    deltaLoss: [] as number[],
    firstOrder: [] as number[],
    norm: [] as number[],
    position: [] as number[],
  };
  for (const [s, clean] of o.clean.entries()) {
    const group = o.plan.filter((p) => p.sequence === s);
    if (group.length === 0) continue;
    const deltas = group.map((p) =>
      p.direction.map((u) => u * perturbationRadius(o.magnitude, p.v))
    );
    const losses = await perturbedLosses(model, clean, {
      hook,
      perturbations: group.map((p, i) => [p.position, deltas[i]]),
      copiesPerPass: o.copiesPerPass,
    });
    group.forEach((p, i) => {
      let dot = 0;
      for (let j = 0; j < d; j++) dot += clean.grad[p.position * d + j] * deltas[i][j];
      samples.deltaLoss.push(losses[i]);
      samples.firstOrder.push(dot);
      samples.norm.push(rowNorm(deltas[i], 0, d));
      samples.position.push(p.position);
    });
  }
  const abs = (a: number[]) => a.map(Math.abs);
  const { deltaLoss: dl, firstOrder: fo } = samples;
  return {
    fraction: o.fraction,
    magnitude: o.magnitude,
    spearmanFirstOrder: spearman(abs(dl), abs(fo)),
    spearmanNorm: spearman(abs(dl), samples.norm),
    spearmanSigned: spearman(dl, fo),
    relativeError: mean(dl.map((x, i) => Math.abs(x - fo[i]))) / mean(abs(dl)),
    medianAbsDeltaLoss: median(abs(dl)),
    n: dl.length,
    samples,
  };
}

/**
 * ΔL of each perturbation [position, δ] of one sequence: the clean copy and every perturbed copy
 * run from the hook, in one batch where the logits fit (`windowsPerPass`). Only losses at
 * positions ≥ the perturbed one can change (causal attention), so ΔL sums just those
 * differences, in float64: the unchanged earlier positions would add only float32 rounding
 * noise, which matters for tiny perturbations.
 */
async function perturbedLosses(
  model: GPT2,
  clean: CleanSequence,
  o: { hook: string; perturbations: [number, Float64Array][]; copiesPerPass?: number },
): Promise<number[]> {
  const { hook, perturbations } = o;
  const [, t] = clean.ids.shape, d = model.config.n_embd, b = perturbations.length + 1;
  const x = new Float32Array(b * t * d);
  for (let r = 0; r < b; r++) x.set(clean.act, r * t * d);
  perturbations.forEach(([p, delta], i) => {
    for (let j = 0; j < d; j++) x[((i + 1) * t + p) * d + j] += delta[j];
  });
  // Copies per pass: all of them for short contexts, one at a time for GPT-2's 1,024 × 50,257
  // logits (`windowsPerPass`).
  const perPass = o.copiesPerPass ?? windowsPerPass(model.config, b);
  const losses = new Float32Array(b * (t - 1));
  for (let r0 = 0; r0 < b; r0 += perPass) {
    const rows = Math.min(perPass, b - r0);
    const lossesT = tf.tidy(() => {
      const state = {
        activation: tf.tensor3d(x.subarray(r0 * t * d, (r0 + rows) * t * d), [rows, t, d]),
        residual: clean.residual ? tf.tile(clean.residual, [rows, 1, 1]) as tf.Tensor3D : undefined,
      };
      const ids = tf.tile(clean.ids, [rows, 1]) as tf.Tensor2D;
      return model.tokenLosses(ids, model.runFromHook(hook, state));
    });
    // Read outside tf.tidy (tidy cannot span an await).
    losses.set(await takeData(lossesT), r0 * (t - 1));
  }
  return perturbations.map(([p], i) => {
    let s = 0;
    for (let u = p; u < t - 1; u++) s += losses[(i + 1) * (t - 1) + u] - losses[u];
    return s;
  });
}
