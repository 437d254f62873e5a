/**
 * The sweep on a real Slurm: a one-node cluster started here, a grid of 4 tiny SAEs through an
 * sbatch job array, results bit-identical to the local engine's, one task cancelled with scancel
 * (reported, and the retry trains only it). Skips, saying why, where Slurm cannot run.
 */
import assert from "node:assert/strict";
import { clusterUnavailable, startCluster, type TestCluster } from "./slurm_cluster.ts";

const unavailable = await clusterUnavailable();
if (unavailable) console.log(`sweep_slurm_test: skipped: ${unavailable}`);

const GRID = {
  profile: "smoke",
  architectures: ["topk", "gsae"],
  ks: [8],
  betas: [0.5],
  seeds: [0, 1],
};

async function sweep(args: string[], env: Record<string, string>) {
  const o = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", new URL("../pipelines/sweep.ts", import.meta.url).pathname, ...args],
    env,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code: o.code, out: dec.decode(o.stdout) + dec.decode(o.stderr) };
}

async function sh(cmd: string, env: Record<string, string>): Promise<string> {
  const o = await new Deno.Command("bash", { args: ["-c", cmd], env, stdout: "piped" }).output();
  return new TextDecoder().decode(o.stdout).trim();
}

/** Relative path → bytes of every SAE weight file and evaluation under `root`'s experiments. */
async function results(root: string): Promise<Map<string, Uint8Array>> {
  const out = new Map<string, Uint8Array>();
  const walk = async (dir: string) => {
    for await (const e of Deno.readDir(dir)) {
      const p = `${dir}/${e.name}`;
      if (e.isDirectory) await walk(p);
      else if (/^(sae_weights\.safetensors|eval-.*\.json|training\.json)$/.test(e.name)) {
        out.set(p.slice(root.length), await Deno.readFile(p));
      }
    }
  };
  await walk(`${root}/experiments`);
  return out;
}

Deno.test({
  name:
    "sweep on Slurm: 4 SAEs as an array, bit-identical to local; a cancelled task is retried alone",
  ignore: unavailable !== null,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    let cluster: TestCluster;
    try {
      cluster = await startCluster();
    } catch (error) {
      console.log(`sweep_slurm_test: skipped: Slurm did not start: ${(error as Error).message}`);
      return;
    }
    const tmp = await Deno.makeTempDir({ prefix: "gsae-sweep-" });
    try {
      const grid = `${tmp}/grid.json`;
      await Deno.writeTextFile(grid, JSON.stringify(GRID));
      const local = { GSAE_CACHE_DIR: `${tmp}/local`, ...cluster.env };
      const slurm = { GSAE_CACHE_DIR: `${tmp}/slurm`, ...cluster.env };

      // Both engines with one BLAS thread per task, so both compute the same bits.
      const a = await sweep(["--grid", grid, "--jobs", "2", "--cpus-per-task", "1"], local);
      assert.equal(a.code, 0, a.out);
      assert.match(a.out, /4 jobs: 0 cached, 4 to run/);

      const b = await sweep([
        "--grid",
        grid,
        "--engine",
        "slurm",
        "--throttle",
        "1",
        "--cpus-per-task",
        "1",
        "--detach",
      ], slurm);
      assert.equal(b.code, 0, b.out);
      const dir = /sweep folder (\S+)/.exec(b.out)![1];
      const id = /Slurm job array (\d+)/.exec(b.out)![1];
      // Cancel task 1 while it runs (the throttle runs one task at a time).
      for (let i = 0; (await sh(`squeue -h -r -j ${id} -o "%K %T"`, slurm)) !== ""; i++) {
        const rows = await sh(`squeue -h -r -j ${id} -o "%K %T"`, slurm);
        if (rows.split("\n").includes("1 RUNNING")) {
          await sh(`scancel ${id}_1`, slurm);
        }
        assert.ok(i < 1200, "the array did not finish in 2 minutes");
        await new Promise((r) => setTimeout(r, 100));
      }
      const status = await sweep(["status", "--sweep", dir], slurm);
      assert.equal(status.code, 1, status.out);
      assert.match(status.out, /3\/4 done, 0 running, 0 pending, 1 failed/);
      assert.match(status.out, /task 1 failed \(CANCELLED/);

      const before = await results(`${tmp}/slurm`);
      const retry = await sweep(
        ["--retry", "--sweep", dir, "--engine", "slurm", "--poll", "1"],
        slurm,
      );
      assert.equal(retry.code, 0, retry.out);
      assert.match(retry.out, /1 failed task\(s\) to resubmit: 1\n/);
      assert.match(retry.out, /4\/4 done/);
      const task1 = JSON.parse(await Deno.readTextFile(`${dir}/status/1.json`));
      assert.deepEqual(task1.trained, ["sotu-2x64/topk-k8-s1"]);
      const after = await results(`${tmp}/slurm`);
      for (const [path, bytes] of before) {
        assert.deepEqual(after.get(path), bytes, `${path} changed in the retry`);
      }

      const fromLocal = await results(`${tmp}/local`);
      const weights = [...fromLocal.keys()].filter((p) => !p.endsWith("training.json"));
      assert.equal(weights.length, 4 * 2, [...fromLocal.keys()].join("\n"));
      for (const path of weights) {
        assert.ok(after.has(path), `${path} missing from the Slurm sweep`);
        assert.deepEqual(
          after.get(path),
          fromLocal.get(path),
          `${path} differs between the engines`,
        );
      }
      const locks = await sh(`find ${tmp} -name '*.lock' | wc -l`, slurm);
      assert.equal(locks, "0", "a lock was left behind");
      const rerun = await sweep(["--grid", grid, "--engine", "slurm"], slurm);
      assert.match(rerun.out, /nothing to run: every job is cached/);
    } finally {
      await cluster.stop();
      await Deno.remove(tmp, { recursive: true }).catch(() => {});
    }
  },
});
