import assert from "node:assert/strict";
import { join } from "node:path";
import {
  discoverNotebooks,
  isNotebookName,
  notebookTitle,
  selectNotebooks,
} from "../lib/pipeline/notebooks.ts";

/** A temporary folder holding empty files with these names. */
async function folderWith(names: string[]): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "gsae_nbs_" });
  for (const name of names) await Deno.writeTextFile(join(dir, name), "{}");
  return dir;
}

Deno.test("isNotebookName takes NN_name.ipynb only", () => {
  assert.ok(isNotebookName("03_pareto.ipynb"));
  assert.ok(isNotebookName("00_tour-2.ipynb"));
  assert.ok(!isNotebookName("03_pareto.failed.ipynb"));
  assert.ok(!isNotebookName("3_pareto.ipynb"));
  assert.ok(!isNotebookName("scratch.ipynb"));
  assert.ok(!isNotebookName("03_pareto.ipynb.tmp-1-ab"));
});

Deno.test("discoverNotebooks sorts by id and ignores other files", async () => {
  const dir = await folderWith([
    "05_splitting.ipynb",
    "00_tour.ipynb",
    "03_pareto.ipynb",
    "03_pareto.failed.ipynb",
    "notes.md",
  ]);
  try {
    const found = await discoverNotebooks(dir);
    assert.deepEqual(found.map((nb) => nb.stem), ["00_tour", "03_pareto", "05_splitting"]);
    assert.deepEqual(found.map((nb) => nb.id), ["00", "03", "05"]);
    assert.equal(found[1].path, join(dir, "03_pareto.ipynb"));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("discoverNotebooks: a missing, empty or ambiguous folder is an error", async () => {
  await assert.rejects(discoverNotebooks("/nonexistent/gsae"), /does not exist/);
  const empty = await folderWith(["readme.md"]);
  const twins = await folderWith(["03_a.ipynb", "03_b.ipynb"]);
  try {
    await assert.rejects(discoverNotebooks(empty), /no notebooks in .*NN_name\.ipynb/);
    await assert.rejects(discoverNotebooks(twins), /share id 03/);
  } finally {
    await Deno.remove(empty, { recursive: true });
    await Deno.remove(twins, { recursive: true });
  }
});

Deno.test("selectNotebooks: ids, short ids and stems, in notebook order", () => {
  const nbs = ["00_tour", "03_pareto", "05_splitting"].map((stem) => ({
    id: stem.slice(0, 2),
    stem,
    path: `/nb/${stem}.ipynb`,
  }));
  assert.equal(selectNotebooks(nbs).length, 3);
  assert.deepEqual(selectNotebooks(nbs, "05,03").map((nb) => nb.stem), [
    "03_pareto",
    "05_splitting",
  ]);
  assert.deepEqual(selectNotebooks(nbs, "0, 05_splitting.ipynb").map((nb) => nb.id), [
    "00",
    "05",
  ]);
  assert.throws(() => selectNotebooks(nbs, "04"), /no notebook "04"; known: 00_tour, 03_pareto/);
  assert.throws(() => selectNotebooks(nbs, " , "), /--only wants/);
});

Deno.test("notebookTitle: the first markdown heading, else the stem", () => {
  const nb = {
    cells: [
      { cell_type: "code", source: "# not a heading: code" },
      { cell_type: "markdown", source: ["Intro line\n", "## Pareto frontiers\n", "text"] },
    ],
  };
  assert.equal(notebookTitle(nb, "03_pareto"), "Pareto frontiers");
  assert.equal(notebookTitle({ cells: [] }, "03_pareto"), "03_pareto");
});
