// The SAE zoo's cache key (lib/experiments/zoo/sae_zoo.ts): one SAE however its spec is written,
// kept across profile edits that do not change how it trains, and not across ones that do.
import assert from "node:assert/strict";
import { isSAECached, releaseSAE, trainedSAE } from "../lib/experiments/zoo/sae_zoo.ts";
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

Deno.test("sae zoo: a released SAE is freed and comes back from the disk cache, equal", async () => {
  await withSmokeWorkspace(async (ws) => {
    const spec = { architecture: "topk" as const, k: 4, seed: 1 };
    const t = await trainedSAE(ws, spec);
    const weights = new Map([...t.sae.params].map(([n, v]) => [n, v.dataSync().slice()]));
    assert.equal(await trainedSAE(ws, spec), t, "kept in memory until released");
    releaseSAE(ws, t);
    assert.ok([...t.sae.params.values()].every((v) => v.isDisposed));
    const again = await trainedSAE(ws, spec);
    assert.notEqual(again, t);
    for (const [n, v] of again.sae.params) assert.deepEqual(v.dataSync(), weights.get(n), n);
    releaseSAE(ws, again);
  });
});
