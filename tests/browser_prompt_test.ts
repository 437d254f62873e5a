/**
 * The prompt page's analysis and the inline notebook views on a tiny model: losses against an
 * independent run-with-hooks forward pass, active and swapped latents against the SAE's own
 * encodings, and the HTML the shared renderer makes of them.
 */
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { initBackend } from "../lib/tensor/backend.ts";
import { latentCardHtml, openBrowser, promptViewHtml } from "../lib/browser/inline.ts";
import { analysePrompt, PromptError } from "../lib/browser/prompt.ts";
import { unitDecoderRows } from "../lib/browser/decoder.ts";
import { disposeSAE } from "../lib/sae/mod.ts";
import { preActivations } from "../lib/sae/base.ts";
import { tinyWorkspace } from "./fixtures/tiny_workspace.ts";
import { tinyBrowserSAEs } from "./fixtures/browser_saes.ts";

await initBackend();
const ws = tinyWorkspace();
const TEXT = "the state of it";

const tinySAEs = () => tinyBrowserSAEs(ws);

/** Per-token CE of the model with `replace` at the hook, by a full forward pass with hooks. */
function lossesWith(ids: Int32Array, replace: (x: tf.Tensor2D) => tf.Tensor2D): number[] {
  const T = ids.length;
  return tf.tidy(() => {
    const { logits } = ws.model.forward(tf.tensor2d(ids, [1, T], "int32"), {
      hooks: { [ws.hook]: (a) => replace(a.reshape([T, 16]) as tf.Tensor2D).reshape([1, T, 16]) },
    });
    const lp = tf.logSoftmax(logits.reshape([T, 50])).arraySync() as number[][];
    return Array.from({ length: T - 1 }, (_, p) => -lp[p][ids[p + 1]]);
  });
}

Deno.test("analysePrompt: losses, active and gradient-swapped latents, z and |d·g|", () => {
  const saes = tinySAEs();
  try {
    const r = analysePrompt(ws, TEXT, { saes });
    const ids = ws.tokenizer.encode(TEXT), T = ids.length;
    assert.equal(r.tokens.length, T);
    assert.equal(r.tokens.map((t) => t.text).join(""), TEXT);
    assert.equal(r.tokens[T - 1].lossClean, null);
    const clean = lossesWith(ids, (x) => x);
    r.tokens.slice(0, -1).forEach((t, p) => assert.ok(Math.abs(t.lossClean! - clean[p]) < 1e-3));
    // The spliced loss with the g-SAE's own gradient-aware encoding, via the hooked forward pass.
    const g = ws.model.gradAtHook(tf.tensor2d(ids, [1, T], "int32"), ws.hook);
    const grad = g.gradient.reshape([T, 16]) as tf.Tensor2D;
    const x = g.activation.reshape([T, 16]) as tf.Tensor2D;
    const [gv, tv] = r.saes;
    assert.equal(gv.name, "g");
    assert.equal(gv.gradientAware, true);
    assert.equal(tv.gradientAware, false);
    const spliced = lossesWith(ids, (h) => saes[0].sae.decode(saes[0].sae.encode(h, { grad })));
    gv.tokens.slice(0, -1).forEach((t, p) =>
      assert.ok(Math.abs(t.lossSpliced! - spliced[p]) < 2e-3, `${t.lossSpliced} vs ${spliced[p]}`)
    );
    const withGrad = saes[0].sae.encode(x, { grad }).arraySync();
    const plain = saes[0].sae.encode(x).arraySync();
    const z = preActivations(saes[0].sae.params, x).arraySync();
    const unit = unitDecoderRows(saes[0].sae), gArr = grad.arraySync();
    let swaps = 0;
    gv.tokens.forEach((tok, p) => {
      assert.equal(tok.active.length, 4);
      for (const [id, a] of tok.active) assert.ok(Math.abs(a - withGrad[p][id]) < 1e-3 * (1 + a));
      assert.equal(tok.swappedIn.length, tok.swappedOut.length, "TopK keeps k either way");
      for (const s of tok.swappedIn) {
        assert.ok(withGrad[p][s.id] > 0 && !(plain[p][s.id] > 0));
        assert.ok(Math.abs(s.z! - z[p][s.id]) < 1e-3 * (1 + Math.abs(s.z!)));
        const dg = Math.abs(gArr[p].reduce((acc, v, c) => acc + v * unit[s.id * 16 + c], 0));
        assert.ok(Math.abs(s.dg - dg) < 1e-3 * (1 + dg), `${s.dg} vs ${dg}`);
      }
      for (const s of tok.swappedOut) assert.ok(plain[p][s.id] > 0 && !(withGrad[p][s.id] > 0));
      swaps += tok.swappedIn.length;
    });
    assert.ok(swaps > 0, "β = 4 swaps some latents");
    assert.deepEqual(gv.tokens[T - 1].swappedIn, [], "no gradient at the last token");
    for (const tok of tv.tokens) assert.deepEqual([tok.swappedIn, tok.swappedOut], [[], []]);
    tf.dispose([x, grad, ...Object.values(g)]);
    assert.throws(() => analysePrompt(ws, "a", { saes }), PromptError);
    assert.throws(
      () => analysePrompt(ws, "a".repeat(17), { saes }),
      /17 tokens; the model's context is 16/,
    );
  } finally {
    for (const s of saes) disposeSAE(s.sae);
  }
});

Deno.test("inline views: the shared renderer's card and prompt view as static HTML", async () => {
  const saes = tinySAEs();
  const cacheDir = await Deno.makeTempDir({ prefix: "gsae_browser_inline_" });
  try {
    const browser = await openBrowser(ws, saes, { tokens: 150, cacheDir, log: () => {} });
    const latent = browser.site.latents.get("g")!.findIndex((l) => l.top.length >= 2);
    const html = latentCardHtml(browser, "g", latent);
    assert.ok(html.startsWith("<style>"));
    assert.ok(html.includes(`g · latent ${latent}`));
    assert.ok(!/<script/i.test(html), "no script: the card shows without a kernel");
    const record = browser.site.latents.get("g")![latent];
    assert.equal(
      html.match(/class="gsae-ctx"/g)!.length,
      record.top.length + record.quantiles.reduce((n, q) => n + q.contexts.length, 0),
    );
    assert.ok(html.includes("nearest in t"), "the paired SAE's neighbours");
    assert.ok(!html.includes("<a "), "no links inline");
    assert.throws(() => latentCardHtml(browser, "g", 64), /no latent 64 of SAE "g"/);
    const view = promptViewHtml(browser, TEXT);
    assert.equal(view.match(/data-testid="prompt-token"/g)!.length, 2 * TEXT.length);
    assert.ok(view.includes("swapped in by the gradient"));
    // Escaping: a token that looks like markup stays text.
    const R = (globalThis as unknown as { GsaeRender: { esc(s: string): string } }).GsaeRender;
    assert.equal(R.esc(`<b a="1">&`), "&lt;b a=&quot;1&quot;&gt;&amp;");
  } finally {
    for (const s of saes) disposeSAE(s.sae);
    await Deno.remove(cacheDir, { recursive: true });
  }
});
