/**
 * `<out>/REPORT.md`: per claim, the paper's statement beside this run's result and its verdict;
 * the run's profile, model, hook and backend; each notebook's wall time and the total; links to
 * every figure (interactive HTML, PNG shown inline, SVG) and each notebook's metrics. Built from
 * `metrics.json` alone, so an `--only` run re-renders the whole report from the merged file.
 *
 * @module
 */
import { formatDuration } from "../io/progress.ts";
import type { NotebookEntry, PipelineMetrics } from "./metrics.ts";
import { verdictCounts } from "./metrics.ts";
import { escapeCell, mdTable } from "../io/markdown_table.ts";
import { claimsTable } from "../experiments/shared/results.ts";

/** The report as markdown. */
export function renderReport(metrics: PipelineMetrics): string {
  const entries = Object.entries(metrics.notebooks);
  const lines: string[] = ["# Reproduction report", ""];
  lines.push(
    "Olmo et al., _Features that Make a Difference: Leveraging Gradients for Improved " +
      "Dictionary Learning_ (arXiv 2411.10397), reproduced by the notebooks in `notebooks/`. " +
      "Every number below comes from the run recorded in `metrics.json`.",
    "",
  );
  lines.push(...runTable(metrics), "");
  lines.push(...verdictSummary(metrics), "");
  lines.push("## Notebooks", "");
  const total = entries.reduce((sum, [, e]) => sum + e.seconds, 0);
  const rows = entries.map(([stem, e]) => [
    `[${esc(stem)}](${e.file}) ${esc(e.title === stem ? "" : e.title)}`,
    formatDuration(e.seconds),
    e.cells,
    e.claims.length,
    e.figures.length,
    e.finished.replace("T", " ").replace(/\.\d+Z$/, " UTC"),
  ]);
  rows.push(["**total**", `**${formatDuration(total)}**`, "", "", "", ""]);
  const head = ["notebook", "wall time", "cells", "claims", "figures", "finished"];
  lines.push(mdTable(head, rows, { align: "-rrrr-" }), "");
  for (const [stem, entry] of entries) lines.push(...notebookSection(stem, entry), "");
  return lines.join("\n").replace(/\n{3,}/g, "\n\n").trimEnd() + "\n";
}

/** The run's settings as a two-column table. */
function runTable(metrics: PipelineMetrics): string[] {
  const runs = Object.values(metrics.notebooks).map((e) => e.run).filter((r) => r !== null);
  const distinct = (values: string[]) => [...new Set(values)].join(", ") || "-";
  const last = metrics.lastRun;
  const rows: [string, string][] = [
    ["profile", `\`${metrics.profile}\``],
    ["model", `\`${metrics.model}\``],
    ["SAE hook", distinct(runs.map((r) => `\`${r.hook}\``))],
    ["backend", distinct(runs.map((r) => r.backend.replace(/^backend: /, "")))],
    ["updated", metrics.updated.replace("T", " ").replace(/\.\d+Z$/, " UTC")],
  ];
  if (last !== null) {
    rows.push(
      ["last command", `\`${last.command}\``],
      [
        "last run",
        `${last.notebooks.join(", ")} in ${formatDuration(last.seconds)} ` +
        "(figures and report included)",
      ],
    );
  }
  return [mdTable(["", ""], rows.map(([k, v]) => [k, esc(v)]))];
}

/** One line counting the verdicts. */
function verdictSummary(metrics: PipelineMetrics): string[] {
  const counts = Object.entries(verdictCounts(metrics));
  const total = counts.reduce((sum, [, n]) => sum + n, 0);
  if (total === 0) return ["No claims recorded."];
  return [
    `**Claims: ${total}** — ` + counts.map(([verdict, n]) => `${n} ${verdict}`).join(", ") + ".",
  ];
}

/** A notebook's claims, figures, metrics and warnings. */
function notebookSection(stem: string, e: NotebookEntry): string[] {
  const lines = [`## ${esc(stem)}: ${esc(e.title)}`, ""];
  const run = e.run;
  lines.push(
    `[executed notebook](${e.file}) · ${formatDuration(e.seconds)} · ${e.cells} cells` +
      (run ? ` · model \`${run.model}\`, hook \`${run.hook}\`` : ""),
    "",
  );
  for (const warning of e.warnings) lines.push(`> **Warning:** ${esc(warning)}`, "");
  if (e.claims.length > 0) {
    lines.push(claimsTable(e.claims), "");
  }
  for (const name of e.figures) {
    lines.push(
      `**${esc(name)}** ([interactive](figures/${name}.html) · [PNG](figures/${name}.png) · ` +
        `[SVG](figures/${name}.svg))`,
      "",
      `![${esc(name)}](figures/${name}.png)`,
      "",
    );
  }
  const metrics = Object.entries(e.metrics);
  if (metrics.length > 0) {
    lines.push(
      `<details><summary>${metrics.length} metrics</summary>`,
      "",
      mdTable(
        ["metric", "value", "tolerance", "description"],
        metrics.map(([name, m]) => [
          esc(name),
          formatNumber(m.value),
          `±(${m.abs} + ${m.rel}·\\|ref\\|)`,
          esc(m.description),
        ]),
        { align: "-r" },
      ),
      "",
      "</details>",
    );
  }
  return lines;
}

/** A number with about five significant digits, plain where readable. */
export function formatNumber(v: number): string {
  if (v === 0 || !Number.isFinite(v)) return String(v);
  const a = Math.abs(v);
  if (Number.isInteger(v) && a < 1e9) return String(v);
  if (a >= 1e-3 && a < 1e6) return String(Number(v.toPrecision(5)));
  return v.toExponential(4);
}

/** Markdown table cells: no pipes or line breaks. */
const esc = escapeCell;
