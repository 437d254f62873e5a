/**
 * The README's screenshots of the latent browser (`docs/browser/{list,latent,prompt}.png`): the
 * browser of the profile's default pair (first-seed TopK and g-SAE) served on loopback and driven
 * with Debian's chromium through playwright-core.
 *
 * @module
 */
import { join } from "node:path";
import { chromium } from "playwright-core";
import { backendOption } from "../lib/tensor/backend_flag.ts";
import { initBackend } from "../lib/tensor/backend.ts";
import { choiceArg, gsaeCommand, parseCommandLine } from "../lib/io/cli.ts";
import { PROFILE_NAMES } from "../lib/experiments/shared/profile.ts";
import { defaultSAEs, openBrowser, siteDataFiles, startBrowserServer } from "../lib/browser/mod.ts";
import { callerPath } from "../lib/io/caller_path.ts";
import { REPO_ROOT } from "../lib/gpt2/embedded_models.ts";
import { chooseTourLatent } from "../lib/experiments/00_tour/latent_probe.ts";
import { openWorkspace } from "../lib/experiments/shared/workspace.ts";
import { CHROMIUM_ARGS, CHROMIUM_PATH } from "../lib/pipeline/figures.ts";

/** The command line (see `--help`). */
function command() {
  return gsaeCommand("browser-screenshots", {
    description:
      "Serves the latent browser of the profile's first-seed TopK and g-SAE on loopback (training\n" +
      "them through the SAE zoo's cache if missing) and saves a screenshot of each page with\n" +
      "chromium: <out>/list.png (sorted by mean |∇L·d̂|), <out>/latent.png (the tour's latent\n" +
      "rule: the largest mean |∇L·d̂| among g-SAE latents firing on 0.5–5 % of tokens),\n" +
      "<out>/prompt.png (the tour's text).",
  })
    .option(
      "--profile <P>",
      PROFILE_NAMES.join(" | "),
      choiceArg("profile", PROFILE_NAMES),
      "default",
    )
    .option("--model <M>", "model overriding the profile's")
    .option("--out <DIR>", "(default: docs/browser)")
    .addOption(backendOption());
}

const TEXT = "The state of the Union is strong, and our economy is growing.";

async function main(): Promise<number> {
  const parsed = parseCommandLine<{ profile: string; model?: string; out?: string }>(
    command(),
    Deno.args,
    { badArgumentExit: 1 },
  );
  if (parsed.exit !== undefined) return parsed.exit;
  const o = parsed.options;
  const out = o.out === undefined ? join(REPO_ROOT, "docs", "browser") : callerPath(o.out);
  // The browser reads tensors synchronously (lib/browser): a CPU backend unless forced.
  await initBackend({ syncReads: true });
  const ws = await openWorkspace({ profile: o.profile, model: o.model });
  const sources = await defaultSAEs(ws, { log: console.log });
  const browser = await openBrowser(ws, sources);
  const gsae = sources[1].name, g = browser.site.latents.get(gsae)!;
  const latent = chooseTourLatent({
    frequencies: g.map((l) => l.freq),
    meanAbsDerivFiring: g.map((l) => l.meanGrad),
  });
  const server = startBrowserServer({ ws, saes: sources, data: siteDataFiles(browser.site) }, {
    port: 0,
  });
  const chrome = await chromium.launch({
    executablePath: CHROMIUM_PATH,
    headless: true,
    args: [...CHROMIUM_ARGS],
  });
  try {
    await Deno.mkdir(out, { recursive: true });
    const page = await chrome.newPage({ viewport: { width: 1200, height: 800 } });
    await page.goto(`${server.url}#/sae/${gsae}`);
    await page.getByTestId("sort").selectOption("meanGrad");
    await page.locator('[data-testid="latent-row"]').first().waitFor();
    await page.screenshot({ path: join(out, "list.png") });
    await page.goto(`${server.url}#/sae/${gsae}/latent/${latent}`);
    await page.locator(`[data-testid="latent-card"][data-latent="${latent}"]`).waitFor();
    await page.screenshot({ path: join(out, "latent.png"), fullPage: true });
    await page.goto(`${server.url}#/prompt`);
    await page.getByTestId("prompt-text").fill(TEXT);
    await page.getByTestId("prompt-run").click();
    await page.getByTestId("prompt-view").waitFor();
    await page.screenshot({ path: join(out, "prompt.png"), fullPage: true });
    console.log(`browser_screenshots: ${gsae} latent ${latent}; list, latent, prompt -> ${out}`);
  } finally {
    await chrome.close();
    await server.shutdown();
  }
  return 0;
}

if (import.meta.main) Deno.exit(await main());
