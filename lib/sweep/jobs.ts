/**
 * Sweep jobs: one SAE each (model, hook, spec and the evaluations to cache), from a profile's
 * notebooks ({@link notebookNeeds}) or from a user's grid file ({@link gridJobs}).
 *
 * A grid file is JSON: every combination of its lists is one job.
 *
 * ```json
 * { "profile": "smoke", "models": ["sotu-2x64"], "hooks": ["blocks.1.hook_resid_post"],
 *   "architectures": ["topk", "gsae"], "ks": [8, 16], "betas": [0.5], "seeds": [0, 1],
 *   "evals": ["val", "none"] }
 * ```
 *
 * `models` defaults to the profile's model, `hooks` to the profile's layer, `ks` to the profile's
 * main k, `betas` to the architecture's default, `seeds` to the profile's, `evals` to `["val"]`
 * (`val`: validation with the true-token gradient; `none`: no gradient; `sampled`: gradient at
 * sampled next tokens; `token`: the per-token gradient; `dev`: development windows). `k` applies
 * to every architecture but ReLU-L1, Gated and JumpReLU, `betas` only to the gradient-aware ones.
 *
 * @module
 */
import {
  evalKey,
  type EvalNeed,
  needKey,
  type NeedSpec,
  notebookNeeds,
} from "../experiments/zoo/needs.ts";
import { getProfile, type ProfileName } from "../experiments/shared/profile.ts";
import { type ArchitectureName, architectureOf, ARCHITECTURES } from "../sae/mod.ts";
import { checkJson, z } from "../io/json_file.ts";

/** One job of a sweep: one SAE, trained once and evaluated in every mode listed. */
export interface SweepJob {
  /** Profile (budgets, seeds, cache folder). */
  profile: ProfileName;
  /** Model spec. */
  model: string;
  /** SAE hook (default: the profile's layer). */
  hook?: string;
  /** The SAE (β and Gated λ may be symbolic, see `needs.ts`). */
  spec: NeedSpec;
  /** Evaluations to cache. */
  evals: EvalNeed[];
  /** Notebooks that need it (profile sweeps). */
  notebooks?: string[];
}

/** The jobs of a profile's notebooks (`only`: notebook ids, e.g. `["03", "07"]`). */
export function profileJobs(profile: string, options: { only?: string[] } = {}): SweepJob[] {
  const p = getProfile(profile);
  // Ids or stems (`03`, `03_pareto`); 01 and 02 train no SAEs.
  const only = options.only?.map((id) => {
    const nn = /^(\d\d)(_\w+)?$/.exec(id)?.[1];
    if (!nn || Number(nn) > 7) throw new Error(`--only: "${id}" is not a notebook id (00-07)`);
    return nn;
  });
  return notebookNeeds(p, { only }).map((n) => ({ profile: p.name, ...n }));
}

const EVAL_NAMES: Record<string, EvalNeed> = {
  val: {},
  dev: { split: "dev" },
  none: { gradient: "none" },
  sampled: { gradient: "sampled" },
  token: { gradient: "token" },
};

/** A non-empty list of `item`s. */
function list<T extends z.ZodType>(item: T) {
  return z.array(item).min(1).optional();
}

/** A grid file (see the module doc); lists left out take the profile's defaults. */
export const gridSchema = z.strictObject({
  profile: z.string().describe("profile name"),
  models: list(z.string().min(1)).describe("model specs"),
  hooks: list(z.string().min(1)).describe("hook names"),
  architectures: z.array(z.enum(ARCHITECTURES as [ArchitectureName, ...ArchitectureName[]])).min(1)
    .describe("SAE architectures"),
  ks: list(z.number().int().positive()).describe("k values"),
  betas: list(z.number().nonnegative()).describe("β values of gradient-aware SAEs"),
  seeds: list(z.number().int().nonnegative()).describe("seeds"),
  evals: list(z.enum(Object.keys(EVAL_NAMES) as [string, ...string[]])).describe("evaluations"),
});

/** The jobs of a grid (see the module doc); `where` names the file in errors. */
export function gridJobs(grid: unknown, where = "grid"): SweepJob[] {
  const g = checkJson(grid, gridSchema, { source: where });
  let profile;
  try {
    profile = getProfile(g.profile);
  } catch (error) {
    throw new Error(`${where}: profile: ${(error as Error).message}`);
  }
  const models = g.models ?? [profile.model];
  const hooks = g.hooks ?? [undefined];
  const architectures = g.architectures;
  const ks = g.ks ?? [profile.mainK];
  const betas = g.betas ?? [undefined];
  const seeds = g.seeds ?? [...profile.seeds];
  const evals = (g.evals ?? ["val"]).map((e) => EVAL_NAMES[e]);
  const jobs = new Map<string, SweepJob>();
  for (const model of models) {
    for (const hook of hooks) {
      for (const architecture of architectures) {
        for (const k of "k" in architectureOf(architecture).fields ? ks : [undefined]) {
          for (const beta of architectureOf(architecture).usesGradient ? betas : [undefined]) {
            for (const seed of seeds) {
              const spec: NeedSpec = {
                architecture,
                ...(k !== undefined ? { k } : {}),
                seed,
                ...(beta !== undefined ? { beta } : {}),
              };
              const job = { profile: profile.name, model, ...(hook ? { hook } : {}), spec, evals };
              jobs.set(jobKey(job), job);
            }
          }
        }
      }
    }
  }
  return [...jobs.values()];
}

/** A canonical key of a job's SAE (profile, model, hook and spec). */
export function jobKey(job: SweepJob): string {
  return JSON.stringify([job.profile, job.hook ?? null, needKey(job.model, job.spec)]);
}

/** A short readable name, e.g. `sotu-2x64 gsae-k16-bchosen-s0 [val, dev]`. */
export function jobName(job: SweepJob): string {
  const s = job.spec, parts: string[] = [s.architecture];
  if (s.k !== undefined) parts.push(`k${s.k}`);
  if (s.beta !== undefined) parts.push(`b${s.beta}`);
  if (s.penaltyMultiple !== undefined) parts.push(`x${s.penaltyMultiple}`);
  if (s.warmStart !== undefined) parts.push(`from-${s.warmStart}`);
  if (s.lr !== undefined) parts.push(`lr${s.lr}`);
  if (s.tokens !== undefined) parts.push(`t${s.tokens}`);
  parts.push(`s${s.seed}`);
  const evals = job.evals.map((e) => JSON.parse(evalKey(e)).filter((x: unknown) => x !== null));
  return `${job.model}${job.hook ? ` ${job.hook}` : ""} ${parts.join("-")} ` +
    `[${evals.map((e: unknown[]) => e.join(" ")).join(", ")}]`;
}
