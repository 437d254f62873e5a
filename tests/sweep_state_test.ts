import assert from "node:assert/strict";
import { gridJobs } from "../lib/sweep/jobs.ts";
import {
  addSubmission,
  createSweepDir,
  readJobs,
  readRecord,
  readStatus,
  type TaskStatus,
  writeStatus,
} from "../lib/sweep/state.ts";

async function withRoot(fn: (root: string) => Promise<void>): Promise<void> {
  const root = await Deno.makeTempDir({ prefix: "gsae_sweep_state_" });
  try {
    await fn(root);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
}

const JOBS = gridJobs({
  profile: "smoke",
  architectures: ["topk", "gsae"],
  betas: [0.5],
  evals: ["val", "none"],
});

Deno.test("sweep state round-trips jobs, submissions and statuses", async () => {
  await withRoot(async (root) => {
    const dir = await createSweepDir(root, "demo", JOBS);
    assert.deepEqual(await readJobs(dir), JOBS);
    await addSubmission(dir, "local", { tasks: [0, 1] });
    const record = await readRecord(dir);
    assert.equal(record.engine, "local");
    assert.deepEqual(record.submissions[0].tasks, [0, 1]);
    assert.equal(await readStatus(dir, 0), null);
    const done: TaskStatus = { state: "done", host: "h", trained: ["a"], label: "a", seconds: 1 };
    await writeStatus(dir, 0, done);
    assert.deepEqual(await readStatus(dir, 0), done);
    const failed: TaskStatus = { state: "failed", host: "h", error: "boom", seconds: 2 };
    await writeStatus(dir, 1, failed);
    assert.deepEqual(await readStatus(dir, 1), failed);
  });
});

Deno.test("corrupt sweep files are errors naming the file and the field", async () => {
  await withRoot(async (root) => {
    const dir = await createSweepDir(root, "demo", JOBS);
    const jobs = JSON.parse(await Deno.readTextFile(`${dir}/jobs.json`));
    jobs[1].spec.seed = "0";
    await Deno.writeTextFile(`${dir}/jobs.json`, JSON.stringify(jobs));
    await assert.rejects(
      readJobs(dir),
      (e: Error) => e.message === `${dir}/jobs.json: [1].spec.seed: expected number, got string`,
    );
    await Deno.writeTextFile(`${dir}/sweep.json`, `{"engine": "local"}`);
    await assert.rejects(readRecord(dir), /sweep\.json: submissions: missing \(expected array\)$/);
    await Deno.writeTextFile(`${dir}/status/0.json`, `{"state": "finished", "host": "h"}`);
    await assert.rejects(
      readStatus(dir, 0),
      /status\/0\.json: state: does not fit any of the allowed forms, got "finished"$/,
    );
  });
});
