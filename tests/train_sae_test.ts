import assert from "node:assert/strict";
import { trainSAECommand } from "../pipelines/train_sae.ts";
import { evaluateSAE } from "../lib/experiments/zoo/sae_eval.ts";
import { trainedSAE } from "../lib/experiments/zoo/sae_zoo.ts";
import { withSmokeWorkspace } from "./fixtures/smoke_workspace.ts";

Deno.test("train-sae and the notebooks' zoo train and evaluate one spec to the same numbers", async () => {
  await withSmokeWorkspace(async (ws, dir) => {
    const zoo = await trainedSAE(ws, { architecture: "gsae", k: 8, seed: 1 });
    const zooEval = await evaluateSAE(ws, zoo);
    const budget = ws.profile.sae;
    const run = await trainSAECommand([
      "--profile=smoke",
      "--architecture=gsae",
      "--k=8",
      "--seed=1",
      `--store-tokens=${ws.profile.storeTokens}`,
      `--tokens=${budget.tokens}`,
      `--batch-size=${budget.batchSize}`,
      `--eval-sequences=${budget.evalSequences}`,
      `--out=${dir}/out`,
    ]);
    assert.ok(run);
    const { trained, evaluation } = run;
    assert.deepStrictEqual({ ...trained.train, checkpointEvery: 0 }, zoo.train);
    assert.deepStrictEqual(trained.sae.config, zoo.sae.config);
    for (const [name, v] of zoo.sae.params) {
      assert.deepStrictEqual(trained.sae.params.get(name)!.dataSync(), v.dataSync(), name);
    }
    const { name: _a, ...cli } = evaluation, { name: _b, ...notebooks } = zooEval;
    assert.deepStrictEqual(cli, notebooks);
    assert.ok(Number.isFinite(cli.fvu) && cli.l0 > 0 && Number.isFinite(cli.kl));

    const report = JSON.parse(await Deno.readTextFile(`${dir}/out/training_report.json`));
    assert.equal(report.eval.deltaCe, zooEval.deltaCe);
    assert.equal(report.eval.fvu, zooEval.fvu);
    assert.equal(report.eval.l0, zooEval.l0);
    assert.ok(await Deno.stat(`${dir}/out/cfg.json`));
  });
});
