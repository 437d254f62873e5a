/**
 * Where a sweep stands: each task's state, counted into one progress line with an ETA, the same
 * for both engines.
 *
 * @module
 */
import { formatDuration } from "../io/progress.ts";

/** One task's state; `reason` says why a task failed (e.g. `CANCELLED`, `exit 1`). */
export interface TaskState {
  /** Pending (queued), running, done, or failed (also cancelled, timed out, killed). */
  state: "pending" | "running" | "done" | "failed";
  /** Why it failed. */
  reason?: string;
  /** Seconds it ran (done tasks). */
  seconds?: number;
}

/** Counts per state. */
export interface Tally {
  /** Finished with status `done`. */
  done: number;
  /** Running now. */
  running: number;
  /** Waiting to start. */
  pending: number;
  /** Failed, cancelled or killed. */
  failed: number;
  /** Seconds until the last task ends (mean of the done tasks' times; NaN until one is done). */
  etaSeconds: number;
}

/**
 * The counts of `states` and an ETA: the mean duration of the done tasks times the tasks left,
 * over the tasks running at once (at least one).
 */
export function tally(states: ReadonlyMap<number, TaskState>): Tally {
  const t: Tally = { done: 0, running: 0, pending: 0, failed: 0, etaSeconds: NaN };
  const times: number[] = [];
  for (const s of states.values()) {
    t[s.state]++;
    if (s.state === "done" && s.seconds !== undefined) times.push(s.seconds);
  }
  if (times.length > 0) {
    const mean = times.reduce((a, b) => a + b, 0) / times.length;
    t.etaSeconds = mean * (t.running + t.pending) / Math.max(1, t.running);
  }
  return t;
}

/** `sweep: 3/8 done, 2 running, 2 pending, 1 failed | ETA 4m05s`. */
export function tallyLine(states: ReadonlyMap<number, TaskState>): string {
  const t = tally(states), left = t.running + t.pending;
  const eta = left === 0 ? "" : ` | ETA ${formatDuration(t.etaSeconds)}`;
  return `sweep: ${t.done}/${states.size} done, ${t.running} running, ${t.pending} pending, ` +
    `${t.failed} failed${eta}`;
}

/** `0-3,5,7-9`: sorted task indices as Slurm's `--array` ranges. */
export function arrayRanges(indices: readonly number[]): string {
  const sorted = [...new Set(indices)].sort((a, b) => a - b), parts: string[] = [];
  for (let i = 0; i < sorted.length;) {
    let j = i;
    while (j + 1 < sorted.length && sorted[j + 1] === sorted[j] + 1) j++;
    parts.push(i === j ? `${sorted[i]}` : `${sorted[i]}-${sorted[j]}`);
    i = j + 1;
  }
  return parts.join(",");
}
