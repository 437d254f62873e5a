/**
 * Plotly figures as plain JSON specs, rendered headlessly to HTML, PNG and SVG.
 *
 * A figure is `{ data, layout }` as Plotly takes it; nothing here depends on
 * Plotly at type level. PNG and SVG come from `Plotly.toImage` in Debian's
 * Chromium driven by playwright-core (playwright's own browser download does
 * not work offline), with the local `plotly.js-dist-min` bundle. HTML files
 * reference one copy of that bundle, `plotly.min.js`, written beside them: the
 * bundle is 4.6 MB, so inlining it would add that much to every figure.
 *
 * Why one module of ~300 lines: the figure spec, its HTML page and the one headless Chromium
 * that renders PNG and SVG share the Plotly bundle and the browser's lifetime.
 *
 * @module
 */

import { basename, join } from "node:path";
import { fileURLToPath } from "node:url";
import { type Browser, chromium, type Page } from "playwright-core";
import { writeFileAtomic } from "../io/atomic_write.ts";
import { DEBIAN_PACKAGES, installCommand } from "./system_deps.ts";

/** A Plotly figure: traces, layout and (optionally) config, as Plotly's JSON schema has them. */
export interface FigureSpec {
  /** The traces. */
  data: Record<string, unknown>[];
  /** The layout (titles, axes, size). */
  layout?: Record<string, unknown>;
  /** Plotly config (used by the HTML output only). */
  config?: Record<string, unknown>;
}

/** A figure and the file stem it is written under. */
export interface NamedFigure {
  /** File stem, e.g. `fig1_loss` gives `fig1_loss.png`. */
  name: string;
  /** The figure. */
  spec: FigureSpec;
}

/** An output format for {@linkcode renderFigures}. */
export type FigureFormat = "html" | "png" | "svg";

/** Image size for PNG and SVG output. */
export interface ImageSize {
  /** Pixels; defaults to 1000. */
  width?: number;
  /** Pixels; defaults to 600. */
  height?: number;
  /** PNG pixel ratio (2 doubles the resolution, same layout); defaults to 1. */
  scale?: number;
}

/** Options for {@linkcode renderFigures} and {@linkcode FigureRenderer.render}. */
export interface RenderOptions extends ImageSize {
  /** The folder the files go to (created when missing). */
  dir: string;
  /** The formats to write for every figure. */
  formats: FigureFormat[];
}

/** Debian's Chromium; the tests and pipelines use this binary only. */
export const CHROMIUM_PATH = "/usr/bin/chromium";

/** The flags Chromium runs with: headless, root-safe and without any network chatter. */
export const CHROMIUM_ARGS: readonly string[] = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--no-first-run",
];

/** The local plotly.js bundle (from npm `plotly.js-dist-min`). */
export const PLOTLY_BUNDLE_PATH: string = fileURLToPath(
  import.meta.resolve("plotly.js-dist-min"),
);

/** The bundle's file name beside the HTML figures. */
const PLOTLY_FILE = "plotly.min.js";

const DEFAULT_WIDTH = 1000;
const DEFAULT_HEIGHT = 600;

/**
 * A Jupyter MIME bundle for a figure, to show with
 * `await Deno.jupyter.display(figureBundle(spec, png), { raw: true })`.
 * Jupyter draws the interactive Plotly figure; viewers without Plotly (GitHub)
 * fall back to the PNG, so give one for notebooks that get committed.
 */
export function figureBundle(spec: FigureSpec, pngBase64?: string): Record<string, unknown> {
  const bundle: Record<string, unknown> = { "application/vnd.plotly.v1+json": spec };
  if (pngBase64 !== undefined) bundle["image/png"] = pngBase64;
  return bundle;
}

/**
 * A standalone HTML page that draws `spec` with the Plotly bundle at
 * `plotlySrc` (a URL relative to the page; {@linkcode renderFigures} writes it).
 */
export function figureHtml(
  spec: FigureSpec,
  options: { title: string; plotlySrc?: string },
): string {
  // Inside <script>, "</script>" or "<!--" in a string would end the script
  // early; escaping "<" (and the JS line separators) keeps any text inert.
  const json = JSON.stringify(spec).replace(/</g, "\\u003c")
    .replace(/\u2028/g, "\\u2028").replace(/\u2029/g, "\\u2029");
  const title = options.title.replace(/&/g, "&amp;").replace(/</g, "&lt;");
  return `<!DOCTYPE html>
<html>
<head>
<meta charset="utf-8">
<title>${title}</title>
<script src="${options.plotlySrc ?? PLOTLY_FILE}"></script>
</head>
<body style="margin:0">
<div id="figure" style="width:100vw;height:100vh"></div>
<script>
const spec = ${json};
Plotly.newPlot("figure", spec.data, spec.layout ?? {}, { responsive: true, ...(spec.config ?? {}) });
</script>
</body>
</html>
`;
}

/**
 * One headless Chromium with Plotly loaded, reused for many figures (launching
 * takes seconds; a figure then takes a fraction of one). Close it when done:
 * `await using renderer = await FigureRenderer.launch()` does that.
 */
export class FigureRenderer {
  #browser: Browser;
  #page: Page;

  private constructor(browser: Browser, page: Page) {
    this.#browser = browser;
    this.#page = page;
  }

  /**
   * Starts Chromium ({@linkcode CHROMIUM_PATH}) and loads the Plotly bundle.
   *
   * @throws Error naming the Debian package when Chromium is not installed.
   */
  static async launch(): Promise<FigureRenderer> {
    await requireChromium();
    const browser = await chromium.launch({
      executablePath: CHROMIUM_PATH,
      headless: true,
      args: [...CHROMIUM_ARGS],
    });
    try {
      const page = await browser.newPage();
      await page.setContent("<!DOCTYPE html><html><body></body></html>");
      await page.addScriptTag({ path: PLOTLY_BUNDLE_PATH });
      return new FigureRenderer(browser, page);
    } catch (error) {
      await browser.close();
      throw error;
    }
  }

  /** The figure as PNG bytes. */
  async png(spec: FigureSpec, size: ImageSize = {}): Promise<Uint8Array> {
    const url = await this.#toImage(spec, "png", size);
    return Uint8Array.from(atob(url.slice(url.indexOf(",") + 1)), (c) => c.charCodeAt(0));
  }

  /** The figure as PNG, base64-encoded (for {@linkcode figureBundle}). */
  async pngBase64(spec: FigureSpec, size: ImageSize = {}): Promise<string> {
    const url = await this.#toImage(spec, "png", size);
    return url.slice(url.indexOf(",") + 1);
  }

  /** The figure as SVG text. */
  async svg(spec: FigureSpec, size: ImageSize = {}): Promise<string> {
    const url = await this.#toImage(spec, "svg", size);
    // Plotly returns SVG as a URI-encoded (not base64) data URL.
    return decodeURIComponent(url.slice(url.indexOf(",") + 1));
  }

  /** A notebook MIME bundle with the interactive figure and its PNG. */
  async bundle(spec: FigureSpec, size: ImageSize = {}): Promise<Record<string, unknown>> {
    return figureBundle(spec, await this.pngBase64(spec, size));
  }

  /**
   * Writes every figure in every format to `options.dir` atomically, as
   * `<name>.<format>` (HTML beside one `plotly.min.js`).
   *
   * @returns the paths written, bundle included.
   */
  async render(figs: readonly NamedFigure[], options: RenderOptions): Promise<string[]> {
    return await writeFigures(figs, options, this);
  }

  /** Closes the browser; the renderer cannot be used afterwards. */
  async close(): Promise<void> {
    await this.#browser.close();
  }

  /** For `await using`. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  async #toImage(spec: FigureSpec, format: "png" | "svg", size: ImageSize): Promise<string> {
    const options = {
      format,
      width: size.width ?? DEFAULT_WIDTH,
      height: size.height ?? DEFAULT_HEIGHT,
      scale: size.scale ?? 1,
    };
    return await this.#page.evaluate(
      // Runs in the page, where the bundle defined the global Plotly.
      ({ spec, options }) =>
        // deno-lint-ignore no-explicit-any
        (globalThis as any).Plotly.toImage(
          { data: spec.data, layout: spec.layout ?? {} },
          options,
        ) as Promise<string>,
      { spec, options },
    );
  }
}

/**
 * Writes `figs` in `options.formats` to `options.dir` with one browser
 * launched for this call (use {@linkcode FigureRenderer} to share one).
 *
 * @returns the paths written.
 */
export async function renderFigures(
  figs: readonly NamedFigure[],
  options: RenderOptions,
): Promise<string[]> {
  // HTML needs no rendering: skip the seconds a browser launch costs.
  if (options.formats.every((f) => f === "html")) return await writeFigures(figs, options, null);
  const renderer = await FigureRenderer.launch();
  try {
    return await renderer.render(figs, options);
  } finally {
    await renderer.close();
  }
}

/** Writes every figure in every format; `renderer` may be null only for HTML alone. */
async function writeFigures(
  figs: readonly NamedFigure[],
  options: RenderOptions,
  renderer: FigureRenderer | null,
): Promise<string[]> {
  for (const fig of figs) checkName(fig.name);
  const written = options.formats.includes("html") ? [await writeBundleCopy(options.dir)] : [];
  for (const fig of figs) {
    for (const format of options.formats) {
      const path = join(options.dir, `${fig.name}.${format}`);
      if (format === "html") {
        await writeFileAtomic(path, figureHtml(fig.spec, { title: fig.name }));
      } else if (renderer === null) {
        throw new TypeError(`writeFigures: ${format} needs a FigureRenderer`);
      } else if (format === "png") {
        await writeFileAtomic(path, await renderer.png(fig.spec, options));
      } else {
        await writeFileAtomic(path, await renderer.svg(fig.spec, options));
      }
      written.push(path);
    }
  }
  return written;
}

/** Fails with the install command when Debian's Chromium is absent. */
async function requireChromium(): Promise<void> {
  try {
    await Deno.stat(CHROMIUM_PATH);
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
    const packages = DEBIAN_PACKAGES.figures;
    throw new Error(
      `${CHROMIUM_PATH} not found: figures need the Debian package ${packages.join(", ")}; ` +
        `install it with:\n  ${installCommand(packages)}\n(or: deno task setup)`,
    );
  }
}

/** Copies the Plotly bundle into `dir` unless an identical copy is there already. */
async function writeBundleCopy(dir: string): Promise<string> {
  const path = join(dir, PLOTLY_FILE);
  const bundle = await Deno.readFile(PLOTLY_BUNDLE_PATH);
  try {
    const current = await Deno.readFile(path);
    if (current.length === bundle.length && current.every((b, i) => b === bundle[i])) return path;
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  await writeFileAtomic(path, bundle);
  return path;
}

/** Figure names become file names: no folders, no hidden files. */
function checkName(name: string): void {
  if (name === "" || name !== basename(name) || name.startsWith(".")) {
    throw new TypeError(`bad figure name ${JSON.stringify(name)}: want a plain file stem`);
  }
}
