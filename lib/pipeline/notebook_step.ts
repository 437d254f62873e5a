/**
 * One notebook's step of a pipeline run: execute it with its own staging run folder, read and
 * check what it saved, render its figures, add the PNGs to the executed notebook, and only then
 * write the notebook and figure files into the out folder (atomically). A failing cell leaves
 * `<out>/notebooks/<stem>.failed.ipynb` and nothing else.
 *
 * @module
 */
import { join } from "node:path";
import { writeFileAtomic } from "../io/atomic_write.ts";
import { readJsonFile } from "../io/json_file.ts";
import type { FigureRenderer } from "./figures.ts";
import { NotebookCellError, runNotebook, type RunNotebookResult } from "./notebook_runner.ts";
import {
  copyFiles,
  embedFigurePngs,
  NOTEBOOK_SCHEMA,
  removeFigureFiles,
  renderFigureFiles,
  serializeNotebook,
} from "./figure_outputs.ts";
import { figureOwner, type NotebookEntry, type PipelineMetrics } from "./metrics.ts";
import { type NotebookFile, notebookTitle } from "./notebooks.ts";
import type { PipelineProgress } from "./progress.ts";
import { readStagedFigures, readStagedResults } from "./staging.ts";

/** A notebook failed: names it and the cell; the partial notebook is at `failedPath`. */
export class PipelineNotebookError extends Error {
  /** The notebook's stem. */
  readonly notebook: string;
  /** The failing cell's index (markdown cells counted), or null if it failed outside a cell. */
  readonly cellIndex: number | null;
  /** The partially executed notebook in the out folder, or null. */
  readonly failedPath: string | null;

  /** Wraps the runner's error with the out folder's paths. */
  constructor(
    message: string,
    info: { notebook: string; cellIndex: number | null; failedPath: string | null },
  ) {
    super(message);
    this.name = "PipelineNotebookError";
    this.notebook = info.notebook;
    this.cellIndex = info.cellIndex;
    this.failedPath = info.failedPath;
  }
}

/** What {@link runNotebookStep} needs besides the notebook. */
export interface StepContext {
  /** The out folder. */
  out: string;
  /** This notebook's staging folder (removed by the caller). */
  staging: string;
  /** Kernel environment (GSAE_RUN_DIR is added). */
  env: Record<string, string>;
  /** Seconds per cell (0: none). */
  timeoutSeconds: number;
  /** Progress of the run. */
  progress: PipelineProgress;
  /** The metrics so far (figure names must not clash with other notebooks'). */
  metrics: PipelineMetrics;
  /** Profile and model the notebook must report. */
  expected: { profile: string; model: string };
  /** The run's one browser, launched on first use. */
  renderer: () => Promise<FigureRenderer>;
}

/**
 * Runs one notebook, renders and embeds its figures, writes its notebook and figure files, and
 * returns its `metrics.json` entry (the caller writes that).
 *
 * @throws PipelineNotebookError when the notebook fails or its kernel does not start.
 */
export async function runNotebookStep(nb: NotebookFile, ctx: StepContext): Promise<NotebookEntry> {
  const { out, staging, progress } = ctx;
  const runDir = join(staging, "run");
  const executed = join(staging, `${nb.stem}.ipynb`);
  const outNotebook = join(out, "notebooks", `${nb.stem}.ipynb`);
  const outFailed = join(out, "notebooks", `${nb.stem}.failed.ipynb`);
  let run;
  try {
    run = await runNotebook(nb.path, {
      output: executed,
      env: { ...ctx.env, GSAE_RUN_DIR: runDir },
      timeoutSeconds: ctx.timeoutSeconds,
      log: (line) => {
        const text = runnerLine(line);
        if (text !== null) progress.stage(`execute: ${text}`);
      },
    });
  } catch (error) {
    if (!(error instanceof NotebookCellError)) {
      throw new PipelineNotebookError(`notebook ${nb.stem}: ${(error as Error).message}`, {
        notebook: nb.stem,
        cellIndex: null,
        failedPath: null,
      });
    }
    await writeFileAtomic(outFailed, await Deno.readFile(error.failedPath));
    throw new PipelineNotebookError(
      error.message.replace(error.failedPath, outFailed).replace(nb.path, `${nb.stem}.ipynb`),
      { notebook: nb.stem, cellIndex: error.cellIndex, failedPath: outFailed },
    );
  }

  try {
    return await collect(nb, { ...ctx, executed, runDir, outNotebook, outFailed, run });
  } catch (error) {
    // The notebook ran but its results cannot be used: keep it for inspection, like a failure.
    await writeFileAtomic(outFailed, await Deno.readFile(executed));
    throw new PipelineNotebookError(
      `notebook ${nb.stem}.ipynb ran, but ${(error as Error).message}; executed notebook: ` +
        outFailed,
      { notebook: nb.stem, cellIndex: null, failedPath: outFailed },
    );
  }
}

/** Paths and the run summary {@link collect} works on. */
interface CollectContext extends StepContext {
  executed: string;
  runDir: string;
  outNotebook: string;
  outFailed: string;
  run: RunNotebookResult;
}

/** Checks what an executed notebook saved, renders its figures and writes its files. */
async function collect(nb: NotebookFile, ctx: CollectContext): Promise<NotebookEntry> {
  const { out, staging, progress, executed, runDir, outNotebook, outFailed, run } = ctx;
  progress.stage("figures");
  const warnings: string[] = [];
  const results = await readStagedResults(runDir, nb.stem);
  if (results === null) {
    warnings.push("the notebook saved no results (no metrics or claims): call results.save()");
  } else if (results.run.profile !== ctx.expected.profile) {
    throw new Error(
      `it ran with profile ${results.run.profile}, not ${ctx.expected.profile} (its ` +
        `parameters cell must read Deno.env.get("GSAE_PROFILE"))`,
    );
  } else if (results.run.model !== ctx.expected.model) {
    warnings.push(`the notebook's workspace model is ${results.run.model}`);
  }
  const figures = await readStagedFigures(runDir);
  for (const fig of figures) {
    const owner = figureOwner(ctx.metrics, fig.name, nb.stem);
    if (owner !== null) {
      throw new Error(`its figure name ${fig.name} is already used by ${owner}`);
    }
  }
  const figuresDir = join(staging, "figures");
  const pngs = figures.length === 0
    ? new Map<string, string>()
    : await renderFigureFiles(await ctx.renderer(), figures, figuresDir);
  const nbJson = await readJsonFile(executed, NOTEBOOK_SCHEMA);
  const embedded = embedFigurePngs(nbJson, pngs);
  for (const name of embedded.missing) {
    warnings.push(`figure ${name} is displayed but its spec was not saved`);
  }

  progress.stage(`outputs (${figures.length} figures, ${embedded.embedded} PNGs embedded)`);
  if (figures.length > 0) await copyFiles(figuresDir, join(out, "figures"));
  const names = figures.map((f) => f.name);
  const stale = (ctx.metrics.notebooks[nb.stem]?.figures ?? []).filter((n) => !names.includes(n));
  await removeFigureFiles(join(out, "figures"), stale);
  await writeFileAtomic(outNotebook, serializeNotebook(nbJson));
  await Deno.remove(outFailed).catch(() => {});
  return {
    title: notebookTitle(nbJson, nb.stem),
    file: `notebooks/${nb.stem}.ipynb`,
    finished: new Date().toISOString(),
    seconds: run.seconds,
    cells: run.cells,
    outputs: run.outputs,
    run: results?.run ?? null,
    metrics: results?.metrics ?? {},
    claims: results?.claims ?? [],
    figures: names,
    warnings,
  };
}

/**
 * A runner progress line without its prefix and staging path, or null for noise (the kernel's
 * "unstable" banner).
 */
export function runnerLine(line: string): string | null {
  if (/"deno jupyter" is unstable/.test(line)) return null;
  return line.replace(/^nb_runner: [^:]+: /, "").replace(/ -> \S+$/, "");
}
