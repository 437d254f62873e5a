/**
 * Renders a small figure through Debian's Chromium. Needs the Debian package
 * chromium (`deno task setup`); without it these tests fail and say so.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import {
  figureBundle,
  figureHtml,
  FigureRenderer,
  type FigureSpec,
  renderFigures,
} from "../lib/pipeline/figures.ts";

const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

const SCATTER: FigureSpec = {
  data: [{ type: "scatter", mode: "markers", x: [1, 2, 3], y: [4.5, 1.25, 3.75], name: "pts" }],
  layout: { title: { text: "scatter </script> test" } },
};

Deno.test("renderFigures writes PNG, SVG and HTML", async () => {
  const dir = await Deno.makeTempDir({ prefix: "gsae_fig_" });
  try {
    const written = await renderFigures([{ name: "scatter", spec: SCATTER }], {
      dir,
      width: 640,
      height: 400,
      formats: ["png", "svg", "html"],
    });
    assert.deepEqual(
      written.map((p) => p.slice(dir.length + 1)).sort(),
      ["plotly.min.js", "scatter.html", "scatter.png", "scatter.svg"],
    );
    const png = await Deno.readFile(join(dir, "scatter.png"));
    assert.ok(png.length > PNG_SIGNATURE.length);
    assert.deepEqual([...png.subarray(0, 8)], PNG_SIGNATURE);
    const svg = await Deno.readTextFile(join(dir, "scatter.svg"));
    assert.ok(svg.includes("<svg"), "SVG has an <svg> element");
    assert.ok(svg.includes('width="640"'), "SVG has the requested width");
    const html = await Deno.readTextFile(join(dir, "scatter.html"));
    assert.ok(html.includes('"y":[4.5,1.25,3.75]'), "HTML carries the figure's data");
    assert.ok(html.includes('<script src="plotly.min.js">'));
    // The title's "</script>" must not close the page's script early.
    assert.equal(html.split("</script>").length - 1, 2);
    const bundle = await Deno.stat(join(dir, "plotly.min.js"));
    assert.ok(bundle.size > 1_000_000);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("FigureRenderer renders several figures with one browser", async () => {
  await using renderer = await FigureRenderer.launch();
  const a = await renderer.pngBase64(SCATTER, { width: 300, height: 200 });
  const b = await renderer.png({ data: [{ type: "bar", x: ["a", "b"], y: [1, 2] }] }, {
    width: 300,
    height: 200,
    scale: 2,
  });
  assert.deepEqual(
    [...Uint8Array.from(atob(a).slice(0, 8), (c) => c.charCodeAt(0))],
    PNG_SIGNATURE,
  );
  // scale 2 doubles the pixel width written in the IHDR chunk.
  assert.equal(new DataView(b.buffer, b.byteOffset).getUint32(16), 600);
  const bundle = await renderer.bundle(SCATTER, { width: 300, height: 200 });
  assert.deepEqual(bundle["application/vnd.plotly.v1+json"], SCATTER);
  assert.equal(typeof bundle["image/png"], "string");
});

Deno.test("figureBundle and figureHtml need no browser", () => {
  assert.deepEqual(figureBundle(SCATTER), { "application/vnd.plotly.v1+json": SCATTER });
  assert.deepEqual(Object.keys(figureBundle(SCATTER, "AAAA")), [
    "application/vnd.plotly.v1+json",
    "image/png",
  ]);
  const html = figureHtml(SCATTER, { title: "a<b", plotlySrc: "../plotly.min.js" });
  assert.ok(html.includes("<title>a&lt;b</title>"));
  assert.ok(html.includes('src="../plotly.min.js"'));
});
