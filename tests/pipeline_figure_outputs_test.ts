import assert from "node:assert/strict";
import { join } from "node:path";
import { FigureRenderer } from "../lib/pipeline/figures.ts";
import {
  copyFiles,
  embedFigurePngs,
  type NotebookJson,
  PLOTLY_MIME,
  removeFigureFiles,
  renderFigureFiles,
  serializeNotebook,
} from "../lib/pipeline/figure_outputs.ts";

/** A notebook with a named figure output, an unnamed one and a text output. */
function notebook(): NotebookJson {
  const named = (name: string) => ({
    output_type: "display_data",
    data: { [PLOTLY_MIME]: { data: [], layout: { meta: { gsae_figure: name } } } },
  });
  return {
    cells: [
      { cell_type: "markdown" },
      {
        cell_type: "code",
        outputs: [
          named("fig_a"),
          { output_type: "display_data", data: { [PLOTLY_MIME]: { data: [] } } },
          { output_type: "stream" },
        ],
      },
      { cell_type: "code", outputs: [named("fig_a"), named("fig_missing")] },
    ],
    nbformat: 4,
  };
}

Deno.test("embedFigurePngs adds image/png beside the Plotly MIME of named figures", () => {
  const nb = notebook();
  const result = embedFigurePngs(nb, new Map([["fig_a", "iVBORw0KGgo="]]));
  assert.deepEqual(result, { embedded: 2, missing: ["fig_missing"] });
  const outputs = nb.cells[1].outputs!;
  assert.equal(outputs[0].data!["image/png"], "iVBORw0KGgo=");
  assert.ok(outputs[0].data![PLOTLY_MIME] !== undefined);
  assert.equal(outputs[1].data!["image/png"], undefined);
  assert.equal(nb.cells[2].outputs![1].data!["image/png"], undefined);
});

Deno.test("serializeNotebook sorts keys like nbformat, one-space indent, final newline", () => {
  const text = serializeNotebook({ b: 1, a: { d: [{ z: 1, y: 2 }], c: "é" } });
  assert.equal(
    text,
    '{\n "a": {\n  "c": "é",\n  "d": [\n   {\n    "y": 2,\n    "z": 1\n   }\n  ]\n },\n "b": 1\n}\n',
  );
});

Deno.test("copyFiles skips identical files; removeFigureFiles removes every format", async () => {
  const dir = await Deno.makeTempDir({ prefix: "gsae_figout_" });
  try {
    const from = join(dir, "from"), to = join(dir, "to");
    await Deno.mkdir(from);
    await Deno.writeTextFile(join(from, "a.png"), "A");
    await Deno.writeTextFile(join(from, "b.svg"), "B");
    assert.deepEqual(await copyFiles(from, to), ["a.png", "b.svg"]);
    await Deno.writeTextFile(join(from, "b.svg"), "B2");
    assert.deepEqual(await copyFiles(from, to), ["b.svg"]);
    assert.equal(await Deno.readTextFile(join(to, "b.svg")), "B2");
    await Deno.writeTextFile(join(to, "a.html"), "");
    await removeFigureFiles(to, ["a", "never"]);
    assert.deepEqual([...Deno.readDirSync(to)].map((e) => e.name), ["b.svg"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("renderFigureFiles writes HTML, PNG and SVG at the layout's size", async () => {
  const dir = await Deno.makeTempDir({ prefix: "gsae_figout_" });
  const renderer = await FigureRenderer.launch();
  try {
    const pngs = await renderFigureFiles(renderer, [
      { name: "small", spec: { data: [{ y: [1, 3, 2] }], layout: { width: 320, height: 200 } } },
      { name: "plain", spec: { data: [{ y: [1, 2] }] } },
    ], dir);
    const names = [...Deno.readDirSync(dir)].map((e) => e.name).sort();
    assert.deepEqual(names, [
      "plain.html",
      "plain.png",
      "plain.svg",
      "plotly.min.js",
      "small.html",
      "small.png",
      "small.svg",
    ]);
    const png = await Deno.readFile(join(dir, "small.png"));
    const view = new DataView(png.buffer, png.byteOffset);
    assert.deepEqual([view.getUint32(16), view.getUint32(20)], [320, 200]);
    const plain = new DataView((await Deno.readFile(join(dir, "plain.png"))).buffer);
    assert.deepEqual([plain.getUint32(16), plain.getUint32(20)], [1000, 600]);
    assert.equal(atob(pngs.get("small")!).length, png.length);
    assert.match(await Deno.readTextFile(join(dir, "small.svg")), /^<svg/);
  } finally {
    await renderer.close();
    await Deno.remove(dir, { recursive: true });
  }
});
