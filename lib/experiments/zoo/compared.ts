/**
 * The SAEs the notebooks compare, defined once so that notebooks 03–07 share them: TopK, g-SAE and
 * e2e-TopK at the profile's main k, one per seed, with g-SAE's β chosen on development windows of
 * the training split (never on the validation split the notebooks report).
 *
 * @module
 */
import { evaluateSAE, type SAEEvaluation } from "./sae_eval.ts";
import { type TrainedSAE, trainedSAE } from "./sae_zoo.ts";
import type { Workspace } from "../shared/workspace.ts";

/** The architectures every comparison shows (the paper's three). */
export const COMPARED = ["topk", "gsae", "e2e_topk"] as const;

/** One of {@link COMPARED}. */
export type ComparedArchitecture = typeof COMPARED[number];

/** One β of the sweep, measured on the development windows. */
export interface BetaPoint {
  /** g-SAE selection strength. */
  beta: number;
  /** ΔCE on the development windows (true-token gradient at evaluation), nats. */
  deltaCe: number;
  /** KL(clean ‖ spliced) on the development windows. */
  kl: number;
}

/** The β sweep on development windows and the β it chooses. */
export interface BetaChoice {
  /** The β with the lowest development ΔCE (the paper's criterion; every g-SAE uses it). */
  beta: number;
  /** The β with the lowest development KL (label-free), reported beside it. */
  betaByKl: number;
  /** Every β of the profile's sweep. */
  sweep: BetaPoint[];
}

/**
 * Chooses g-SAE's β: trains a g-SAE (k = main k, first seed) for each β of the profile and picks
 * the lowest ΔCE on development windows; the lowest development KL (no label) is reported too. SAEs and evaluations are cached, so this is cheap after
 * the first notebook that calls it.
 */
export async function chooseBeta(ws: Workspace): Promise<BetaChoice> {
  const sweep: BetaPoint[] = [];
  for (const beta of ws.profile.betas) {
    const t = await trainedSAE(ws, {
      architecture: "gsae",
      k: ws.profile.mainK,
      seed: ws.profile.seeds[0],
      beta,
    });
    const e = await evaluateSAE(ws, t, { split: "dev" });
    sweep.push({ beta, deltaCe: e.deltaCe, kl: e.kl });
  }
  const best = sweep.reduce((a, b) => (b.deltaCe < a.deltaCe ? b : a));
  const byKl = sweep.reduce((a, b) => (b.kl < a.kl ? b : a));
  return { beta: best.beta, betaByKl: byKl.beta, sweep };
}

/**
 * The SAE of `architecture` at the profile's main k and `seed` (g-SAE with the chosen β, or with
 * `options.beta`).
 */
export async function mainSAE(
  ws: Workspace,
  architecture: ComparedArchitecture,
  seed: number,
  options: { beta?: number; k?: number } = {},
): Promise<TrainedSAE> {
  const k = options.k ?? ws.profile.mainK;
  if (architecture !== "gsae") return await trainedSAE(ws, { architecture, k, seed });
  const beta = options.beta ?? (await chooseBeta(ws)).beta;
  return await trainedSAE(ws, { architecture, k, seed, beta });
}

/** A compared SAE and its validation evaluation. */
export interface ComparedEvaluation {
  /** The trained SAE. */
  trained: TrainedSAE;
  /** Its evaluation (validation windows, true-token gradient). */
  evaluation: SAEEvaluation;
}

/**
 * The main-k SAEs of `options.architectures` (default: every one of {@link COMPARED}) and
 * `options.seeds` (default: the profile's), with their validation evaluations; trained and
 * evaluated only when not cached.
 */
export async function comparedEvaluations(
  ws: Workspace,
  options: { architectures?: readonly ComparedArchitecture[]; seeds?: number[] } = {},
): Promise<ComparedEvaluation[]> {
  const out: ComparedEvaluation[] = [];
  for (const architecture of options.architectures ?? COMPARED) {
    for (const seed of options.seeds ?? ws.profile.seeds) {
      const trained = await mainSAE(ws, architecture, seed);
      out.push({ trained, evaluation: await evaluateSAE(ws, trained) });
    }
  }
  return out;
}
