/**
 * Sweeps: every SAE the notebooks (or a user's grid) need as an independent job, run as processes
 * on this machine or as a Slurm job array, writing into the shared cache through the same code the
 * notebooks use, so that the notebooks then train nothing. The CLI is `pipelines/sweep.ts`.
 *
 * @module
 */
export { gridJobs, gridSchema, jobKey, jobName, profileJobs, type SweepJob } from "./jobs.ts";
export { type LockOptions, withLock } from "./lock.ts";
export { runLocal, taskCommand } from "./local.ts";
export { estimateGflop, modelDims, planJobs, type PlannedJob, storeGflop } from "./plan.ts";
export { jobCached, type JobOutcome, runJob, WorkspacePool } from "./run_job.ts";
export {
  arrayStates,
  batchScript,
  checkSharedCache,
  type SlurmOptions,
  submitArray,
  waitForArray,
} from "./slurm.ts";
export * from "./state.ts";
export { arrayRanges, tally, tallyLine, type TaskState } from "./tally.ts";
