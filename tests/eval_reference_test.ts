import assert from "node:assert/strict";
import { windows } from "../lib/data/windows.ts";
import { devOffsets, evalOffsets, evalReference } from "../lib/experiments/zoo/eval_reference.ts";
import { evaluateSAE } from "../lib/experiments/zoo/sae_eval.ts";
import { trainedSAE } from "../lib/experiments/zoo/sae_zoo.ts";
import { addSpliceSums, spliceMetrics, summariseSplice } from "../lib/metrics/mod.ts";
import type { SpliceSums } from "../lib/metrics/mod.ts";
import { withSmokeWorkspace } from "./fixtures/smoke_workspace.ts";

Deno.test("evalReference: computed once per split and gradient source, and what evaluateSAE scores against", async () => {
  await withSmokeWorkspace(async (ws) => {
    const val = await evalReference(ws, { split: "val" });
    assert.strictEqual(
      await evalReference(ws, { split: "val" }),
      val,
      "the second call is the cached one",
    );
    assert.equal(val.length, Math.ceil(evalOffsets(ws).length / 8));
    const dev = await evalReference(ws, { split: "dev" });
    assert.notStrictEqual(dev, val);
    assert.equal(dev.reduce((n, b) => n + b.reference.shape.batch, 0), devOffsets(ws).length);

    // A sampled entry: the encoder's gradient is the sampled one; the statistics' is the true one.
    const sampled = await evalReference(ws, { split: "val", sampledSeed: 0 });
    assert.strictEqual(await evalReference(ws, { split: "val", sampledSeed: 0 }), sampled);
    assert.notStrictEqual(await evalReference(ws, { split: "val", sampledSeed: 1 }), sampled);
    sampled.forEach((b, i) => {
      assert.deepStrictEqual(b.trueGradient, val[i].reference.gradient);
      assert.notDeepStrictEqual(b.reference.gradient, b.trueGradient);
      assert.deepStrictEqual(b.reference.activation, val[i].reference.activation);
      assert.deepStrictEqual(b.reference.sums, val[i].reference.sums);
    });
    assert.strictEqual(val[0].trueGradient, val[0].reference.gradient);

    // The cached passes give what one spliceMetrics per batch gives.
    const topk = await trainedSAE(ws, { architecture: "topk", k: 8, seed: 0 });
    const e = await evaluateSAE(ws, topk);
    const offsets = evalOffsets(ws), seq = ws.model.config.n_positions;
    let sums: SpliceSums | null = null;
    for (let i = 0; i < offsets.length; i += 8) {
      const ids = windows(ws.val, offsets.slice(i, i + 8), seq);
      const s = await spliceMetrics(ws.model, ids, {
        hook: ws.hook,
        reconstruct: (x) => topk.sae.decode(topk.sae.encode(x)),
      });
      sums = sums ? addSpliceSums(sums, s) : s;
      ids.dispose();
    }
    const direct = summariseSplice(sums!);
    for (const key of Object.keys(direct) as (keyof typeof direct)[]) {
      assert.strictEqual(e[key], direct[key], key);
    }
  });
});

Deno.test("evalReference: the Fisher entry holds S per-token gradients per token at sampled tokens, and fisher_gsae evaluates in every mode", async () => {
  await withSmokeWorkspace(async (ws) => {
    const val = await evalReference(ws, { split: "val" });
    const S = 3, d = ws.model.config.n_embd, seq = ws.model.config.n_positions;
    const fisher = await evalReference(ws, { split: "val", sampledSeed: 0, fisherSamples: S });
    assert.strictEqual(
      await evalReference(ws, { split: "val", sampledSeed: 0, fisherSamples: S }),
      fisher,
    );
    fisher.forEach((b, i) => {
      const rows = b.reference.activation.length / d;
      assert.equal(b.reference.gradient!.length, rows * S * d);
      assert.strictEqual(b.trueGradient, val[i].reference.gradient);
      // A window's last position has no next token: its S gradients are zero.
      const last = (seq - 1) * S * d;
      assert.ok(b.reference.gradient!.subarray(last, last + S * d).every((v) => v === 0));
      // The S draws differ at some positions, so do their gradients.
      const g = b.reference.gradient!;
      let differ = 0;
      for (let r = 0; r < rows; r++) {
        const o = r * S * d;
        if (g.subarray(o, o + d).some((v, c) => v !== g[o + d + c])) differ++;
      }
      assert.ok(differ > rows / 10, `${differ} of ${rows} rows with distinct draws`);
    });
    const sae = await trainedSAE(ws, {
      architecture: "fisher_gsae",
      k: 8,
      seed: 0,
      options: { samples: S },
    });
    const own = await evaluateSAE(ws, sae, { gradient: "fisher", samples: S });
    const plain = await evaluateSAE(ws, sae, { gradient: "none" });
    const truth = await evaluateSAE(ws, sae, { gradient: "true" });
    for (const e of [own, plain, truth]) assert.ok(e.l0 > 0 && e.l0 <= 8 && e.kl > 0, e.name);
    assert.match(own.name, /gradient fisher, S 3, seed 0/);
    assert.notEqual(own.kl, plain.kl, "the sampled gradients change the selection");
  });
});
