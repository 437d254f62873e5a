/**
 * Peak memory of loading a large checkpoint: writes a GPT-2-shaped random F16 checkpoint (default
 * gpt2-medium's shape, about 0.7 GB) tensor by tensor into a temporary folder, loads it with
 * `loadGPT2` in a child process and prints the child's peak resident memory (from
 * /proc/self/status VmHWM), then deletes the folder. Not part of CI.
 *
 *   deno task loader-memory [--model gpt2-medium] [--checksum] [--whole]
 *
 * `--whole` loads the way the loader did before it streamed (whole file, then every tensor).
 *
 * @module
 */
import { initBackend } from "../lib/tensor/backend.ts";
import { loadGPT2 } from "../lib/gpt2/checkpoint.ts";
import { type GPT2Config, KNOWN_GPT2_MODELS, parameterCount } from "../lib/gpt2/config.ts";
import { expectedShapes } from "../lib/gpt2/params.ts";
import { configJson } from "../lib/gpt2/checkpoint.ts";
import {
  CHECKSUM_KEY,
  checksumHasher,
  readSafetensors,
  type TensorEntry,
} from "../lib/io/safetensors.ts";
import { variableFrom } from "../lib/tensor/variables.ts";
import { Rng } from "../lib/tensor/random.ts";
import { f32ToF16 } from "../lib/io/float16.ts";
import { choiceArg, gsaeCommand, Option, parseCommandLine } from "../lib/io/cli.ts";
import { parseJson, z } from "../lib/io/json_file.ts";

const SIZES = Object.keys(KNOWN_GPT2_MODELS);

function command() {
  return gsaeCommand("loader-memory", {
    description:
      "Peak memory of loading a large checkpoint: writes a GPT-2-shaped random F16 checkpoint\n" +
      "tensor by tensor into a temporary folder, loads it with loadGPT2 in a child process and prints\n" +
      "one JSON line with the child's peak resident memory (VmHWM), then deletes the folder.",
  })
    .option("--model <SIZE>", SIZES.join(" | "), choiceArg("model", SIZES), "gpt2-medium")
    .option("--checksum", "write the checkpoint with a checksum (verified while loading)")
    .option("--whole", "load the way the loader did before it streamed (whole file, then tensors)")
    // What the child process runs: load the checkpoint in DIR and print its own peak memory.
    .addOption(new Option("--load <DIR>").hideHelp());
}

/** The command line (see `--help`). */
interface LoaderMemoryOptions {
  model: string;
  checksum?: boolean;
  whole?: boolean;
  load?: string;
}

/** The child's one JSON line. */
const childResultSchema = z.object({
  params: z.number().int(),
  seconds: z.number(),
  peak_rss_mib: z.number(),
});

/** Writes a random F16 checkpoint for `config` into `dir` without holding it in memory. */
async function writeRandomCheckpoint(config: GPT2Config, dir: string, checksum: boolean) {
  const entries: TensorEntry[] = [];
  let offset = 0;
  for (const [name, shape] of expectedShapes(config)) {
    const bytes = 2 * shape.reduce((a, b) => a * b, 1);
    entries.push({ name, dtype: "F16", shape, begin: offset, end: offset + bytes });
    offset += bytes;
  }
  const headerFor = (sum?: string) => {
    const header: Record<string, unknown> = {
      __metadata__: { format: "pt", ...(sum ? { [CHECKSUM_KEY]: sum } : {}) },
    };
    for (const e of entries) {
      header[e.name] = { dtype: e.dtype, shape: e.shape, data_offsets: [e.begin, e.end] };
    }
    const json = new TextEncoder().encode(JSON.stringify(header));
    const out = new Uint8Array(8 + Math.ceil(json.length / 8) * 8).fill(0x20);
    new DataView(out.buffer).setBigUint64(0, BigInt(out.length - 8), true);
    out.set(json, 8);
    return out;
  };
  const file = await Deno.open(`${dir}/model.safetensors`, { write: true, create: true });
  const placeholder = headerFor(checksum ? "0".repeat(64) : undefined);
  await file.write(placeholder);
  const hash = checksumHasher({ entries, metadata: { format: "pt" } });
  const rng = new Rng(0);
  const table = new Uint16Array(4096).map(() => f32ToF16(0.02 * rng.normal()));
  for (const e of entries) {
    const halves = new Uint16Array((e.end - e.begin) / 2);
    for (let i = 0; i < halves.length; i++) halves[i] = table[(i * 2654435761) >>> 20 & 4095];
    const bytes = new Uint8Array(halves.buffer);
    hash.update(bytes);
    for (let at = 0; at < bytes.length;) at += await file.write(bytes.subarray(at));
  }
  if (checksum) {
    await file.seek(0, Deno.SeekMode.Start);
    await file.write(headerFor(hash.digest("hex")));
  }
  file.close();
  await Deno.writeTextFile(`${dir}/config.json`, JSON.stringify(configJson(config)));
}

if (import.meta.main) {
  const parsed = parseCommandLine<LoaderMemoryOptions>(command(), Deno.args, {
    badArgumentExit: 1,
  });
  if (parsed.exit !== undefined) Deno.exit(parsed.exit);
  const values = parsed.options;
  if (values.load) {
    await initBackend();
    const t0 = performance.now();
    let count: number;
    if (values.whole) {
      // The former loader: the whole file read, every tensor decoded, then the variables made.
      const file = await readSafetensors(`${values.load}/model.safetensors`);
      const params = [...file.tensors.values()].map((t) => variableFrom(t.data, t.shape));
      count = params.length;
    } else count = (await loadGPT2(values.load)).model.params.size;
    const seconds = (performance.now() - t0) / 1000;
    const status = await Deno.readTextFile("/proc/self/status");
    const hwm = Number(/VmHWM:\s+(\d+) kB/.exec(status)![1]) / 1024;
    console.log(JSON.stringify({ params: count, seconds, peak_rss_mib: hwm }));
  } else {
    const shape = KNOWN_GPT2_MODELS[values.model];
    const config: GPT2Config = {
      vocab_size: 50257,
      n_positions: 1024,
      layer_norm_epsilon: 1e-5,
      activation_function: "gelu_new",
      ...shape,
    };
    const dir = await Deno.makeTempDir({ prefix: "gsae_loader_memory_" });
    try {
      await writeRandomCheckpoint(config, dir, values.checksum ?? false);
      const size = (await Deno.stat(`${dir}/model.safetensors`)).size;
      const out = await new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          "-A",
          new URL(import.meta.url).pathname,
          "--load",
          dir,
          ...(values.whole ? ["--whole"] : []),
        ],
        stderr: "inherit",
      }).output();
      if (!out.success) throw new Error(`the loading child process failed (exit ${out.code})`);
      const result = parseJson(
        new TextDecoder().decode(out.stdout).trim().split("\n").at(-1)!,
        childResultSchema,
        { source: "the loading child process's output" },
      );
      console.log(JSON.stringify({
        model: values.model,
        checksum: values.checksum ?? false,
        loader: values.whole ? "whole file (former)" : "tensor by tensor",
        file_mib: size / 2 ** 20,
        f32_weights_mib: (4 * parameterCount(config)) / 2 ** 20,
        ...result,
      }));
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  }
}
