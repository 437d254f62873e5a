import assert from "node:assert/strict";
import { arrayRanges, tally, tallyLine, type TaskState } from "../lib/sweep/tally.ts";

Deno.test("tally: counts and an ETA from the done tasks' mean time over the running ones", () => {
  const states = new Map<number, TaskState>([
    [0, { state: "done", seconds: 10 }],
    [1, { state: "done", seconds: 20 }],
    [2, { state: "running" }],
    [3, { state: "running" }],
    [4, { state: "pending" }],
    [5, { state: "failed", reason: "CANCELLED" }],
  ]);
  const t = tally(states);
  assert.deepEqual({ ...t, etaSeconds: undefined }, {
    done: 2,
    running: 2,
    pending: 1,
    failed: 1,
    etaSeconds: undefined,
  });
  assert.equal(t.etaSeconds, 15 * 3 / 2);
  assert.equal(tallyLine(states), "sweep: 2/6 done, 2 running, 1 pending, 1 failed | ETA 23s");
  assert.ok(Number.isNaN(tally(new Map([[0, { state: "pending" }]])).etaSeconds));
});

Deno.test("arrayRanges: sorted, deduplicated Slurm ranges", () => {
  assert.equal(arrayRanges([9, 0, 1, 2, 3, 5, 7, 8, 3]), "0-3,5,7-9");
  assert.equal(arrayRanges([4]), "4");
});
