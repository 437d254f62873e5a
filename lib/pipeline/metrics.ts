/**
 * `<out>/metrics.json`: every number of a pipeline run, one entry per notebook, built from the
 * notebooks' `results/<notebook>.json` ({@link NotebookResultsJson}) plus the pipeline's own
 * bookkeeping (wall time, cells, figures). `--only` runs merge into it: other notebooks' entries
 * are kept. Per-notebook wall times double as the next run's ETA.
 *
 * @module
 */
import {
  type ClaimRecord,
  claimRecordSchema,
  type MetricRecord,
  metricRecordSchema,
  type NotebookResultsJson,
  runInfoSchema,
} from "../experiments/shared/results.ts";
import { readJsonFileIfExists, z } from "../io/json_file.ts";

/** The format tag of `metrics.json`. */
export const METRICS_FORMAT = "gsae-metrics/1";

/** One notebook's entry in `metrics.json`. */
export interface NotebookEntry {
  /** The notebook's title (its first markdown heading). */
  title: string;
  /** The executed notebook, relative to the out folder. */
  file: string;
  /** When it finished (ISO 8601). */
  finished: string;
  /** Wall-clock seconds of its execution, kernel start included. */
  seconds: number;
  /** Code cells executed and outputs kept. */
  cells: number;
  /** Outputs in the executed notebook. */
  outputs: number;
  /** Profile, model, hook and backend the notebook reported (null: it saved no results). */
  run: NotebookResultsJson["run"] | null;
  /** Its metrics by name. */
  metrics: Record<string, MetricRecord>;
  /** Its claims, in order. */
  claims: ClaimRecord[];
  /** Names of its figures (files `figures/<name>.{html,png,svg}`). */
  figures: string[];
  /** Problems worth a reader's attention (e.g. no results saved). */
  warnings: string[];
}

/** The last pipeline invocation that wrote this file. */
export interface LastRun {
  /** When it started (ISO 8601). */
  started: string;
  /** Its wall-clock seconds, figures and report included. */
  seconds: number;
  /** The notebooks it ran, in order. */
  notebooks: string[];
  /** The command line, for the report. */
  command: string;
}

/** The whole `metrics.json`. */
export interface PipelineMetrics {
  /** {@link METRICS_FORMAT}. */
  format: string;
  /** Profile of every entry. */
  profile: string;
  /** Resolved model name of every entry. */
  model: string;
  /** When the file was last written (ISO 8601). */
  updated: string;
  /** The last invocation. */
  lastRun: LastRun | null;
  /** Entries by notebook stem, in notebook order. */
  notebooks: Record<string, NotebookEntry>;
}

const notebookEntrySchema: z.ZodType<NotebookEntry> = z.object({
  title: z.string(),
  file: z.string(),
  finished: z.string(),
  seconds: z.number(),
  cells: z.number(),
  outputs: z.number(),
  run: runInfoSchema.nullable(),
  metrics: z.record(z.string(), metricRecordSchema),
  claims: z.array(claimRecordSchema),
  figures: z.array(z.string()),
  warnings: z.array(z.string()),
});

/** {@link PipelineMetrics} as read back from `metrics.json`. */
export const pipelineMetricsSchema: z.ZodType<PipelineMetrics> = z.object({
  format: z.literal(METRICS_FORMAT),
  profile: z.string(),
  model: z.string(),
  updated: z.string(),
  lastRun: z.object({
    started: z.string(),
    seconds: z.number(),
    notebooks: z.array(z.string()),
    command: z.string(),
  }).nullable(),
  notebooks: z.record(z.string(), notebookEntrySchema),
});

/** A fresh, empty metrics file for `profile` and `model`. */
export function emptyMetrics(profile: string, model: string): PipelineMetrics {
  return {
    format: METRICS_FORMAT,
    profile,
    model,
    updated: new Date(0).toISOString(),
    lastRun: null,
    notebooks: {},
  };
}

/**
 * Reads `path`; null when it does not exist.
 *
 * @throws JsonFileError when it exists but is not a metrics file of this format, naming the field.
 */
export function readMetrics(path: string): Promise<PipelineMetrics | null> {
  return readJsonFileIfExists(path, pipelineMetricsSchema);
}

/** A copy of `metrics` with `entry` set for `stem`, entries kept in stem order. */
export function withEntry(
  metrics: PipelineMetrics,
  stem: string,
  entry: NotebookEntry,
): PipelineMetrics {
  const notebooks = { ...metrics.notebooks, [stem]: entry };
  return { ...metrics, notebooks: sortedByKey(notebooks), updated: new Date().toISOString() };
}

/** A copy of `metrics` holding only the entries of `stems` (notebooks that still exist). */
export function keepEntries(metrics: PipelineMetrics, stems: readonly string[]): PipelineMetrics {
  const notebooks = Object.fromEntries(
    Object.entries(metrics.notebooks).filter(([stem]) => stems.includes(stem)),
  );
  return { ...metrics, notebooks };
}

/** Every metric as `<notebook>/<metric>` → record, sorted by name (what `check` compares). */
export function flattenMetrics(metrics: PipelineMetrics): Record<string, MetricRecord> {
  const flat: Record<string, MetricRecord> = {};
  for (const [stem, entry] of Object.entries(metrics.notebooks)) {
    for (const [name, record] of Object.entries(entry.metrics)) flat[`${stem}/${name}`] = record;
  }
  return sortedByKey(flat);
}

/** Seconds each notebook took when it last ran (for the ETA), by stem. */
export function previousSeconds(metrics: PipelineMetrics | null): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [stem, entry] of Object.entries(metrics?.notebooks ?? {})) {
    if (Number.isFinite(entry.seconds) && entry.seconds > 0) out[stem] = entry.seconds;
  }
  return out;
}

/** The notebook that already names figure `name` in `metrics`, other than `stem`; or null. */
export function figureOwner(
  metrics: PipelineMetrics,
  name: string,
  stem: string,
): string | null {
  for (const [other, entry] of Object.entries(metrics.notebooks)) {
    if (other !== stem && entry.figures.includes(name)) return other;
  }
  return null;
}

/**
 * Counts of each verdict over every claim, in a fixed order; sub-comparisons and controls are not
 * claims and are not counted.
 */
export function verdictCounts(metrics: PipelineMetrics): Record<ClaimRecord["verdict"], number> {
  const counts = { "reproduced": 0, "not reproduced": 0, "inconclusive": 0 };
  for (const entry of Object.values(metrics.notebooks)) {
    for (const claim of entry.claims) {
      if ((claim.kind ?? "claim") === "claim") counts[claim.verdict]++;
    }
  }
  return counts;
}

function sortedByKey<T>(record: Record<string, T>): Record<string, T> {
  return Object.fromEntries(
    Object.entries(record).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
  );
}
