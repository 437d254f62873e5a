import assert from "node:assert/strict";
import { batchScript, checkSharedCache } from "../lib/sweep/slurm.ts";

Deno.test("batchScript: one array, sbatch options passed through, a log per task", () => {
  const s = batchScript("/shared/cache/sweeps/x", [0, 1, 2, 5], {
    partition: "gpu",
    time: "4:00:00",
    gres: "gpu:1",
    mem: "32G",
    cpusPerTask: 8,
    throttle: 2,
    env: { GSAE_CACHE_DIR: "/shared/cache" },
  });
  for (
    const line of [
      "#SBATCH --array=0-2,5%2",
      "#SBATCH --output=/shared/cache/sweeps/x/logs/task-%a.log",
      "#SBATCH --partition=gpu",
      "#SBATCH --time=4:00:00",
      "#SBATCH --gres=gpu:1",
      "#SBATCH --mem=32G",
      "#SBATCH --cpus-per-task=8",
      "export GSAE_BLAS_THREADS=8",
      "export GSAE_CACHE_DIR=/shared/cache",
    ]
  ) assert.ok(s.split("\n").includes(line), `${line}\n${s}`);
  assert.match(
    s,
    /\nexec \S+ run -A \S+\/pipelines\/sweep\.ts job --sweep-dir \/shared\/cache\/sweeps\/x --index "\$SLURM_ARRAY_TASK_ID"\n$/,
  );
  assert.ok(!batchScript("/c", [0]).includes("--partition"));
});

Deno.test("checkSharedCache: a relative or unwritable cache is a clear error", async () => {
  await assert.rejects(
    checkSharedCache("rel/cache"),
    /cache rel\/cache is not an absolute path; set GSAE_CACHE_DIR/,
  );
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/file`, "");
    await assert.rejects(checkSharedCache(`${dir}/file/cache`), /is not a writable folder/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
