/**
 * The sweep's list of what the notebooks need (`lib/experiments/zoo/needs.ts`) against the notebooks'
 * own section functions: after the sweep's jobs ran, the sections train and evaluate nothing.
 */
import assert from "node:assert/strict";
import { chooseBeta, mainSAE } from "../lib/experiments/zoo/compared.ts";
import { densityRuns } from "../lib/experiments/04_density/density.ts";
import {
  betaSweep,
  frontiers,
  furtherArchitectures,
  mainKComparison,
  PARETO_SETTINGS,
} from "../lib/experiments/03_pareto/pareto.ts";
import { evaluateSAE } from "../lib/experiments/zoo/sae_eval.ts";
import { scalingStudy } from "../lib/experiments/07_scaling/scaling.ts";
import { splittingRuns } from "../lib/experiments/05_splitting/splitting.ts";
import { steeringComparison } from "../lib/experiments/06_steering/steering_study.ts";
import { profileJobs } from "../lib/sweep/jobs.ts";
import { runJob, WorkspacePool } from "../lib/sweep/run_job.ts";
import { withSmokeWorkspace } from "./fixtures/smoke_workspace.ts";

/** Path → modification time of every file under `dir`. */
async function files(dir: string): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  const walk = async (d: string) => {
    for await (const e of Deno.readDir(d)) {
      const p = `${d}/${e.name}`;
      if (e.isDirectory) await walk(p);
      else out.set(p, (await Deno.stat(p)).mtime!.getTime());
    }
  };
  await walk(dir);
  return out;
}

Deno.test("after the sweep's jobs, notebooks 00 and 03-07 train and evaluate nothing", async () => {
  await withSmokeWorkspace(async (ws, dir) => {
    const pool = new WorkspacePool();
    pool.put(ws, ws.profile.model);
    // Notebook 07's other models open workspaces of their own; its main model is checked here.
    const jobs = profileJobs("smoke").filter((j) => j.model === ws.profile.model);
    let trained = 0;
    for (const job of jobs) trained += (await runJob(job, { pool, log: () => {} })).trained.length;
    assert.ok(trained >= 10, `${trained} SAEs trained`);
    const before = await files(`${dir}/experiments`);

    const choice = await chooseBeta(ws);
    await evaluateSAE(ws, await mainSAE(ws, "gsae", ws.profile.seeds[0], { beta: choice.beta }));
    const sweep = await betaSweep(ws);
    await frontiers(ws, sweep.chosen);
    await mainKComparison(ws, { beta: sweep.chosen, e2e: PARETO_SETTINGS.e2eAllSeeds });
    await furtherArchitectures(ws, {
      beta: sweep.chosen,
      penaltyMultiples: PARETO_SETTINGS.penaltyMultiples,
      architectures: PARETO_SETTINGS.furtherArchitectures,
    });
    await densityRuns(ws);
    await splittingRuns(ws);
    await steeringComparison(ws);
    await scalingStudy(ws, { beta: choice.beta, models: [ws.profile.model] });

    assert.deepStrictEqual(await files(`${dir}/experiments`), before);
  }, { sae: { tokens: 1024, e2eTokens: 1024, evalSequences: 2 } });
});
