/**
 * The browser in a real browser: Debian's chromium through playwright-core drives the running app
 * (tiny model, a g-SAE and a TopK SAE): the list, sorting, search by id and by token, a latent
 * page, keyboard navigation, a neighbour in the paired SAE, the prompt page; then the static
 * export from file://. No console errors anywhere. Screenshots go to
 * `.cache/test-outputs/browser_ui/` (not committed). Skipped, with the reason printed, when
 * chromium is not installed.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { chromium, type Page } from "playwright-core";
import { initBackend } from "../lib/tensor/backend.ts";
import { openBrowser } from "../lib/browser/inline.ts";
import { startBrowserServer } from "../lib/browser/server.ts";
import { exportSite, siteDataFiles } from "../lib/browser/site.ts";
import { REPO_ROOT } from "../lib/gpt2/embedded_models.ts";
import { CHROMIUM_ARGS, CHROMIUM_PATH } from "../lib/pipeline/figures.ts";
import { disposeSAE } from "../lib/sae/mod.ts";
import { tinyWorkspace } from "./fixtures/tiny_workspace.ts";
import { tinyBrowserSAEs } from "./fixtures/browser_saes.ts";

const haveChromium = await Deno.stat(CHROMIUM_PATH).then(() => true, () => false);
if (!haveChromium) {
  console.log(`browser UI test skipped: no ${CHROMIUM_PATH} (apt-get install chromium)`);
}

const SHOTS = join(REPO_ROOT, ".cache", "test-outputs", "browser_ui");

/** Collects console errors and uncaught page errors. */
function watchErrors(page: Page): string[] {
  const errors: string[] = [];
  page.on("console", (m) => m.type() === "error" && errors.push(m.text()));
  page.on("pageerror", (e) => errors.push(e.message));
  return errors;
}

Deno.test({
  name: "browser UI: list, search, latent page, keyboard, prompt; static export from file://",
  ignore: !haveChromium,
  async fn() {
    await initBackend();
    const ws = tinyWorkspace();
    const saes = tinyBrowserSAEs(ws);
    const tmp = await Deno.makeTempDir({ prefix: "gsae_browser_ui_" });
    await Deno.mkdir(SHOTS, { recursive: true });
    const browser = await openBrowser(ws, saes, { tokens: 300, cacheDir: tmp, log: () => {} });
    const server = startBrowserServer(
      { ws, saes, data: siteDataFiles(browser.site) },
      { port: 0 },
    );
    const chrome = await chromium.launch({
      executablePath: CHROMIUM_PATH,
      headless: true,
      args: [...CHROMIUM_ARGS],
    });
    try {
      const page = await chrome.newPage({ viewport: { width: 1200, height: 900 } });
      const errors = watchErrors(page);
      const rows = page.locator('[data-testid="latent-row"]');
      const ids = async () => (await rows.evaluateAll((r) =>
        r.map((e) =>
          Number(e.getAttribute("data-latent"))
        )
      ));
      const g = browser.site.latents.get("g")!;

      // The list: first page of 64 latents, sorted by frequency.
      await page.goto(server.url);
      await rows.first().waitFor();
      assert.equal(await rows.count(), 50);
      assert.equal(await page.getByTestId("page").textContent(), "page 1 of 2");
      const byFreq = g.map((l) => l.id).sort((a, b) => g[b].freq - g[a].freq || a - b);
      assert.deepEqual(await ids(), byFreq.slice(0, 50));
      await page.screenshot({ path: join(SHOTS, "list.png") });
      await page.getByTestId("sort").selectOption("maxAct");
      const byMax = g.map((l) => l.id).sort((a, b) => g[b].maxAct - g[a].maxAct || a - b);
      assert.deepEqual(await ids(), byMax.slice(0, 50));

      // Search by id, then by token.
      await page.getByTestId("search").fill("7");
      assert.deepEqual(await ids(), [7]);
      const token = browser.site.vocab[g[3].topTokens[0]].trim() ||
        browser.site.vocab[g[3].topTokens[0]];
      await page.getByTestId("search").fill(token);
      const want = g.filter((l) =>
        [l.lens.top[0]?.[0], ...l.topTokens].some((id) =>
          id !== undefined &&
          browser.site.vocab[id].trim().toLowerCase().includes(token.toLowerCase())
        )
      ).map((l) => l.id).sort((a, b) => g[b].maxAct - g[a].maxAct || a - b);
      assert.ok(want.includes(3));
      assert.deepEqual(await ids(), want.slice(0, 50));
      assert.equal(await page.getByTestId("count").textContent(), `${want.length} of 64 latents`);
      await page.screenshot({ path: join(SHOTS, "search.png") });

      // Keyboard: Esc leaves the search, j j moves, Enter opens, → and ← step, Esc goes back.
      await page.getByTestId("search").fill("");
      await page.keyboard.press("Escape");
      await page.keyboard.press("j");
      await page.keyboard.press("j");
      assert.equal(await page.locator("tr.selected").getAttribute("data-latent"), String(byMax[2]));
      await page.keyboard.press("Enter");
      const card = page.getByTestId("latent-card");
      await card.waitFor();
      assert.equal(await card.getAttribute("data-latent"), String(byMax[2]));
      await page.keyboard.press("ArrowRight");
      await page.locator(`[data-testid="latent-card"][data-latent="${byMax[2] + 1}"]`).waitFor();
      await page.keyboard.press("ArrowLeft");
      await page.locator(`[data-testid="latent-card"][data-latent="${byMax[2]}"]`).waitFor();
      await page.keyboard.press("Escape");
      await rows.first().waitFor();
      await page.keyboard.press("n");
      assert.equal(await page.getByTestId("page").textContent(), "page 2 of 2");
      assert.equal(await rows.count(), 14);
      await page.keyboard.press("p");

      // A latent page: contexts shaded with the value on hover, histograms, lens, neighbours.
      const shown = byMax[0];
      await rows.first().click();
      await page.locator(`[data-testid="latent-card"][data-latent="${shown}"]`).waitFor();
      const top = page.locator('[data-testid="top-contexts"] .gsae-ctx');
      assert.equal(await top.count(), g[shown].top.length);
      const at = top.first().locator(".gsae-tok-at");
      assert.match(
        (await at.getAttribute("title"))!,
        new RegExp(`: ${g[shown].maxAct.toPrecision(3).replace(/\.?0+$/, "")}`),
      );
      assert.match((await at.getAttribute("style"))!, /rgba\(255,112,0,1\.000\)/);
      assert.equal(await page.locator(".gsae-hist svg").count(), 2);
      assert.ok((await card.textContent())!.includes("logit lens: promoted"));
      await page.screenshot({ path: join(SHOTS, "latent.png"), fullPage: true });
      const other = g[shown].nearOther[0][0];
      await page.locator(`a[href="#/sae/t/latent/${other}"]`).first().click();
      await page.locator(`[data-testid="latent-card"][data-latent="${other}"]`).waitFor();
      assert.ok((await card.textContent())!.startsWith(`t · latent ${other}`));

      // The prompt page.
      await page.keyboard.press("g");
      await page.getByTestId("prompt-text").fill("the state of it");
      await page.getByTestId("prompt-run").click();
      await page.getByTestId("prompt-view").waitFor();
      assert.equal(await page.locator('[data-testid="prompt-token"]').count(), 2 * 15);
      assert.ok(
        (await page.getByTestId("prompt-view").textContent())!.includes(
          "swapped in by the gradient",
        ),
      );
      assert.equal(await page.getByTestId("prompt-status").textContent(), "15 tokens");
      await page.screenshot({ path: join(SHOTS, "prompt.png"), fullPage: true });
      await page.getByTestId("prompt-text").fill("x".repeat(40));
      await page.getByTestId("prompt-run").click();
      await page.locator('[data-testid="prompt-status"].error').waitFor();
      assert.match((await page.getByTestId("prompt-status").textContent())!, /context is 16/);
      // A 422 is the app's message, not a page error; filter the network line chromium logs for it.
      const pageErrors = errors.filter((e) => !/status of 422/.test(e));
      assert.deepEqual(pageErrors, [], "console errors on the served app");

      // The static export, from file://: list and latent pages, no prompt page.
      const exported = join(tmp, "site");
      const staticSite = {
        ...browser.site,
        manifest: { ...browser.site.manifest, mode: "static" as const },
      };
      await exportSite(exported, siteDataFiles(staticSite));
      const filePage = await chrome.newPage();
      const fileErrors = watchErrors(filePage);
      await filePage.goto(`file://${exported}/index.html#/sae/t/latent/5`);
      await filePage.locator('[data-testid="latent-card"][data-latent="5"]').waitFor();
      await filePage.goto(`file://${exported}/index.html`);
      await filePage.locator('[data-testid="latent-row"]').first().waitFor();
      assert.equal(await filePage.getByTestId("nav-prompt").isVisible(), false);
      await filePage.goto(`file://${exported}/index.html#/prompt`);
      await filePage.getByTestId("prompt-unavailable").waitFor();
      assert.deepEqual(fileErrors, [], "console errors on the exported site");
      console.log(`browser UI: screenshots in ${SHOTS}`);
    } finally {
      await chrome.close();
      await server.shutdown();
      for (const s of saes) disposeSAE(s.sae);
      await Deno.remove(tmp, { recursive: true });
    }
  },
});
