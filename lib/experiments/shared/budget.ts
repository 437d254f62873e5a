/**
 * Budget overrides of a profile, chosen with `GSAE_BUDGET` (or `deno task reproduce --budget`):
 * `full` (the default) keeps the profile's budgets; `tiny` keeps its model, shapes, context and
 * vocabulary but shrinks every token, sequence and sweep budget to a minimum, so a manual run of
 * the `paper` profile on a CPU goes through every notebook in minutes, proving shapes and memory
 * end to end. A tiny run's numbers are not results: too few tokens for any claim.
 *
 * @module
 */
import type { Profile } from "./profile.ts";

/** The budget names. */
export const BUDGET_NAMES = ["full", "tiny"] as const;

/** A budget name. */
export type BudgetName = typeof BUDGET_NAMES[number];

/** The budget `GSAE_BUDGET` names (default `full`); an unknown name is an error listing them. */
export function budgetFromEnv(): BudgetName {
  const value = (Deno.env.get("GSAE_BUDGET") ?? "").trim() || "full";
  if (!(BUDGET_NAMES as readonly string[]).includes(value)) {
    throw new Error(`GSAE_BUDGET=${value} is not one of ${BUDGET_NAMES.join(", ")}`);
  }
  return value as BudgetName;
}

/**
 * `profile` under `budget`. `tiny`: a 4-sequence store, two SAE steps of 1,024 tokens, 2
 * evaluation and probe windows, 2 first-order perturbations, two seeds, two k values, two β
 * values, and the run's own model (`GSAE_MODEL`, else the profile's) as the only scaling model.
 */
export function withBudget(profile: Profile, budget: BudgetName): Profile {
  if (budget === "full") return profile;
  const model = (Deno.env.get("GSAE_MODEL") ?? "").trim() || profile.model;
  const ks = profile.ks.includes(profile.mainK)
    ? [...new Set([profile.ks[0], profile.mainK])]
    : [profile.ks[0], profile.mainK];
  return {
    ...profile,
    seeds: profile.seeds.slice(0, 2),
    storeTokens: 4 * 1024,
    sae: {
      ...profile.sae,
      tokens: 2048,
      e2eTokens: 2048,
      batchSize: 1024,
      evalSequences: 2,
      devSequences: 2,
    },
    ks,
    betas: [profile.betas[0], profile.betas[profile.betas.length - 1]],
    scalingModels: [model],
    probeSequences: 2,
    firstOrderPerturbations: 2,
  };
}

/** The steering study's budget under `tiny`: a handful of latents, contexts and one strength. */
export const TINY_STEERING = {
  latents: 2,
  sweepLatents: 1,
  contexts: 2,
  length: 32,
  activationWindows: 2,
  minFirings: 2,
  quantiles: [0.9],
  mainQuantile: 0.9,
  setSize: 10,
};

/** The latent browser's validation tokens under `tiny` (two GPT-2 windows). */
export const TINY_BROWSER_TOKENS = 2048;
