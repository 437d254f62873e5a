/**
 * Notebook 07, the paper's Fig. 9: across model sizes, at a layer about three quarters through
 * each model and with every hyperparameter fixed, is g-SAE's ΔCE consistently lower than TopK's?
 *
 * For each model of the profile's `scalingModels` (each opened as its own workspace, so its SAE
 * layer comes from the profile's `layerFraction`), and each seed: a TopK SAE and a g-SAE at the
 * profile's main k, with g-SAE's β chosen once on the profile's main model (development windows)
 * and reused for every size. Each is evaluated on the model's validation windows five ways:
 *
 * - `topk`: the TopK SAE (plain selection);
 * - `gsae`: the g-SAE with the true-token gradient (the paper's evaluation), which lets the
 *   selection see the label (the next token) it is scored on;
 * - `gsae_sampled`: the g-SAE with the gradient at next tokens sampled from the model's own
 *   prediction: gradient-aware selection without the label;
 * - `gsae_plain`: the g-SAE's weights with plain TopK selection (no gradient at inference): what
 *   the gradient-aware *training* alone buys;
 * - `topk_gsel`: the TopK SAE's weights with g-SAE selection of the same β: what gradient-aware
 *   *selection at inference* alone buys.
 *
 * SAEs and evaluations come from the shared caches (`sae_zoo.ts`, `sae_eval.ts`), so the main
 * model's are those of notebook 03.
 *
 * @module
 */
import { parameterCount } from "../../gpt2/config.ts";
import { resolveModel } from "../../gpt2/discovery.ts";
import { mean } from "../../metrics/mod.ts";
import { mainSAE } from "../zoo/compared.ts";
import type { Verdict } from "../shared/results.ts";
import { evaluateSAE, type SAEEvaluation } from "../zoo/sae_eval.ts";
import { compareSeeds, spread, verdictOf } from "../shared/seed_spread.ts";
import type { Outcome, Spread } from "../shared/seed_spread.ts";
import { closeWorkspace, openWorkspace, type Workspace } from "../shared/workspace.ts";

/** The evaluated variants (see the module doc). */
export const SCALING_VARIANTS = [
  "topk",
  "gsae",
  "gsae_sampled",
  "gsae_plain",
  "topk_gsel",
] as const;

/** One of {@link SCALING_VARIANTS}. */
export type ScalingVariant = typeof SCALING_VARIANTS[number];

/** What is kept of one evaluation. */
export interface ScalingEval {
  /** ΔCE on the validation windows, nats. */
  deltaCe: number;
  /** KL(clean ‖ spliced), nats. */
  kl: number;
  /** Fraction of variance unexplained. */
  fvu: number;
  /** Mean active latents per token. */
  l0: number;
}

/** One model of the family. */
export interface ScalingModel {
  /** Model name. */
  model: string;
  /** The SAE hook. */
  hook: string;
  /** Blocks in the model. */
  nLayer: number;
  /** Residual width. */
  dModel: number;
  /** Parameters (tied unembedding counted once). */
  parameters: number;
  /** Clean validation CE on the evaluation windows, nats. */
  ceClean: number;
  /** Seeds, in order. */
  seeds: number[];
  /** Per variant, one evaluation per seed. */
  evals: Record<ScalingVariant, ScalingEval[]>;
  /** Training wall time per seed (as recorded when each SAE was trained), seconds. */
  trainSeconds: { topk: number[]; gsae: number[] };
}

/** Result of {@link scalingStudy}. */
export interface ScalingResult {
  /** Profile name. */
  profile: string;
  /** The fixed β. */
  beta: number;
  /** The fixed k. */
  k: number;
  /** One entry per model, smallest first. */
  models: ScalingModel[];
  /** Wall time of the study, seconds. */
  seconds: number;
}

/** Options of {@link scalingStudy}. */
export interface ScalingOptions {
  /** g-SAE's β for every size (chosen on the main model). */
  beta: number;
  /** Models (default: the profile's `scalingModels`). */
  models?: string[];
  /**
   * Seeds (default: the profile's main-k `seeds` on the profile's own model, whose comparison is
   * notebook 03's, and its `frontierSeeds` on the other models).
   */
  seeds?: number[];
  /** Progress lines (default: none). */
  log?: (line: string) => void;
}

/**
 * Trains (or loads) and evaluates TopK and g-SAE on every model of the family; `main` is reused
 * for its own model, the other models are opened and closed here one at a time.
 */
export async function scalingStudy(
  main: Workspace,
  options: ScalingOptions,
): Promise<ScalingResult> {
  const t0 = performance.now(), log = options.log ?? (() => {});
  const models: ScalingModel[] = [];
  for (const spec of options.models ?? main.profile.scalingModels) {
    const own = (await resolveModel(spec)).name === main.modelName;
    const ws = own ? main : await openWorkspace({ profile: main.profile.name, model: spec, log });
    try {
      const seeds = options.seeds ?? (own ? ws.profile.seeds : ws.profile.frontierSeeds);
      models.push(await scaleOne(ws, seeds, options.beta, log));
    } finally {
      if (!own) closeWorkspace(ws);
    }
  }
  const seconds = (performance.now() - t0) / 1000;
  return { profile: main.profile.name, beta: options.beta, k: main.profile.mainK, models, seconds };
}

async function scaleOne(
  ws: Workspace,
  seeds: number[],
  beta: number,
  log: (line: string) => void,
): Promise<ScalingModel> {
  const evals: Record<ScalingVariant, ScalingEval[]> = {
    topk: [],
    gsae: [],
    gsae_sampled: [],
    gsae_plain: [],
    topk_gsel: [],
  };
  const trainSeconds = { topk: [] as number[], gsae: [] as number[] };
  let ceClean = NaN;
  for (const seed of seeds) {
    const topk = await mainSAE(ws, "topk", seed);
    const gsae = await mainSAE(ws, "gsae", seed, { beta });
    const t = await evaluateSAE(ws, topk);
    evals.topk.push(keep(t));
    evals.gsae.push(keep(await evaluateSAE(ws, gsae)));
    evals.gsae_sampled.push(keep(await evaluateSAE(ws, gsae, { gradient: "sampled" })));
    evals.gsae_plain.push(keep(await evaluateSAE(ws, gsae, { gradient: "none" })));
    evals.topk_gsel.push(keep(await evaluateSAE(ws, topk, { selectionBeta: beta })));
    trainSeconds.topk.push(topk.seconds);
    trainSeconds.gsae.push(gsae.seconds);
    ceClean = t.ceClean;
    log(
      `${ws.modelName} seed ${seed}: ΔCE TopK ${evals.topk.at(-1)!.deltaCe.toFixed(4)}, ` +
        `g-SAE ${evals.gsae.at(-1)!.deltaCe.toFixed(4)}`,
    );
  }
  const c = ws.model.config;
  return {
    model: ws.modelName,
    hook: ws.hook,
    nLayer: c.n_layer,
    dModel: c.n_embd,
    parameters: parameterCount(c),
    ceClean,
    seeds,
    evals,
    trainSeconds,
  };
}

function keep(e: SAEEvaluation): ScalingEval {
  return { deltaCe: e.deltaCe, kl: e.kl, fvu: e.fvu, l0: e.l0 };
}

/** The spread over seeds of one variant's metric at one model. */
export function overSeeds(
  m: ScalingModel,
  variant: ScalingVariant,
  metric: keyof ScalingEval,
): Spread {
  return spread(m.evals[variant].map((e) => e[metric]));
}

/** A variant against TopK at one model, for one metric (lower is the claimed direction). */
export interface ScalingComparison {
  /** Model name. */
  model: string;
  /** The variant compared with TopK. */
  variant: ScalingVariant;
  /** The metric. */
  metric: "deltaCe" | "kl";
  /**
   * How the seeds compare for "lower than TopK": the 95 % interval of the paired difference (an
   * SAE pair of one seed shares initial weights and batch order), as notebook 03 judges it.
   */
  outcome: Outcome;
  /** Mean of the variant − mean of TopK, nats. */
  meanDiff: number;
  /** meanDiff / mean of TopK. */
  relativeDiff: number;
}

/** `variant` against TopK on `metric` at one model. */
export function compareWithTopK(
  m: ScalingModel,
  variant: ScalingVariant,
  metric: "deltaCe" | "kl",
): ScalingComparison {
  const a = m.evals[variant].map((e) => e[metric]), t = m.evals.topk.map((e) => e[metric]);
  const meanDiff = mean(a) - mean(t);
  return {
    model: m.model,
    variant,
    metric,
    outcome: compareSeeds(a, t, { claim: "lower", paired: true }),
    meanDiff,
    relativeDiff: meanDiff / mean(t),
  };
}

/**
 * The Fig. 9 claim's verdict: at each size, "g-SAE's ΔCE is lower than TopK's" judged by the
 * paired interval over seeds, and the sizes combined by `verdictOf` (`seed_spread.ts`; a
 * conjunction): reproduced when it holds at every size, not reproduced when one contradicts.
 */
export function scalingVerdict(
  result: ScalingResult,
): { verdict: Verdict; comparisons: ScalingComparison[] } {
  const comparisons = result.models.map((m) => compareWithTopK(m, "gsae", "deltaCe"));
  return { verdict: verdictOf(comparisons.map((c) => c.outcome)), comparisons };
}

/** Whether each model can be opened here (e.g. the paper profile's GPT-2 sizes in the hub cache). */
export async function modelsAvailable(
  models: readonly string[],
): Promise<{ model: string; found: boolean; dir?: string }[]> {
  return await Promise.all(models.map(async (model) => {
    try {
      return { model, found: true, dir: (await resolveModel(model)).dir };
    } catch {
      return { model, found: false };
    }
  }));
}
