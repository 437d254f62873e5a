/**
 * Read and write GPT-2 checkpoints in the Hugging Face layout: a folder with `config.json` and
 * `model.safetensors` (plus, for the embedded models, `vocab_map.json`).
 *
 * Accepted as Hugging Face writes them: names with or without the `transformer.` prefix, Conv1D
 * weights as [in, out], an `lm_head.weight` tied to `wte.weight`, and the causal-mask buffers
 * `h.N.attn.bias` / `h.N.attn.masked_bias`, which are ignored whatever their dtype. F32, F16 and
 * BF16 all load, tensor by tensor (peak memory: the model plus one tensor), with every tensor the
 * model uses, `lm_head.weight` included, shape-checked before any weights are read, and every
 * weight required to be finite. The checksum the project's own saves carry is verified.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { writeFileAtomic, writeJsonAtomic } from "../io/atomic_write.ts";
import { SafetensorsError, serializeSafetensors } from "../io/safetensors.ts";
import { SafetensorsReader } from "../io/safetensors_stream.ts";
import type { TensorEntry, TensorToWrite } from "../io/safetensors.ts";
import { makeTokenizer, VocabMap } from "../data/tokenizer.ts";
import type { Tokenizer } from "../data/tokenizer.ts";
import { variableFrom } from "../tensor/variables.ts";
import { hostMemoryLimit } from "../tensor/backend.ts";
import { checkWeightsFit, type GPT2Config, parseGPT2Config } from "./config.ts";
import { JsonFileError, readJsonFile, z } from "../io/json_file.ts";
import { GPT2 } from "./model.ts";
import { expectedShapes } from "./params.ts";

/** A loaded checkpoint: the model, its tokenizer and where it came from. */
export interface LoadedGPT2 {
  /** The model. */
  model: GPT2;
  /** Text ↔ model ids (plain GPT-2 BPE, or through the checkpoint's vocabulary map). */
  tokenizer: Tokenizer;
  /** The reduced vocabulary, for checkpoints that have one. */
  vocabMap?: VocabMap;
  /** The folder it was read from. */
  dir: string;
  /** The safetensors `__metadata__`. */
  metadata: Record<string, string>;
}

const IGNORED = /^h\.\d+\.attn\.(bias|masked_bias)$/;

/** Load the checkpoint in folder `dir`. Errors name the file and the problem. */
export async function loadGPT2(dir: string): Promise<LoadedGPT2> {
  const configPath = `${dir}/config.json`;
  const weightsPath = `${dir}/model.safetensors`;
  let raw: unknown;
  try {
    raw = await readJsonFile(configPath, z.unknown());
  } catch (err) {
    if (err instanceof JsonFileError) throw err;
    throw new Error(`${configPath}: cannot read the model config (${(err as Error).message})`);
  }
  const config = parseGPT2Config(raw, configPath);
  let vocabMap: VocabMap | undefined;
  try {
    await Deno.stat(`${dir}/vocab_map.json`);
    vocabMap = await VocabMap.load(`${dir}/vocab_map.json`);
  } catch (err) {
    if (!(err instanceof Deno.errors.NotFound)) throw err;
  }
  if (vocabMap && vocabMap.size !== config.vocab_size) {
    throw new Error(
      `${dir}/vocab_map.json: maps ${vocabMap.size} ids but config.json says vocab_size ${config.vocab_size}`,
    );
  }
  const remedy = "get a good copy again " +
    "(deno task fetch-model <name> for a hub model, deno task train-lm <preset> for an " +
    "embedded one; for embedded models git checkout outputs/models restores the committed file)";
  const file = await SafetensorsReader.open(weightsPath, { remedy }).catch((err) => {
    if (err instanceof Deno.errors.NotFound) throw new Error(`${weightsPath}: file not found`);
    throw err;
  });
  const params = new Map<string, tf.Variable>();
  try {
    const stored = new Map<string, string>(); // model name -> name in the file
    for (const [fullName, entry] of file.entries) {
      const name = fullName.startsWith("transformer.")
        ? fullName.slice("transformer.".length)
        : fullName;
      if (IGNORED.test(name)) continue;
      if (name === "lm_head.weight") {
        // Tied to wte.weight (Hugging Face's GPT2LMHeadModel): unused, but a wrong shape means
        // the file does not belong to this config.
        checkEntryShape(entry, [config.vocab_size, config.n_embd], weightsPath);
        continue;
      }
      if (stored.has(name)) {
        throw new SafetensorsError(weightsPath, `tensor ${name} appears twice (${fullName})`);
      }
      stored.set(name, fullName);
    }
    const expected = new Map(expectedShapes(config));
    for (const [name, shape] of expected) {
      const fullName = stored.get(name);
      if (fullName === undefined) {
        throw new SafetensorsError(weightsPath, `missing tensor ${name} (needed by config.json)`);
      }
      checkEntryShape(file.entries.get(fullName)!, shape, weightsPath);
    }
    const unexpected = [...stored.keys()].filter((n) => !expected.has(n));
    if (unexpected.length > 0) {
      throw new SafetensorsError(
        weightsPath,
        `unexpected tensors for a GPT-2 checkpoint: ${unexpected.slice(0, 5).join(", ")}`,
      );
    }
    checkWeightsFit(config, weightsPath, { limit: hostMemoryLimit() });
    await file.verifyChecksum();
    checkSavedConfig(file.metadata, config, { configPath, weightsPath });
    // One tensor at a time: its decoded copy is dropped once the variable holds it.
    for (const [name, shape] of expected) {
      const t = await file.read(stored.get(name)!);
      if (!(t.data instanceof Float32Array)) {
        throw new SafetensorsError(weightsPath, `tensor ${name} has integer dtype ${t.dtype}`);
      }
      params.set(name, variableFrom(t.data, shape, { trainable: false }));
    }
  } catch (err) {
    for (const v of params.values()) v.dispose();
    throw err;
  } finally {
    file.close();
  }
  return {
    model: new GPT2(config, params),
    tokenizer: makeTokenizer(vocabMap),
    vocabMap,
    dir,
    metadata: file.metadata,
  };
}

/** `__metadata__` key under which {@link saveGPT2} records the config the weights belong to. */
export const CONFIG_KEY = "gsae_config";

/** The config as recorded in {@link CONFIG_KEY}: its fields in a fixed order. */
export function configRecord(config: GPT2Config): string {
  const fields: (keyof GPT2Config)[] = [
    "activation_function",
    "layer_norm_epsilon",
    "n_embd",
    "n_head",
    "n_layer",
    "n_positions",
    "vocab_size",
  ];
  return JSON.stringify(Object.fromEntries(fields.map((k) => [k, config[k]])));
}

/**
 * A file saved here records its config (under the checksum), so an edited config.json (a changed
 * n_head or epsilon loads weights of the right shapes into a different model) is an error.
 */
function checkSavedConfig(
  metadata: Record<string, string>,
  config: GPT2Config,
  paths: { configPath: string; weightsPath: string },
): void {
  const saved = metadata[CONFIG_KEY];
  if (saved === undefined || saved === configRecord(config)) return;
  let fields: Record<string, unknown> = {};
  try {
    fields = JSON.parse(saved);
  } catch { /* reported below without a field */ }
  const differ = Object.entries(config).filter(([k, v]) => fields[k] !== v).map(([k, v]) =>
    `${k} ${JSON.stringify(v)} (saved: ${JSON.stringify(fields[k])})`
  );
  throw new Error(
    `${paths.configPath}: does not match the config ${paths.weightsPath} was saved with ` +
      `(${differ.join(", ") || saved}); restore the original config.json ` +
      `(for embedded models: git checkout outputs/models)`,
  );
}

/** Throws unless a header entry has `shape` and a float dtype the loader decodes. */
function checkEntryShape(entry: TensorEntry, shape: number[], source: string): void {
  if (!tf.util.arraysEqual(entry.shape, shape)) {
    throw new SafetensorsError(
      source,
      `tensor ${entry.name} has shape [${entry.shape}], but config.json needs [${shape}]`,
    );
  }
  if (!["F32", "F16", "BF16"].includes(entry.dtype)) {
    throw new SafetensorsError(
      source,
      `tensor ${entry.name} has dtype ${entry.dtype}; weights must be F32, F16 or BF16`,
    );
  }
}

/**
 * Write `model` to folder `dir` in the Hugging Face layout (names without prefix, like
 * `gpt2`'s own file). Each file is written atomically; `dtype` F16 halves the size.
 */
export async function saveGPT2(
  model: GPT2,
  dir: string,
  options: {
    dtype?: "F32" | "F16" | "BF16";
    vocabMap?: VocabMap;
    metadata?: Record<string, string>;
  } = {},
): Promise<void> {
  const tensors: Record<string, TensorToWrite> = {};
  for (const [name, shape] of expectedShapes(model.config)) {
    tensors[name] = { shape, data: await model.p(name).data() as Float32Array };
  }
  const bytes = serializeSafetensors(tensors, {
    dtype: options.dtype ?? "F32",
    metadata: { format: "pt", ...options.metadata, [CONFIG_KEY]: configRecord(model.config) },
  });
  await writeFileAtomic(`${dir}/model.safetensors`, bytes);
  if (options.vocabMap) await options.vocabMap.save(`${dir}/vocab_map.json`);
  await writeJsonAtomic(`${dir}/config.json`, configJson(model.config));
}

/** The `config.json` Hugging Face's GPT2LMHeadModel expects for `config`. */
export function configJson(config: GPT2Config): Record<string, unknown> {
  return {
    architectures: ["GPT2LMHeadModel"],
    model_type: "gpt2",
    ...config,
    n_ctx: config.n_positions,
  };
}
