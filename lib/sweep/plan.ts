/**
 * Planning a sweep: which jobs the cache already holds (those are skipped) and what each costs.
 *
 * The cost is an estimate in floating-point operations from the model's and SAE's sizes (training
 * ≈ 3 × forward; the store and evaluations run the language model forward and backward), turned
 * into time at a rate the user gives (`--gflops`, the sustained rate of one task).
 *
 * @module
 */
import { KNOWN_GPT2_MODELS } from "../gpt2/config.ts";
import { resolveModel } from "../gpt2/discovery.ts";
import { getProfile } from "../experiments/shared/profile.ts";
import { architectureOf } from "../sae/mod.ts";
import type { SweepJob } from "./jobs.ts";
import { jobCached, type WorkspacePool } from "./run_job.ts";
import { readJsonFile, z } from "../io/json_file.ts";

/** Model sizes the estimate needs. */
export interface ModelDims {
  /** Blocks. */
  n_layer: number;
  /** Residual width. */
  n_embd: number;
  /** Context length. */
  n_positions: number;
  /** Vocabulary. */
  vocab_size: number;
}

const positiveInt = z.number().int().positive();

/** The sizes in a model's `config.json` (other fields ignored). */
const modelDimsSchema: z.ZodType<ModelDims, unknown> = z.object({
  n_layer: positiveInt,
  n_embd: positiveInt,
  n_positions: positiveInt.default(1024),
  vocab_size: positiveInt,
});

/** A job with its cache state and cost. */
export interface PlannedJob {
  /** The job. */
  job: SweepJob;
  /** In the cache (skipped), not, or not known yet (`null`: depends on other jobs; runs). */
  cached: boolean | null;
  /** Estimated GFLOP of this job (its SAE's training and evaluations, not the shared store). */
  gflop: number;
}

/** Parameters of a GPT-2 (blocks and embeddings). */
function lmParams(d: ModelDims): number {
  return 12 * d.n_layer * d.n_embd * d.n_embd + (d.vocab_size + d.n_positions) * d.n_embd;
}

/** Estimated GFLOP of `job` on a model of size `dims` (see the module doc). */
export function estimateGflop(job: SweepJob, dims: ModelDims): number {
  const p = getProfile(job.profile), n = lmParams(dims), d = dims.n_embd;
  const dSae = p.sae.expansion * d;
  const tokens = job.spec.tokens ?? p.sae.tokens;
  let flop = tokens * 12 * d * dSae; // encoder and decoder, forward and backward
  if (architectureOf(job.spec.architecture).trainsOn === "sequences") flop += tokens * 6 * n; // the LM every step
  // Each evaluation: clean and spliced passes with the gradient at the hook.
  flop += job.evals.length * p.sae.evalSequences * dims.n_positions * 12 * n;
  return flop / 1e9;
}

/** GFLOP of building one training store of `profile` on a model of size `dims`. */
export function storeGflop(profile: string, dims: ModelDims): number {
  return getProfile(profile).storeTokens * 6 * lmParams(dims) / 1e9;
}

/** The sizes of model `spec`: from its config.json, else GPT-2's published sizes, else null. */
export async function modelDims(spec: string): Promise<ModelDims | null> {
  try {
    const { dir } = await resolveModel(spec);
    return await readJsonFile(`${dir}/config.json`, modelDimsSchema);
  } catch {
    const known = KNOWN_GPT2_MODELS[spec.replace(/^openai-community\//, "")];
    return known ? { ...known, n_positions: 1024, vocab_size: 50257 } : null;
  }
}

/**
 * Plans `jobs`: their cache state (`check`: open the models and read the cache; off, or where a
 * model cannot be opened, the state is unknown, and the model is named in `unopened`) and their
 * cost.
 */
export async function planJobs(
  jobs: SweepJob[],
  pool: WorkspacePool,
  options: {
    check?: boolean;
    log?: (line: string) => void;
    /** Filled with the models that could not be opened, and why. */
    unopened?: Map<string, string>;
  } = {},
): Promise<PlannedJob[]> {
  const dims = new Map<string, ModelDims | null>();
  const failed = options.unopened ?? new Map<string, string>();
  const out: PlannedJob[] = [];
  for (const job of jobs) {
    if (!dims.has(job.model)) dims.set(job.model, await modelDims(job.model));
    const size = dims.get(job.model);
    let cached: boolean | null = null;
    if (options.check !== false && !failed.has(job.model)) {
      try {
        cached = await jobCached(job, pool);
      } catch (error) {
        failed.set(job.model, (error as Error).message);
        options.log?.(`cannot check the cache of ${job.model}: ${(error as Error).message}`);
      }
    }
    out.push({ job, cached, gflop: size ? estimateGflop(job, size) : NaN });
  }
  return out;
}
