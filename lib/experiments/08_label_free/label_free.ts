/**
 * Notebook 08's runs: the Fisher g-SAE (`fisher_gsae.ts`, label-free) against TopK and the
 * g-SAE at the profile's main k, every seed of the profile, each SAE evaluated on the validation
 * windows in the modes that matter:
 *
 * - Fisher g-SAE with its own selection (S sampled per-token gradients per token, no label),
 *   with plain TopK selection (no gradient), and with the true-label gradient (S = 1: the g-SAE's
 *   selection rule on the Fisher g-SAE's weights);
 * - g-SAE with the true-label gradient (as its paper evaluates it) and with plain selection;
 * - TopK.
 *
 * The Fisher g-SAE's β is chosen on development windows of the training split by KL (label-free,
 * like the SAE) among the profile's β values, at the first seed; the g-SAE keeps notebook 03's
 * β (`chooseBeta`). The cost of the sampled gradients (build time and bytes beside the store) is
 * read from their folder.
 *
 * @module
 */
import { evaluateSAE, type SAEEvaluation } from "../zoo/sae_eval.ts";
import { type TrainedSAE, trainedSAE } from "../zoo/sae_zoo.ts";
import { chooseBeta, mainSAE } from "../zoo/compared.ts";
import { sampledTrainGradients, trainStoreDir } from "../zoo/train_store.ts";
import type { Workspace } from "../shared/workspace.ts";

/** Sampled gradients per token of the notebook's Fisher g-SAEs (the architecture's default). */
export const FISHER_SAMPLES = 4;

/** The variants the notebook compares (an SAE and how it is run). */
export const LABEL_FREE_VARIANTS = [
  "topk",
  "gsae",
  "gsae_plain",
  "fisher",
  "fisher_plain",
  "fisher_true",
] as const;

/** One of {@link LABEL_FREE_VARIANTS}. */
export type LabelFreeVariant = typeof LABEL_FREE_VARIANTS[number];

/** One β of the Fisher g-SAE's sweep on development windows (its own selection). */
export interface FisherBetaPoint {
  /** Selection strength. */
  beta: number;
  /** KL(clean ‖ spliced) on the development windows. */
  kl: number;
  /** ΔCE on the development windows, nats. */
  deltaCe: number;
}

/** One seed's evaluations, by variant, and the SAEs' training records. */
export interface LabelFreeSeed {
  /** The seed. */
  seed: number;
  /** The validation evaluation of each variant. */
  evals: Record<LabelFreeVariant, SAEEvaluation>;
  /** Dead latents at the end of training (the trainer's window), by architecture. */
  dead: { topk: number; gsae: number; fisher: number };
  /** The trainer's dead window, tokens. */
  deadWindowTokens: number;
}

/** What the sampled gradients cost beside the store. */
export interface SampledCost {
  /** Gradients per token. */
  samples: number;
  /** Tokens of the training store. */
  tokens: number;
  /** Seconds to build them (summed over chunks; from their manifest). */
  buildSeconds: number;
  /** Bytes of their chunk files. */
  bytes: number;
  /** Bytes of the training store's chunk files (activations, true gradient, ids, …). */
  storeBytes: number;
}

/** Everything notebook 08 shows. */
export interface LabelFreeResult {
  /** The main k. */
  k: number;
  /** The Fisher g-SAE's β (lowest development KL). */
  fisherBeta: number;
  /** The sweep behind it. */
  fisherSweep: FisherBetaPoint[];
  /** The g-SAE's β (notebook 03's choice: lowest development ΔCE). */
  gsaeBeta: number;
  /** Per seed, in the profile's order. */
  seeds: LabelFreeSeed[];
  /** The sampled gradients' cost. */
  cost: SampledCost;
  /** SAE labels, for the notebook's list. */
  labels: string[];
}

/** The Fisher g-SAE of `seed` and `beta` at the main k. */
export function fisherSAE(ws: Workspace, seed: number, beta: number): Promise<TrainedSAE> {
  return trainedSAE(ws, {
    architecture: "fisher_gsae",
    k: ws.profile.mainK,
    seed,
    beta,
    options: { samples: FISHER_SAMPLES },
  });
}

/** The Fisher g-SAE's own selection at evaluation. */
export const OWN = { gradient: "fisher", samples: FISHER_SAMPLES } as const;

/**
 * The Fisher g-SAE's β: one SAE per β of the profile (main k, first seed), each evaluated with
 * its own selection on development windows; the lowest KL wins (no label needed to choose).
 */
export async function chooseFisherBeta(
  ws: Workspace,
): Promise<{ beta: number; sweep: FisherBetaPoint[] }> {
  const sweep: FisherBetaPoint[] = [];
  for (const beta of ws.profile.betas) {
    const t = await fisherSAE(ws, ws.profile.seeds[0], beta);
    const e = await evaluateSAE(ws, t, { ...OWN, split: "dev" });
    sweep.push({ beta, kl: e.kl, deltaCe: e.deltaCe });
  }
  return { beta: sweep.reduce((a, b) => (b.kl < a.kl ? b : a)).beta, sweep };
}

/** Notebook 08's runs (trained and evaluated when not cached). */
export async function labelFreeStudy(ws: Workspace): Promise<LabelFreeResult> {
  const { beta: fisherBeta, sweep } = await chooseFisherBeta(ws);
  const gsaeBeta = (await chooseBeta(ws)).beta;
  const seeds: LabelFreeSeed[] = [];
  const labels: string[] = [];
  for (const seed of ws.profile.seeds) {
    const topk = await mainSAE(ws, "topk", seed);
    const gsae = await mainSAE(ws, "gsae", seed, { beta: gsaeBeta });
    const fisher = await fisherSAE(ws, seed, fisherBeta);
    labels.push(topk.label, gsae.label, fisher.label);
    seeds.push({
      seed,
      evals: {
        topk: await evaluateSAE(ws, topk),
        gsae: await evaluateSAE(ws, gsae),
        gsae_plain: await evaluateSAE(ws, gsae, { gradient: "none" }),
        fisher: await evaluateSAE(ws, fisher, OWN),
        fisher_plain: await evaluateSAE(ws, fisher, { gradient: "none" }),
        fisher_true: await evaluateSAE(ws, fisher, { gradient: "true" }),
      },
      dead: { topk: topk.dead, gsae: gsae.dead, fisher: fisher.dead },
      deadWindowTokens: fisher.train.deadWindowTokens,
    });
  }
  return {
    k: ws.profile.mainK,
    fisherBeta,
    fisherSweep: sweep,
    gsaeBeta,
    seeds,
    cost: await sampledCost(ws),
    labels,
  };
}

/** The cost of the training store's sampled gradients ({@link SampledCost}). */
export async function sampledCost(ws: Workspace): Promise<SampledCost> {
  const sampled = await sampledTrainGradients(ws, FISHER_SAMPLES);
  const manifest = JSON.parse(await Deno.readTextFile(`${trainStoreDir(ws)}/manifest.json`));
  return {
    samples: sampled.samples,
    tokens: sampled.n,
    buildSeconds: sampled.buildSeconds,
    bytes: sampled.bytes,
    storeBytes: (manifest.chunks as { bytes: number }[]).reduce((s, c) => s + c.bytes, 0),
  };
}
