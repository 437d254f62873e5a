/**
 * Measurements behind `deno task bench` (`pipelines/bench.ts`): timed SAE training steps and LM
 * hook gradients on this machine, the same work in PyTorch through the reference scripts in
 * `pipelines/bench/`, OpenBLAS's sgemm rate for the matmul shapes involved, and how much of each
 * step's time its matmuls would take at that rate.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { Blas } from "../tensor/blas.ts";
import { sgemmCounters } from "../tensor/blas.ts";
import type { GPT2 } from "../gpt2/model.ts";
import { layersPerGradientPass } from "../gpt2/config.ts";
import { median } from "../metrics/mod.ts";
import { Rng } from "../tensor/random.ts";
import { type ArchitectureName, createSAE, disposeSAE } from "../sae/mod.ts";
import { type ActivationData, trainSAE } from "../sae/trainer.ts";
import { checkPythonModules, SYSTEM_PYTHON } from "../pipeline/system_deps.ts";

/** Step times of one measured piece of work, and what they amount to. */
export interface Timing {
  /** Every timed step, in seconds. */
  times_s: number[];
  /** Their median. */
  median_s: number;
  /** Tokens per step / median. */
  tokens_per_s: number;
}

/** {@link Timing} from step times and the tokens each step processes. */
export function summarise(times: number[], tokensPerStep: number): Timing {
  const m = median(times);
  return { times_s: times, median_s: m, tokens_per_s: tokensPerStep / m };
}

/** sgemm work done inside one step: FLOPs and seconds spent in BLAS calls. */
export interface MatmulWork {
  /** Floating-point operations of the step's sgemm calls (2·m·n·k each). */
  flops: number;
  /** Seconds inside those calls. */
  seconds: number;
}

/** Run `fn` and return what it did in sgemm calls (see {@link sgemmCounters}). */
export function countMatmuls(fn: () => void): MatmulWork {
  const flops = sgemmCounters.flops, seconds = sgemmCounters.seconds;
  fn();
  return { flops: sgemmCounters.flops - flops, seconds: sgemmCounters.seconds - seconds };
}

/** Sizes of the SAE step benchmark. */
export interface SAEBenchSizes {
  /** Activation width. */
  d: number;
  /** Latents. */
  latents: number;
  /** Latents per token. */
  k: number;
  /** Tokens per step. */
  batch: number;
}

/** The sizes: d 128, 4,096 latents, k 32, batch 4,096. */
export const SAE_SIZES: SAEBenchSizes = { d: 128, latents: 4096, k: 32, batch: 4096 };

/** Random activations (N(0, 1)) and gradients (N(0, 1e-3)) for 8 batches, like a small store. */
export function benchActivations(sizes: SAEBenchSizes, seed = 0): ActivationData {
  const rng = new Rng(seed), n = 8 * sizes.batch;
  const x = rng.normalArray(n * sizes.d), grad = rng.normalArray(n * sizes.d, 1e-3);
  return { kind: "activations", x, grad, n, d: sizes.d };
}

/**
 * Time `steps` training steps of `architecture` after `warmup` untimed ones (a fresh SAE,
 * Adam, lr 1e-4, b_dec from the batch mean), with each timed step's sgemm work.
 */
export async function timeSAESteps(
  architecture: ArchitectureName,
  data: ActivationData,
  sizes: SAEBenchSizes,
  options: { steps: number; warmup: number; fused?: boolean },
): Promise<{ times: number[]; matmul: MatmulWork[] }> {
  const sae = createSAE({ architecture, d_in: sizes.d, d_sae: sizes.latents, seed: 1, k: sizes.k });
  const times: number[] = [], matmul: MatmulWork[] = [];
  let flops = sgemmCounters.flops, seconds = sgemmCounters.seconds;
  await trainSAE(sae, data, {
    tokens: (options.steps + options.warmup) * sizes.batch,
    batchSize: sizes.batch,
    lr: 1e-4,
    warmupSteps: 1,
    minLrRatio: 1,
    seed: 0,
    deadWindowTokens: 1e6,
    bDecInit: "mean",
    logEvery: 1000,
    checkpointEvery: 0,
  }, {
    log: () => {},
    fused: options.fused,
    onStep: (step, s) => {
      if (step >= options.warmup) {
        times.push(s);
        matmul.push({
          flops: sgemmCounters.flops - flops,
          seconds: sgemmCounters.seconds - seconds,
        });
      }
      flops = sgemmCounters.flops;
      seconds = sgemmCounters.seconds;
    },
  });
  disposeSAE(sae);
  return { times, matmul };
}

/** Uniform random token ids [batch, seq] in [0, vocab). */
export function randomIds(batch: number, seq: number, vocab: number, seed: number): tf.Tensor2D {
  const rng = new Rng(seed);
  const ids = Int32Array.from({ length: batch * seq }, () => rng.int(vocab));
  return tf.tensor2d(ids, [batch, seq], "int32");
}

/**
 * Time `steps` calls of `model.gradAtHook` on random [batch, seq] ids after `warmup` untimed
 * ones (gradients read back, so the work is complete), with each timed call's sgemm work; the
 * backward pass goes a few blocks at a time where {@link layersPerGradientPass} says so.
 */
export async function timeHookGradient(
  model: GPT2,
  hook: string,
  options: {
    batch: number;
    seq: number;
    steps: number;
    warmup: number;
    seed: number;
    /** Called after each step (warmup ones included) with its 1-based index and seconds. */
    onStep?: (step: { index: number; total: number; seconds: number; warmup: boolean }) => void;
  },
): Promise<{ times: number[]; matmul: MatmulWork[] }> {
  const times: number[] = [], matmul: MatmulWork[] = [];
  for (let i = 0; i < options.warmup + options.steps; i++) {
    const ids = randomIds(options.batch, options.seq, model.config.vocab_size, options.seed + i);
    const start = performance.now();
    let r: ReturnType<GPT2["gradAtHook"]> | null = null;
    // In segments of blocks where one backward pass would not fit tfjs-wasm's heap (GPT-2's
    // shapes); the embedded models keep one pass.
    const layersPerPass = layersPerGradientPass(model.config, options.batch);
    const work = countMatmuls(() => r = model.gradAtHook(ids, hook, { layersPerPass }));
    // Read asynchronously: a GPU backend (webgpu) cannot read synchronously.
    await r!.gradient.data();
    tf.dispose(
      [r!.activation, r!.residual, r!.gradient, r!.losses].filter((t) => t) as tf.Tensor[],
    );
    const seconds = (performance.now() - start) / 1000;
    ids.dispose();
    const total = options.warmup + options.steps;
    options.onStep?.({ index: i + 1, total, seconds, warmup: i < options.warmup });
    if (i >= options.warmup) {
      times.push(seconds);
      matmul.push(work);
    }
  }
  return { times, matmul };
}

/** A row-major sgemm problem: C[m×n] = op(A)·op(B), with op(B) = Bᵀ when `transB`. */
export interface MatmulShape {
  /** Label for tables. */
  name: string;
  /** Rows of C. */
  m: number;
  /** Columns of C. */
  n: number;
  /** Inner dimension. */
  k: number;
  /** Whether B is stored transposed. */
  transB?: boolean;
}

/** A shape and how many times a step runs it. */
export interface ShapeCount {
  /** The product. */
  shape: MatmulShape;
  /** Products of that shape per step. */
  count: number;
}

/** The encoder product z = x·W_enc [batch × d]·[d × latents] (the g-SAE adds g·W_decᵀ). */
export function saeShapes(sizes: SAEBenchSizes, gradientAware: boolean): ShapeCount[] {
  const { batch: m, latents: n, d: k } = sizes;
  const out: ShapeCount[] = [{ shape: { name: "SAE encoder x·W_enc", m, n, k }, count: 1 }];
  if (gradientAware) {
    out.push({ shape: { name: "g-SAE g·W_decᵀ", m, n, k, transB: true }, count: 1 });
  }
  return out;
}

/**
 * The products of `gradAtHook` at blocks.{hookLayer}.hook_resid_post for [batch, seq] ids: the
 * forward pass of every block up to the hook and after it, the unembedding of all positions
 * but the last, and the backward pass to the activation (input gradients only) through the
 * unembedding and the blocks after the hook.
 */
export function lmShapes(
  c: { n_layer: number; n_embd: number; n_head: number; vocab_size: number },
  batch: number,
  seq: number,
  hookLayer: number,
): ShapeCount[] {
  const d = c.n_embd, bt = batch * seq, hd = d / c.n_head, heads = batch * c.n_head;
  const layers = c.n_layer, after = layers - 1 - hookLayer, rows = batch * (seq - 1);
  const v = c.vocab_size;
  return [
    { shape: { name: "qkv [BT×d]·[d×3d]", m: bt, n: 3 * d, k: d }, count: layers },
    { shape: { name: "qkv grad [BT×3d]·[3d×d]", m: bt, n: d, k: 3 * d }, count: after },
    { shape: { name: "attn out / proj [BT×d]·[d×d]", m: bt, n: d, k: d }, count: layers + after },
    { shape: { name: "mlp in [BT×d]·[d×4d]", m: bt, n: 4 * d, k: d }, count: layers + after },
    { shape: { name: "mlp out [BT×4d]·[4d×d]", m: bt, n: d, k: 4 * d }, count: layers + after },
    // Per (sequence, head): scores q·kᵀ and weights·v, twice more each in the backward pass.
    {
      shape: { name: "scores [T×hd]·[hd×T]", m: seq, n: seq, k: hd },
      count: heads * (layers + after),
    },
    {
      shape: { name: "mix [T×T]·[T×hd]", m: seq, n: hd, k: seq },
      count: heads * (layers + 3 * after),
    },
    { shape: { name: "unembed [B(T-1)×d]·[d×V]", m: rows, n: v, k: d, transB: true }, count: 1 },
    { shape: { name: "unembed grad [B(T-1)×V]·[V×d]", m: rows, n: d, k: v }, count: 1 },
  ];
}

/** FLOPs of shapes × counts. */
export function shapeFlops(shapes: ShapeCount[]): number {
  return shapes.reduce((s, { shape, count }) => s + 2 * shape.m * shape.n * shape.k * count, 0);
}

/**
 * The sgemm limit for a step: its FLOPs over the time they take at each shape's measured rate
 * (`rates` by shape name, GFLOP/s), i.e. the FLOP-weighted harmonic mean of the rates.
 */
export function limitRate(shapes: ShapeCount[], rates: Record<string, number>): number {
  let seconds = 0;
  for (const { shape, count } of shapes) {
    seconds += (2 * shape.m * shape.n * shape.k * count) / (rates[shape.name] * 1e9);
  }
  return shapeFlops(shapes) / seconds / 1e9;
}

/** Median GFLOP/s of `blas.sgemm` on `shape` over `reps` calls (after one warmup call). */
export function sgemmRate(blas: Blas, shape: MatmulShape, reps = 5): number {
  const { m, n, k, transB = false } = shape;
  const rng = new Rng(1);
  const a = rng.normalArray(m * k), b = rng.normalArray(k * n), c = new Float32Array(m * n);
  const times: number[] = [];
  for (let i = 0; i <= reps; i++) {
    const start = performance.now();
    blas.sgemm(false, transB, { m, n, k }, { a, b, c });
    if (i > 0) times.push((performance.now() - start) / 1000);
  }
  return (2 * m * n * k) / median(times) / 1e9;
}

/** What a PyTorch reference run printed (one JSON line), or why it did not run. */
export type TorchResult =
  | { ok: true; times_ms: number[]; tokens_per_s: number; torch: string; threads: number }
  | { ok: false; reason: string };

/** Null when Debian's Python imports torch and numpy, else the reason it cannot. */
export function torchUnavailable(): Promise<string | null> {
  return checkPythonModules(["torch", "numpy"]);
}

/** Run a `pipelines/bench/` script with Debian's Python and parse its JSON line. */
export async function runTorchScript(script: string, args: string[]): Promise<TorchResult> {
  let out: Deno.CommandOutput;
  try {
    out = await new Deno.Command(SYSTEM_PYTHON, {
      args: [script, ...args],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).output();
  } catch (err) {
    return { ok: false, reason: `${SYSTEM_PYTHON}: ${(err as Error).message}` };
  }
  const text = new TextDecoder();
  if (!out.success) {
    const last = text.decode(out.stderr).trim().split("\n").at(-1) ?? "";
    return { ok: false, reason: `${script} exited with ${out.code}: ${last}` };
  }
  const line = text.decode(out.stdout).trim().split("\n").at(-1) ?? "";
  try {
    const r = JSON.parse(line);
    return {
      ok: true,
      times_ms: r.times_ms,
      tokens_per_s: r.tokens_per_s,
      torch: r.torch,
      threads: r.threads,
    };
  } catch {
    return { ok: false, reason: `${script} printed no JSON line: ${line.slice(0, 200)}` };
  }
}
