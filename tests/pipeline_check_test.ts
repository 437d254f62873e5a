import assert from "node:assert/strict";
import { join } from "node:path";
import {
  compareMetrics,
  formatCheckTable,
  readReference,
  REFERENCE_FORMAT,
  referenceFromMetrics,
  referencePath,
  referenceProblems,
} from "../lib/pipeline/check.ts";
import { emptyMetrics, type PipelineMetrics, withEntry } from "../lib/pipeline/metrics.ts";

/** A run of one notebook `01_a` with the given metric values (abs 0.01, rel 0.1). */
function run(values: Record<string, number>, model = "sotu-2x64"): PipelineMetrics {
  const metrics = Object.fromEntries(
    Object.entries(values).map(([k, v]) => [k, { value: v, abs: 0.01, rel: 0.1, description: k }]),
  );
  return withEntry(emptyMetrics("smoke", model), "01_a", {
    title: "a",
    file: "notebooks/01_a.ipynb",
    finished: "2025-01-01T00:00:00.000Z",
    seconds: 1,
    cells: 1,
    outputs: 1,
    run: { profile: "smoke", model, hook: "h", backend: "wasm" },
    metrics,
    claims: [],
    figures: [],
    warnings: [],
  });
}

Deno.test("compareMetrics: |a − b| ≤ abs + rel·|ref| passes, beyond it fails", () => {
  const reference = referenceFromMetrics(run({ x: 10, y: -2 }));
  assert.equal(reference.format, REFERENCE_FORMAT);
  assert.deepEqual(reference.backends, ["wasm"]);
  // Tolerances: x 0.01 + 1 = 1.01, y 0.01 + 0.2 = 0.21.
  const ok = compareMetrics(reference, run({ x: 11, y: -2.2 }));
  assert.ok(ok.ok);
  assert.deepEqual(ok.rows.map((r) => r.status), ["pass", "pass"]);
  assert.ok(Math.abs(ok.rows[0].tolerance! - 1.01) < 1e-12);
  const bad = compareMetrics(reference, run({ x: 11.02, y: -2 }));
  assert.ok(!bad.ok);
  assert.equal(bad.rows.find((r) => r.metric === "01_a/x")?.status, "fail");
});

Deno.test("compareMetrics: missing and extra metrics and a model mismatch fail", () => {
  const reference = referenceFromMetrics(run({ x: 1, gone: 2 }));
  const result = compareMetrics(reference, run({ x: 1, fresh: 3 }, "sotu-4x128"));
  assert.ok(!result.ok);
  const status = Object.fromEntries(result.rows.map((r) => [r.metric, r.status]));
  assert.deepEqual(status, { "01_a/fresh": "extra", "01_a/gone": "missing", "01_a/x": "pass" });
  assert.deepEqual(result.problems, ["model: reference sotu-2x64, this run sotu-4x128"]);
});

Deno.test("formatCheckTable: failures first, aligned, with a closing verdict", () => {
  const reference = referenceFromMetrics(run({ a: 1, b: 5 }));
  const table = formatCheckTable(compareMetrics(reference, run({ a: 1, b: 9 })));
  const lines = table.split("\n");
  assert.match(lines[0], /^metric\s+reference\s+this run\s+tolerance\s+result$/);
  assert.match(lines[1], /^-+ {2}-+/);
  assert.match(lines[2], /^01_a\/b\s+5\s+9\s+±0.51\s+FAIL \(fail\)$/);
  assert.match(lines[3], /^01_a\/a\s+1\s+1\s+±0.11\s+pass$/);
  assert.equal(lines.at(-1), "1/2 metrics within tolerance; 1 failed — FAIL");
  const pass = formatCheckTable(compareMetrics(reference, run({ a: 1, b: 5 })));
  assert.equal(pass.split("\n").at(-1), "2/2 metrics within tolerance — PASS");
});

Deno.test("readReference and referencePath", async () => {
  assert.match(referencePath("smoke"), /outputs\/reference\/smoke\.json$/);
  const dir = await Deno.makeTempDir({ prefix: "gsae_ref_" });
  try {
    assert.equal(await readReference(join(dir, "none.json")), null);
    await Deno.writeTextFile(join(dir, "bad.json"), "{}");
    await assert.rejects(
      readReference(join(dir, "bad.json")),
      /bad\.json: format: missing \(expected "gsae-reference\/1"\)/,
    );
    const ref = referenceFromMetrics(run({ x: 1 }));
    await Deno.writeTextFile(join(dir, "ref.json"), JSON.stringify(ref));
    assert.deepEqual(await readReference(join(dir, "ref.json")), ref);
    const [metric] = Object.keys(ref.metrics);
    const edited = { ...ref, metrics: { [metric]: { ...ref.metrics[metric], rel: null } } };
    await Deno.writeTextFile(join(dir, "edited.json"), JSON.stringify(edited));
    await assert.rejects(
      readReference(join(dir, "edited.json")),
      (error: Error) =>
        error.message ===
          `${join(dir, "edited.json")}: metrics.${metric}.rel: expected number, got null`,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a reference with a metric that is not a finite number is unfit to write", () => {
  const good = referenceFromMetrics(run({ a: 1 }));
  assert.deepEqual(referenceProblems(good), []);
  const bad = referenceFromMetrics(run({ a: 1, b: 2 }));
  (bad.metrics["01_a/b"] as unknown as Record<string, unknown>).value = "0.5";
  bad.metrics["01_a/a"].abs = NaN;
  assert.deepEqual(referenceProblems(bad), [
    "metric 01_a/a: abs is NaN, not a finite number",
    'metric 01_a/b: value is "0.5", not a finite number',
  ]);
});
