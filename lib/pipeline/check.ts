/**
 * The reproducibility check: every metric of a run against the committed reference
 * `outputs/reference/<profile>.json`, within the tolerance the notebook stated for it
 * (|a − b| ≤ abs + rel·|reference|, the reference's tolerance). A missing or an extra metric
 * fails too, so a notebook cannot silently stop reporting a number.
 *
 * @module
 */
import { REPO_ROOT } from "../gpt2/embedded_models.ts";
import { type MetricRecord, metricRecordSchema } from "../experiments/shared/results.ts";
import { readJsonFileIfExists, z } from "../io/json_file.ts";
import { flattenMetrics, type PipelineMetrics } from "./metrics.ts";
import { formatNumber } from "./report.ts";

/** The format tag of reference files. */
export const REFERENCE_FORMAT = "gsae-reference/1";

/** `outputs/reference/<profile>.json`. */
export function referencePath(profile: string): string {
  return `${REPO_ROOT}/outputs/reference/${profile}.json`;
}

/** A reference file: the metrics of one accepted run. */
export interface Reference {
  /** {@link REFERENCE_FORMAT}. */
  format: string;
  /** The profile it was made with. */
  profile: string;
  /** The resolved model name. */
  model: string;
  /** When it was written (ISO 8601). */
  created: string;
  /** Backends the notebooks reported (results may differ slightly across backends). */
  backends: string[];
  /** Every metric as `<notebook>/<metric>`, with its tolerance. */
  metrics: Record<string, MetricRecord>;
}

/** {@link Reference} as read back from `outputs/reference/<profile>.json`. */
export const referenceSchema: z.ZodType<Reference> = z.object({
  format: z.literal(REFERENCE_FORMAT),
  profile: z.string(),
  model: z.string(),
  created: z.string(),
  backends: z.array(z.string()),
  metrics: z.record(z.string(), metricRecordSchema),
});

/** The reference for a run's `metrics.json`. */
export function referenceFromMetrics(metrics: PipelineMetrics): Reference {
  const backends = Object.values(metrics.notebooks).flatMap((e) => e.run ? [e.run.backend] : []);
  return {
    format: REFERENCE_FORMAT,
    profile: metrics.profile,
    model: metrics.model,
    created: new Date().toISOString(),
    backends: [...new Set(backends)],
    metrics: flattenMetrics(metrics),
  };
}

/** What makes `reference` unfit to compare against: metrics whose numbers are not finite numbers. */
export function referenceProblems(reference: Reference): string[] {
  const problems: string[] = [];
  for (const [name, m] of Object.entries(reference.metrics)) {
    for (const key of ["value", "abs", "rel"] as const) {
      const v = (m as unknown as Record<string, unknown>)?.[key];
      if (typeof v !== "number" || !Number.isFinite(v)) {
        const shown = typeof v === "number" ? String(v) : JSON.stringify(v);
        problems.push(`metric ${name}: ${key} is ${shown}, not a finite number`);
      }
    }
  }
  return problems;
}

/**
 * Reads a reference file; null when it does not exist.
 *
 * @throws JsonFileError when it exists but is not a reference file, naming the field.
 */
export function readReference(path: string): Promise<Reference | null> {
  return readJsonFileIfExists(path, referenceSchema);
}

/** One row of the comparison. */
export interface CheckRow {
  /** `<notebook>/<metric>`. */
  metric: string;
  /** The reference value (null: not in the reference). */
  reference: number | null;
  /** This run's value (null: not in this run). */
  actual: number | null;
  /** The allowed |difference| (null when one side is missing). */
  tolerance: number | null;
  /** pass, fail (outside tolerance), missing (not in this run), extra (not in the reference). */
  status: "pass" | "fail" | "missing" | "extra";
}

/** The outcome of a check. */
export interface CheckResult {
  /** Rows, sorted by metric name. */
  rows: CheckRow[];
  /** Whether every row passed and profile and model match. */
  ok: boolean;
  /** Mismatches of profile or model (each fails the check). */
  problems: string[];
}

/** Compares this run's metrics with `reference`. */
export function compareMetrics(reference: Reference, metrics: PipelineMetrics): CheckResult {
  const actual = flattenMetrics(metrics);
  const names = [...new Set([...Object.keys(reference.metrics), ...Object.keys(actual)])].sort();
  const rows = names.map((metric): CheckRow => {
    const ref = reference.metrics[metric];
    const run = actual[metric];
    if (ref === undefined) {
      return { metric, reference: null, actual: run.value, tolerance: null, status: "extra" };
    }
    if (run === undefined) {
      return { metric, reference: ref.value, actual: null, tolerance: null, status: "missing" };
    }
    const tolerance = ref.abs + ref.rel * Math.abs(ref.value);
    const pass = Math.abs(run.value - ref.value) <= tolerance;
    return {
      metric,
      reference: ref.value,
      actual: run.value,
      tolerance,
      status: pass ? "pass" : "fail",
    };
  });
  const problems: string[] = [];
  if (reference.profile !== metrics.profile) {
    problems.push(`profile: reference ${reference.profile}, this run ${metrics.profile}`);
  }
  if (reference.model !== metrics.model) {
    problems.push(`model: reference ${reference.model}, this run ${metrics.model}`);
  }
  const ok = problems.length === 0 && rows.every((r) => r.status === "pass");
  return { rows, ok, problems };
}

/** The comparison as an aligned plain-text table, failures first, with a closing count. */
export function formatCheckTable(result: CheckResult): string {
  const order = { fail: 0, missing: 1, extra: 2, pass: 3 };
  const sorted = [...result.rows].sort((a, b) =>
    order[a.status] - order[b.status] || (a.metric < b.metric ? -1 : 1)
  );
  const show = (v: number | null) => (v === null ? "-" : formatNumber(v));
  const table = [
    ["metric", "reference", "this run", "tolerance", "result"],
    ...sorted.map((r) => [
      r.metric,
      show(r.reference),
      show(r.actual),
      r.tolerance === null ? "-" : `±${formatNumber(r.tolerance)}`,
      r.status === "pass" ? "pass" : `FAIL (${r.status})`,
    ]),
  ];
  const widths = table[0].map((_, c) => Math.max(...table.map((row) => row[c].length)));
  const lines = table.map((row) =>
    row.map((cell, c) => (c === 0 || c === 4 ? cell.padEnd(widths[c]) : cell.padStart(widths[c])))
      .join("  ").trimEnd()
  );
  lines.splice(1, 0, widths.map((w) => "-".repeat(w)).join("  "));
  const counts = result.rows.reduce(
    (acc, r) => ({ ...acc, [r.status]: (acc[r.status] ?? 0) + 1 }),
    {} as Record<string, number>,
  );
  const passed = counts.pass ?? 0;
  lines.push(
    "",
    ...result.problems.map((p) => `FAIL: ${p}`),
    `${passed}/${result.rows.length} metrics within tolerance` +
      (result.ok ? "" : `; ${result.rows.length - passed} failed`) +
      ` — ${result.ok ? "PASS" : "FAIL"}`,
  );
  return lines.join("\n");
}
