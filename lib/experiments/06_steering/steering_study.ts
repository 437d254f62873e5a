/**
 * Notebook 06's comparison: steering with a sample of live latents of each compared SAE (TopK,
 * g-SAE, e2e-TopK; one SAE per seed, shared with notebooks 03–05), each at strengths taken from
 * its own activation quantiles (`strength.ts`), and each paired with a random direction matched
 * to the activations' covariance (`matched_random.ts`) steered at the same α; measured as defined
 * in `steering.ts`; summaries over seeds and the verdict.
 *
 * The per-seed quantity of the claim is, per SAE, the mean over its latents of (the latent's
 * log-odds gain − its matched random direction's): how much better than a direction of the same
 * kind and norm a latent raises its own associated tokens.
 *
 * Why one module of ~380 lines: the latent sample, the paired controls and the summaries over
 * seeds are one comparison; splitting them would scatter its pairing rules.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { mean, median } from "../../metrics/mod.ts";
import { createSAE, disposeSAE, type SAE, type SAEOptions } from "../../sae/mod.ts";
import { spreadOffsets, windows } from "../../data/windows.ts";
import { chooseBeta, COMPARED, type ComparedArchitecture, mainSAE } from "../zoo/compared.ts";
import type { ProfileName } from "../shared/profile.ts";
import { budgetFromEnv, TINY_STEERING } from "../shared/budget.ts";
import type { Verdict } from "../shared/results.ts";
import { evaluateSAE } from "../zoo/sae_eval.ts";
import type { TrainedSAE } from "../zoo/sae_zoo.ts";
import { empiricalGaussian } from "../shared/gaussian.ts";
import { compareSeeds, spread, verdictOf } from "../shared/seed_spread.ts";
import type { Outcome, Spread } from "../shared/seed_spread.ts";
import {
  associatedSets,
  decoderDirections,
  type DirectionSteering,
  disposeContexts,
  sampleLiveLatents,
  steerDirections,
  steeringContexts,
} from "./steering.ts";
import { matchedRandomDirections } from "./matched_random.ts";
import { firingActivations, quantileAlphas, strengthPlan } from "./strength.ts";
import type { Workspace } from "../shared/workspace.ts";

/** Sizes of the steering experiment. */
export interface SteeringBudget {
  /** Live latents steered per SAE (each with its matched random direction). */
  latents: number;
  /** Of those, how many (the first of the sample) are steered at every quantile, not only the main. */
  sweepLatents: number;
  /** Validation windows (contexts) steered in. */
  contexts: number;
  /** Tokens per context window; every position is measured. */
  length: number;
  /** Full-length validation windows whose activations give the quantiles and the covariance. */
  activationWindows: number;
  /** A sampled latent fires at least this often on those tokens in each SAE of its seed. */
  minFirings: number;
  /** Strengths: quantiles of each latent's activation where it fires. */
  quantiles: number[];
  /** The quantile the claim is judged at (every latent is steered at it). */
  mainQuantile: number;
  /** Associated tokens per latent. */
  setSize: number;
}

/** The `default` (and `extended`) profile's steering budget; see {@link STEERING_BUDGETS}. */
const DEFAULT_STEERING: SteeringBudget = {
  latents: 200,
  sweepLatents: 32,
  contexts: 8,
  length: 16,
  activationWindows: 64,
  minFirings: 20,
  quantiles: [0.5, 0.9, 0.99],
  mainQuantile: 0.99,
  setSize: 10,
};

/**
 * Steering budgets by profile (ours; the paper's section is not in our copy). Default: 200
 * latents per SAE at the main quantile, and 32 of them at every quantile for the figure, in
 * 8 × 16 = 128 positions. A steered direction costs ~13 ms per 128 positions on 2 cores, about
 * linear in positions; 200 latents × 2 (latent, matched random) × 3 SAEs × 5 seeds plus the
 * sweep is ~8,000 steered passes, ~2 minutes. Latents vary more than positions do, so positions
 * were cut (from 256) rather than latents.
 */
export const STEERING_BUDGETS: Readonly<Record<ProfileName, SteeringBudget>> = {
  smoke: {
    latents: 6,
    sweepLatents: 3,
    contexts: 4,
    length: 16,
    activationWindows: 8,
    minFirings: 5,
    quantiles: [0.5, 0.9, 0.99],
    mainQuantile: 0.99,
    setSize: 10,
  },
  default: DEFAULT_STEERING,
  extended: DEFAULT_STEERING,
  // Each position holds vocabulary-sized distributions (50,257 floats for GPT-2) several times.
  paper: {
    latents: 200,
    sweepLatents: 64,
    contexts: 16,
    length: 32,
    activationWindows: 64,
    minFirings: 20,
    quantiles: [0.5, 0.9, 0.99],
    mainQuantile: 0.99,
    setSize: 10,
  },
};

/** The SAE kinds steered (the compared architectures). */
export const STEERED = COMPARED;

/** One of {@link STEERED}. */
export type SteeredKind = ComparedArchitecture;

/** One SAE's steered latents and their matched random directions. */
export interface SteeringRun {
  /** Architecture. */
  kind: SteeredKind;
  /** Seed of the SAE, of the latent sample and of the matched directions. */
  seed: number;
  /** The SAE's label. */
  label: string;
  /** The latents steered. */
  latents: number[];
  /** Their validation activation frequencies (the shared evaluation). */
  frequencies: number[];
  /** Their firings on the activation tokens (plain selection). */
  firings: number[];
  /** Per latent, α at each of the budget's quantiles. */
  alphas: number[][];
  /** Median over the latents of α at the main quantile / median ‖x‖. */
  alphaScale: number;
  /**
   * Median over the latents of the cosine between the trained decoder row and the same row at
   * initialisation (how far training moved the directions).
   */
  initCosine: number;
  /** Median over the latents of the cosine with the same latent of the seed's TopK SAE. */
  topkCosine: number | null;
  /** Per latent, its set and measurements. */
  directions: DirectionSteering[];
  /** Per latent, its matched random direction's set and measurements (same strengths and α). */
  matched: DirectionSteering[];
}

/** Result of {@link steeringComparison}. */
export interface SteeringComparison {
  /** The hook. */
  hook: string;
  /** The sizes used. */
  budget: SteeringBudget;
  /** g-SAE's β (chosen on development windows). */
  beta: number;
  /** Median ‖x‖ at the hook over the contexts (for scale). */
  medianNorm: number;
  /** Tokens behind the quantiles and the covariance. */
  activationTokens: number;
  /** Mean Jaccard overlap of the ln_f-lens and raw-lens sets over every sampled latent. */
  lensOverlap: number;
  /** Smallest and largest |γ| of ln_f (how unequally it weighs the residual's dimensions). */
  lnfScaleRange: [number, number];
  /** One run per kind and seed. */
  runs: SteeringRun[];
  /** Wall time. */
  seconds: number;
}

/**
 * Steers with `budget.latents` live latents of each compared SAE at every seed of the profile,
 * and with each latent's matched random direction, in the same validation contexts.
 */
export async function steeringComparison(
  ws: Workspace,
  options: { budget?: SteeringBudget; beta?: number; log?: (line: string) => void } = {},
): Promise<SteeringComparison> {
  const t0 = performance.now(), log = options.log ?? (() => {});
  const budget = options.budget ??
    (budgetFromEnv() === "tiny" ? TINY_STEERING : STEERING_BUDGETS[ws.profile.name]);
  if (!budget.quantiles.includes(budget.mainQuantile)) {
    throw new Error(`steering: main quantile ${budget.mainQuantile} not in ${budget.quantiles}`);
  }
  const beta = options.beta ?? (await chooseBeta(ws)).beta;
  const exclude = ws.vocabMap ? [ws.vocabMap.oovId] : [];
  const steer = { setSize: budget.setSize, exclude };
  const d = ws.model.config.n_embd;
  const x = activationRows(ws, budget.activationWindows);
  const gaussian = empiricalGaussian(await x.data() as Float32Array, d);
  const ctx = await steeringContexts(ws.model, ws.val, { hook: ws.hook, ...budget });
  const runs: SteeringRun[] = [], overlaps: number[] = [];
  try {
    for (const seed of ws.profile.seeds) {
      const saes: {
        kind: SteeredKind;
        t: TrainedSAE;
        frequencies: number[];
        acts: number[][];
      }[] = [];
      for (const kind of COMPARED) {
        const t = await mainSAE(ws, kind, seed, { beta });
        const frequencies = (await evaluateSAE(ws, t)).frequencies;
        saes.push({ kind, t, frequencies, acts: await firingActivations(t.sae, x) });
      }
      // The SAEs of one seed start from the same dictionary, so latent i of each is comparable:
      // steer the same latents (firing often enough for quantiles in all of them) in each.
      const eligible = saes[0].acts.map((_, i) =>
        saes.every((s) => s.acts[i].length >= budget.minFirings) ? 1 : 0
      );
      const latents = sampleLiveLatents(eligible, budget.latents, seed);
      if (latents.length === 0) {
        throw new Error(
          `steering: no latent fires ${budget.minFirings} times on ${x.shape[0]} validation ` +
            `tokens in every SAE of seed ${seed}`,
        );
      }
      const randomDirs = matchedRandomDirections(gaussian, latents, seed);
      const topkDirs = await decoderDirections(
        saes[0].t.sae.params.get("W_dec") as tf.Tensor2D,
        latents,
      );
      for (const { kind, t, frequencies, acts } of saes) {
        const dirs = await decoderDirections(t.sae.params.get("W_dec") as tf.Tensor2D, latents);
        const alphas = await quantileAlphas(t.sae, acts, { latents, quantiles: budget.quantiles });
        const plan = strengthPlan(alphas, budget);
        const raw = await associatedSets(ws.model, dirs, { ...steer, lens: "raw" });
        const directions = await steerDirections(ws.model, ctx, dirs, { ...steer, alphas: plan });
        const matched = await steerDirections(ws.model, ctx, randomDirs, {
          ...steer,
          alphas: plan,
        });
        directions.forEach((s, i) => overlaps.push(jaccard(s.set, raw[i].set)));
        const main = budget.quantiles.indexOf(budget.mainQuantile);
        runs.push({
          kind,
          seed,
          label: t.label,
          latents,
          frequencies: latents.map((l) => frequencies[l]),
          firings: latents.map((l) => acts[l].length),
          alphas,
          alphaScale: median(alphas.map((a) => a[main])) / ctx.medianNorm,
          initCosine: medianRowCosine(dirs, await initialDirections(t.sae, latents), d),
          topkCosine: kind === "topk" ? null : medianRowCosine(dirs, topkDirs, d),
          directions,
          matched,
        });
        log(`steered ${latents.length} latents of ${t.label} and their matched directions`);
      }
    }
    const gamma = Array.from(await ws.model.p("ln_f.weight").data(), Math.abs);
    return {
      hook: ws.hook,
      budget,
      beta,
      medianNorm: ctx.medianNorm,
      activationTokens: x.shape[0],
      lensOverlap: mean(overlaps),
      lnfScaleRange: [Math.min(...gamma), Math.max(...gamma)],
      runs,
      seconds: (performance.now() - t0) / 1000,
    };
  } finally {
    disposeContexts(ctx);
    x.dispose();
  }
}

/** Activations at the hook [windows·n_positions, d] of `count` full validation windows. */
function activationRows(ws: Workspace, count: number): tf.Tensor2D {
  const seq = ws.model.config.n_positions;
  const ids = windows(ws.val, spreadOffsets(ws.val.length, count, seq), seq);
  const state = ws.model.runToHook(ids, ws.hook);
  const x = state.activation.reshape([-1, ws.model.config.n_embd]) as tf.Tensor2D;
  tf.dispose([ids, ...Object.values(state)]);
  return x;
}

/** |a ∩ b| / |a ∪ b|. */
export function jaccard(a: readonly number[], b: readonly number[]): number {
  const sa = new Set(a), inter = b.filter((x) => sa.has(x)).length;
  return inter / (sa.size + new Set(b).size - inter);
}

/** The decoder rows `latents` of `sae` as initialised (its config, seed included, fixes them). */
async function initialDirections(sae: SAE, latents: number[]): Promise<Float32Array> {
  const fresh = createSAE(sae.config as unknown as SAEOptions);
  try {
    return await decoderDirections(fresh.params.get("W_dec") as tf.Tensor2D, latents);
  } finally {
    disposeSAE(fresh);
  }
}

/** Median over rows of the cosine between matching unit rows of `a` and `b` ([rows·d]). */
export function medianRowCosine(a: Float32Array, b: Float32Array, d: number): number {
  const n = d, rows = a.length / n;
  const cos = Array.from({ length: rows }, (_, r) => {
    let s = 0;
    for (let j = 0; j < n; j++) s += a[r * n + j] * b[r * n + j];
    return s;
  });
  return median(cos);
}

/** The per-direction measurements a summary averages. */
export const STEERING_METRICS = [
  "logOddsGain",
  "gain",
  "concentration",
  "gainPerNat",
  "consistency",
  "kl",
  "alpha",
] as const;

/** One of {@link STEERING_METRICS}. */
export type SteeringMetric = typeof STEERING_METRICS[number];

/**
 * One kind's measurements at one strength: per metric, the spread over seeds of the mean over
 * the directions steered at it. `values` are in the order of `seeds`, so kinds pair by seed.
 */
export interface KindSummary {
  /** Architecture. */
  kind: SteeredKind;
  /** Seeds, in order. */
  seeds: number[];
  /** Latents measured at this strength per seed. */
  directions: number;
  /** The latents. */
  latents: Record<SteeringMetric, Spread>;
  /** Their matched random directions. */
  matched: Record<SteeringMetric, Spread>;
  /** Per seed, the mean over latents of (latent − its matched direction): the claim's input. */
  excess: Record<SteeringMetric, Spread>;
}

/** Every kind's summary at `strength` (one of the budget's quantiles). */
export function summariseSteering(cmp: SteeringComparison, strength: number): KindSummary[] {
  if (!cmp.budget.quantiles.includes(strength)) {
    throw new Error(`strength ${strength} was not measured (${cmp.budget.quantiles})`);
  }
  return STEERED.map((kind) => {
    const runs = cmp.runs.filter((r) => r.kind === kind);
    const at = (d: DirectionSteering) => d.points.find((p) => p.strength === strength);
    const pairs = runs.map((r) =>
      r.directions.flatMap((d, i) => {
        const a = at(d), b = at(r.matched[i]);
        return a && b ? [[a, b]] : [];
      })
    );
    const per = (f: (a: number, b: number) => number) =>
      Object.fromEntries(STEERING_METRICS.map((m) => [
        m,
        spread(pairs.map((ps) => mean(ps.map(([a, b]) => f(a[m], b[m]))))),
      ])) as Record<SteeringMetric, Spread>;
    return {
      kind,
      seeds: runs.map((r) => r.seed),
      directions: Math.min(...pairs.map((p) => p.length)),
      latents: per((a) => a),
      matched: per((_, b) => b),
      excess: per((a, b) => a - b),
    };
  });
}

/** One comparison of the steering claim (higher is the claimed direction). */
export interface SteeringComparisonOutcome {
  /** g-SAE's latents against: their matched random directions, or another SAE's latents. */
  baseline: "matched" | "topk" | "e2e_topk";
  /** The metric. */
  metric: SteeringMetric;
  /** How the seeds compare (`seed_spread.ts`; paired by seed). */
  outcome: Outcome;
  /** Mean over seeds of the paired difference. */
  meanDiff: number;
}

/**
 * The steering claim's verdict on the log-odds gain of the associated set. Primary, a conjunction
 * (the claim is that g-SAE's latents steer, and that this is g-SAE's doing): g-SAE's latents
 * against their own matched random directions (paired per latent, then by seed), and g-SAE's
 * excess over those directions against TopK's (paired by seed: the same latents, the same
 * random directions); each judged by its 95 % interval over seeds (`seed_spread.ts`). g-SAE's
 * excess against e2e-TopK's is described beside them.
 */
export function steeringVerdict(
  summaries: KindSummary[],
): { verdict: Verdict; comparisons: SteeringComparisonOutcome[] } {
  const by = (k: SteeredKind) => summaries.find((s) => s.kind === k)!;
  const g = by("gsae"), metric = "logOddsGain" as const;
  const vs = (
    baseline: SteeringComparisonOutcome["baseline"],
    a: Spread,
    b: Spread,
  ): SteeringComparisonOutcome => ({
    baseline,
    metric,
    outcome: compareSeeds(a.values, b.values, { claim: "higher", paired: true }),
    meanDiff: a.mean - b.mean,
  });
  const comparisons = [
    vs("matched", g.latents[metric], g.matched[metric]),
    vs("topk", g.excess[metric], by("topk").excess[metric]),
    vs("e2e_topk", g.excess[metric], by("e2e_topk").excess[metric]),
  ];
  const primary = comparisons.filter((c) => c.baseline !== "e2e_topk");
  return { verdict: verdictOf(primary.map((c) => c.outcome)), comparisons };
}
