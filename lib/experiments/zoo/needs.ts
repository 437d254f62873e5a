/**
 * The SAEs each notebook trains for a profile, and the evaluations it reads of each: one list that
 * `deno task sweep` runs ahead of the notebooks, so that they then find every SAE in the cache and
 * train nothing. It follows the section functions (`compared.ts`, `pareto.ts`, `density.ts`,
 * `splitting.ts`, `steering_study.ts`, `scaling.ts`, notebook 00) and reads the same settings
 * ({@link PARETO_SETTINGS}, {@link COMPARED}, the profile); a change to what a notebook trains
 * belongs in both.
 *
 * Two things are known only after some training, so a need may name them symbolically:
 * - `beta: "chosen"`: g-SAE's β chosen on development windows of the profile's main model
 *   ({@link chooseBeta}, which needs the β sweep's SAEs);
 * - `penaltyMultiple`: the penalty of ReLU-L1, Gated or JumpReLU as a multiple of its rescaled
 *   default (`penaltyOptions` in penalty.ts, which needs the store).
 *
 * @module
 */
import { type ArchitectureName, architectureOf } from "../../sae/mod.ts";
import { COMPARED } from "./compared.ts";
import { PARETO_SETTINGS } from "../03_pareto/pareto.ts";
import type { Profile } from "../shared/profile.ts";
import type { EvalOptions } from "./sae_eval.ts";

/** An SAE spec whose β may be the chosen one and whose penalty may be a multiple of the default. */
export interface NeedSpec {
  /** Architecture name from the registry. */
  architecture: ArchitectureName;
  /** Active latents per token. */
  k?: number;
  /** Seed of the weights and the batch order. */
  seed: number;
  /** g-SAE selection strength, or `chosen` (see the module doc). */
  beta?: number | "chosen";
  /** The penalty as a multiple of its rescaled default (see the module doc). */
  penaltyMultiple?: number;
  /** Further architecture options. */
  options?: Record<string, unknown>;
  /** Peak learning rate instead of the profile's. */
  lr?: number;
  /** Training tokens instead of the profile's. */
  tokens?: number;
  /** Start from the same seed's trained TopK SAE, or from random weights (`SAESpec.warmStart`). */
  warmStart?: "topk" | "none";
}

/** One evaluation of an SAE; `selectionBeta` may be the chosen β. */
export type EvalNeed = Omit<EvalOptions, "selectionBeta"> & { selectionBeta?: number | "chosen" };

/** One SAE a notebook needs: on which model, which spec, and which evaluations of it. */
export interface SAENeed {
  /** Model spec (`resolveModel`): the profile's model, or one of its scaling models. */
  model: string;
  /** The SAE. */
  spec: NeedSpec;
  /** Its evaluations the notebooks read (`{}`: validation, true-token gradient). */
  evals: EvalNeed[];
  /** Ids of the notebooks that need it, e.g. `["03", "04"]`. */
  notebooks: string[];
}

/** The notebooks that train SAEs. */
export const SAE_NOTEBOOKS = ["00", "03", "04", "05", "06", "07"] as const;

const VAL = {}, DEV = { split: "dev" } as const, NONE = { gradient: "none" } as const;
const SAMPLED = { gradient: "sampled" } as const;
const TOKEN = { gradient: "token" } as const;
const SELECTION = { selectionBeta: "chosen" } as const;

/**
 * The SAE needs of the notebooks `only` (default: every notebook) for `profile`, merged: one
 * entry per model and spec, with the union of the evaluations, in the order the notebooks first
 * need them (the β sweep first, since the chosen β depends on it).
 */
export function notebookNeeds(profile: Profile, options: { only?: string[] } = {}): SAENeed[] {
  const wanted = new Set(options.only ?? SAE_NOTEBOOKS);
  for (const id of profile.excludedNotebooks) wanted.delete(id);
  const out = new Map<string, SAENeed>();
  const add = (notebook: string, model: string, spec: NeedSpec, evals: EvalNeed[]) => {
    const key = needKey(model, spec);
    const need = out.get(key) ?? { model, spec, evals: [], notebooks: [] };
    for (const e of evals) {
      if (!need.evals.some((x) => evalKey(x) === evalKey(e))) need.evals.push(e);
    }
    if (!need.notebooks.includes(notebook)) need.notebooks.push(notebook);
    out.set(key, need);
  };
  const { model, mainK: k, seeds, frontierSeeds, ks, betas } = profile, s0 = seeds[0];
  const betaSweep = (nb: string, evals: EvalNeed[]) => {
    for (const beta of betas) add(nb, model, { architecture: "gsae", k, seed: s0, beta }, evals);
  };
  const compared = (nb: string) => {
    for (const architecture of COMPARED) {
      for (const seed of seeds) add(nb, model, mainSpec(architecture, k, seed), [VAL]);
    }
  };
  for (const nb of SAE_NOTEBOOKS.filter((n) => wanted.has(n))) {
    if (nb === "00") {
      betaSweep(nb, [DEV]);
      add(nb, model, mainSpec("gsae", k, s0), [VAL]);
    } else if (nb === "03") {
      betaSweep(nb, [DEV, VAL, NONE]);
      add(nb, model, { architecture: "topk", k, seed: s0 }, [DEV, VAL]);
      for (const seed of frontierSeeds) {
        for (const architecture of COMPARED) {
          for (const kk of ks) {
            // g-SAE also with plain selection and the sampled gradient at every k (frontiers).
            const evals = architecture === "gsae" ? [VAL, NONE, SAMPLED] : [VAL];
            add(nb, model, mainSpec(architecture, kk, seed), evals);
          }
        }
      }
      for (const seed of seeds) {
        add(nb, model, mainSpec("topk", k, seed), [VAL, SELECTION]);
        add(nb, model, mainSpec("gsae", k, seed), [VAL, NONE, SAMPLED, TOKEN]);
        if (PARETO_SETTINGS.e2eAllSeeds) add(nb, model, mainSpec("e2e_topk", k, seed), [VAL]);
      }
      // The seed papers' architectures: only where the profile has them (not `default`).
      for (const seed of profile.seedPaperArchitectures ? frontierSeeds : []) {
        for (const [architecture, multiples] of Object.entries(PARETO_SETTINGS.penaltyMultiples)) {
          for (const penaltyMultiple of multiples) {
            const a = architecture as ArchitectureName;
            add(nb, model, { architecture: a, seed, penaltyMultiple }, [VAL]);
          }
        }
        for (const { architecture, options } of PARETO_SETTINGS.furtherArchitectures) {
          const gradient = architectureOf(architecture).usesGradient;
          const spec: NeedSpec = {
            architecture,
            k,
            seed,
            ...(gradient ? { beta: "chosen" } : {}),
            ...(options ? { options } : {}),
          };
          add(nb, model, spec, gradient ? [VAL, NONE] : [VAL]);
        }
      }
    } else if (nb === "04" || nb === "05" || nb === "06") {
      betaSweep(nb, [DEV]);
      compared(nb);
      // Density reports g-SAE's frequencies under plain selection too.
      if (nb === "04") {
        for (const seed of seeds) add(nb, model, mainSpec("gsae", k, seed), [NONE]);
      }
    } else if (nb === "07") {
      betaSweep(nb, [DEV]);
      for (const m of profile.scalingModels) {
        // The profile's own model at the main-k seeds (notebook 03's comparison), the others at
        // the frontier seeds (scaling.ts).
        for (const seed of m === model ? seeds : frontierSeeds) {
          add(nb, m, mainSpec("topk", k, seed), [VAL, SELECTION]);
          add(nb, m, mainSpec("gsae", k, seed), [VAL, SAMPLED, NONE]);
        }
      }
    }
  }
  return [...out.values()];
}

/** `mainSAE`'s spec: g-SAE with the chosen β, the others as they are. */
function mainSpec(architecture: ArchitectureName, k: number, seed: number): NeedSpec {
  return architecture === "gsae" ? { architecture, k, seed, beta: "chosen" } : {
    architecture,
    k,
    seed,
  };
}

/** A canonical key of a model and spec (field order does not matter). */
export function needKey(model: string, spec: NeedSpec): string {
  const { architecture, k, seed, beta, penaltyMultiple, options, lr, tokens, warmStart } = spec;
  return JSON.stringify([
    model,
    architecture,
    k ?? null,
    beta ?? null,
    seed,
    penaltyMultiple ?? null,
    lr ?? null,
    tokens ?? null,
    warmStart ?? null,
    {
      ...Object.fromEntries(Object.entries(options ?? {}).sort()),
    },
  ]);
}

/** A canonical key of an evaluation, matching how `evaluateSAE` names its cache entries. */
export function evalKey(e: EvalNeed): string {
  const gradient = e.gradient ?? "true";
  return JSON.stringify([
    e.split ?? "val",
    gradient,
    e.selectionBeta ?? null,
    gradient === "sampled" ? e.seed ?? 0 : null,
  ]);
}
