/**
 * `deno task make-gpt2-shaped`: writes GPT-2-shaped checkpoints with random weights (the shapes
 * of gpt2, gpt2-medium, gpt2-large, gpt2-xl: vocabulary 50,257, context 1,024) in the Hugging
 * Face layout (config.json + model.safetensors), so that the paper profile's shapes, memory and
 * speed can be tried without the real weights. With `--measure` it also times the forward pass
 * plus the hook gradient on [batch, 1,024] random ids, as `deno task bench` does.
 *
 * @module
 */
import { describeBackend, initBackend } from "../lib/tensor/backend.ts";
import { backendOption } from "../lib/tensor/backend_flag.ts";
import { choiceArg, gsaeCommand, intArg, parseCommandLine } from "../lib/io/cli.ts";
import { summarise, timeHookGradient } from "../lib/bench/bench.ts";
import { configJson, loadGPT2 } from "../lib/gpt2/checkpoint.ts";
import { type GPT2Config, KNOWN_GPT2_MODELS } from "../lib/gpt2/config.ts";
import { expectedShapes } from "../lib/gpt2/params.ts";
import { writeFileAtomic, writeJsonAtomic } from "../lib/io/atomic_write.ts";
import { Rng } from "../lib/tensor/random.ts";
import { serializeSafetensors, type TensorToWrite } from "../lib/io/safetensors.ts";
import { saeLayer } from "../lib/experiments/shared/profile.ts";

const SIZES = Object.keys(KNOWN_GPT2_MODELS);

function command() {
  return gsaeCommand("make-gpt2-shaped", {
    usage: "--out DIR [options] SIZE...",
    description: `Writes DIR/<SIZE>-shaped/{config.json,model.safetensors} for each SIZE in
${SIZES.join(", ")}: GPT-2's shapes (vocabulary 50,257, context 1,024)
with random weights (normal, std 0.02; layer norms 1 and 0). Never commit them: small is 0.5 GB
in F32, xl 6.2 GB. Building one holds about twice its F32 size in memory. xl's weights do not
fit tfjs-wasm's 4 GiB heap: measure it with --backend cpu+blas.`,
  })
    .argument("<SIZE...>", `one or more of ${SIZES.join(", ")}`)
    .requiredOption("--out <DIR>", "parent folder (required)")
    .option("--dtype <T>", "F32 | F16", choiceArg("dtype", ["F32", "F16"] as const), "F32")
    .option("--seed <N>", "seed of the weights", intArg("seed", { min: 0 }), 0)
    .option(
      "--measure",
      "then time the forward pass + hook gradient at the paper profile's layer on " +
        "[batch, 1024] random ids (prints tokens/s)",
    )
    .option(
      "--batch <N>",
      "sequences per timed step with --measure",
      intArg("batch", { min: 1 }),
      1,
    )
    .option(
      "--steps <N>",
      "timed steps with --measure, after 1 warmup step",
      intArg("steps", { min: 1 }),
      2,
    )
    .addOption(backendOption());
}

/** The command line (see `--help`). */
interface ShapedOptions {
  out: string;
  dtype: "F32" | "F16";
  seed: number;
  measure?: boolean;
  batch: number;
  steps: number;
}

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

async function main(): Promise<number> {
  const parsed = parseCommandLine<ShapedOptions>(command(), Deno.args, { badArgumentExit: 1 });
  if (parsed.exit !== undefined) return parsed.exit;
  const { options: values, args: positionals } = parsed;
  const { dtype, seed, batch, steps } = values;
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
  return 0;
}

async function measure(dir: string, options: { batch: number; steps: number }): Promise<void> {
  console.log(describeBackend(await initBackend()));
  const { model } = await loadGPT2(dir);
  const hook = `blocks.${saeLayer(model.config.n_layer, 0.67)}.hook_resid_post`;
  const seq = model.config.n_positions;
  const r = await timeHookGradient(model, hook, {
    ...options,
    seq,
    warmup: 1,
    seed: 1,
    // GPT-2 xl on cpu+blas takes minutes a step: say so as each ends.
    onStep: ({ index, total, seconds, warmup }) =>
      console.log(
        `${dir}: step ${index}/${total}${warmup ? " (warmup)" : ""}: ${seconds.toFixed(1)} s, ` +
          `${(options.batch * seq / seconds).toFixed(1)} tokens/s`,
      ),
  });
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
    Deno.exit(await main());
  } catch (err) {
    console.error(`make-gpt2-shaped: ${(err as Error).message}`);
    Deno.exit(1);
  }
}
