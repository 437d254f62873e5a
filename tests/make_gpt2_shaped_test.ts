import assert from "node:assert/strict";
import { parameterCount } from "../lib/gpt2/config.ts";
import { gpt2ShapedConfig, randomGPT2Tensors } from "../pipelines/make_gpt2_shaped.ts";

Deno.test("gpt2ShapedConfig: GPT-2's sizes with vocabulary 50,257 and context 1,024", () => {
  const small = gpt2ShapedConfig("gpt2");
  assert.equal(small.vocab_size, 50_257);
  assert.equal(small.n_positions, 1024);
  // GPT-2 small's published parameter count (tied unembedding): 124,439,808.
  assert.equal(parameterCount(small), 124_439_808);
  assert.deepEqual(
    ["gpt2-medium", "gpt2-large", "gpt2-xl"].map((s) => gpt2ShapedConfig(s).n_layer),
    [24, 36, 48],
  );
  assert.throws(() => gpt2ShapedConfig("gpt3"), /unknown size "gpt3"/);
});

Deno.test("randomGPT2Tensors: every HF tensor, layer norms 1 and 0, weights with std 0.02", () => {
  const config = { ...gpt2ShapedConfig("gpt2"), n_layer: 1, vocab_size: 300, n_positions: 64 };
  const tensors = randomGPT2Tensors(config, 0);
  assert.equal(Object.keys(tensors).length, 2 + 12 + 2);
  assert.ok(tensors["h.0.ln_1.weight"].data.every((v) => v === 1));
  assert.ok(tensors["ln_f.bias"].data.every((v) => v === 0));
  assert.ok(tensors["h.0.attn.c_attn.bias"].data.every((v) => v === 0));
  const w = tensors["h.0.mlp.c_fc.weight"];
  assert.deepEqual(w.shape, [768, 3072]);
  const data = w.data as Float32Array;
  const std = Math.sqrt(data.reduce((a, v) => a + v * v, 0) / data.length);
  assert.ok(Math.abs(std - 0.02) < 1e-3, `std ${std}`);
});
