/**
 * CI's end-to-end run: `deno task reproduce --profile smoke` on the real notebooks, through real
 * Jupyter and Chromium, into a temporary folder with fresh caches (nothing computed before is
 * reused). Every notebook must save results, with its figures rendered; when the committed reference
 * `outputs/reference/smoke.json` exists, every metric must match it within its tolerance (what
 * `deno task check --profile smoke` does).
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import {
  compareMetrics,
  formatCheckTable,
  readReference,
  referencePath,
} from "../lib/pipeline/check.ts";
import { discoverNotebooks } from "../lib/pipeline/notebooks.ts";
import { runPipeline } from "../lib/pipeline/run.ts";
import { formatDuration } from "../lib/io/progress.ts";

Deno.test("reproduce --profile smoke: every notebook end to end, checked against the reference", async () => {
  const dir = await Deno.makeTempDir({ prefix: "gsae_smoke_" });
  const out = join(dir, "out");
  let passed = false;
  try {
    const result = await runPipeline({
      profile: "smoke",
      out,
      cacheDir: join(dir, "cache"),
      command: "deno test tests/reproduce_smoke_test.ts",
      // Notebook starts and ends only: enough to follow CI, short enough to read.
      log: (line) => {
        if (/: (start|done)\b|^reproduce: /.test(line)) console.log(line);
      },
    });
    const notebooks = await discoverNotebooks();
    assert.deepEqual(result.notebooks.map((n) => n.stem), notebooks.map((n) => n.stem));
    for (const [stem, entry] of Object.entries(result.metrics.notebooks)) {
      assert.ok(entry.run !== null, `${stem} saved no results (results.save())`);
      assert.ok(
        Object.keys(entry.metrics).length + entry.claims.length > 0,
        `${stem} recorded no metrics or claims`,
      );
      for (const name of entry.figures) {
        for (const ext of ["html", "png", "svg"]) {
          const info = await Deno.stat(join(out, "figures", `${name}.${ext}`));
          assert.ok(info.size > 0, `${stem}: figures/${name}.${ext} is empty`);
        }
      }
      const text = await Deno.readTextFile(join(out, entry.file));
      if (entry.figures.length > 0) {
        assert.ok(text.includes('"image/png"'), `${stem}: no static PNG in the executed notebook`);
      }
      assert.deepEqual(entry.warnings, [], `${stem}: warnings`);
    }
    // A notebook may have no figure (the tour); the run as a whole must have some.
    const figures = Object.values(result.metrics.notebooks).flatMap((e) => e.figures);
    assert.ok(figures.length > 0, "no notebook produced a figure");
    await Deno.stat(join(out, "REPORT.md"));
    // The browser step: the run's TopK and g-SAE as a static site.
    const saes = await Deno.readTextFile(join(out, "browser", "data", "saes.js"));
    assert.match(saes, /"mode":"static".*"name":"topk-k16-s0".*"name":"gsae-k16-b[\d.]+-s0"/);
    await Deno.stat(join(out, "browser", "index.html"));
    console.log(
      `smoke: ${notebooks.length} notebooks in ${formatDuration(result.seconds)} (` +
        result.notebooks.map((n) => `${n.stem} ${formatDuration(n.seconds)}`).join(", ") + ")",
    );
    const reference = await readReference(referencePath("smoke"));
    if (reference === null) {
      console.log(`smoke: no ${referencePath("smoke")}; metrics not compared`);
    } else {
      const check = compareMetrics(reference, result.metrics);
      assert.ok(
        check.ok,
        `metrics differ from ${referencePath("smoke")}:\n${formatCheckTable(check)}`,
      );
    }
    passed = true;
  } finally {
    // A failed run's outputs and caches stay for inspection.
    if (passed) await Deno.remove(dir, { recursive: true });
    else console.log(`smoke: outputs and caches kept in ${dir}`);
  }
});
