/**
 * The notebook step runs in tests/pipeline_run_test.ts (through real Jupyter on the fixture
 * notebooks: outputs, PNGs, failures); here its pure parts.
 */
import assert from "node:assert/strict";
import { runnerLine } from "../lib/pipeline/notebook_step.ts";

Deno.test("runnerLine drops the kernel banner and the staging path", () => {
  assert.equal(runnerLine('Warning "deno jupyter" is unstable and might change.'), null);
  assert.equal(
    runnerLine("nb_runner: 03_x.ipynb: 4 cells, 5 outputs in 2.0s -> /tmp/gsae_1/03_x.ipynb"),
    "4 cells, 5 outputs in 2.0s",
  );
  assert.equal(
    runnerLine("nb_runner: 03_x.ipynb: cell 1/4 (index 1) done"),
    "cell 1/4 (index 1) done",
  );
});
