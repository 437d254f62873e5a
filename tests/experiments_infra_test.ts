import assert from "node:assert/strict";
import { getProfile, PROFILES, saeLayer } from "../lib/experiments/shared/profile.ts";
import { NotebookResults } from "../lib/experiments/shared/results.ts";
import { evaluateSAE } from "../lib/experiments/zoo/sae_eval.ts";
import { devOffsets, evalOffsets } from "../lib/experiments/zoo/eval_reference.ts";
import { specLabel, trainedSAE } from "../lib/experiments/zoo/sae_zoo.ts";
import { storeSequences } from "../lib/experiments/zoo/train_store.ts";
import { spreadOffsets } from "../lib/data/windows.ts";
import type { Workspace } from "../lib/experiments/shared/workspace.ts";
import { withSmokeWorkspace } from "./fixtures/smoke_workspace.ts";

Deno.test("profiles: unknown names are errors; the SAE layer sits about three quarters in", () => {
  assert.throws(() => getProfile("huge"), /known: smoke, default, extended, paper/);
  assert.deepStrictEqual(getProfile("smoke"), PROFILES.smoke);
  assert.deepStrictEqual(saeLayer(4, 0.75), 2);
  assert.deepStrictEqual(saeLayer(2, 0.75), 1);
  assert.deepStrictEqual(saeLayer(12, 0.67), 7); // the paper's GPT-2 small layer
  assert.deepStrictEqual(saeLayer(1, 0.1), 0);
  assert.throws(() => saeLayer(4, 0), RangeError);
});

Deno.test("profiles: extended is default with the seed papers' architectures and notebook 08", () => {
  const { name, excludedNotebooks, seedPaperArchitectures, ...rest } = PROFILES.extended;
  const d = PROFILES.default;
  assert.deepEqual([name, excludedNotebooks, seedPaperArchitectures], ["extended", [], true]);
  assert.deepEqual([d.excludedNotebooks, d.seedPaperArchitectures], [["08"], false]);
  // Same budgets, seeds and cache folder: extended reuses every SAE default trained.
  const { name: _n, excludedNotebooks: _e, seedPaperArchitectures: _s, ...defaultRest } = d;
  assert.deepEqual(rest, defaultRest);
  assert.equal(rest.cacheName, "default");
});

Deno.test("specLabel names every varying field", () => {
  assert.deepStrictEqual(
    specLabel({ architecture: "gsae", k: 32, beta: 0.5, seed: 1 }),
    "gsae-k32-b0.5-s1",
  );
  assert.deepStrictEqual(
    specLabel({ architecture: "gated", seed: 0, options: { l1_coefficient: 3 } }),
    "gated-s0-l1_coefficient=3",
  );
});

Deno.test("zoo and evaluation: cached, dev windows unseen, g-SAE selection with β 0 is TopK", async () => {
  await withSmokeWorkspace(async (ws) => {
    const seq = ws.model.config.n_positions;
    // Development windows never overlap a store window.
    const store = spreadOffsets(ws.train.length, storeSequences(ws), seq);
    for (const o of devOffsets(ws)) {
      assert(store.every((s) => o + seq <= s || o >= s + seq), `dev window ${o} overlaps`);
    }
    assert.deepStrictEqual(evalOffsets(ws).length, 4);

    const topk = await trainedSAE(ws, { architecture: "topk", k: 8, seed: 0 });
    assert(await Deno.stat(`${topk.dir}/training.json`));
    assert(await Deno.stat(`${topk.dir}/cfg.json`));
    assert.deepStrictEqual(await trainedSAE(ws, { architecture: "topk", k: 8, seed: 0 }), topk);

    const plain = await evaluateSAE(ws, topk, { gradient: "none" });
    const withTrue = await evaluateSAE(ws, topk, { gradient: "true" });
    const beta0 = await evaluateSAE(ws, topk, { selectionBeta: 0 });
    for (const e of [withTrue, beta0]) {
      assert.deepStrictEqual(e.deltaCe, plain.deltaCe);
      assert.deepStrictEqual(e.fvu, plain.fvu);
    }
    assert.deepStrictEqual(plain.l0, 8);
    assert(plain.frequencies.length === topk.sae.config.d_sae);
    // A second evaluation is read from the cache file beside the SAE.
    const files = [...Deno.readDirSync(topk.dir)].map((e) => e.name).filter((n) =>
      n.startsWith("eval-")
    );
    assert.deepStrictEqual(files.length, 3);
    assert.deepStrictEqual(await evaluateSAE(ws, topk, { gradient: "none" }), plain);
  });
});

Deno.test("NotebookResults records metrics, claims and named figure specs", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const ws = {
      profile: PROFILES.smoke,
      modelName: "m",
      hook: "blocks.0.hook_resid_post",
      backend: "cpu",
      runDir: dir,
    } as unknown as Workspace;
    const r = new NotebookResults(ws, "99_test");
    assert.throws(() => r.metric("bad", NaN, { description: "x" }), /bad is NaN/);
    r.metric("delta_ce", 0.25, { description: "nats", rel: 0.1 });
    r.claim({ id: "c1", paper: "p | q", result: "r", verdict: "reproduced" });
    await r.figure("99_fig_a", { data: [{ type: "scatter", x: [1], y: [2] }] });
    await assert.rejects(() => r.figure("fig_a", { data: [] }), /must start with "99_"/);
    await assert.rejects(() => r.figure("../escape", { data: [] }));
    await r.save();
    const saved = JSON.parse(await Deno.readTextFile(`${dir}/results/99_test.json`));
    assert.deepStrictEqual(saved.metrics.delta_ce, {
      value: 0.25,
      abs: 1e-4,
      rel: 0.1,
      description: "nats",
    });
    assert.deepStrictEqual(saved.figures, ["99_fig_a"]);
    const spec = JSON.parse(await Deno.readTextFile(`${dir}/figures/99_fig_a.json`));
    assert.deepStrictEqual(spec.layout.meta.gsae_figure, "99_fig_a");
    assert(r.claimsMarkdown().includes("p \\| q"));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
