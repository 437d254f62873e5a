import assert from "node:assert/strict";
import { initBackend } from "../lib/tensor/backend.ts";
import type { GPT2Config } from "../lib/gpt2/config.ts";
import { GPT2 } from "../lib/gpt2/model.ts";
import { mean } from "../lib/metrics/mod.ts";
import { Rng } from "../lib/tensor/random.ts";
import {
  DIRECTION_KINDS,
  expectedAbsCoordinate,
  measureDirectionalDerivatives,
} from "../lib/experiments/01_directional/directional.ts";
import { jitteredOffsets, spreadOffsets } from "../lib/data/windows.ts";
import { TINY_CONFIG } from "./fixtures/tiny_workspace.ts";

await initBackend();

const CONFIG: GPT2Config = TINY_CONFIG;
const model = GPT2.random(CONFIG, 7, 0.3);
const rng = new Rng(11);
const DATA = Int32Array.from({ length: 4000 }, () => rng.int(CONFIG.vocab_size));

Deno.test("expectedAbsCoordinate: closed forms and a Monte Carlo check", () => {
  assert.ok(Math.abs(expectedAbsCoordinate(1) - 1) < 1e-12);
  assert.ok(Math.abs(expectedAbsCoordinate(2) - 2 / Math.PI) < 1e-12);
  assert.ok(Math.abs(expectedAbsCoordinate(3) - 0.5) < 1e-12);
  const d = 16, r = new Rng(3), draws: number[] = [];
  for (let i = 0; i < 20000; i++) {
    const z = Array.from({ length: d }, () => r.normal());
    draws.push(Math.abs(z[0]) / Math.hypot(...z));
  }
  // 20 000 draws: the standard error is about 0.001.
  assert.ok(Math.abs(mean(draws) - expectedAbsCoordinate(d)) < 0.005);
});

const directional = await measureDirectionalDerivatives(model, DATA, { sequences: 24, seed: 1 });

Deno.test("measureDirectionalDerivatives: shapes, finite values, isotropic ratio 1", () => {
  assert.equal(directional.layers.length, 2);
  assert.deepEqual(directional.offsets, spreadOffsets(DATA.length, 24, 16));
  for (const layer of directional.layers) {
    const n = 24 * 15;
    assert.equal(layer.gradNorms.length, n);
    assert.equal(layer.sequenceOf.length, n);
    for (const kind of DIRECTION_KINDS) {
      const s = layer.stats[kind];
      assert.equal(layer.values[kind].length, n);
      assert.ok(layer.values[kind].every((v) => Number.isFinite(v) && v >= 0));
      assert.equal(s.n, n);
      assert.ok(
        s.mean > 0 && Number.isFinite(s.std) && Math.abs(s.sem - s.std / Math.sqrt(n)) < 1e-12,
      );
    }
    assert.equal(layer.stats.isotropic.ratioToIsotropic, 1);
  }
});

Deno.test("measureDirectionalDerivatives: isotropic mean |g·u| ≈ mean ‖g‖·E|u₁|", () => {
  const d = CONFIG.n_embd, c = expectedAbsCoordinate(d);
  for (const layer of directional.layers) {
    const n = layer.gradNorms.length;
    const expected = mean(layer.gradNorms) * c;
    // Given g, |g·u| has variance ‖g‖²(E u₁² − c²) = ‖g‖²(1/d − c²).
    const variance = layer.gradNorms.reduce((s, g) => s + g * g * (1 / d - c * c), 0) / n ** 2;
    const z = (layer.stats.isotropic.mean - expected) / Math.sqrt(variance);
    assert.ok(Math.abs(z) < 4, `layer ${layer.layer}: z = ${z}`);
  }
});

Deno.test("measureDirectionalDerivatives is deterministic for a seed; windowSeed moves windows", async () => {
  const again = await measureDirectionalDerivatives(model, DATA, { sequences: 24, seed: 1 });
  assert.deepEqual(
    again.layers.map((l) => l.values),
    directional.layers.map((l) => l.values),
  );
  const other = await measureDirectionalDerivatives(model, DATA, {
    sequences: 24,
    seed: 2,
    layers: [1],
  });
  assert.notDeepEqual(other.layers[0].values, directional.layers[1].values);
  const moved = await measureDirectionalDerivatives(model, DATA, {
    sequences: 4,
    seed: 1,
    layers: [0],
    windowSeed: 3,
  });
  assert.deepEqual(moved.offsets, jitteredOffsets(DATA.length, 4, { seqLen: 16, seed: 3 }));
  assert.deepEqual(moved.layers.map((l) => l.layer), [0]);
});
