/**
 * What a notebook leaves in its staging run folder (`GSAE_RUN_DIR`): `results/<notebook>.json`
 * (written by `NotebookResults.save()`) and `figures/<name>.json` Plotly specs (written by
 * `NotebookResults.figure()`). Read and validated here before anything reaches the out folder.
 *
 * @module
 */
import { join } from "node:path";
import { tmpdir } from "node:os";
import type { FigureSpec, NamedFigure } from "./figures.ts";
import {
  FIGURE_META_KEY,
  type NotebookResultsJson,
  notebookResultsSchema,
} from "../experiments/shared/results.ts";
import { readJsonFile, z } from "../io/json_file.ts";

/** A Plotly spec as far as the pipeline reads it: traces, and whatever else Plotly takes. */
const plotlySpecSchema: z.ZodType<FigureSpec> = z.looseObject({
  data: z.array(z.record(z.string(), z.unknown())),
  layout: z.record(z.string(), z.unknown()).optional(),
  config: z.record(z.string(), z.unknown()).optional(),
});

/** Prefix of a run's staging folder in the temporary directory; the pid follows. */
export const STAGING_PREFIX = "gsae_reproduce_";

/**
 * A fresh staging folder for this process (`gsae_reproduce_<pid>_*` in the temporary
 * directory), after removing those that processes no longer running left behind (a SIGKILLed
 * run cannot clean up after itself).
 */
export async function makeStagingDir(): Promise<string> {
  await removeStaleStaging();
  return await Deno.makeTempDir({ prefix: `${STAGING_PREFIX}${Deno.pid}_` });
}

/** Removes staging folders whose process is gone; returns their paths. */
export async function removeStaleStaging(dir: string = tmpdir()): Promise<string[]> {
  const removed: string[] = [];
  try {
    for await (const entry of Deno.readDir(dir)) {
      const pid = new RegExp(`^${STAGING_PREFIX}(\\d+)_`).exec(entry.name)?.[1];
      if (!entry.isDirectory || pid === undefined || await isRunning(Number(pid))) continue;
      await Deno.remove(join(dir, entry.name), { recursive: true }).catch(() => {});
      removed.push(join(dir, entry.name));
    }
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  return removed;
}

/** Whether process `pid` exists (Linux /proc; elsewhere assume it does, and keep its folder). */
async function isRunning(pid: number): Promise<boolean> {
  if (pid === Deno.pid) return true;
  try {
    await Deno.stat(`/proc/${pid}`);
    return true;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      return !(await Deno.stat("/proc/self").then(() => true, () => false));
    }
    return true;
  }
}

/**
 * The results `stem` saved in `runDir`, or null when it saved none.
 *
 * @throws Error when the file is malformed, or when the notebook saved results under another
 * name (the `NotebookResults` name must be the notebook's file stem).
 */
export async function readStagedResults(
  runDir: string,
  stem: string,
): Promise<NotebookResultsJson | null> {
  const dir = join(runDir, "results");
  const names = await jsonStems(dir);
  if (!names.includes(stem)) {
    if (names.length === 0) return null;
    throw new Error(
      `${stem}.ipynb saved results as ${names.map((n) => `"${n}"`).join(", ")}; ` +
        `create them with new NotebookResults(ws, "${stem}") (the notebook's file stem)`,
    );
  }
  const path = join(dir, `${stem}.json`);
  return await readJsonFile(path, notebookResultsSchema);
}

/** The figure specs `runDir` holds, sorted by name. */
export async function readStagedFigures(runDir: string): Promise<NamedFigure[]> {
  const dir = join(runDir, "figures");
  const figures: NamedFigure[] = [];
  for (const name of await jsonStems(dir)) {
    figures.push({ name, spec: await readJsonFile(join(dir, `${name}.json`), plotlySpecSchema) });
  }
  return figures;
}

/** The figure name a Plotly spec carries in `layout.meta`, if any. */
export function figureNameOf(spec: unknown): string | null {
  const meta = (spec as { layout?: { meta?: Record<string, unknown> } })?.layout?.meta;
  const name = meta?.[FIGURE_META_KEY];
  return typeof name === "string" ? name : null;
}

/** Stems of the `.json` files in `dir`, sorted; none when `dir` does not exist. */
async function jsonStems(dir: string): Promise<string[]> {
  const stems: string[] = [];
  try {
    for await (const entry of Deno.readDir(dir)) {
      if (entry.isFile && entry.name.endsWith(".json")) stems.push(entry.name.slice(0, -5));
    }
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return [];
    throw error;
  }
  return stems.sort();
}
