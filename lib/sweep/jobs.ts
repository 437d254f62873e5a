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
 * sampled next tokens; `dev`: development windows). `k` applies to every architecture but Gated
 * and JumpReLU, `betas` only to the gradient-aware ones.
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
};

const GRID_FIELDS = [
  "profile",
  "models",
  "hooks",
  "architectures",
  "ks",
  "betas",
  "seeds",
  "evals",
];

/** The jobs of a grid (see the module doc); `where` names the file in errors. */
export function gridJobs(grid: unknown, where = "grid"): SweepJob[] {
  const fail = (what: string): never => {
    throw new Error(`${where}: ${what}`);
  };
  if (typeof grid !== "object" || grid === null || Array.isArray(grid)) {
    return fail("must be a JSON object");
  }
  const g = grid as Record<string, unknown>;
  for (const key of Object.keys(g)) {
    if (!GRID_FIELDS.includes(key)) {
      fail(`unknown field "${key}"; known: ${GRID_FIELDS.join(", ")}`);
    }
  }
  if (typeof g.profile !== "string") fail(`"profile" must be a profile name`);
  const profile = getProfile(g.profile as string);
  const list = <T>(key: string, ok: (v: unknown) => boolean, what: string, dflt: T[]): T[] => {
    const v = g[key];
    if (v === undefined) return dflt;
    if (!Array.isArray(v) || v.length === 0 || !v.every(ok)) {
      fail(`"${key}" must be a non-empty list of ${what}`);
    }
    return v as T[];
  };
  const isString = (v: unknown) => typeof v === "string" && v !== "";
  const isPositiveInt = (v: unknown) => Number.isInteger(v) && (v as number) > 0;
  const models = list<string>("models", isString, "model specs", [profile.model]);
  const hooks = list<string | undefined>("hooks", isString, "hook names", [undefined]);
  const architectures = list<ArchitectureName>(
    "architectures",
    (v) => ARCHITECTURES.includes(v as ArchitectureName),
    `architectures (${ARCHITECTURES.join(", ")})`,
    [],
  );
  if (architectures.length === 0) fail(`"architectures" is required`);
  const ks = list<number>("ks", isPositiveInt, "positive integers", [profile.mainK]);
  const betas = list<number | undefined>(
    "betas",
    (v) => typeof v === "number" && v >= 0,
    "non-negative numbers",
    [undefined],
  );
  const seeds = list<number>("seeds", (v) => Number.isInteger(v) && (v as number) >= 0, "seeds", [
    ...profile.seeds,
  ]);
  const evals = list<string>("evals", (v) => (v as string) in EVAL_NAMES, "val|dev|none|sampled", [
    "val",
  ]).map((e) => EVAL_NAMES[e]);
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
  if (s.gatedMultiple !== undefined) parts.push(`x${s.gatedMultiple}`);
  parts.push(`s${s.seed}`);
  const evals = job.evals.map((e) => JSON.parse(evalKey(e)).filter((x: unknown) => x !== null));
  return `${job.model}${job.hook ? ` ${job.hook}` : ""} ${parts.join("-")} ` +
    `[${evals.map((e: unknown[]) => e.join(" ")).join(", ")}]`;
}
