/**
 * GPT-2 hyperparameters in Hugging Face's `config.json` vocabulary, validated.
 *
 * @module
 */
import { checkJson, z } from "../io/json_file.ts";

/** The fields of a Hugging Face GPT-2 `config.json` that the model uses. */
export interface GPT2Config {
  /** Number of token ids (50257 for real GPT-2; smaller for the embedded models' remapped vocabulary). */
  vocab_size: number;
  /** Longest context the position embedding covers. */
  n_positions: number;
  /** Residual stream width d. */
  n_embd: number;
  /** Number of transformer blocks. */
  n_layer: number;
  /** Attention heads per block; n_embd must divide by it. */
  n_head: number;
  /** LayerNorm epsilon (1e-5 in GPT-2). */
  layer_norm_epsilon: number;
  /** MLP activation; only "gelu_new" (tanh approximation), GPT-2's, is implemented. */
  activation_function: string;
}

/** Known public GPT-2 sizes, for the README and the `paper` profile. */
export const KNOWN_GPT2_MODELS: Record<string, Pick<GPT2Config, "n_layer" | "n_embd" | "n_head">> =
  {
    "gpt2": { n_layer: 12, n_embd: 768, n_head: 12 },
    "gpt2-medium": { n_layer: 24, n_embd: 1024, n_head: 16 },
    "gpt2-large": { n_layer: 36, n_embd: 1280, n_head: 20 },
    "gpt2-xl": { n_layer: 48, n_embd: 1600, n_head: 25 },
  };

const positiveInt = z.number().int().positive();

/** The fields of `config.json` the model uses, with GPT-2's defaults; others are ignored. */
const gpt2ConfigSchema: z.ZodType<GPT2Config, unknown> = z.object({
  vocab_size: positiveInt,
  n_positions: positiveInt.default(1024),
  n_embd: positiveInt,
  n_layer: positiveInt,
  n_head: positiveInt,
  layer_norm_epsilon: z.number().positive().default(1e-5),
  activation_function: z.literal("gelu_new").default("gelu_new"),
});

/**
 * Validate a parsed `config.json`, filling GPT-2's defaults for optional fields.
 * Throws an error naming `source` and the offending field.
 */
export function parseGPT2Config(raw: unknown, source: string): GPT2Config {
  const config = checkJson(raw, gpt2ConfigSchema, { source });
  if (config.n_embd % config.n_head !== 0) {
    throw new Error(
      `${source}: n_embd ${config.n_embd} is not divisible by n_head ${config.n_head}`,
    );
  }
  const bytes = 4 * parameterCount(config);
  const limit = modelMemoryLimit();
  if (bytes > limit) {
    throw new Error(
      `${source}: this config (n_layer ${config.n_layer}, n_embd ${config.n_embd}, vocab_size ` +
        `${config.vocab_size}, n_positions ${config.n_positions}) needs about ${gib(bytes)} GiB ` +
        `for its float32 weights alone, more than this machine's ${gib(limit)} GiB of memory`,
    );
  }
  return config;
}

/** The most bytes of float32 weights a model may need: the machine's physical memory. */
export function modelMemoryLimit(): number {
  try {
    return Deno.systemMemoryInfo().total;
  } catch {
    return 64 * 2 ** 30; // Without --allow-sys: a generous bound that still stops absurd sizes.
  }
}

/**
 * The share of a backend's tensor memory that a model's float32 weights may take: the rest holds
 * a pass's activations. GPT-2 large's 3.1 GB are 72 % of tfjs-wasm's heap and its store pass
 * peaks at 3.7 GiB there; xl's 6.2 GB cannot fit at all.
 */
export const WEIGHTS_SHARE_OF_MEMORY = 0.8;

/**
 * Refuse, before any tensor is read, weights that cannot fit the tensor memory of the backend
 * they are loaded on: `options.limit` is `hostMemoryLimit()` (tfjs-wasm's 4 GiB heap, where a
 * model that does not fit aborts the process mid-pass with no message), null for none. The
 * machine's own memory is checked earlier, when the config is parsed ({@link parseGPT2Config}).
 * `where` names the file in the error.
 */
export function checkWeightsFit(
  config: GPT2Config,
  where: string,
  options: { limit: number | null },
): void {
  const { limit } = options, parameters = parameterCount(config), bytes = 4 * parameters;
  if (limit === null || bytes <= limit * WEIGHTS_SHARE_OF_MEMORY) return;
  throw new Error(
    `${where}: ${(parameters / 1e6).toFixed(0)}M parameters take ${gib(bytes)} GiB ` +
      `as float32, more than ${WEIGHTS_SHARE_OF_MEMORY * 100} % of tfjs-wasm's ${gib(limit)} ` +
      `GiB heap (the rest holds a pass's activations). Run with --backend cpu+blas ` +
      `(GSAE_BACKEND=cpu+blas: OpenBLAS matmuls on tensors in JavaScript memory, slower ` +
      `elsewhere) or on a GPU (--backend webgpu)`,
  );
}

function gib(bytes: number): string {
  return (bytes / 2 ** 30).toPrecision(3);
}

/** Number of parameters (tied unembedding counted once). */
export function parameterCount(c: GPT2Config): number {
  const d = c.n_embd;
  const block = 2 * 2 * d + (d * 3 * d + 3 * d) + (d * d + d) + (d * 4 * d + 4 * d) +
    (4 * d * d + d);
  return c.vocab_size * d + c.n_positions * d + c.n_layer * block + 2 * d;
}

/**
 * Windows of the full context per model pass, at most `most`, so that one pass's logits
 * (windows × context × vocabulary floats) stay within 2²⁶ floats (256 MiB): a gradient pass holds
 * several copies of them, and tfjs-wasm's heap is 4 GiB. GPT-2's 1,024 × 50,257 logits per window
 * make this 1; the embedded models (128 × 4,096) keep `most` up to 128.
 */
export function windowsPerPass(c: GPT2Config, most: number): number {
  return Math.max(1, Math.min(most, Math.floor(2 ** 26 / (c.n_positions * c.vocab_size))));
}

/**
 * Blocks per backward pass of `GPT2.gradAtHooks` over `windows` windows of the full context, so
 * that one pass's attention scores (windows × heads × context² floats per block) stay within 2²⁵
 * floats (128 MiB): a block's backward pass holds about a dozen tensors of that size (measured on
 * GPT-2 small's shape, 1,024 tokens on wasm+blas: the peak of tfjs's tensor bytes grows by about
 * 0.6 GiB per block in a pass), and tfjs-wasm's heap is 4 GiB. GPT-2 small and medium (12 and
 * 16 heads) get 2 blocks per pass, large and xl (20 and 25 heads) 1; the embedded models (128
 * positions, at most 6 heads, 8 windows) keep every block in one pass.
 */
export function layersPerGradientPass(c: GPT2Config, windows: number): number {
  const perBlock = windows * c.n_head * c.n_positions ** 2;
  return Math.max(1, Math.min(c.n_layer, Math.floor(2 ** 25 / perBlock)));
}

/**
 * {@link layersPerGradientPass} for `GPT2.gradAtHook`'s per-token rule, whose attention holds
 * about twice the score-sized tensors, so it takes half as many blocks (at least one): one for
 * GPT-2 small's shape; the embedded models still keep every block in one pass.
 */
export function perTokenLayersPerGradientPass(c: GPT2Config, windows: number): number {
  const layers = layersPerGradientPass(c, windows);
  return layers >= c.n_layer ? layers : Math.max(1, Math.floor(layers / 2));
}

/**
 * Positions per chunk of a backward pass from a KL at the unembedding (e2e-TopK's loss), at most
 * `most`, so that one chunk's logits (positions × vocabulary floats) stay within 2²⁴ floats (64
 * MiB): the logits, their log-softmax, the KL's terms and their gradients are each a copy, and
 * they sit beside a block segment's backward pass in tfjs-wasm's 4 GiB heap. GPT-2's 50,257-way
 * vocabulary makes this 333 of a window's 1,023 positions; the embedded models (4,096) keep up to
 * 4,096, more than an e2e batch of 8 windows × 127 positions.
 */
export function positionsPerKLPass(c: GPT2Config, most: number): number {
  return Math.max(1, Math.min(most, Math.floor(2 ** 24 / c.vocab_size)));
}

/**
 * Windows of the full context per backward pass through the blocks, at most `most`, with the same
 * bound as {@link layersPerGradientPass} (2²⁵ attention-score floats for one block): GPT-2 small's
 * 12 heads × 1,024² make this 2; the embedded models (128 positions, at most 6 heads) keep 341
 * and more.
 */
export function windowsPerGradientPass(c: GPT2Config, most: number): number {
  const perWindow = c.n_head * c.n_positions ** 2;
  return Math.max(1, Math.min(most, Math.floor(2 ** 25 / perWindow)));
}
