/**
 * `deno task bench`: throughput on this machine, against PyTorch CPU on the same work.
 *
 * (a) SAE training steps, TopK and g-SAE (cached gradients), d 128, 4,096 latents, k 32, batch
 * 4,096; (b) the default embedded LM's forward pass plus the loss gradient at a middle-layer hook
 * (`GPT2.gradAtHook`), batch 32 × 128; (c) the activation+gradient store's build, end to end;
 * (d) OpenBLAS's sgemm rate for the matmul shapes of (a) and (b), and the fraction of it each
 * step reaches. PyTorch runs `pipelines/bench/torch_sae_step.py` and `torch_lm_grad.py`,
 * alternating with ours, repetition by repetition. Writes `outputs/bench/bench.json`.
 *
 * @module
 */
import { describeBackend, initBackend, tensorsOnHost } from "../lib/tensor/backend.ts";
import { backendOption } from "../lib/tensor/backend_flag.ts";
import { gsaeCommand, intArg, parseCommandLine } from "../lib/io/cli.ts";
import { writeJsonAtomic } from "../lib/io/atomic_write.ts";
import { loadBlas } from "../lib/tensor/blas.ts";
import {
  benchActivations,
  limitRate,
  lmShapes,
  type MatmulWork,
  runTorchScript,
  SAE_SIZES,
  saeShapes,
  sgemmRate,
  type ShapeCount,
  summarise,
  timeHookGradient,
  timeSAESteps,
  torchUnavailable,
} from "../lib/bench/bench.ts";
import { DEFAULT_MODEL, REPO_ROOT } from "../lib/gpt2/embedded_models.ts";
import { loadGPT2 } from "../lib/gpt2/checkpoint.ts";
import { resolveModel } from "../lib/gpt2/discovery.ts";
import { median } from "../lib/metrics/mod.ts";
import { Rng } from "../lib/tensor/random.ts";
import { architectureOf, ARCHITECTURES } from "../lib/sae/mod.ts";
import { measureStoreThroughput } from "../lib/store/mod.ts";
import { type BenchRow, benchTables } from "../lib/bench/report.ts";

function command() {
  return gsaeCommand("bench", {
    description:
      `Times, on this machine, with PyTorch CPU on the same work when Debian's python3-torch is there
(deno task setup --with torch), alternating ours and PyTorch in each repetition (the SAE step
in PyTorch both dense, the reference script's default, and sparse, sparsify-style):
  (a) an SAE training step, TopK and g-SAE: d 128, 4,096 latents, k 32, batch 4,096, Adam
  (b) the default model's forward pass + loss gradient at blocks.2.hook_resid_post, 32 × 128
  (c) the activation+gradient store's build (forward, hook gradient, serialize, hash, write)
  (d) OpenBLAS sgemm GFLOP/s for the matmul shapes of (a) and (b), and the fraction of it that
      each step's matmul FLOPs per second reach
Prints medians over all timed steps and ours/PyTorch ratios; writes outputs/bench/bench.json.`,
  })
    .option("--reps <N>", "repetitions, each ours then PyTorch", intArg("reps", { min: 1 }), 3)
    .option(
      "--steps <N>",
      "timed steps per repetition after 1 warmup step",
      intArg("steps", { min: 1 }),
      4,
    )
    .option(
      "--store-tokens <N>",
      "tokens stored in the store benchmark",
      intArg("store-tokens", { min: 1 }),
      16384,
    )
    .option(
      "--all-architectures",
      "also time every store-fed SAE architecture (once, relative to TopK)",
    )
    .option("--no-torch", "skip the PyTorch side")
    .option("--json", "also print the result as one JSON line")
    .addOption(backendOption());
}

/** The command line (see `--help`); `torch` is false with `--no-torch`. */
interface BenchOptions {
  reps: number;
  steps: number;
  storeTokens: number;
  allArchitectures?: boolean;
  torch: boolean;
  json?: boolean;
}

const HOOK_LAYER = 2, LM_BATCH = 32, LM_SEQ = 128;

async function main(): Promise<number> {
  const parsed = parseCommandLine<BenchOptions>(command(), Deno.args, { badArgumentExit: 1 });
  if (parsed.exit !== undefined) return parsed.exit;
  const values = parsed.options;
  const { reps, steps, storeTokens } = values;
  const backend = await initBackend();
  const blas = loadBlas();
  console.log(describeBackend(backend));
  const noTorch = !values.torch ? "--no-torch given" : await torchUnavailable();
  if (noTorch) {
    const hint = !values.torch ? "" : " (deno task setup --with torch installs it)";
    console.log(`PyTorch side skipped: ${noTorch}${hint}`);
  }
  const resolved = await resolveModel(DEFAULT_MODEL);
  const { model } = await loadGPT2(resolved.dir);
  const hook = `blocks.${HOOK_LAYER}.hook_resid_post`;
  const data = benchActivations(SAE_SIZES);
  const s = String(steps);

  type Acc = { ours: number[]; torch: number[]; matmul: MatmulWork[]; torchNote?: string };
  const acc: Record<string, Acc> = {};
  const add = (key: string, ours: number[], matmul: MatmulWork[], torch: number[] | string) => {
    const a = acc[key] ??= { ours: [], torch: [], matmul: [] };
    a.ours.push(...ours);
    a.matmul.push(...matmul);
    if (typeof torch === "string") a.torchNote = torch;
    else a.torch.push(...torch);
  };
  const torchRun = async (script: string, args: string[]) => {
    if (noTorch) return noTorch;
    const r = await runTorchScript(`${REPO_ROOT}/pipelines/bench/${script}`, args);
    return r.ok ? r.times_ms.map((ms) => ms / 1000) : r.reason;
  };
  // (d) sgemm rates for every shape, sampled in each repetition (the machine's load may change).
  const shapes: Record<string, ShapeCount[]> = {
    topk: saeShapes(SAE_SIZES, false),
    gsae: saeShapes(SAE_SIZES, true),
    lm: lmShapes(model.config, LM_BATCH, LM_SEQ, HOOK_LAYER),
  };
  const rateSamples: Record<string, number[]> = {};
  for (let rep = 0; rep < reps; rep++) {
    for (const arch of ["topk", "gsae"] as const) {
      const ours = await timeSAESteps(arch, data, SAE_SIZES, { steps, warmup: 1 });
      const args = ["--arch", arch, "--steps", s, "--warmup", "1"];
      add(arch, ours.times, ours.matmul, await torchRun("torch_sae_step.py", args));
      const sparse = await torchRun("torch_sae_step.py", [...args, "--impl", "sparse"]);
      add(`${arch}:sparse`, [], [], sparse);
    }
    const ours = await timeHookGradient(model, hook, {
      batch: LM_BATCH,
      seq: LM_SEQ,
      steps,
      warmup: 1,
      seed: 1000 * rep,
    });
    const torch = await torchRun("torch_lm_grad.py", [
      "--weights",
      `${resolved.dir}/model.safetensors`,
      "--hook-layer",
      String(HOOK_LAYER),
      "--batch",
      String(LM_BATCH),
      "--ctx",
      String(LM_SEQ),
      "--steps",
      s,
      "--warmup",
      "1",
    ]);
    add("lm", ours.times, ours.matmul, torch);
    for (const { shape } of blas ? Object.values(shapes).flat() : []) {
      (rateSamples[shape.name] ??= []).push(sgemmRate(blas!, shape));
    }
    console.log(`repetition ${rep + 1}/${reps} done`);
  }

  // (c) the store, on the default model with random token ids.
  const rng = new Rng(0);
  const tokens = Int32Array.from(
    { length: storeTokens * 2 },
    () => rng.int(model.config.vocab_size),
  );
  // The store build reads tensors synchronously, which a GPU backend (webgpu) cannot do.
  const storeNote = tensorsOnHost() ? undefined : `not on ${backend.name}: the store build ` +
    "reads tensors synchronously (tfjs-webgpu in Deno cannot)";
  let store = null;
  if (!storeNote) {
    const dir = await Deno.makeTempDir({ prefix: "gsae-bench-store-" });
    store = await measureStoreThroughput(model, tokens, {
      dir,
      hook,
      tokens: storeTokens,
      modelId: resolved.name,
      log: () => {},
    });
    await Deno.remove(dir, { recursive: true });
  }

  const rates = Object.fromEntries(
    Object.entries(rateSamples).map(([name, samples]) => [name, median(samples)]),
  );
  const labels: [string, string, number][] = [
    ["topk", "SAE step, TopK", SAE_SIZES.batch],
    ["gsae", "SAE step, g-SAE", SAE_SIZES.batch],
    ["lm", `LM forward + gradient at ${hook}`, LM_BATCH * LM_SEQ],
  ];
  const rows: BenchRow[] = labels.map(([key, work, tokensPerStep]) => {
    const a = acc[key];
    const ours = summarise(a.ours, tokensPerStep);
    const torch = a.torch.length > 0 ? summarise(a.torch, tokensPerStep) : null;
    const sparse = acc[`${key}:sparse`]?.torch ?? [];
    const torchSparse = sparse.length > 0 ? summarise(sparse, tokensPerStep) : null;
    const flops = median(a.matmul.map((m) => m.flops));
    const inSgemm = median(a.matmul.map((m) => m.seconds));
    const limit = blas ? limitRate(shapes[key], rates) : NaN;
    return {
      key,
      work,
      ours,
      torch,
      torch_note: a.torchNote,
      ratio: torch ? ours.tokens_per_s / torch.tokens_per_s : null,
      torch_sparse: torchSparse,
      ratio_sparse: torchSparse ? ours.tokens_per_s / torchSparse.tokens_per_s : null,
      matmul_gflop_per_step: flops / 1e9,
      sgemm_seconds_per_step: inSgemm,
      achieved_gflops: flops / ours.median_s / 1e9,
      limit_gflops: limit,
      fraction_of_limit: flops / ours.median_s / 1e9 / limit,
    };
  });
  const architectures = values.allArchitectures ? await timeArchitectures(data, steps) : undefined;
  const result = {
    command: `deno task bench ${Deno.args.join(" ")}`.trim(),
    backend: describeBackend(backend),
    blas: blas ? { library: blas.library, threads: blas.threads } : null,
    torch: noTorch ?? "ran",
    sizes: { sae: SAE_SIZES, lm: { model: resolved.name, batch: LM_BATCH, seq: LM_SEQ, hook } },
    reps,
    steps_per_rep: steps,
    rows,
    gsae_over_topk_step_time: rows[1].ours.median_s / rows[0].ours.median_s,
    sgemm_gflops: rates,
    store,
    store_note: storeNote,
    architectures,
  };
  console.log(benchTables(result));
  // The committed bench.json holds the default backend's figures; others go beside it.
  const file = backend.name === "wasm+blas" ? "bench.json" : `bench-${backend.name}.json`;
  await writeJsonAtomic(`${REPO_ROOT}/outputs/bench/${file}`, result);
  if (values.json) console.log(JSON.stringify(result));
  return 0;
}

/** Every store-fed architecture once (the old `bench-sae` table), step time relative to TopK. */
async function timeArchitectures(data: ReturnType<typeof benchActivations>, steps: number) {
  const out: { architecture: string; median_s: number; tokens_per_s: number }[] = [];
  for (
    const architecture of ARCHITECTURES.filter((a) => architectureOf(a).trainsOn === "activations")
  ) {
    const { times } = await timeSAESteps(architecture, data, SAE_SIZES, { steps, warmup: 1 });
    const t = summarise(times, SAE_SIZES.batch);
    out.push({ architecture, median_s: t.median_s, tokens_per_s: t.tokens_per_s });
  }
  return out;
}

if (import.meta.main) {
  try {
    Deno.exit(await main());
  } catch (err) {
    console.error(`bench: ${(err as Error).message}`);
    Deno.exit(1);
  }
}
