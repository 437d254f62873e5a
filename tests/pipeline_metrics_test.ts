import assert from "node:assert/strict";
import { join } from "node:path";
import {
  emptyMetrics,
  figureOwner,
  flattenMetrics,
  keepEntries,
  METRICS_FORMAT,
  type NotebookEntry,
  previousSeconds,
  readMetrics,
  verdictCounts,
  withEntry,
} from "../lib/pipeline/metrics.ts";

/** An entry with one metric `m` = `value`, a claim of `verdict` and the given figures. */
function entry(
  value: number,
  options: { seconds?: number; figures?: string[]; verdict?: "reproduced" | "inconclusive" } = {},
): NotebookEntry {
  return {
    title: "t",
    file: "notebooks/x.ipynb",
    finished: "2025-01-01T00:00:00.000Z",
    seconds: options.seconds ?? 10,
    cells: 3,
    outputs: 2,
    run: { profile: "smoke", model: "sotu-2x64", hook: "blocks.0.hook_resid_post", backend: "b" },
    metrics: { m: { value, abs: 0, rel: 0.1, description: "d" } },
    claims: [{ id: "c", paper: "p", result: "r", verdict: options.verdict ?? "reproduced" }],
    figures: options.figures ?? [],
    warnings: [],
  };
}

Deno.test("withEntry merges, replaces and keeps entries in stem order", () => {
  let metrics = emptyMetrics("smoke", "sotu-2x64");
  metrics = withEntry(metrics, "05_b", entry(5));
  metrics = withEntry(metrics, "03_a", entry(3));
  metrics = withEntry(metrics, "05_b", entry(6));
  assert.deepEqual(Object.keys(metrics.notebooks), ["03_a", "05_b"]);
  assert.equal(metrics.notebooks["05_b"].metrics.m.value, 6);
  assert.equal(metrics.format, METRICS_FORMAT);
  assert.deepEqual(Object.keys(keepEntries(metrics, ["05_b", "07_c"]).notebooks), ["05_b"]);
});

Deno.test("flattenMetrics names metrics <notebook>/<metric>", () => {
  const metrics = withEntry(withEntry(emptyMetrics("s", "m"), "02_b", entry(2)), "01_a", entry(1));
  const flat = flattenMetrics(metrics);
  assert.deepEqual(Object.keys(flat), ["01_a/m", "02_b/m"]);
  assert.equal(flat["02_b/m"].value, 2);
  assert.equal(flat["02_b/m"].rel, 0.1);
});

Deno.test("previousSeconds, figureOwner and verdictCounts", () => {
  let metrics = emptyMetrics("s", "m");
  metrics = withEntry(metrics, "01_a", entry(1, { seconds: 12, figures: ["fig_a"] }));
  metrics = withEntry(metrics, "02_b", entry(1, { seconds: 0, verdict: "inconclusive" }));
  assert.deepEqual(previousSeconds(metrics), { "01_a": 12 });
  assert.deepEqual(previousSeconds(null), {});
  assert.equal(figureOwner(metrics, "fig_a", "02_b"), "01_a");
  assert.equal(figureOwner(metrics, "fig_a", "01_a"), null);
  assert.deepEqual(verdictCounts(metrics), {
    "reproduced": 1,
    "not reproduced": 0,
    "inconclusive": 1,
  });
  // Sub-comparisons and controls are not tallied.
  const control = entry(1, { verdict: "reproduced" });
  control.claims = control.claims.map((c) => ({ ...c, kind: "control" as const }));
  metrics = withEntry(metrics, "03_c", control);
  assert.deepEqual(verdictCounts(metrics), {
    "reproduced": 1,
    "not reproduced": 0,
    "inconclusive": 1,
  });
});

Deno.test("readMetrics: null when absent, an error when foreign", async () => {
  const dir = await Deno.makeTempDir({ prefix: "gsae_metrics_" });
  try {
    assert.equal(await readMetrics(join(dir, "metrics.json")), null);
    await Deno.writeTextFile(join(dir, "bad.json"), `{"format": "other"}`);
    await assert.rejects(
      readMetrics(join(dir, "bad.json")),
      /bad\.json: format: expected "gsae-metrics\/1", got "other"; profile: missing/,
    );
    await Deno.writeTextFile(join(dir, "broken.json"), `{`);
    await assert.rejects(readMetrics(join(dir, "broken.json")), /not valid JSON/);
    const metrics = withEntry(emptyMetrics("s", "m"), "01_a", entry(1));
    await Deno.writeTextFile(join(dir, "ok.json"), JSON.stringify(metrics));
    assert.deepEqual(await readMetrics(join(dir, "ok.json")), metrics);
    // A hand edit that turns a number into a string names the file and the field.
    const edited = structuredClone(metrics) as unknown as {
      notebooks: Record<string, { metrics: Record<string, { value: unknown }> }>;
    };
    const [name] = Object.keys(edited.notebooks["01_a"].metrics);
    edited.notebooks["01_a"].metrics[name].value = "0.5";
    await Deno.writeTextFile(join(dir, "edited.json"), JSON.stringify(edited));
    await assert.rejects(
      readMetrics(join(dir, "edited.json")),
      new RegExp(
        `edited\\.json: notebooks\\.01_a\\.metrics\\.${name}\\.value: expected number, got string$`,
      ),
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
