/**
 * Which notebooks a pipeline run executes: every `NN_name.ipynb` of the notebooks folder, in the
 * order of their two-digit prefix, optionally narrowed with `--only 03,05`.
 *
 * @module
 */
import { basename, join } from "node:path";
import { REPO_ROOT } from "../gpt2/embedded_models.ts";

/** The project's notebooks folder. */
export const NOTEBOOKS_DIR = `${REPO_ROOT}/notebooks`;

/** A notebook the pipeline can run. */
export interface NotebookFile {
  /** The two-digit id, e.g. `03`. */
  id: string;
  /** The file stem, e.g. `03_pareto`: results, outputs and metrics are keyed by it. */
  stem: string;
  /** Absolute path of the source notebook. */
  path: string;
}

/** `NN_name.ipynb`: a two-digit id, an underscore, a name of word characters, dots or dashes. */
const NOTEBOOK_NAME = /^(\d{2})_[\w.-]+\.ipynb$/;

/** Whether `file` (a base name) is a pipeline notebook (and not a `.failed.ipynb` leftover). */
export function isNotebookName(file: string): boolean {
  return NOTEBOOK_NAME.test(file) && !file.endsWith(".failed.ipynb");
}

/**
 * The notebooks of `dir`, sorted by file name (so by id).
 *
 * @throws Error when `dir` does not exist, holds no notebook, or two notebooks share an id.
 */
export async function discoverNotebooks(dir: string = NOTEBOOKS_DIR): Promise<NotebookFile[]> {
  const found: NotebookFile[] = [];
  try {
    for await (const entry of Deno.readDir(dir)) {
      if (!entry.isFile || !isNotebookName(entry.name)) continue;
      const stem = entry.name.replace(/\.ipynb$/, "");
      found.push({ id: stem.slice(0, 2), stem, path: join(dir, entry.name) });
    }
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      throw new Error(`notebooks folder ${dir} does not exist`);
    }
    throw error;
  }
  if (found.length === 0) {
    throw new Error(`no notebooks in ${dir} (expected files named NN_name.ipynb)`);
  }
  found.sort((a, b) => a.stem < b.stem ? -1 : a.stem > b.stem ? 1 : 0);
  for (let i = 1; i < found.length; i++) {
    if (found[i].id === found[i - 1].id) {
      throw new Error(
        `notebooks ${basename(found[i - 1].path)} and ${basename(found[i].path)} share id ` +
          `${found[i].id}; ids must be unique`,
      );
    }
  }
  return found;
}

/**
 * The notebooks picked by `only`, a comma-separated list of ids (`03`, `3`) or stems
 * (`03_pareto`); all of them when `only` is undefined. Order is always the notebooks' order.
 *
 * @throws Error naming an id that matches no notebook, and listing the known ones.
 */
export function selectNotebooks(
  notebooks: readonly NotebookFile[],
  only?: string,
): NotebookFile[] {
  if (only === undefined) return [...notebooks];
  const wanted = only.split(",").map((s) => s.trim()).filter((s) => s !== "");
  if (wanted.length === 0) throw new Error(`--only wants notebook ids, e.g. --only 03,05`);
  const picked = new Set<string>();
  for (const want of wanted) {
    const id = /^\d$/.test(want) ? `0${want}` : want.replace(/\.ipynb$/, "");
    const match = notebooks.find((nb) => nb.id === id || nb.stem === id);
    if (match === undefined) {
      throw new Error(
        `--only: no notebook "${want}"; known: ${notebooks.map((nb) => nb.stem).join(", ")}`,
      );
    }
    picked.add(match.stem);
  }
  return notebooks.filter((nb) => picked.has(nb.stem));
}

/** The first markdown heading of a notebook (its title), or the stem when it has none. */
export function notebookTitle(
  nb: { cells?: { cell_type: string; source?: string | string[] }[] },
  stem: string,
): string {
  for (const cell of nb.cells ?? []) {
    if (cell.cell_type !== "markdown") continue;
    const text = Array.isArray(cell.source) ? cell.source.join("") : cell.source ?? "";
    const heading = text.split("\n").find((line) => /^#{1,6}\s+\S/.test(line));
    if (heading) return heading.replace(/^#+\s+/, "").trim();
  }
  return stem;
}
