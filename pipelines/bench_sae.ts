/**
 * `deno task bench-sae`: SAE training-step throughput for every store-fed architecture at the
 * benchmark size (d = 128, 4,096 latents, k = 32, batch 4,096), and activation+gradient store
 * write and read throughput. Prints a table with medians and ratios to TopK measured in the same
 * run, and writes `outputs/bench/sae.json`.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { describeBackend, initBackend } from "../lib/backend.ts";
import { writeJsonAtomic } from "../lib/atomic_write.ts";
import { REPO_ROOT } from "../lib/embedded_models.ts";
import { GPT2 } from "../lib/gpt2/model.ts";
import { median } from "../lib/metrics.ts";
import { Rng } from "../lib/random.ts";
import { ARCHITECTURES, createSAE, disposeSAE } from "../lib/sae/mod.ts";
import { type ActivationData, trainSAE } from "../lib/sae/trainer.ts";
import { measureStoreThroughput } from "../lib/store.ts";

const HELP = `Usage: deno task bench-sae [--steps N] [--json]

Times SAE training steps (d 128, 4,096 latents, k 32, batch 4,096; e2e_topk excluded: it is
sequence-fed and its cost is the LM's) and store throughput on this machine. Each architecture
runs 2 warmup steps, then N timed steps (default 6); the table shows the median.`;

const D = 128, LATENTS = 4096, K = 32, BATCH = 4096;

async function main(): Promise<void> {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      steps: { type: "string", default: "6" },
      json: { type: "boolean", default: false },
      help: { type: "boolean", default: false },
    },
  });
  if (values.help) return console.log(HELP);
  const steps = Number(values.steps);
  const backend = await initBackend();
  console.log(describeBackend(backend));

  const rng = new Rng(0);
  const n = 8 * BATCH;
  const data: ActivationData = {
    kind: "activations",
    x: rng.normalArray(n * D),
    grad: rng.normalArray(n * D, 1e-3),
    n,
    d: D,
  };
  const rows: {
    architecture: string;
    median_ms: number;
    tokens_per_s: number;
    ratio_to_topk: number;
  }[] = [];
  for (const architecture of ARCHITECTURES.filter((a) => a !== "e2e_topk")) {
    const sae = createSAE({ architecture, d_in: D, d_sae: LATENTS, seed: 1, k: K });
    const times: number[] = [];
    await trainSAE(sae, data, {
      tokens: (steps + 2) * BATCH,
      batchSize: BATCH,
      lr: 1e-4,
      warmupSteps: 1,
      minLrRatio: 1,
      seed: 0,
      deadWindowTokens: 1e6,
      bDecInit: "mean",
      logEvery: 1000,
      checkpointEvery: 0,
    }, { log: () => {}, onStep: (step, s) => step >= 2 && times.push(s) });
    disposeSAE(sae);
    const ms = median(times) * 1000;
    rows.push({ architecture, median_ms: ms, tokens_per_s: BATCH / (ms / 1000), ratio_to_topk: 0 });
    console.log(
      `  ${architecture.padEnd(24)} ${ms.toFixed(0).padStart(6)} ms/step  ${
        Math.round(BATCH / (ms / 1000)).toLocaleString("en-US").padStart(8)
      } tokens/s`,
    );
  }
  const topk = rows.find((r) => r.architecture === "topk")!.median_ms;
  for (const r of rows) r.ratio_to_topk = r.median_ms / topk;

  // Store throughput on a random model of the default model's shape.
  const model = GPT2.random({
    vocab_size: 4096,
    n_positions: 128,
    n_embd: D,
    n_layer: 4,
    n_head: 4,
    layer_norm_epsilon: 1e-5,
    activation_function: "gelu_new",
  }, 0);
  const tokens = Int32Array.from({ length: 40_000 }, () => rng.int(4096));
  const dir = await Deno.makeTempDir();
  const store = await measureStoreThroughput(model, tokens, {
    dir,
    hook: "blocks.2.hook_resid_post",
    tokens: 16_384,
    modelId: "random-4x128",
    log: () => {},
  });
  await Deno.remove(dir, { recursive: true });

  console.log(
    `\n| architecture | median ms/step | tokens/s | step time / TopK's |\n|---|---:|---:|---:|`,
  );
  for (const r of rows) {
    console.log(
      `| ${r.architecture} | ${r.median_ms.toFixed(0)} | ${
        Math.round(r.tokens_per_s).toLocaleString("en-US")
      } | ${r.ratio_to_topk.toFixed(2)} |`,
    );
  }
  console.log(
    `\n| store (4-layer d-128 model, ${
      store.tokens.toLocaleString("en-US")
    } tokens) | tokens/s |\n|---|---:|`,
  );
  console.log(
    `| build (forward + hook gradient + write) | ${
      Math.round(store.buildTokensPerSecond).toLocaleString("en-US")
    } |`,
  );
  console.log(
    `| write (serialize, hash, atomic write) | ${
      Math.round(store.writeTokensPerSecond).toLocaleString("en-US")
    } |`,
  );
  console.log(
    `| read (read, verify checksum, parse) | ${
      Math.round(store.readTokensPerSecond).toLocaleString("en-US")
    } |`,
  );
  console.log(
    `| shuffled batches of 4,096 | ${
      Math.round(store.batchesTokensPerSecond).toLocaleString("en-US")
    } |`,
  );
  const result = {
    backend: describeBackend(backend),
    sizes: { d: D, latents: LATENTS, k: K, batch: BATCH, timed_steps: steps },
    sae: rows,
    store,
    command: "deno task bench-sae",
  };
  await writeJsonAtomic(`${REPO_ROOT}/outputs/bench/sae.json`, result);
  if (values.json) console.log(JSON.stringify(result));
}

if (import.meta.main) {
  try {
    await main();
  } catch (err) {
    console.error(`bench-sae: ${(err as Error).message}`);
    Deno.exit(1);
  }
}
