import assert from "node:assert/strict";
import { PipelineProgress } from "../lib/pipeline/progress.ts";

/** A progress tracker on a hand-driven clock (seconds), collecting its lines. */
function tracker(stems: string[], previous?: Record<string, number>) {
  let t = 0;
  const lines: string[] = [];
  const progress = new PipelineProgress(stems, {
    previous,
    log: (line) => lines.push(line),
    now: () => t * 1000,
  });
  return { progress, lines, advance: (s: number) => (t += s) };
}

Deno.test("PipelineProgress: ETA from the previous run's times", () => {
  const { progress, lines, advance } = tracker(["01_a", "02_b", "03_c"], {
    "01_a": 10,
    "02_b": 20,
    "03_c": 30,
  });
  progress.startNotebook("01_a");
  assert.equal(progress.eta(), 60);
  advance(4);
  assert.equal(progress.eta(), 56);
  advance(20); // overran its estimate: counts as done, not negative
  assert.equal(progress.eta(), 50);
  progress.finishNotebook(24);
  progress.startNotebook("02_b");
  advance(5);
  progress.stage("execute: cell 1/3");
  assert.equal(progress.eta(), 45);
  assert.match(lines[0], /^reproduce \[1\/3\] 01_a: start \(last run 10s\) \| notebook 0s/);
  assert.match(
    lines.at(-1)!,
    /\[2\/3\] 02_b: execute: cell 1\/3 \| notebook 5s \| run 29s \| ETA 45s/,
  );
  assert.equal(progress.elapsed(), 29);
});

Deno.test("PipelineProgress: without history the ETA comes from the notebook count", () => {
  const { progress, lines, advance } = tracker(["01_a", "02_b", "03_c"]);
  progress.startNotebook("01_a");
  assert.equal(progress.eta(), null);
  assert.match(lines[0], /ETA \? \(known after the first notebook\)/);
  advance(12);
  progress.finishNotebook(12);
  progress.startNotebook("02_b");
  assert.equal(progress.eta(), 24);
  advance(2);
  assert.equal(progress.eta(), 22);
  assert.throws(() => progress.startNotebook("04_d"), /unknown notebook/);
});

Deno.test("PipelineProgress: notebooks without history use the mean of those with", () => {
  const { progress } = tracker(["01_a", "02_new"], { "01_a": 8 });
  progress.startNotebook("01_a");
  assert.equal(progress.eta(), 16);
});
