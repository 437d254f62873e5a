import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { initBackend } from "../lib/tensor/backend.ts";
import type { GPT2Config } from "../lib/gpt2/config.ts";
import { GPT2 } from "../lib/gpt2/model.ts";
import { Rng } from "../lib/tensor/random.ts";
import {
  associatedSets,
  decoderDirections,
  disposeContexts,
  logitLens,
  logOdds,
  randomDirections,
  sampleLiveLatents,
  steerDirections,
  steeringContexts,
  topIndices,
} from "../lib/experiments/06_steering/steering.ts";
import { TINY_CONFIG } from "./fixtures/tiny_workspace.ts";

await initBackend();

const CONFIG: GPT2Config = { ...TINY_CONFIG, vocab_size: 40 };
const model = GPT2.random(CONFIG, 5, 0.3);
// A non-uniform ln_f scale, so the ln_f lens and the raw lens differ.
const GAMMA = Float32Array.from({ length: CONFIG.n_embd }, (_, j) => 0.2 + 0.15 * j);
model.params.get("ln_f.weight")!.assign(tf.tensor1d(GAMMA));
const rng = new Rng(3);
const DATA = Int32Array.from({ length: 2000 }, () => rng.int(CONFIG.vocab_size));
const HOOK = "blocks.1.hook_resid_post"; // the final residual: the lens is the whole direct path

Deno.test("topIndices: highest first, ties by index, excluded ids skipped", () => {
  assert.deepStrictEqual(topIndices([0.1, 3, 2, 3, -1], 3), [1, 3, 2]);
  assert.deepStrictEqual(topIndices([0.1, 3, 2, 3, -1], 3, [3]), [1, 2, 0]);
  assert.deepStrictEqual(topIndices([1, 2], 5), [1, 0]);
});

Deno.test("logitLens: W_U·(γ ⊙ centred u) with ln_f, W_U·u raw", () => {
  const d = CONFIG.n_embd, u = randomDirections(d, 1, 9);
  const wte = model.p("wte.weight").arraySync() as number[][];
  const mu = u.reduce((s, x) => s + x, 0) / d;
  const [lnf, raw] = (["ln_f", "raw"] as const).map((lens) =>
    tf.tidy(() => logitLens(model, tf.tensor2d(u, [1, d]), lens).dataSync())
  );
  wte.forEach((row, v) => {
    const a = row.reduce((s, w, j) => s + w * GAMMA[j] * (u[j] - mu), 0);
    const b = row.reduce((s, w, j) => s + w * u[j], 0);
    assert.ok(Math.abs(lnf[v] - a) < 1e-4 && Math.abs(raw[v] - b) < 1e-4, `token ${v}`);
  });
});

Deno.test("associatedSets excludes the given ids and is ranked by the lens", async () => {
  const dirs = randomDirections(CONFIG.n_embd, 3, 1);
  const free = await associatedSets(model, dirs, { setSize: 4 });
  const oov = free[0].set[0];
  const sets = await associatedSets(model, dirs, { setSize: 4, exclude: [oov] });
  assert.ok(!sets[0].set.includes(oov));
  assert.deepStrictEqual(sets[0].set.slice(0, 3), free[0].set.slice(1, 4));
  for (const s of sets) {
    assert.equal(s.set.length, 4);
    assert.ok(s.scores.every((x, i) => i === 0 || s.scores[i - 1] >= x));
  }
});

Deno.test("steering: α = 0 changes nothing; measurements match a run-with-hooks forward pass", async () => {
  const ctx = await steeringContexts(model, DATA, { hook: HOOK, contexts: 3, length: 8 });
  try {
    const dirs = randomDirections(CONFIG.n_embd, 2, 4);
    const [zero] = await steerDirections(model, ctx, dirs.subarray(0, CONFIG.n_embd), {
      alphas: [[{ strength: 0, alpha: 0 }]],
      setSize: 3,
    });
    assert.ok(Math.abs(zero.points[0].logOddsGain) < 1e-4);
    assert.ok(Math.abs(zero.points[0].gain) < 1e-6 && zero.points[0].kl < 1e-5);
    assert.ok(zero.points[0].tv < 1e-5);

    const [s] = await steerDirections(model, ctx, dirs.subarray(CONFIG.n_embd), {
      alphas: [[{ strength: 0.9, alpha: 0.7 * ctx.medianNorm }]],
      setSize: 3,
    });
    const p = s.points[0], u = dirs.subarray(CONFIG.n_embd);
    assert.equal(p.strength, 0.9);
    assert.ok(Math.abs(p.alpha - 0.7 * ctx.medianNorm) < 1e-9);
    // Independent reference: the full forward pass with a hook adding α·u.
    const ref = tf.tidy(() => {
      const add = (x: tf.Tensor3D) => tf.add(x, tf.tensor1d(u).mul(p.alpha)) as tf.Tensor3D;
      const clean = tf.softmax(model.forward(ctx.ids).logits).reshape([-1, CONFIG.vocab_size]);
      const steered = tf.softmax(model.forward(ctx.ids, { hooks: { [HOOK]: add } }).logits)
        .reshape([-1, CONFIG.vocab_size]);
      return [clean.arraySync(), steered.arraySync()] as number[][][];
    });
    const n = ref[0].length;
    let gain = 0, up = 0, tv = 0, kl = 0, logOddsGain = 0;
    for (let r = 0; r < n; r++) {
      const [a, b] = [ref[0][r], ref[1][r]];
      const dS = s.set.reduce((t, id) => t + b[id] - a[id], 0);
      gain += dS / n;
      const pa = s.set.reduce((t, id) => t + a[id], 0), pb = pa + dS;
      logOddsGain += (Math.log(pb / (1 - pb)) - Math.log(pa / (1 - pa))) / n;
      if (dS > 0) up++;
      tv += a.reduce((t, x, v) => t + Math.abs(b[v] - x), 0) / 2 / n;
      kl += a.reduce((t, x, v) => t + x * Math.log(x / b[v]), 0) / n;
    }
    assert.ok(Math.abs(p.gain - gain) < 1e-5, `gain ${p.gain} vs ${gain}`);
    assert.ok(Math.abs(p.tv - tv) < 1e-5 && Math.abs(p.kl - kl) < 1e-4);
    assert.equal(p.consistency, up / n);
    assert.ok(Math.abs(p.logOddsGain - logOddsGain) < 1e-3, `${p.logOddsGain} vs ${logOddsGain}`);
    assert.ok(Math.abs(p.concentration - gain / tv) < 1e-3);
    assert.ok(p.gain <= p.tv + 1e-7, "ΔP(S) never exceeds the total variation");
    assert.ok(Math.abs(p.steeredMass - p.cleanMass - p.gain) < 1e-9);
    assert.ok(Math.abs(p.setSteered.reduce((a, b) => a + b, 0) - p.steeredMass) < 1e-5);
  } finally {
    disposeContexts(ctx);
  }
});

Deno.test("steering hard along a direction at the final residual raises its set everywhere", async () => {
  const ctx = await steeringContexts(model, DATA, { hook: HOOK, contexts: 2, length: 8 });
  try {
    // With zero ln_f bias, ln_f(h + αu) → γ ⊙ centred u / σ as α grows: the logits become the
    // ln_f lens scores, so the set (the lens's top tokens) must gain at every position.
    const [s] = await steerDirections(model, ctx, randomDirections(CONFIG.n_embd, 1, 8), {
      alphas: [[{ strength: 1, alpha: 50 * ctx.medianNorm }]],
      setSize: 3,
    });
    await assert.rejects(
      () =>
        steerDirections(model, ctx, randomDirections(CONFIG.n_embd, 1, 8), {
          alphas: [],
          setSize: 3,
        }),
      /0 α lists for 1 directions/,
    );
    const p = s.points[0];
    assert.equal(p.consistency, 1);
    assert.ok(p.gain > 0.2 && p.concentration > 0.3, JSON.stringify(p));
    assert.ok(p.topGained.some((t) => t.id === s.set[0]));
  } finally {
    disposeContexts(ctx);
  }
});

Deno.test("logOdds: log p/(1 − p) on a hand example, clamped at 0 and 1", () => {
  assert.ok(Math.abs(logOdds(0.2) - Math.log(0.25)) < 1e-12);
  assert.equal(logOdds(0.5), 0);
  // A set going from 10 % to 50 % gains log 9 in log-odds.
  assert.ok(Math.abs(logOdds(0.5) - logOdds(0.1) - Math.log(9)) < 1e-12);
  assert.ok(Number.isFinite(logOdds(0)) && Number.isFinite(logOdds(1)));
  assert.ok(logOdds(1) > logOdds(0.999));
});

Deno.test("sampleLiveLatents: distinct live latents, seeded, fewer when few are alive", () => {
  const f = [0, 0.1, 0, 0.3, 0.01, 0, 0.2, 0.5];
  const a = sampleLiveLatents(f, 3, 1);
  assert.equal(new Set(a).size, 3);
  assert.ok(a.every((i) => f[i] > 0));
  assert.deepStrictEqual(a, [...a].sort((x, y) => x - y));
  assert.deepStrictEqual(sampleLiveLatents(f, 3, 1), a);
  assert.deepStrictEqual(sampleLiveLatents(f, 10, 2), [1, 3, 4, 6, 7]);
});

Deno.test("randomDirections and decoderDirections give unit rows", async () => {
  const r = randomDirections(8, 5, 2);
  assert.deepStrictEqual(randomDirections(8, 5, 2), r);
  const w = tf.tensor2d(Array.from({ length: 24 }, (_, i) => i - 7), [3, 8]);
  const d = await decoderDirections(w, [2, 0]);
  const raw = w.arraySync();
  w.dispose();
  for (const [rows, k] of [[r, 5], [d, 2]] as const) {
    for (let i = 0; i < k; i++) {
      assert.ok(Math.abs(Math.hypot(...rows.subarray(i * 8, i * 8 + 8)) - 1) < 1e-6);
    }
  }
  const n2 = Math.hypot(...raw[2]);
  assert.ok(Math.abs(d[0] - raw[2][0] / n2) < 1e-6);
});
