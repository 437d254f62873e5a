/**
 * The browser inline in notebooks: the same latent card and prompt view as the web app, as rich
 * HTML output. Both come from `app/render.js`, the app's one renderer (imported here for its
 * side effect, `globalThis.GsaeRender`), so a card in a notebook and in the app are the same
 * HTML. Links to other latents are left out: a notebook has no latent pages to go to.
 *
 * @module
 */
import "./app/render.js";
import { display } from "../experiments/shared/results.ts";
import type { Workspace } from "../experiments/shared/workspace.ts";
import { browserData, type BrowserDataOptions } from "./cache.ts";
import type { BrowserSAE } from "./data.ts";
import { analysePrompt, type PromptResult } from "./prompt.ts";
import { buildSite, type SiteLatent, type SiteModel, type SiteSAE } from "./site.ts";

/** What `app/render.js` defines. */
interface RenderApi {
  latentCardHtml(
    latent: SiteLatent,
    opts: { vocab: string[]; sae: SiteSAE; pair: string | null; link: null },
  ): string;
  promptViewHtml(result: PromptResult, opts: { link: null; maxShown?: number }): string;
  CARD_CSS: string;
}

const render = (globalThis as unknown as { GsaeRender: RenderApi }).GsaeRender;

/** A browser in memory: the workspace, the SAEs and their site data. */
export interface Browser {
  /** Model, tokenizer and validation split. */
  ws: Workspace;
  /** The SAEs. */
  sources: BrowserSAE[];
  /** Their data (as the app's data files hold it). */
  site: SiteModel;
}

/**
 * Opens a browser over `sources`: each SAE's data from the browser cache, or precomputed now
 * (with a progress line) and cached, so `deno task browse` and notebooks share it.
 */
export async function openBrowser(
  ws: Workspace,
  sources: BrowserSAE[],
  options: BrowserDataOptions & { mode?: "server" | "static" } = {},
): Promise<Browser> {
  const { mode, ...dataOptions } = options;
  const datas = [];
  for (const source of sources) {
    datas.push({ source, data: await browserData(ws, source, dataOptions) });
  }
  const site = buildSite(datas, {
    tokenizer: ws.tokenizer,
    model: ws.modelName,
    mode: mode ?? "server",
    listed: options.listed,
  });
  return { ws, sources, site };
}

/** `Deno.jupyter` exists only inside a Jupyter kernel (reading it elsewhere may throw). */
function inJupyter(): boolean {
  try {
    return (Deno as unknown as { jupyter?: unknown }).jupyter !== undefined;
  } catch {
    return false;
  }
}

async function show(html: string, plain: string): Promise<void> {
  if (inJupyter()) await display({ "text/html": html, "text/plain": plain });
  else console.log(plain);
}

function withStyle(html: string): string {
  return `<style>${render.CARD_CSS}</style>${html}`;
}

/** The latent card of `latent` of the SAE `name`, as standalone HTML. */
export function latentCardHtml(browser: Browser, name: string, latent: number): string {
  const sae = browser.site.manifest.saes.find((s) => s.name === name);
  const record = browser.site.latents.get(name)?.[latent];
  if (!sae || !record) {
    throw new Error(
      `no latent ${latent} of SAE "${name}" (SAEs: ${
        browser.site.manifest.saes.map((s) => `${s.name} with ${s.dSae} latents`).join(", ")
      })`,
    );
  }
  return withStyle(
    render.latentCardHtml(record, { vocab: browser.site.vocab, sae, pair: sae.pair, link: null }),
  );
}

/** The prompt view of `text` under every SAE of the browser, as standalone HTML. */
export function promptViewHtml(
  browser: Browser,
  text: string,
  options: { maxShown?: number } = {},
): string {
  const result = analysePrompt(browser.ws, text, { saes: browser.sources });
  return withStyle(render.promptViewHtml(result, { link: null, maxShown: options.maxShown }));
}

/** Shows the latent card inline in Jupyter (prints a one-line summary elsewhere). */
export async function showLatentCard(browser: Browser, name: string, latent: number) {
  const html = latentCardHtml(browser, name, latent);
  const r = browser.site.latents.get(name)![latent];
  const plain = `${name} latent ${latent}: frequency ${r.freq}, max activation ${r.maxAct}`;
  await show(html, plain);
}

/** Shows the prompt view inline in Jupyter (prints a one-line summary elsewhere). */
export async function showPromptView(browser: Browser, text: string) {
  const html = promptViewHtml(browser, text);
  const plain = `prompt view of ${JSON.stringify(text)} under ${
    browser.sources.map((s) => s.name).join(", ")
  }`;
  await show(html, plain);
}
