// The SAE zoo's cache key (lib/experiments/zoo/sae_zoo.ts): one SAE however its spec is written,
// kept across profile edits that do not change how it trains, and not across ones that do.
import assert from "node:assert/strict";
import { isSAECached, trainedSAE } from "../lib/experiments/zoo/sae_zoo.ts";
import { disposeSAE } from "../lib/sae/mod.ts";
import { withSmokeWorkspace } from "./fixtures/smoke_workspace.ts";

Deno.test("sae zoo: spec field order does not matter; only training settings invalidate", async () => {
  await withSmokeWorkspace(async (ws) => {
    const t = await trainedSAE(ws, { seed: 0, k: 4, architecture: "topk" });
    disposeSAE(t.sae);
    assert.ok(await isSAECached(ws, { architecture: "topk", k: 4, seed: 0 }));
    const profile = ws.profile;
    ws.profile = { ...profile, sae: { ...profile.sae, evalSequences: 3, e2eTokens: 999 } };
    assert.ok(await isSAECached(ws, { architecture: "topk", k: 4, seed: 0 }), "eval/e2e edits");
    ws.profile = { ...profile, sae: { ...profile.sae, lr: profile.sae.lr / 2 } };
    assert.ok(!(await isSAECached(ws, { architecture: "topk", k: 4, seed: 0 })), "lr changes it");
    ws.profile = profile;
  });
});
