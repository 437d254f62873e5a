/**
 * `deno task make-gpt2-shaped`: writes GPT-2-shaped checkpoints with random weights (the shapes
 * of gpt2, gpt2-medium, gpt2-large, gpt2-xl: vocabulary 50,257, context 1,024) in the Hugging
 * Face layout (config.json + model.safetensors), so that the paper profile's shapes, memory and
 * speed can be tried without the real weights. With `--measure` it also times the forward pass
 * plus the hook gradient on [batch, 1,024] random ids, as `deno task bench` does.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { describeBackend, initBackend } from "../lib/tensor/backend.ts";
import { backendFlagHelp, takeBackendFlag } from "../lib/tensor/backend_flag.ts";
import { summarise, timeHookGradient } from "../lib/bench/bench.ts";
import { configJson, loadGPT2 } from "../lib/gpt2/checkpoint.ts";
import { type GPT2Config, KNOWN_GPT2_MODELS } from "../lib/gpt2/config.ts";
import { expectedShapes } from "../lib/gpt2/params.ts";
import { writeFileAtomic, writeJsonAtomic } from "../lib/io/atomic_write.ts";
import { Rng } from "../lib/tensor/random.ts";
import { serializeSafetensors, type TensorToWrite } from "../lib/io/safetensors.ts";
import { saeLayer } from "../lib/experiments/shared/profile.ts";

const SIZES = Object.keys(KNOWN_GPT2_MODELS);

const HELP = `Usage: deno task make-gpt2-shaped --out DIR [options] SIZE...

Writes DIR/<SIZE>-shaped/{config.json,model.safetensors} for each SIZE in
${SIZES.join(", ")}: GPT-2's shapes (vocabulary 50,257, context 1,024) with random
weights (normal, std 0.02; layer norms 1 and 0). Never commit them: small is 0.5 GB
in F32, xl 6.2 GB. Building one holds about twice its F32 size in memory.

Options:
  --out DIR        parent folder (required)
  --dtype T        F32 | F16 (default F32)
  --seed N         (default 0)
  --measure        then time the forward pass + hook gradient at the paper profile's
                   layer on [batch, 1024] random ids (prints tokens/s)
  --batch N        sequences per timed step with --measure (default 1)
  --steps N        timed steps with --measure, after 1 warmup step (default 2)
${backendFlagHelp(19)}
  --help           this text`;

/** The config of a GPT-2 size with GPT-2's vocabulary and context. */
export function gpt2ShapedConfig(size: string): GPT2Config {
  const shape = KNOWN_GPT2_MODELS[size];
  if (!shape) throw new Error(`unknown size "${size}"; known: ${SIZES.join(", ")}`);
  return {
    vocab_size: 50_257,
    n_positions: 1024,
    ...shape,
    layer_norm_epsilon: 1e-5,
    activation_function: "gelu_new",
  };
}

/** Random weights for `config`, as tensors to serialize (one array per parameter). */
export function randomGPT2Tensors(config: GPT2Config, seed: number): Record<string, TensorToWrite> {
  const rng = new Rng(seed);
  const tensors: Record<string, TensorToWrite> = {};
  for (const [name, shape] of expectedShapes(config)) {
    const size = shape.reduce((a, b) => a * b, 1);
    const data = name.includes(".ln_") || name.startsWith("ln_f")
      ? new Float32Array(size).fill(name.endsWith(".weight") ? 1 : 0)
      : name.endsWith(".bias")
      ? new Float32Array(size)
      : rng.normalArray(size, 0.02);
    tensors[name] = { shape, data };
  }
  return tensors;
}

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({
    args: takeBackendFlag(Deno.args),
    options: {
      out: { type: "string" },
      dtype: { type: "string", default: "F32" },
      seed: { type: "string", default: "0" },
      measure: { type: "boolean", default: false },
      batch: { type: "string", default: "1" },
      steps: { type: "string", default: "2" },
      help: { type: "boolean", default: false },
    },
    allowPositionals: true,
    strict: true,
  });
  if (values.help) return console.log(HELP);
  if (!values.out) throw new Error("--out DIR is required (see --help)");
  if (positionals.length === 0) throw new Error(`name at least one size: ${SIZES.join(", ")}`);
  const dtype = values.dtype;
  if (dtype !== "F32" && dtype !== "F16") throw new Error(`--dtype wants F32 or F16, not ${dtype}`);
  const int = (v: string, what: string) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 0) throw new Error(`${what} wants a whole number, not "${v}"`);
    return n;
  };
  const seed = int(values.seed!, "--seed"), batch = int(values.batch!, "--batch");
  const steps = int(values.steps!, "--steps");
  const configs = positionals.map(gpt2ShapedConfig); // every size checked before any work
  for (const [i, size] of positionals.entries()) {
    const dir = `${values.out}/${size}-shaped`;
    const started = performance.now();
    const bytes = serializeSafetensors(randomGPT2Tensors(configs[i], seed), {
      dtype,
      metadata: { format: "pt", gsae: `random weights in ${size}'s shapes, seed ${seed}` },
    });
    await Deno.mkdir(dir, { recursive: true });
    await writeFileAtomic(`${dir}/model.safetensors`, bytes);
    await writeJsonAtomic(`${dir}/config.json`, configJson(configs[i]));
    const seconds = (performance.now() - started) / 1000;
    console.log(
      `${dir}: ${(bytes.length / 2 ** 30).toFixed(2)} GiB ${dtype}, ${seconds.toFixed(0)} s`,
    );
    if (values.measure) await measure(dir, { batch, steps });
  }
}

async function measure(dir: string, options: { batch: number; steps: number }): Promise<void> {
  console.log(describeBackend(await initBackend()));
  const { model } = await loadGPT2(dir);
  const hook = `blocks.${saeLayer(model.config.n_layer, 0.67)}.hook_resid_post`;
  const seq = model.config.n_positions;
  const r = await timeHookGradient(model, hook, { ...options, seq, warmup: 1, seed: 1 });
  const t = summarise(r.times, options.batch * seq);
  console.log(
    `${dir}: forward + gradient at ${hook}, [${options.batch}, ${seq}]: ` +
      `${t.median_s.toFixed(2)} s/step, ${t.tokens_per_s.toFixed(1)} tokens/s ` +
      `(median of ${r.times.length}); RSS now ${(Deno.memoryUsage().rss / 2 ** 30).toFixed(2)} GiB`,
  );
  model.dispose();
}

if (import.meta.main) {
  try {
    await main();
  } catch (err) {
    console.error(`make-gpt2-shaped: ${(err as Error).message}`);
    Deno.exit(1);
  }
}
