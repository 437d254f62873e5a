import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { initBackend, WASM_HEAP_MAX_BYTES } from "../lib/tensor/backend.ts";
import { loadGPT2, saveGPT2 } from "../lib/gpt2/checkpoint.ts";
import { GPT2 } from "../lib/gpt2/model.ts";
import {
  checkWeightsFit,
  type GPT2Config,
  KNOWN_GPT2_MODELS,
  layersPerGradientPass,
  perTokenLayersPerGradientPass,
  windowsPerPass,
} from "../lib/gpt2/config.ts";
import {
  readSafetensors,
  serializeSafetensors,
  type TensorToWrite,
} from "../lib/io/safetensors.ts";
import { VocabMap } from "../lib/data/tokenizer.ts";

await initBackend();
const CONFIG: GPT2Config = {
  vocab_size: 11,
  n_positions: 8,
  n_embd: 8,
  n_layer: 2,
  n_head: 2,
  layer_norm_epsilon: 1e-5,
  activation_function: "gelu_new",
};

async function savedModel(options: { dtype?: "F32" | "F16" | "BF16" } = {}) {
  const dir = await Deno.makeTempDir();
  const model = GPT2.random(CONFIG, 2, 0.5);
  await saveGPT2(model, dir, {
    dtype: options.dtype,
    vocabMap: new VocabMap([15496, 995, 11, 428, 318, 402, 11571, 12, 17, 13]),
  });
  return { dir, model };
}

/** Rewrite model.safetensors through `edit` (on name → tensor). */
async function rewriteWeights(dir: string, edit: (t: Record<string, TensorToWrite>) => void) {
  const file = await readSafetensors(`${dir}/model.safetensors`);
  const tensors: Record<string, TensorToWrite> = {};
  for (const [name, t] of file.tensors) tensors[name] = { shape: t.shape, data: t.data };
  edit(tensors);
  await Deno.writeFile(`${dir}/model.safetensors`, serializeSafetensors(tensors));
}

Deno.test("save and load round trip: F32 exact, F16 and BF16 within their precision", async () => {
  for (const [dtype, tol] of [["F32", 0], ["F16", 2e-3], ["BF16", 1e-2]] as const) {
    const { dir, model } = await savedModel({ dtype });
    const loaded = await loadGPT2(dir);
    for (const [name, v] of model.params) {
      const diff = tf.max(tf.abs(tf.sub(v, loaded.model.params.get(name)!))).dataSync()[0];
      assert.ok(diff <= tol, `${dtype} ${name}: ${diff}`);
    }
    assert.equal(loaded.vocabMap?.size, 11);
    assert.deepEqual(Array.from(loaded.tokenizer.encode("Hello world")), [0, 1]);
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("Hugging Face extras load: transformer. prefix, lm_head.weight, attn.bias buffers", async () => {
  const { dir, model } = await savedModel();
  await rewriteWeights(dir, (t) => {
    for (const name of Object.keys(t)) {
      t[`transformer.${name}`] = t[name];
      delete t[name];
    }
    t["lm_head.weight"] = t["transformer.wte.weight"];
    t["transformer.h.0.attn.bias"] = { shape: [1, 1, 8, 8], data: new Float32Array(64).fill(1) };
  });
  // Older transformers saves store the ignored masked_bias buffer as BOOL, which we cannot
  // decode: it must be skipped, not fail the load. Splice one in by hand.
  const bytes = await Deno.readFile(`${dir}/model.safetensors`);
  const headerLength = Number(new DataView(bytes.buffer).getBigUint64(0, true));
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + headerLength)));
  delete header.__metadata__;
  const dataLength = bytes.length - 8 - headerLength;
  header["transformer.h.1.attn.masked_bias"] = {
    dtype: "BOOL",
    shape: [2],
    data_offsets: [dataLength, dataLength + 2],
  };
  const json = new TextEncoder().encode(JSON.stringify(header));
  const edited = new Uint8Array(8 + json.length + dataLength + 2);
  new DataView(edited.buffer).setBigUint64(0, BigInt(json.length), true);
  edited.set(json, 8);
  edited.set(bytes.subarray(8 + headerLength), 8 + json.length);
  await Deno.writeFile(`${dir}/model.safetensors`, edited);
  const loaded = await loadGPT2(dir);
  const ids = tf.tensor2d([[1, 2, 3]], [1, 3], "int32");
  const diff = tf.max(tf.abs(tf.sub(model.forward(ids).logits, loaded.model.forward(ids).logits)))
    .dataSync()[0];
  assert.equal(diff, 0);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("malformed checkpoints give errors naming the file and the problem", async () => {
  const cases: [string, (dir: string) => Promise<void>, RegExp][] = [
    [
      "missing tensor",
      (d) => rewriteWeights(d, (t) => delete t["h.1.mlp.c_fc.bias"]),
      /model\.safetensors: missing tensor h\.1\.mlp\.c_fc\.bias/,
    ],
    [
      "wrong shape for the config",
      (d) =>
        rewriteWeights(
          d,
          (t) => (t["wpe.weight"] = { shape: [4, 16], data: new Float32Array(64) }),
        ),
      /model\.safetensors: tensor wpe\.weight has shape \[4,16\], but config\.json needs \[8,8\]/,
    ],
    [
      "unexpected tensor",
      (d) => rewriteWeights(d, (t) => (t["h.0.extra"] = { shape: [1], data: new Float32Array(1) })),
      /unexpected tensors.*h\.0\.extra/,
    ],
    [
      "config not JSON",
      (d) => Deno.writeTextFile(`${d}/config.json`, "{ nope"),
      /config\.json: not valid JSON/,
    ],
    [
      "config field invalid",
      (d) => Deno.writeTextFile(`${d}/config.json`, JSON.stringify({ ...CONFIG, n_head: 3 })),
      /config\.json: n_embd 8 is not divisible by n_head 3/,
    ],
    [
      "vocabulary map of the wrong size",
      (d) => new VocabMap([1, 2, 3]).save(`${d}/vocab_map.json`),
      /vocab_map\.json: maps 4 ids but config\.json says vocab_size 11/,
    ],
    [
      "missing weights file",
      (d) => Deno.remove(`${d}/model.safetensors`),
      /model\.safetensors: file not found/,
    ],
    [
      "wrong lm_head.weight shape",
      (d) =>
        rewriteWeights(
          d,
          (t) => (t["lm_head.weight"] = { shape: [11, 4], data: new Float32Array(44) }),
        ),
      /tensor lm_head\.weight has shape \[11,4\], but config\.json needs \[11,8\]/,
    ],
    [
      "a NaN weight",
      (d) => rewriteWeights(d, (t) => (t["h.1.ln_2.bias"].data as Float32Array)[3] = NaN),
      /model\.safetensors: tensor "h\.1\.ln_2\.bias" holds NaN at index 3: weights must be finite; get a good copy again/,
    ],
    [
      "an infinite weight",
      (d) => rewriteWeights(d, (t) => (t["wte.weight"].data as Float32Array)[5] = -Infinity),
      /tensor "wte\.weight" holds -Infinity at index 5 \(flat index into shape \[11,8\]\)/,
    ],
    ["a flipped bit under a checksum", async (d) => {
      const bytes = await Deno.readFile(`${d}/model.safetensors`);
      bytes[bytes.length - 3] ^= 0x10;
      await Deno.writeFile(`${d}/model.safetensors`, bytes);
    }, /model\.safetensors: checksum mismatch.*deno task fetch-model/],
    ["trailing bytes", async (d) => {
      const bytes = await Deno.readFile(`${d}/model.safetensors`);
      await Deno.writeFile(`${d}/model.safetensors`, new Uint8Array([...bytes, 0, 0, 0, 0]));
    }, /model\.safetensors: 4 trailing bytes after the last tensor/],
    [
      "negative layer_norm_epsilon",
      (d) =>
        Deno.writeTextFile(
          `${d}/config.json`,
          JSON.stringify({ ...CONFIG, layer_norm_epsilon: -1e-5 }),
        ),
      /config\.json: layer_norm_epsilon: too small: expected number to be >0, got -0\.00001$/,
    ],
    [
      "layer_norm_epsilon not a number",
      (d) =>
        Deno.writeTextFile(
          `${d}/config.json`,
          JSON.stringify({ ...CONFIG, layer_norm_epsilon: "abc" }),
        ),
      /config\.json: layer_norm_epsilon: expected number, got string$/,
    ],
    [
      "config.json edited to another valid config",
      (d) => Deno.writeTextFile(`${d}/config.json`, JSON.stringify({ ...CONFIG, n_head: 4 })),
      /config\.json: does not match the config .*model\.safetensors was saved with \(n_head 4 \(saved: 2\)\)/,
    ],
    [
      "absurd size",
      (d) => Deno.writeTextFile(`${d}/config.json`, JSON.stringify({ ...CONFIG, n_layer: 1e9 })),
      /config\.json: this config \(n_layer 1000000000.*needs about .* GiB for its float32 weights alone/,
    ],
    ["truncated weights file", async (d) => {
      const bytes = await Deno.readFile(`${d}/model.safetensors`);
      await Deno.writeFile(`${d}/model.safetensors`, bytes.slice(0, bytes.length - 10));
    }, /model\.safetensors/],
  ];
  for (const [what, breakIt, expected] of cases) {
    const { dir } = await savedModel();
    await breakIt(dir);
    await assert.rejects(() => loadGPT2(dir), expected, what);
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("windowsPerPass bounds one pass's logits to 2^26 floats, at least one window", () => {
  const gpt2 = { n_positions: 1024, vocab_size: 50257 } as GPT2Config;
  assert.equal(windowsPerPass(gpt2, 16), 1);
  const embedded = { n_positions: 128, vocab_size: 4096 } as GPT2Config;
  assert.equal(windowsPerPass(embedded, 16), 16);
  assert.equal(windowsPerPass(embedded, 1000), 128);
  assert.equal(windowsPerPass({ n_positions: 4096, vocab_size: 100_000 } as GPT2Config, 8), 1);
});

Deno.test("layersPerGradientPass bounds a backward pass's attention scores to 2^25 floats", () => {
  const shape = (n_layer: number, n_head: number, n_positions: number) =>
    ({ n_layer, n_head, n_positions }) as GPT2Config;
  assert.equal(layersPerGradientPass(shape(12, 12, 1024), 1), 2); // GPT-2 small
  assert.equal(layersPerGradientPass(shape(24, 16, 1024), 1), 2); // medium
  assert.equal(layersPerGradientPass(shape(36, 20, 1024), 1), 1); // large: at least one block
  assert.equal(layersPerGradientPass(shape(48, 25, 1024), 4), 1);
  // The embedded models keep every block in one pass.
  assert.equal(layersPerGradientPass(shape(6, 6, 128), 8), 6);
  assert.equal(layersPerGradientPass(shape(4, 4, 128), 8), 4);
});

Deno.test("perTokenLayersPerGradientPass halves GPT-2's segments and keeps one pass otherwise", () => {
  const shape = (n_layer: number, n_head: number, n_positions: number) =>
    ({ n_layer, n_head, n_positions }) as GPT2Config;
  assert.equal(perTokenLayersPerGradientPass(shape(12, 12, 1024), 1), 1); // GPT-2 small
  assert.equal(perTokenLayersPerGradientPass(shape(36, 20, 1024), 1), 1); // at least one block
  assert.equal(perTokenLayersPerGradientPass(shape(4, 4, 128), 8), 4); // embedded: one pass
});

Deno.test("checkWeightsFit: GPT-2 large fits tfjs-wasm's heap, xl is refused naming cpu+blas", () => {
  const shaped = (size: string) =>
    ({
      vocab_size: 50_257,
      n_positions: 1024,
      ...KNOWN_GPT2_MODELS[size],
      layer_norm_epsilon: 1e-5,
      activation_function: "gelu_new",
    }) as GPT2Config;
  const wasm = { limit: WASM_HEAP_MAX_BYTES };
  for (const size of ["gpt2", "gpt2-medium", "gpt2-large"]) {
    checkWeightsFit(shaped(size), `${size}/model.safetensors`, wasm);
  }
  assert.throws(
    () => checkWeightsFit(shaped("gpt2-xl"), "xl/model.safetensors", wasm),
    /^Error: xl\/model\.safetensors: 1558M parameters take 5\.80 GiB as float32.*--backend cpu\+blas/,
  );
  checkWeightsFit(shaped("gpt2-xl"), "xl/model.safetensors", { limit: null }); // cpu: no limit
});
