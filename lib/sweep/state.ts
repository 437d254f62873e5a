/**
 * A sweep's folder in the shared cache, `<cache>/sweeps/<name>/`: the jobs (`jobs.json`, task i
 * runs job i), what was submitted (`sweep.json`), one log per task (`logs/task-<i>.log`) and one
 * status file per finished task (`status/<i>.json`, written by the task itself).
 *
 * @module
 */
import { writeJsonAtomic } from "../io/atomic_write.ts";
import { readJsonFile, readJsonFileIfExists, z } from "../io/json_file.ts";
import { PROFILE_NAMES } from "../experiments/shared/profile.ts";
import { ARCHITECTURES } from "../sae/mod.ts";
import type { SweepJob } from "./jobs.ts";
import type { JobOutcome } from "./run_job.ts";

/** What a task records when it ends (a task killed by a signal records nothing). */
export type TaskStatus =
  | ({ state: "done"; host: string } & JobOutcome)
  | { state: "failed"; host: string; error: string; seconds: number };

/** What was submitted: per submission, the engine, the Slurm job id (if any) and the tasks. */
export interface SweepRecord {
  /** `local` or `slurm`. */
  engine: string;
  /** Submissions, oldest first (a `--retry` adds one). */
  submissions: { at: string; tasks: number[]; slurmJobId?: string }[];
}

const chosen = z.union([z.number(), z.literal("chosen")]);

/** A {@link SweepJob} as read back from `jobs.json`. */
export const sweepJobSchema: z.ZodType<SweepJob> = z.object({
  profile: z.enum(PROFILE_NAMES),
  model: z.string(),
  hook: z.string().optional(),
  spec: z.object({
    architecture: z.enum(ARCHITECTURES as [SweepJob["spec"]["architecture"]]),
    k: z.number().int().positive().optional(),
    seed: z.number().int(),
    beta: chosen.optional(),
    gatedMultiple: z.number().optional(),
    options: z.record(z.string(), z.unknown()).optional(),
  }),
  // Loose: evaluation options are the evaluator's to define; the known ones are type-checked.
  evals: z.array(z.looseObject({
    gradient: z.enum(["true", "token", "sampled", "none"]).optional(),
    selectionBeta: chosen.optional(),
    seed: z.number().int().optional(),
    split: z.enum(["val", "dev"]).optional(),
  })),
  notebooks: z.array(z.string()).optional(),
});

const sweepRecordSchema: z.ZodType<SweepRecord> = z.object({
  engine: z.string(),
  submissions: z.array(z.object({
    at: z.string(),
    tasks: z.array(z.number().int().nonnegative()),
    slurmJobId: z.string().optional(),
  })),
});

const taskStatusSchema: z.ZodType<TaskStatus> = z.discriminatedUnion("state", [
  z.object({
    state: z.literal("done"),
    host: z.string(),
    trained: z.array(z.string()),
    label: z.string(),
    seconds: z.number(),
  }),
  z.object({
    state: z.literal("failed"),
    host: z.string(),
    error: z.string(),
    seconds: z.number(),
  }),
]);

/** Creates `<root>/sweeps/<stamp>-<name>` with its jobs; returns the folder. */
export async function createSweepDir(
  root: string,
  name: string,
  jobs: SweepJob[],
): Promise<string> {
  const stamp = new Date().toISOString().replace(/[:.]/g, "-");
  const dir = `${root}/sweeps/${stamp}-${name.replace(/[^\w.-]+/g, "_")}`;
  await Deno.mkdir(`${dir}/logs`, { recursive: true });
  await Deno.mkdir(`${dir}/status`, { recursive: true });
  await writeJsonAtomic(`${dir}/jobs.json`, jobs);
  await writeJsonAtomic(`${dir}/sweep.json`, { engine: "", submissions: [] });
  return dir;
}

/** The newest sweep folder under `<root>/sweeps`, or null. */
export async function latestSweepDir(root: string): Promise<string | null> {
  const names: string[] = [];
  try {
    for await (const e of Deno.readDir(`${root}/sweeps`)) if (e.isDirectory) names.push(e.name);
  } catch {
    return null;
  }
  return names.length ? `${root}/sweeps/${names.sort().at(-1)}` : null;
}

/** The jobs of the sweep in `dir`. */
export function readJobs(dir: string): Promise<SweepJob[]> {
  return readJsonFile(`${dir}/jobs.json`, z.array(sweepJobSchema));
}

/** The submission record of the sweep in `dir`. */
export function readRecord(dir: string): Promise<SweepRecord> {
  return readJsonFile(`${dir}/sweep.json`, sweepRecordSchema);
}

/** Adds a submission to the record. */
export async function addSubmission(
  dir: string,
  engine: string,
  submission: { tasks: number[]; slurmJobId?: string },
): Promise<void> {
  const record = await readRecord(dir);
  record.engine = engine;
  record.submissions.push({ at: new Date().toISOString(), ...submission });
  await writeJsonAtomic(`${dir}/sweep.json`, record);
}

/** Records how task `index` ended. */
export async function writeStatus(dir: string, index: number, status: TaskStatus): Promise<void> {
  await writeJsonAtomic(`${dir}/status/${index}.json`, status);
}

/**
 * How task `index` ended, or null (not ended, or killed). A damaged status file is an error
 * naming it (statuses are written atomically, so it was edited or corrupted afterwards).
 */
export function readStatus(dir: string, index: number): Promise<TaskStatus | null> {
  return readJsonFileIfExists(`${dir}/status/${index}.json`, taskStatusSchema);
}

/** Forgets how task `index` ended (before it runs again). */
export async function clearStatus(dir: string, index: number): Promise<void> {
  await Deno.remove(`${dir}/status/${index}.json`).catch(() => {});
}

/** The log file of task `index`. */
export function taskLog(dir: string, index: number): string {
  return `${dir}/logs/task-${index}.log`;
}
