/**
 * A notebook's figures as files and as static images in the executed notebook: each figure
 * spec becomes `<name>.html` (interactive), `<name>.png` and `<name>.svg`, and every display
 * output whose Plotly layout names a figure (`layout.meta.gsae_figure`) gets that PNG as an
 * `image/png` beside the interactive `application/vnd.plotly.v1+json`, so committed notebooks
 * render where Plotly does not run (GitHub).
 *
 * @module
 */
import { Buffer } from "node:buffer";
import { join } from "node:path";
import { writeFileAtomic } from "../io/atomic_write.ts";
import { z } from "../io/json_file.ts";
import type { FigureRenderer, NamedFigure } from "./figures.ts";
import { figureNameOf } from "./staging.ts";

/** The formats every figure is written in. */
export const FIGURE_FORMATS = ["html", "png", "svg"] as const;

/** The Plotly MIME type of notebook display outputs. */
export const PLOTLY_MIME = "application/vnd.plotly.v1+json";

/**
 * A notebook as nbformat JSON, checked as far as the pipeline reads it (cells, their sources and
 * outputs); every other field nbformat keeps passes through unchanged.
 */
export const NOTEBOOK_SCHEMA = z.looseObject({
  cells: z.array(z.looseObject({
    cell_type: z.string(),
    source: z.union([z.string(), z.array(z.string())]).optional(),
    outputs: z.array(z.looseObject({
      output_type: z.string(),
      data: z.record(z.string(), z.unknown()).optional(),
    })).optional(),
  })),
});

/** A notebook as nbformat JSON, loosely typed (only outputs are touched). */
export type NotebookJson = z.infer<typeof NOTEBOOK_SCHEMA>;

/**
 * Writes every figure as HTML, PNG and SVG into `dir` (PNG and SVG at the layout's own width
 * and height when it sets them) with one shared `renderer`.
 *
 * @returns each figure's PNG, base64-encoded, by name.
 */
export async function renderFigureFiles(
  renderer: FigureRenderer,
  figures: readonly NamedFigure[],
  dir: string,
): Promise<Map<string, string>> {
  const pngs = new Map<string, string>();
  for (const figure of figures) {
    const layout = figure.spec.layout ?? {};
    const size = {
      width: typeof layout.width === "number" ? layout.width : undefined,
      height: typeof layout.height === "number" ? layout.height : undefined,
    };
    await renderer.render([figure], { dir, formats: [...FIGURE_FORMATS], ...size });
    const png = await Deno.readFile(join(dir, `${figure.name}.png`));
    pngs.set(figure.name, Buffer.from(png).toString("base64"));
  }
  return pngs;
}

/** What {@link embedFigurePngs} did. */
export interface EmbedResult {
  /** Display outputs that received a PNG. */
  embedded: number;
  /** Figure names shown in the notebook without a rendered PNG. */
  missing: string[];
}

/**
 * Adds `image/png` (base64, from `pngs` by figure name) to every display output of `nb` whose
 * Plotly spec names a figure; the Plotly MIME stays. Changes `nb` in place.
 */
export function embedFigurePngs(nb: NotebookJson, pngs: ReadonlyMap<string, string>): EmbedResult {
  const result: EmbedResult = { embedded: 0, missing: [] };
  for (const cell of nb.cells) {
    if (cell.cell_type !== "code") continue;
    for (const output of cell.outputs ?? []) {
      const spec = output.data?.[PLOTLY_MIME];
      if (spec === undefined || output.data === undefined) continue;
      const name = figureNameOf(spec);
      if (name === null) continue;
      const png = pngs.get(name);
      if (png === undefined) {
        if (!result.missing.includes(name)) result.missing.push(name);
        continue;
      }
      output.data["image/png"] = png;
      result.embedded++;
    }
  }
  return result;
}

/**
 * The notebook as nbformat writes it: keys sorted, one-space indent, a final newline (so a
 * notebook rewritten here diffs cleanly against one written by Jupyter).
 */
export function serializeNotebook(nb: unknown): string {
  return JSON.stringify(sortKeys(nb), null, 1) + "\n";
}

/**
 * Copies every file of `from` into `to` atomically, skipping files whose bytes are already
 * there (the 4.6 MB Plotly bundle beside the HTML figures, mostly).
 *
 * @returns the names copied.
 */
export async function copyFiles(from: string, to: string): Promise<string[]> {
  const copied: string[] = [];
  const names: string[] = [];
  for await (const entry of Deno.readDir(from)) if (entry.isFile) names.push(entry.name);
  for (const name of names.sort()) {
    const bytes = await Deno.readFile(join(from, name));
    if (await sameBytes(join(to, name), bytes)) continue;
    await writeFileAtomic(join(to, name), bytes);
    copied.push(name);
  }
  return copied;
}

/**
 * Removes `<name>.{html,png,svg}` from `dir` for each name in `names` (figures a notebook no
 * longer produces); missing files are fine.
 */
export async function removeFigureFiles(dir: string, names: readonly string[]): Promise<void> {
  for (const name of names) {
    for (const format of FIGURE_FORMATS) {
      await Deno.remove(join(dir, `${name}.${format}`)).catch((error) => {
        if (!(error instanceof Deno.errors.NotFound)) throw error;
      });
    }
  }
}

async function sameBytes(path: string, bytes: Uint8Array): Promise<boolean> {
  let current: Uint8Array;
  try {
    current = await Deno.readFile(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
  return current.length === bytes.length && current.every((b, i) => b === bytes[i]);
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value === null || typeof value !== "object") return value;
  const entries = Object.entries(value as Record<string, unknown>)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return Object.fromEntries(entries.map(([k, v]) => [k, sortKeys(v)]));
}
