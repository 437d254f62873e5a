/**
 * `deno task sweep`: trains every SAE a profile's notebooks (or a grid file) need as independent
 * jobs, locally or as a Slurm job array, into the shared cache; the notebooks then train nothing.
 * See --help and `lib/sweep/mod.ts`.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { formatDuration } from "../lib/io/progress.ts";
import { cacheRoot } from "../lib/experiments/shared/workspace.ts";
import {
  addSubmission,
  arrayStates,
  batchScript,
  checkSharedCache,
  clearStatus,
  createSweepDir,
  gridJobs,
  jobName,
  latestSweepDir,
  planJobs,
  type PlannedJob,
  profileJobs,
  readJobs,
  readRecord,
  readStatus,
  runJob,
  runLocal,
  type SlurmOptions,
  storeGflop,
  submitArray,
  type SweepJob,
  tallyLine,
  taskLog,
  type TaskState,
  waitForArray,
  WorkspacePool,
  writeStatus,
} from "../lib/sweep/mod.ts";
import { modelDims } from "../lib/sweep/plan.ts";

const HELP = `Usage:
  deno task sweep (--profile P [--only 03,07] | --grid FILE) [options]
  deno task sweep --retry [--sweep DIR] [options]   resubmit the failed tasks of a sweep
  deno task sweep status [--sweep DIR]               where the newest (or that) sweep stands
  deno task sweep job --sweep-dir DIR [--index I]    run one task (what each engine runs;
                                                     I defaults to $SLURM_ARRAY_TASK_ID)

Lists the SAEs the profile's notebooks need (00, 03-07; --only picks some) or the grid
file names (JSON: profile, models, hooks, architectures, ks, betas, seeds, evals; see
lib/sweep/jobs.ts), skips those already in the cache ($GSAE_CACHE_DIR, else .cache/), and
runs each as one job: build or read the store, train, evaluate, write the SAE and its
evaluations into the cache (atomically, under a lock), exactly as the notebooks would.
The sweep's folder <cache>/sweeps/<time>-<name>/ holds jobs.json, the batch scripts, a log
per task (logs/task-<i>.log) and a status file per finished task.

Options:
  --engine E         local (default) | slurm
  --jobs N           local: tasks at once (default 1); each gets cores/N BLAS threads
  --dry-run          print the jobs, their estimated cost (and the batch script); run nothing
  --gflops R         sustained GFLOP/s of one task, for the time estimate (default 5)
  --no-check         do not open the models to check the cache (every job is listed)
  Slurm (passed to sbatch):
  --partition P  --time T  --gres G  --mem M
  --cpus-per-task N  (also each task's BLAS threads; default 1)
  --throttle N       at most N tasks at once (the array's %N)
  --detach           submit and exit (check with: deno task sweep status)
  --poll S           seconds between squeue polls (default 10)
  --help             this text

The cache must be a folder every node sees at the same path: with --engine slurm it is
checked up front (absolute, writable, not node-local unless the cluster has one node).`;

function parse(args: string[]) {
  const { values, positionals } = parseArgs({
    args,
    options: {
      profile: { type: "string" },
      only: { type: "string" },
      grid: { type: "string" },
      engine: { type: "string", default: "local" },
      jobs: { type: "string", default: "1" },
      "dry-run": { type: "boolean", default: false },
      gflops: { type: "string", default: "5" },
      "no-check": { type: "boolean", default: false },
      partition: { type: "string" },
      time: { type: "string" },
      gres: { type: "string" },
      mem: { type: "string" },
      "cpus-per-task": { type: "string" },
      throttle: { type: "string" },
      detach: { type: "boolean", default: false },
      poll: { type: "string", default: "10" },
      retry: { type: "boolean", default: false },
      sweep: { type: "string" },
      "sweep-dir": { type: "string" },
      index: { type: "string" },
      help: { type: "boolean", default: false },
    },
    strict: true,
    allowPositionals: true,
  });
  const command = positionals[0] ?? "run";
  if (!["run", "job", "status"].includes(command) || positionals.length > 1) {
    throw new Error(`unknown command "${positionals.join(" ")}"; commands: job, status`);
  }
  if (!["local", "slurm"].includes(values.engine)) {
    throw new Error(`--engine must be local or slurm, not "${values.engine}"`);
  }
  const int = (name: string, v: string | undefined, min: number) => {
    if (v === undefined) return undefined;
    const n = Number(v);
    if (!Number.isInteger(n) || n < min) throw new Error(`--${name} wants an integer >= ${min}`);
    return n;
  };
  const num = (name: string, v: string) => {
    const n = Number(v);
    if (!(n > 0)) throw new Error(`--${name} wants a positive number, not "${v}"`);
    return n;
  };
  if (command === "run" && !values.retry && !values.help) {
    if ((values.profile === undefined) === (values.grid === undefined)) {
      throw new Error("give exactly one of --profile P or --grid FILE (or --retry)");
    }
    if (values.only !== undefined && values.grid !== undefined) {
      throw new Error("--only picks notebooks of a --profile, not of a --grid");
    }
  }
  return {
    ...values,
    command,
    jobs: int("jobs", values.jobs, 1)!,
    cpusPerTask: int("cpus-per-task", values["cpus-per-task"], 1),
    throttle: int("throttle", values.throttle, 1),
    index: int("index", values.index ?? Deno.env.get("SLURM_ARRAY_TASK_ID"), 0),
    gflops: num("gflops", values.gflops),
    pollMs: num("poll", values.poll) * 1000,
  };
}

type Options = ReturnType<typeof parse>;

async function jobCommand(o: Options): Promise<number> {
  const dir = o["sweep-dir"];
  if (!dir || o.index === undefined) {
    throw new Error("job needs --sweep-dir DIR and --index I (or $SLURM_ARRAY_TASK_ID)");
  }
  const jobs = await readJobs(dir);
  const job = jobs[o.index];
  if (!job) throw new Error(`${dir}/jobs.json has no job ${o.index} (${jobs.length} jobs)`);
  console.log(`job ${o.index}: ${jobName(job)}`);
  const t0 = performance.now(), host = Deno.hostname();
  try {
    const outcome = await runJob(job);
    await writeStatus(dir, o.index, { state: "done", host, ...outcome });
    console.log(
      `job ${o.index} done in ${outcome.seconds.toFixed(1)} s; trained: ` +
        (outcome.trained.join(", ") || "nothing"),
    );
    return 0;
  } catch (error) {
    const message = (error as Error).stack ?? String(error);
    await writeStatus(dir, o.index, {
      state: "failed",
      host,
      error: (error as Error).message,
      seconds: (performance.now() - t0) / 1000,
    });
    console.error(`job ${o.index} failed: ${message}`);
    return 1;
  }
}

function slurmOptions(o: Options): SlurmOptions {
  return {
    partition: o.partition,
    time: o.time,
    gres: o.gres,
    mem: o.mem,
    cpusPerTask: o.cpusPerTask,
    throttle: o.throttle,
  };
}

function printPlan(planned: PlannedJob[], o: Options, storeCost: number): void {
  const fmt = (g: number) =>
    !Number.isFinite(g)
      ? "? GFLOP"
      : g >= 1e6
      ? `${(g / 1e6).toFixed(1)} PFLOP`
      : g >= 1e3
      ? `${(g / 1e3).toFixed(1)} TFLOP`
      : `${g.toFixed(1)} GFLOP`;
  planned.forEach((p, i) => {
    const state = p.cached === true ? "cached" : p.cached === false ? "to run" : "to run (?)";
    const nbs = p.job.notebooks ? ` (notebooks ${p.job.notebooks.join(",")})` : "";
    console.log(
      `${String(i).padStart(3)}  ${state.padEnd(10)} ${fmt(p.gflop).padStart(14)}  ` +
        `${jobName(p.job)}${nbs}`,
    );
  });
  const todo = planned.filter((p) => p.cached !== true);
  const total = todo.reduce((a, p) => a + p.gflop, 0) + storeCost;
  console.log(
    `${planned.length} jobs: ${planned.length - todo.length} cached, ${todo.length} to run; ` +
      `estimated ${fmt(total)} (stores ${fmt(storeCost)}) ≈ ${formatDuration(total / o.gflops)} ` +
      `of task time at ${o.gflops} GFLOP/s per task (--gflops)` +
      (planned.some((p) => p.cached === null)
        ? "; (?): depends on the chosen β or the store, known once other jobs ran"
        : ""),
  );
}

async function report(dir: string, states: Map<number, TaskState>): Promise<number> {
  console.log(tallyLine(states));
  const jobs = await readJobs(dir);
  let failed = 0;
  for (const [i, s] of states) {
    if (s.state !== "failed") continue;
    failed++;
    console.log(`  task ${i} failed (${s.reason}): ${jobName(jobs[i])}; log ${taskLog(dir, i)}`);
  }
  if (failed) console.log(`rerun the failed tasks with: deno task sweep --retry --sweep ${dir}`);
  return failed ? 1 : 0;
}

async function execute(dir: string, tasks: number[], o: Options): Promise<number> {
  const env = { GSAE_CACHE_DIR: cacheRoot() };
  for (const i of tasks) await clearStatus(dir, i);
  if (o.engine === "local") {
    const threads = Math.max(1, Math.floor(navigator.hardwareConcurrency / o.jobs));
    await addSubmission(dir, "local", { tasks });
    const states = await runLocal(dir, tasks, {
      jobs: o.jobs,
      env: { ...env, GSAE_BLAS_THREADS: `${o.cpusPerTask ?? threads}` },
    });
    return await report(dir, states);
  }
  const id = await submitArray(dir, tasks, { ...slurmOptions(o), env });
  await addSubmission(dir, "slurm", { tasks, slurmJobId: id });
  console.log(`submitted Slurm job array ${id} (${tasks.length} tasks); logs in ${dir}/logs`);
  if (o.detach) {
    console.log(`check it with: deno task sweep status --sweep ${dir}`);
    return 0;
  }
  return await report(dir, await waitForArray(dir, id, tasks, { pollMs: o.pollMs }));
}

/** Every task's state: Slurm's view of the newest submission of each task, else its status file. */
async function sweepStates(dir: string): Promise<Map<number, TaskState>> {
  const jobs = await readJobs(dir), record = await readRecord(dir);
  const states = new Map<number, TaskState>();
  for (let i = 0; i < jobs.length; i++) {
    const st = await readStatus(dir, i);
    states.set(
      i,
      st?.state === "done"
        ? { state: "done", seconds: st.seconds }
        : st?.state === "failed"
        ? { state: "failed", reason: st.error }
        : { state: "failed", reason: "not run, or killed" },
    );
  }
  for (const sub of record.submissions) {
    if (!sub.slurmJobId) continue;
    for (const [i, s] of await arrayStates(dir, sub.slurmJobId, sub.tasks)) states.set(i, s);
  }
  return states;
}

async function main(): Promise<number> {
  let o: Options;
  try {
    o = parse(Deno.args);
  } catch (error) {
    console.error(`sweep: ${(error as Error).message}\n(see deno task sweep --help)`);
    return 2;
  }
  if (o.help) {
    console.log(HELP);
    return 0;
  }
  if (o.command === "job") return await jobCommand(o);
  const root = cacheRoot();
  if (o.command === "status" || o.retry) {
    const dir = o.sweep ?? await latestSweepDir(root);
    if (!dir) throw new Error(`no sweep under ${root}/sweeps`);
    const states = await sweepStates(dir);
    if (o.command === "status") return await report(dir, states);
    const failed = [...states].filter(([, s]) => s.state === "failed").map(([i]) => i);
    console.log(`${dir}: ${failed.length} failed task(s) to resubmit: ${failed.join(", ")}`);
    if (failed.length === 0 || o["dry-run"]) return 0;
    if (o.engine === "slurm") await checkSharedCache(root, { partition: o.partition });
    const code = await execute(dir, failed, o);
    if (o.detach) return code;
    console.log("the whole sweep:");
    return await report(dir, await sweepStates(dir));
  }
  let jobs: SweepJob[], name: string;
  if (o.grid) {
    jobs = gridJobs(JSON.parse(await Deno.readTextFile(o.grid)), o.grid);
    name = o.grid.replace(/^.*\//, "").replace(/\.json$/, "");
  } else {
    jobs = profileJobs(o.profile!, { only: o.only?.split(",").map((s) => s.trim()) });
    name = o.profile! + (o.only ? `-${o.only}` : "");
  }
  if (o.engine === "slurm" && !o["dry-run"]) {
    await checkSharedCache(root, { partition: o.partition });
  }
  const pool = new WorkspacePool(() => {});
  const unopened = new Map<string, string>();
  let planned: PlannedJob[];
  try {
    planned = await planJobs(jobs, pool, { check: !o["no-check"], log: console.log, unopened });
  } finally {
    await pool.close();
  }
  let storeCost = 0;
  const todo = planned.filter((p) => p.cached !== true);
  for (const m of new Set(todo.map((p) => p.job.model))) {
    const dims = await modelDims(m);
    storeCost += dims ? storeGflop(todo[0].job.profile, dims) : NaN;
  }
  printPlan(planned, o, storeCost);
  if (o["dry-run"]) {
    if (o.engine === "slurm") {
      console.log(`\nthe batch script (<sweep> is the sweep's folder under ${root}/sweeps):\n`);
      const tasks = todo.map((_, i) => i);
      console.log(
        batchScript("<sweep>", tasks, { ...slurmOptions(o), env: { GSAE_CACHE_DIR: root } }),
      );
    }
    return 0;
  }
  if (unopened.size > 0) {
    // The tasks would open the same models from the same paths, and fail.
    throw new Error(
      `cannot open ${[...unopened.keys()].join(", ")} here (see above); nothing submitted ` +
        `(--dry-run lists the jobs anyway)`,
    );
  }
  if (todo.length === 0) {
    console.log("nothing to run: every job is cached");
    return 0;
  }
  const dir = await createSweepDir(root, name, todo.map((p) => p.job));
  console.log(`sweep folder ${dir}`);
  return await execute(dir, todo.map((_, i) => i), o);
}

if (import.meta.main) {
  try {
    Deno.exit(await main());
  } catch (error) {
    console.error(`sweep: ${(error as Error).message}`);
    Deno.exit(1);
  }
}
