/**
 * `deno task sweep`: trains every SAE a profile's notebooks (or a grid file) need as independent
 * jobs, locally or as a Slurm job array, into the shared cache; the notebooks then train nothing.
 * See --help and `lib/sweep/mod.ts`.
 *
 * Why one module of ~380 lines: the command line and its help, the dry-run table and the
 * progress loop of both engines; jobs, engines and state are in lib/sweep/.
 *
 * @module
 */
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
  gridSchema,
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
import { choiceArg, gsaeCommand, intArg, numberArg, parseCommandLine } from "../lib/io/cli.ts";
import { intOption } from "../lib/io/cli_numbers.ts";
import { readJsonFile } from "../lib/io/json_file.ts";

const COMMANDS = ["run", "job", "status"];

function command() {
  return gsaeCommand("sweep", {
    usage: "(--profile P [--only 03,07] | --grid FILE) [options]",
    description:
      `   or: deno task sweep --retry [--sweep DIR] [options]   resubmit the failed tasks of a sweep
   or: deno task sweep status [--sweep DIR]               where the newest (or that) sweep stands
   or: deno task sweep job --sweep-dir DIR [--index I]    run one task (what each engine runs;
                                                          I defaults to $SLURM_ARRAY_TASK_ID)

Lists the SAEs the profile's notebooks need (00, 03-07; --only picks some) or the grid
file names (JSON: profile, models, hooks, architectures, ks, betas, seeds, evals; see
lib/sweep/jobs.ts), skips those already in the cache ($GSAE_CACHE_DIR, else .cache/), and
runs each as one job: build or read the store, train, evaluate, write the SAE and its
evaluations into the cache (atomically, under a lock), exactly as the notebooks would.
The sweep's folder <cache>/sweeps/<time>-<name>/ holds jobs.json, the batch scripts, a log
per task (logs/task-<i>.log) and a status file per finished task.`,
    after: `The cache must be a folder every node sees at the same path: with --engine slurm it is
checked up front (absolute, writable, not node-local unless the cluster has one node).`,
  })
    .argument("[command]", "run (default) | job | status")
    .option("--profile <P>", "the profile whose notebooks' SAEs to train")
    .option("--only <IDS>", "with --profile: only these notebooks, e.g. 03,07")
    .option("--grid <FILE>", "a grid file (JSON) instead of a profile")
    .option(
      "--engine <E>",
      "local | slurm",
      choiceArg("engine", ["local", "slurm"] as const),
      "local",
    )
    .option(
      "--jobs <N>",
      "local: tasks at once; each gets cores/N BLAS threads",
      intArg("jobs", { min: 1 }),
      1,
    )
    .option("--dry-run", "print the jobs, their estimated cost (and the batch script); run nothing")
    .option(
      "--gflops <R>",
      "sustained GFLOP/s of one task, for the time estimate",
      numberArg("gflops", { above: 0 }),
      5,
    )
    .option("--no-check", "do not open the models to check the cache (every job is listed)")
    .option("--retry", "resubmit the failed (or cancelled) tasks of a sweep")
    .option("--sweep <DIR>", "--retry, status: the sweep's folder (default: the newest)")
    .option("--sweep-dir <DIR>", "job: the sweep's folder")
    .option(
      "--index <I>",
      "job: the task (default $SLURM_ARRAY_TASK_ID)",
      intArg("index", { min: 0 }),
    )
    .optionsGroup("Slurm (passed to sbatch):")
    .option("--partition <P>", "the partition")
    .option("--time <T>", "each task's time limit")
    .option("--gres <G>", "generic resources, e.g. gpu:1")
    .option("--mem <M>", "each task's memory, e.g. 32G")
    .option(
      "--cpus-per-task <N>",
      "also each task's BLAS threads (default 1)",
      intArg("cpus-per-task", { min: 1 }),
    )
    .option(
      "--throttle <N>",
      "at most N tasks at once (the array's %N)",
      intArg("throttle", { min: 1 }),
    )
    .option("--detach", "submit and exit (check with: deno task sweep status)")
    .option(
      "--poll <S>",
      "seconds between squeue polls",
      numberArg("poll", { above: 0 }),
      10,
    );
}

/**
 * What commander gives (see `--help`); `check` is false with `--no-check`. The sbatch settings
 * are {@link SlurmOptions}' fields under their own names.
 */
interface SweepFlags extends SlurmOptions {
  profile?: string;
  only?: string;
  grid?: string;
  engine: "local" | "slurm";
  jobs: number;
  dryRun?: boolean;
  gflops: number;
  check: boolean;
  retry?: boolean;
  sweep?: string;
  sweepDir?: string;
  index?: number;
  detach?: boolean;
  poll: number;
}

/** The checked command line. */
interface Options extends SweepFlags {
  command: string;
  pollMs: number;
}

/** `flags` and `args` checked together (what one option cannot check alone). */
function checked(flags: SweepFlags, args: string[]): Options {
  const command = args[0] ?? "run";
  if (!COMMANDS.includes(command)) {
    throw new Error(`unknown command "${args.join(" ")}"; commands: job, status`);
  }
  const slurmIndex = Deno.env.get("SLURM_ARRAY_TASK_ID");
  const index = flags.index ??
    (slurmIndex !== undefined ? intOption(slurmIndex, "index", { min: 0 }) : undefined);
  if (command === "run" && !flags.retry) {
    if ((flags.profile === undefined) === (flags.grid === undefined)) {
      throw new Error("give exactly one of --profile P or --grid FILE (or --retry)");
    }
    if (flags.only !== undefined && flags.grid !== undefined) {
      throw new Error("--only picks notebooks of a --profile, not of a --grid");
    }
  }
  return { ...flags, command, index, pollMs: flags.poll * 1000 };
}

async function jobCommand(o: Options): Promise<number> {
  const dir = o.sweepDir;
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
  const parsed = parseCommandLine<SweepFlags>(command(), Deno.args);
  if (parsed.exit !== undefined) return parsed.exit;
  let o: Options;
  try {
    o = checked(parsed.options, parsed.args);
  } catch (error) {
    console.error(`sweep: ${(error as Error).message}\n(see deno task sweep --help)`);
    return 2;
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
    if (failed.length === 0 || o.dryRun) return 0;
    if (o.engine === "slurm") await checkSharedCache(root, { partition: o.partition });
    const code = await execute(dir, failed, o);
    if (o.detach) return code;
    console.log("the whole sweep:");
    return await report(dir, await sweepStates(dir));
  }
  let jobs: SweepJob[], name: string;
  if (o.grid) {
    jobs = gridJobs(await readJsonFile(o.grid, gridSchema), o.grid);
    name = o.grid.replace(/^.*\//, "").replace(/\.json$/, "");
  } else {
    jobs = profileJobs(o.profile!, { only: o.only?.split(",").map((s) => s.trim()) });
    name = o.profile! + (o.only ? `-${o.only}` : "");
  }
  if (o.engine === "slurm" && !o.dryRun) {
    await checkSharedCache(root, { partition: o.partition });
  }
  const pool = new WorkspacePool(() => {});
  const unopened = new Map<string, string>();
  let planned: PlannedJob[];
  try {
    planned = await planJobs(jobs, pool, { check: o.check, log: console.log, unopened });
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
  if (o.dryRun) {
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
