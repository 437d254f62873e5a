/**
 * The browser's data on a tiny model and SAE: every per-latent number checked against a direct
 * recomputation (frequency, max activation, mean |∇L·d̂|, contexts and their shading,
 * histograms), the logit lens and decoder neighbours against plain loops, the cache, and the
 * site's script files.
 */
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { initBackend } from "../lib/tensor/backend.ts";
import { browserData } from "../lib/browser/cache.ts";
import { precomputeLatents } from "../lib/browser/data.ts";
import { extremeIndices, nearestByCosine, unitDecoderRows } from "../lib/browser/decoder.ts";
import { buildSite, pairSAEs, siteDataFiles } from "../lib/browser/site.ts";
import { parseSpecLabel } from "../lib/browser/sources.ts";
import { spreadOffsets, windows } from "../lib/data/windows.ts";
import { specLabel } from "../lib/experiments/zoo/sae_zoo.ts";
import { disposeSAE } from "../lib/sae/mod.ts";
import { tinyWorkspace } from "./fixtures/tiny_workspace.ts";
import { tinyBrowserSAEs } from "./fixtures/browser_saes.ts";

await initBackend();
const ws = tinyWorkspace();
const quiet = { log: () => {} };

const tinySAEs = () => tinyBrowserSAEs(ws);

Deno.test("extremeIndices: the n largest (or smallest) with ties to the lower index", () => {
  const row = [3, 9, 1, 9, 5, -2, 5];
  assert.deepEqual(extremeIndices(row, 3), [1, 3, 4]);
  assert.deepEqual(extremeIndices(row, 2, { lowest: true }), [5, 2]);
  assert.deepEqual(extremeIndices(row, 2, { skip: new Set([1]) }), [3, 4]);
  assert.deepEqual(extremeIndices([NaN, 1], 2), [1]);
});

Deno.test("precomputeLatents: every number matches a direct recomputation", () => {
  const [g, t] = tinySAEs();
  try {
    const data = precomputeLatents(ws, g, { tokens: 600, top: 5, ...quiet });
    const seq = ws.model.config.n_positions, per = seq - 1, d = 16, f = 64;
    const count = Math.ceil(600 / per);
    assert.equal(data.tokens, count * per);
    assert.equal(data.latents.length, f);
    assert.equal(data.gradientAware, true);
    // Direct: activations and |g·d̂| at every probed token, in one batch.
    const offsets = spreadOffsets(ws.val.length, count, seq);
    const ids = windows(ws.val, offsets, seq);
    const hg = ws.model.gradAtHook(ids, ws.hook);
    const x = hg.activation.slice([0, 0, 0], [count, per, d]).reshape([-1, d]) as tf.Tensor2D;
    const grad = hg.gradient.slice([0, 0, 0], [count, per, d]).reshape([-1, d]) as tf.Tensor2D;
    // The g-SAE's batch-mean gradient scale depends on the batch: encode in the same batches of 8.
    const acts = new Float32Array(count * per * f);
    for (let b = 0; b < count; b += 8) {
      const n = Math.min(8, count - b) * per;
      const a = g.sae.encode(x.slice([b * per, 0], [n, d]), {
        grad: grad.slice([b * per, 0], [n, d]),
      });
      acts.set(a.dataSync(), b * per * f);
      a.dispose();
    }
    const gv = grad.dataSync(), unit = unitDecoderRows(g.sae);
    const tokens = Int32Array.from(
      { length: count * per },
      (_, i) => ws.val[offsets[Math.floor(i / per)] + (i % per)],
    );
    tf.dispose([ids, x, grad, ...Object.values(hg)]);
    let checked = 0;
    for (const l of data.latents) {
      const firing: number[] = [];
      for (let i = 0; i < count * per; i++) if (acts[i * f + l.id] > 0) firing.push(i);
      const close = (a: number, b: number, what: string) =>
        assert.ok(Math.abs(a - b) <= 1e-3 * Math.max(1, Math.abs(b)), `${what}: ${a} vs ${b}`);
      close(l.freq, firing.length / (count * per), `latent ${l.id} frequency`);
      assert.equal(l.hist.counts.reduce((a, b) => a + b, 0), firing.length);
      assert.equal(l.gradHist.counts.reduce((a, b) => a + b, 0), firing.length);
      if (firing.length === 0) {
        assert.equal(l.meanGrad, null);
        assert.equal(l.top.length, 0);
        continue;
      }
      checked++;
      const max = Math.max(...firing.map((i) => acts[i * f + l.id]));
      close(l.maxAct, max, `latent ${l.id} max activation`);
      const dg = firing.map((i) => {
        let s = 0;
        for (let c = 0; c < d; c++) s += gv[i * d + c] * unit[l.id * d + c];
        return Math.abs(s);
      });
      close(l.meanGrad!, dg.reduce((a, b) => a + b, 0) / dg.length, `latent ${l.id} mean |g·d̂|`);
      // The top context is the strongest firing, at full shading, with the right tokens.
      const top = l.top[0];
      assert.equal(top.a[top.at], 1000);
      const p = firing.find((i) => acts[i * f + l.id] === max)!;
      assert.deepEqual(top.t, Array.from(tokens.subarray(p - top.at, p - top.at + top.t.length)));
      top.t.forEach((_, q) => {
        const want = Math.round((1000 * acts[(p - top.at + q) * f + l.id]) / l.maxAct);
        assert.ok(Math.abs(top.a[q] - want) <= 1, `latent ${l.id} shading`);
      });
      const shown = l.top.map((c) => (c.a[c.at] / 1000) * l.maxAct);
      assert.deepEqual(shown, [...shown].sort((a, b) => b - a));
      assert.equal(l.top.length, Math.min(5, firing.length));
      const sampled = l.quantiles.reduce((n, q) => n + q.contexts.length, 0);
      assert.ok(sampled <= 12 && (firing.length <= 5 || sampled > 0));
      for (const q of l.quantiles) assert.ok(q.lo <= q.hi && q.q[0] < q.q[1]);
      assert.equal(l.topTokens[0] !== undefined, true);
    }
    assert.ok(checked > 10, `only ${checked} latents fired`);
    // Plain TopK is not gradient-aware; its data has the same shape.
    const plain = precomputeLatents(ws, t, { tokens: 200, ...quiet });
    assert.equal(plain.gradientAware, false);
    assert.equal(plain.tokens, Math.ceil(200 / per) * per);
  } finally {
    for (const s of tinySAEs()) disposeSAE(s.sae);
    disposeSAE(g.sae);
    disposeSAE(t.sae);
  }
});

Deno.test("logit lens and neighbours agree with plain loops", () => {
  const [g, t] = tinySAEs();
  try {
    const data = precomputeLatents(ws, g, { tokens: 100, listed: 4, ...quiet });
    const unit = unitDecoderRows(g.sae), d = 16;
    const cos = (a: Float32Array, i: number, b: Float32Array, j: number) => {
      let s = 0;
      for (let c = 0; c < d; c++) s += a[i * d + c] * b[j * d + c];
      return s;
    };
    const l = data.latents[5];
    const want = Array.from({ length: 64 }, (_, j) => j).filter((j) => j !== 5)
      .sort((a, b) => cos(unit, 5, unit, b) - cos(unit, 5, unit, a)).slice(0, 4);
    assert.deepEqual(l.near.map(([id]) => id), want);
    // Lens: W_U · (γ ⊙ (d̂ − mean d̂)).
    const wte = ws.model.p("wte.weight").dataSync(), gamma = ws.model.p("ln_f.weight").dataSync();
    const u = unit.subarray(5 * d, 6 * d), mean = u.reduce((a, b) => a + b, 0) / d;
    const score = (v: number) => {
      let s = 0;
      for (let c = 0; c < d; c++) s += wte[v * d + c] * gamma[c] * (u[c] - mean);
      return s;
    };
    const order = Array.from({ length: 50 }, (_, v) => v).sort((a, b) => score(b) - score(a));
    assert.deepEqual(l.lens.top.map(([id]) => id), order.slice(0, 4));
    assert.deepEqual(l.lens.bottom.map(([id]) => id), order.slice(-4).reverse());
    l.lens.top.forEach(([id, s]) => assert.ok(Math.abs(s - score(id)) < 1e-3));
    // Across SAEs.
    const other = unitDecoderRows(t.sae);
    const [near] = nearestByCosine(unit.subarray(0, d), other, { d, n: 3 });
    const best = Array.from({ length: 64 }, (_, j) => j)
      .sort((a, b) => cos(unit, 0, other, b) - cos(unit, 0, other, a)).slice(0, 3);
    assert.deepEqual(near.map(([id]) => id), best);
  } finally {
    disposeSAE(g.sae);
    disposeSAE(t.sae);
  }
});

Deno.test("browserData: built once per SAE and key, rebuilt when the weights change", async () => {
  const dir = await Deno.makeTempDir({ prefix: "gsae_browser_cache_" });
  const [g] = tinySAEs();
  try {
    const lines: string[] = [];
    const opts = { tokens: 100, cacheDir: dir, log: (l: string) => lines.push(l) };
    const first = await browserData(ws, g, opts);
    assert.ok(lines.some((l) => l.includes("precomputing g")), lines.join("\n"));
    assert.ok(lines.some((l) => /browser g \| 105\/105 tokens/.test(l)), "a progress line");
    lines.length = 0;
    const second = await browserData(ws, g, opts);
    assert.equal(lines.length, 0, "second call reads the cache");
    assert.deepEqual(second.latents, first.latents);
    g.sae.params.get("b_enc")!.assign(tf.fill([64], 0.01) as tf.Tensor1D);
    await browserData(ws, g, opts);
    assert.ok(lines.some((l) => l.includes("precomputing")), "new weights, new data");
    assert.equal([...Deno.readDirSync(dir)].length, 2);
  } finally {
    disposeSAE(g.sae);
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("site: JSONP data files, shards, pairs; zoo labels parse back to specs", () => {
  const sources = tinySAEs();
  try {
    const datas = sources.map((source) => ({
      source,
      data: precomputeLatents(ws, source, { tokens: 100, ...quiet }),
    }));
    const site = buildSite(datas, { tokenizer: ws.tokenizer, model: "random", mode: "static" });
    const files = siteDataFiles(site);
    const registered = new Map<string, unknown>();
    const GSAE = { register: (k: string, v: unknown) => registered.set(k, v) };
    for (const text of Object.values(files)) new Function("GSAE", text)(GSAE);
    assert.deepEqual(
      Object.keys(files).sort(),
      [
        "data/g/index.js",
        "data/g/latents_0.js",
        "data/saes.js",
        "data/t/index.js",
        "data/t/latents_0.js",
        "data/vocab.js",
      ],
    );
    const manifest = registered.get("saes") as {
      mode: string;
      saes: { name: string; pair: string }[];
    };
    assert.equal(manifest.mode, "static");
    assert.deepEqual(manifest.saes.map((s) => s.pair), ["t", "g"]);
    const shard = registered.get("latents/g/0") as { nearOther: unknown[] }[];
    assert.equal(shard.length, 64);
    assert.equal(shard[0].nearOther.length, 8);
    assert.equal((registered.get("vocab") as string[]).length, 50);
    assert.deepEqual(
      pairSAEs([{ name: "a", dIn: 4, hook: "h" }, { name: "b", dIn: 8, hook: "h" }]),
      [null, null],
    );
    assert.throws(
      () =>
        buildSite([datas[0], datas[0]], { tokenizer: ws.tokenizer, model: "m", mode: "server" }),
      /not unique/,
    );
  } finally {
    for (const s of sources) disposeSAE(s.sae);
  }
  for (
    const spec of [
      { architecture: "gsae" as const, k: 32, beta: 0.5, seed: 0 },
      { architecture: "e2e_topk" as const, k: 16, seed: 2 },
      { architecture: "gsae" as const, k: 32, beta: 1e-7, seed: 1 },
    ]
  ) assert.deepEqual(parseSpecLabel(specLabel(spec)), spec);
  assert.equal(parseSpecLabel("nonsense-s0"), null);
  assert.equal(parseSpecLabel("topk-k32"), null);
});
