/**
 * The latent browser: explore an SAE's latents (top and quantile-sampled contexts with
 * per-token shading, histograms of activations and of |∇L·d̂|, logit lens, nearest latents in the
 * same and a second SAE) and, for a typed prompt, which latents fire and which the gradient
 * chose, in a local web app (`deno task browse`), a static export and inline in notebooks.
 *
 * - `data.ts`: the per-SAE precomputation; `decoder.ts`: logit lens and decoder neighbours;
 *   `cache.ts`: built once per SAE and cached;
 * - `site.ts`: the app's files and the data as script files (work from `file://` too);
 * - `prompt.ts`: the prompt page's analysis; `server.ts`: the web server;
 * - `inline.ts`: the notebook views (`steering_view.ts`: notebook 06's example latents);
 *   `sources.ts`: which SAEs (`--sae NAME|PATH`);
 * - `app/`: the page (HTML, CSS, `app.js`) and `render.js`, the one card renderer.
 *
 * @module
 */
export { browserData, type BrowserDataOptions, saeFingerprint } from "./cache.ts";
export { type BrowserSAE, precomputeLatents, type SAEBrowserData } from "./data.ts";
export {
  type Browser,
  latentCardHtml,
  openBrowser,
  promptViewHtml,
  showLatentCard,
  showPromptView,
} from "./inline.ts";
export { analysePrompt, PromptError, type PromptResult } from "./prompt.ts";
export { type BrowserServer, DEFAULT_LIMITS, startBrowserServer } from "./server.ts";
export { APP_DIR, buildSite, exportSite, siteDataFiles, type SiteModel } from "./site.ts";
export { defaultSAEs, fromFolder, fromTrained, resolveSAE } from "./sources.ts";
