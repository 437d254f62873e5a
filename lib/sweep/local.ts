/**
 * The local engine: a sweep's tasks as processes on this machine, `jobs` at a time, each the same
 * command a Slurm task runs (`deno run -A pipelines/sweep.ts job --sweep-dir D --index I`), its
 * output in the task's log.
 *
 * @module
 */
import { REPO_ROOT } from "../gpt2/embedded_models.ts";
import { clearStatus, readStatus, taskLog } from "./state.ts";
import { tallyLine, type TaskState } from "./tally.ts";

/** Options of {@link runLocal}. */
export interface LocalOptions {
  /** Tasks at once (default 1). */
  jobs?: number;
  /** Environment of every task (added to this process's). */
  env?: Record<string, string>;
  /** Progress lines (default: console.log). */
  log?: (line: string) => void;
}

/** The command line of task `index` of the sweep in `dir` (shared with the Slurm batch script). */
export function taskCommand(dir: string, index: number | string): string[] {
  return [
    Deno.execPath(),
    "run",
    "-A",
    `${REPO_ROOT}/pipelines/sweep.ts`,
    "job",
    "--sweep-dir",
    dir,
    "--index",
    `${index}`,
  ];
}

/** Runs `tasks` of the sweep in `dir`; returns every task's final state. */
export async function runLocal(
  dir: string,
  tasks: readonly number[],
  options: LocalOptions = {},
): Promise<Map<number, TaskState>> {
  const log = options.log ?? ((line: string) => console.log(line));
  const states = new Map<number, TaskState>(tasks.map((i) => [i, { state: "pending" }]));
  const queue = [...tasks];
  const worker = async () => {
    for (let i = queue.shift(); i !== undefined; i = queue.shift()) {
      states.set(i, { state: "running" });
      states.set(i, await runTask(dir, i, options.env ?? {}));
      log(tallyLine(states));
    }
  };
  log(tallyLine(states));
  await Promise.all(Array.from({ length: Math.max(1, options.jobs ?? 1) }, worker));
  return states;
}

async function runTask(
  dir: string,
  index: number,
  env: Record<string, string>,
): Promise<TaskState> {
  await clearStatus(dir, index);
  const [cmd, ...args] = taskCommand(dir, index);
  // The shell sends stdout and stderr to one log, as Slurm's --output does.
  const child = new Deno.Command("sh", {
    args: ["-c", `exec "$0" "$@" >>"${taskLog(dir, index)}" 2>&1`, cmd, ...args],
    env,
    stdin: "null",
  }).spawn();
  const { code, signal } = await child.status;
  const status = await readStatus(dir, index);
  if (code === 0 && status?.state === "done") return { state: "done", seconds: status.seconds };
  const reason = status?.state === "failed"
    ? status.error
    : signal
    ? `killed by ${signal}`
    : `exit ${code}`;
  return { state: "failed", reason };
}
