import assert from "node:assert/strict";
import { join } from "node:path";
import type { NotebookResultsJson } from "../lib/experiments/shared/results.ts";
import {
  figureNameOf,
  readStagedFigures,
  readStagedResults,
  removeStaleStaging,
  STAGING_PREFIX,
} from "../lib/pipeline/staging.ts";

const RESULTS: NotebookResultsJson = {
  notebook: "03_pareto",
  run: { profile: "smoke", model: "sotu-2x64", hook: "blocks.0.hook_resid_post", backend: "b" },
  metrics: { m: { value: 1, abs: 0, rel: 0, description: "d" } },
  claims: [{ id: "c", paper: "p", result: "r", verdict: "reproduced" }],
  figures: ["f"],
};

async function write(path: string, value: unknown): Promise<void> {
  await Deno.mkdir(join(path, ".."), { recursive: true });
  await Deno.writeTextFile(path, JSON.stringify(value));
}

Deno.test("readStagedResults: reads, validates, and names a mismatched stem", async () => {
  const dir = await Deno.makeTempDir({ prefix: "gsae_stage_" });
  try {
    assert.equal(await readStagedResults(dir, "03_pareto"), null);
    await write(join(dir, "results/03_pareto.json"), RESULTS);
    assert.deepEqual(await readStagedResults(dir, "03_pareto"), RESULTS);
    await assert.rejects(
      readStagedResults(dir, "04_density"),
      /04_density.ipynb saved results as "03_pareto"; .*new NotebookResults\(ws, "04_density"\)/,
    );
    await write(join(dir, "results/05_x.json"), {
      ...RESULTS,
      claims: [{ ...RESULTS.claims[0], verdict: "sort of" }],
    });
    await assert.rejects(
      readStagedResults(dir, "05_x"),
      /05_x\.json: claims\[0\]\.verdict: expected one of "reproduced", .*, got "sort of"$/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("readStagedResults names non-finite numbers and missing arrays", async () => {
  const dir = await Deno.makeTempDir({ prefix: "gsae_stage_" });
  try {
    const bad = { ...RESULTS, metrics: { m: { value: null, abs: 0, rel: 0, description: "" } } };
    await write(join(dir, "results/03_pareto.json"), { ...bad, figures: undefined });
    await assert.rejects(
      readStagedResults(dir, "03_pareto"),
      /03_pareto\.json: metrics\.m\.value: expected number, got null; figures: missing/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("readStagedFigures reads specs sorted by name; figureNameOf reads layout.meta", async () => {
  const dir = await Deno.makeTempDir({ prefix: "gsae_stage_" });
  try {
    assert.deepEqual(await readStagedFigures(dir), []);
    const spec = { data: [{ y: [1] }], layout: { meta: { gsae_figure: "b_fig" } } };
    await write(join(dir, "figures/b_fig.json"), spec);
    await write(join(dir, "figures/a_fig.json"), { data: [] });
    await Deno.writeTextFile(join(dir, "figures/a_fig.json.tmp-1-ab"), "partial");
    const figures = await readStagedFigures(dir);
    assert.deepEqual(figures.map((f) => f.name), ["a_fig", "b_fig"]);
    assert.equal(figureNameOf(figures[1].spec), "b_fig");
    assert.equal(figureNameOf(figures[0].spec), null);
    await write(join(dir, "figures/c.json"), { layout: {} });
    await assert.rejects(readStagedFigures(dir), /c\.json: data: missing \(expected array\)$/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("staging folders of processes that are gone are removed, live ones kept", async () => {
  const tmp = await Deno.makeTempDir();
  try {
    const dead = new Deno.Command("true").spawn();
    await dead.status;
    const stale = join(tmp, `${STAGING_PREFIX}${dead.pid}_abc`);
    const live = join(tmp, `${STAGING_PREFIX}${Deno.pid}_def`);
    const other = join(tmp, "gsae_reproduce_old");
    for (const dir of [stale, live, other]) {
      await Deno.mkdir(join(dir, "01_x"), { recursive: true });
    }
    assert.deepEqual(await removeStaleStaging(tmp), [stale]);
    assert.ok((await Deno.stat(live)).isDirectory);
    assert.ok((await Deno.stat(other)).isDirectory);
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});
