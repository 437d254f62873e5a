import assert from "node:assert/strict";
import { emptyMetrics, type NotebookEntry, withEntry } from "../lib/pipeline/metrics.ts";
import { formatNumber, renderReport } from "../lib/pipeline/report.ts";

const ENTRY: NotebookEntry = {
  title: "Pareto frontiers",
  file: "notebooks/03_pareto.ipynb",
  finished: "2025-01-02T03:04:05.678Z",
  seconds: 125,
  cells: 9,
  outputs: 12,
  run: {
    profile: "default",
    model: "sotu-4x128",
    hook: "blocks.2.hook_resid_post",
    backend: "wasm",
  },
  metrics: {
    delta_ce_gsae: { value: 0.0123456, abs: 0.001, rel: 0.05, description: "ΔCE | nats" },
  },
  claims: [{
    id: "pareto-delta-ce",
    paper: "g-SAE | lower ΔCE",
    result: "0.012 vs 0.015\nover 3 seeds",
    verdict: "inconclusive",
  }, {
    id: "control-x",
    paper: "a control",
    result: "held",
    verdict: "reproduced",
    kind: "control",
  }],
  figures: ["fig_pareto"],
  warnings: ["something odd"],
};

Deno.test("renderReport: run settings, times, claims, figure links, metrics", () => {
  let metrics = withEntry(emptyMetrics("default", "sotu-4x128"), "03_pareto", ENTRY);
  metrics = withEntry(metrics, "05_split", {
    ...ENTRY,
    title: "Splitting",
    seconds: 60,
    claims: [],
  });
  metrics = {
    ...metrics,
    lastRun: {
      started: "2025-01-02T03:00:00.000Z",
      seconds: 190,
      notebooks: ["03_pareto", "05_split"],
      command: "deno task reproduce",
    },
  };
  const md = renderReport(metrics);
  assert.match(md, /^# Reproduction report\n/);
  assert.match(md, /\| profile \| `default` \|/);
  assert.match(md, /\| model \| `sotu-4x128` \|/);
  assert.match(md, /\| SAE hook \| `blocks.2.hook_resid_post` \|/);
  assert.match(md, /\| backend \| wasm \|/);
  assert.match(md, /03_pareto, 05_split in 3m10s/);
  // The control is shown in its own table and left out of the tally.
  assert.match(md, /\*\*Claims: 1\*\* — 0 reproduced, 0 not reproduced, 1 inconclusive\./);
  assert.match(md, /\| control \(not tallied\) \| paper \| this run \| verdict \|/);
  assert.match(
    md,
    /\| \[03_pareto\]\(notebooks\/03_pareto.ipynb\) Pareto frontiers \| 2m05s \| 9 \|/,
  );
  assert.match(md, /\| \*\*total\*\* \| \*\*3m05s\*\* \|/);
  // Pipes and line breaks in cells are escaped; the verdict is bold.
  assert.match(
    md,
    /\| pareto-delta-ce \| g-SAE \\\| lower ΔCE \| 0.012 vs 0.015 over 3 seeds \| \*\*inconclusive\*\* \|/,
  );
  assert.match(md, /\[interactive\]\(figures\/fig_pareto.html\)/);
  assert.match(md, /!\[fig_pareto\]\(figures\/fig_pareto.png\)/);
  assert.match(md, /\[SVG\]\(figures\/fig_pareto.svg\)/);
  assert.match(
    md,
    /\| delta_ce_gsae \| 0.012346 \| ±\(0.001 \+ 0.05·\\\|ref\\\|\) \| ΔCE \\\| nats \|/,
  );
  assert.match(md, /> \*\*Warning:\*\* something odd/);
  assert.ok(!md.includes("\n\n\n"));
});

Deno.test("renderReport: an empty run still renders", () => {
  const md = renderReport(emptyMetrics("smoke", "sotu-2x64"));
  assert.match(md, /No claims recorded\./);
  assert.match(md, /\*\*total\*\* \| \*\*0s\*\*/);
});

Deno.test("formatNumber: readable and about five significant digits", () => {
  assert.equal(formatNumber(0), "0");
  assert.equal(formatNumber(42), "42");
  assert.equal(formatNumber(4.4213456), "4.4213");
  assert.equal(formatNumber(0.00123456), "0.0012346");
  assert.equal(formatNumber(2.5e-5), "2.5000e-5");
  assert.equal(formatNumber(1234567.8), "1.2346e+6");
});
