/**
 * Fuzz test of the checkpoint loader: seeded random mutations of a valid small checkpoint
 * (`model.safetensors` and `config.json`): bit flips, truncations, appended bytes, header JSON
 * edits and config.json edits. Each must either load to exactly the original weights and config
 * or fail with an Error whose message names the file; nothing may crash or hang.
 *
 * Two originals are mutated: one as this project saves it (checksum and config record in the
 * header, so any change to the data or the config is detectable) and one as Hugging Face writes
 * it (no checksum, `transformer.` names, a BOOL masked_bias buffer). For the latter only
 * mutations a loader can detect without a checksum are made: the header, the length, config
 * values no valid config has (a changed weight or epsilon would be another valid checkpoint).
 */
import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { initBackend } from "../lib/tensor/backend.ts";
import { loadGPT2, saveGPT2 } from "../lib/gpt2/checkpoint.ts";
import type { GPT2Config } from "../lib/gpt2/config.ts";
import { GPT2 } from "../lib/gpt2/model.ts";
import { Rng } from "../lib/tensor/random.ts";

await initBackend();

const CONFIG: GPT2Config = {
  vocab_size: 13,
  n_positions: 8,
  n_embd: 8,
  n_layer: 2,
  n_head: 2,
  layer_norm_epsilon: 1e-5,
  activation_function: "gelu_new",
};
const MUTATIONS_PER_ORIGINAL = 600;

interface Original {
  label: string;
  weights: Uint8Array;
  config: string;
  sealed: boolean;
}

function headerOf(bytes: Uint8Array): { json: Record<string, unknown>; dataStart: number } {
  const length = Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true));
  const text = new TextDecoder().decode(bytes.subarray(8, 8 + length));
  return { json: JSON.parse(text), dataStart: 8 + length };
}

function assemble(header: string, data: Uint8Array, lengthDelta = 0): Uint8Array {
  const json = new TextEncoder().encode(header);
  const out = new Uint8Array(8 + json.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(Math.max(0, json.length + lengthDelta)), true);
  out.set(json, 8);
  out.set(data, 8 + json.length);
  return out;
}

/** The Hugging Face flavour of `weights`: prefixed names, a BOOL buffer, no checksum. */
function huggingFaceFlavour(weights: Uint8Array): Uint8Array {
  const { json, dataStart } = headerOf(weights);
  const data = weights.subarray(dataStart);
  const header: Record<string, unknown> = { __metadata__: { format: "pt" } };
  for (const [name, entry] of Object.entries(json)) {
    if (name !== "__metadata__") header[`transformer.${name}`] = entry;
  }
  header["transformer.h.0.attn.masked_bias"] = {
    dtype: "BOOL",
    shape: [1],
    data_offsets: [data.length, data.length + 1],
  };
  return assemble(JSON.stringify(header), new Uint8Array([...data, 1]));
}

const pick = <T>(rng: Rng, items: readonly T[]): T => items[rng.int(items.length)];

/** A value no valid config has for `key` (so a loader must refuse it even without a record). */
function invalidValue(rng: Rng, key: string): unknown {
  const common = [0, -1, "8", null, true, [], {}, "abc", -1e-5, 2.5e-300 * -1];
  if (key === "layer_norm_epsilon") return pick(rng, common);
  if (key === "activation_function") return pick(rng, ["relu", 3, null, "", "gelu"]);
  return pick(rng, [...common, 1.5, 1e9, 1e15, 3]);
}

/** Any edit of one header entry or of the metadata. */
function editHeader(rng: Rng, json: Record<string, unknown>): string {
  const names = Object.keys(json).filter((n) => n !== "__metadata__");
  const name = pick(rng, names);
  const entry = { ...(json[name] as Record<string, unknown>) };
  const shape = [...(entry.shape as number[])];
  const offsets = [...(entry.data_offsets as number[])];
  switch (rng.int(9)) {
    case 0:
      entry.dtype = pick(rng, ["F32", "F16", "BF16", "I32", "I64", "BOOL", "U8", "F64", "XX", 7]);
      break;
    case 1:
      if (shape.length) shape[rng.int(shape.length)] += pick(rng, [-1, 1, 7]);
      entry.shape = pick(rng, [shape, [...shape, 1], shape.slice(1), [-1], "8", [2.5]]);
      break;
    case 2:
      offsets[rng.int(2)] += pick(rng, [-4, -2, -1, 1, 2, 4, 1000]);
      entry.data_offsets = pick(rng, [offsets, [offsets[1], offsets[0]], [offsets[0]], "0"]);
      break;
    case 3:
      delete json[name];
      return JSON.stringify(json);
    case 4:
      json[pick(rng, ["h.9.mlp.c_fc.bias", `${name}.copy`, "lm_head.weight"])] = entry;
      return JSON.stringify(json);
    case 5: {
      const meta = { ...(json.__metadata__ as Record<string, unknown> ?? {}) };
      const key = pick(rng, [...Object.keys(meta), "gsae_sha256", "gsae_config", "format"]);
      meta[key] = pick(rng, [undefined, 3, "x", "{}", '{"n_head":4}', "0".repeat(64)]);
      json.__metadata__ = meta;
      return JSON.stringify(json);
    }
    case 6: // Whitespace and key order: the same file in meaning.
      return JSON.stringify(Object.fromEntries(Object.entries(json).reverse()), null, 1);
    case 7:
      return JSON.stringify(json).slice(0, rng.int(JSON.stringify(json).length));
    default:
      return JSON.stringify([json]);
  }
  json[name] = entry;
  return JSON.stringify(json);
}

/** One seeded mutation of `original`: the two files' new contents. */
function mutate(rng: Rng, original: Original): { weights: Uint8Array; config: string } {
  let weights: Uint8Array = original.weights.slice();
  let config = original.config;
  const { json, dataStart } = headerOf(weights);
  const flipRegion = original.sealed ? weights.length : dataStart;
  switch (rng.int(7)) {
    case 0: { // bit flips (anywhere when sealed, else in the prefix and header)
      for (let n = 1 + rng.int(3); n > 0; n--) {
        weights[rng.int(flipRegion)] ^= 1 << rng.int(8);
      }
      break;
    }
    case 1:
      weights = weights.slice(0, rng.int(weights.length));
      break;
    case 2:
      weights = new Uint8Array([
        ...weights,
        ...Array.from({ length: 1 + rng.int(16) }, () => rng.int(256)),
      ]);
      break;
    case 3: {
      const lengthDelta = rng.int(4) === 0 ? pick(rng, [-8, -1, 1, 8, 1 << 20]) : 0;
      weights = assemble(editHeader(rng, json), weights.subarray(dataStart), lengthDelta);
      break;
    }
    case 4: { // config.json: a value no config may have, a deleted key, or text damage
      const parsed = JSON.parse(config);
      const key = pick(rng, Object.keys(parsed));
      if (rng.int(3) === 0) delete parsed[key];
      else parsed[key] = invalidValue(rng, key);
      config = JSON.stringify(parsed);
      break;
    }
    case 5: {
      config = rng.int(2) === 0
        ? config.slice(0, rng.int(config.length))
        : original.sealed
        ? flipChar(rng, config)
        : config.replace(/"n_head": \d+/, '"n_head": "two"');
      break;
    }
    default: { // config.json: another valid-looking size, caught by shapes or the record
      const parsed = JSON.parse(config);
      parsed[pick(rng, ["n_embd", "n_layer", "vocab_size", "n_positions"])] *= 2;
      if (original.sealed) parsed[pick(rng, ["n_head", "layer_norm_epsilon"])] *= 2;
      config = JSON.stringify(parsed, null, rng.int(3));
    }
  }
  return { weights, config };
}

function flipChar(rng: Rng, text: string): string {
  const i = rng.int(text.length);
  return text.slice(0, i) + String.fromCharCode(text.charCodeAt(i) ^ (1 << rng.int(7))) +
    text.slice(i + 1);
}

Deno.test("fuzz: 1,200 mutated checkpoints load identically or fail with an error naming the file", async () => {
  const dir = await Deno.makeTempDir({ prefix: "gsae_fuzz_" });
  try {
    const model = GPT2.random(CONFIG, 3, 0.5);
    await saveGPT2(model, dir);
    const reference = new Map([...model.params].map(([n, v]) => [n, v.dataSync().slice()]));
    model.dispose();
    const weights = await Deno.readFile(`${dir}/model.safetensors`);
    const config = await Deno.readTextFile(`${dir}/config.json`);
    const originals: Original[] = [
      { label: "ours", weights, config, sealed: true },
      { label: "hf", weights: huggingFaceFlavour(weights), config, sealed: false },
    ];
    const tally = { loaded: 0, refused: 0 };
    const messages = new Map<string, number>();
    for (const original of originals) {
      const rng = new Rng(original.sealed ? 14 : 15);
      for (let i = 0; i < MUTATIONS_PER_ORIGINAL; i++) {
        const m = mutate(rng, original);
        await Deno.writeFile(`${dir}/model.safetensors`, m.weights);
        await Deno.writeTextFile(`${dir}/config.json`, m.config);
        const what = `${original.label} mutation ${i}`;
        const t0 = performance.now();
        try {
          const loaded = await loadGPT2(dir);
          try {
            assert.deepEqual(loaded.model.config, CONFIG, `${what}: loaded another config`);
            for (const [name, data] of reference) {
              const got = loaded.model.params.get(name)!.dataSync();
              assert.deepEqual(got, data, `${what}: ${name} loaded different numbers`);
            }
          } finally {
            loaded.model.dispose();
          }
          tally.loaded++;
        } catch (error) {
          if (error instanceof assert.AssertionError) throw error;
          assert.ok(error instanceof Error, `${what}: threw a non-Error ${error}`);
          assert.ok(
            error.message.includes(`${dir}/`),
            `${what}: the error does not name the file: ${error.name}: ${error.message}`,
          );
          tally.refused++;
          const kind = error.message.slice(dir.length + 1).replace(/\d+(\.\d+)?(e[+-]?\d+)?/g, "N")
            .slice(0, 60);
          messages.set(kind, (messages.get(kind) ?? 0) + 1);
        }
        assert.ok(performance.now() - t0 < 5000, `${what}: took over 5 s`);
      }
    }
    assert.equal(tf.memory().numTensors, 0, "no tensor leaked from a failed load");
    console.log(
      `fuzz: ${2 * MUTATIONS_PER_ORIGINAL} mutations: ${tally.loaded} loaded identically, ` +
        `${tally.refused} refused with a clear error (${messages.size} distinct messages)`,
    );
    if (Deno.env.get("FUZZ_VERBOSE")) console.log([...messages].sort((a, b) => b[1] - a[1]));
    assert.ok(tally.refused > MUTATIONS_PER_ORIGINAL, "most mutations must be refused");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
