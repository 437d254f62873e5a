/**
 * Save and load SAEs as SAELens folders: `cfg.json` plus `sae_weights.safetensors` (and,
 * optionally, `sparsity.safetensors`), so SAEs trained here load in Python with
 * `SAE.load_from_disk(path)`.
 *
 * Format followed: SAELens's pre-6.0 `SAEConfig.to_dict()` fields (`sae_lens/sae.py`); SAELens
 * 6.x reads such a file through `handle_pre_6_0_config` (no `sae_lens_version` key), which maps
 * `activation_fn_kwargs.k` to a TopK SAE's `k` and ignores unknown keys such as our `gsae`.
 * Tensors (float32, row-major): `W_enc` [d_in, d_sae], `W_dec` [d_sae, d_in], `b_dec` [d_in], and
 * by SAELens architecture
 *   - "topk" (every TopK-family architecture here) and "standard": `b_enc` [d_sae];
 *   - "jumprelu": `b_enc`, `threshold` [d_sae] — SAELens stores θ itself; our parameter is
 *     `log_threshold`, so θ = exp(log_threshold) on save and log θ on load (θ must be > 0);
 *   - "gated": `b_gate`, `r_mag`, `b_mag` [d_sae] and no `b_enc`.
 * Any other parameter of ours is written under its own name (no architecture here adds one).
 * Our exact configuration is kept under the `gsae` key, so a save/load round trip restores it;
 * SAELens's view of mutual/feature-choice and gradient-aware SAEs is plain per-token TopK with
 * the same k (how it would run them without batches or gradients).
 *
 * Why one module of ~410 lines: saving and loading are one format, and keeping the writer and
 * the reader (with its checks of cfg.json and the tensors) side by side keeps them in step.
 *
 * @module
 */
import { join } from "node:path";
import { writeDirAtomic } from "../io/atomic_write.ts";
import { checkJson, JsonFileError, z } from "../io/json_file.ts";
import {
  readSafetensors,
  requireTensor,
  serializeSafetensors,
  type TensorToWrite,
} from "../io/safetensors.ts";
import type { BaseSAEConfig, SAE } from "./base.ts";
import { architectureOf, type SaelensArchitecture } from "./registry.ts";

export type { SaelensArchitecture };

/** Tensors each SAELens architecture requires in `sae_weights.safetensors`. */
export const SAELENS_TENSORS: Readonly<Record<SaelensArchitecture, readonly string[]>> = {
  standard: ["W_enc", "W_dec", "b_enc", "b_dec"],
  topk: ["W_enc", "W_dec", "b_enc", "b_dec"],
  jumprelu: ["W_enc", "W_dec", "b_enc", "b_dec", "threshold"],
  gated: ["W_enc", "W_dec", "b_dec", "b_gate", "r_mag", "b_mag"],
};

/** The file names SAELens uses. */
export const CFG_FILE = "cfg.json",
  WEIGHTS_FILE = "sae_weights.safetensors",
  SPARSITY_FILE = "sparsity.safetensors";

const positiveInt = z.number().int().positive();

/**
 * `cfg.json` as read back: every SAELens field the loader uses, type-checked (present fields
 * must have their SAELens type); other fields (SAELens's, or training notes such as
 * `training_tokens`) are kept as they are. Whether a valid value is supported (an architecture
 * here, `apply_b_dec_to_input` true, no normalisation) is checked after, with its own message.
 */
export const saelensCfgSchema = z.looseObject({
  architecture: z.string().optional().describe("SAELens architecture (default standard)"),
  d_in: positiveInt.describe("width of the hooked activation"),
  d_sae: positiveInt.describe("number of latents"),
  model_name: z.string().describe("the model the SAE reads"),
  hook_name: z.string().describe("the hook it reads"),
  context_size: positiveInt.optional().describe("tokens per training sequence"),
  hook_layer: z.number().int().nullable().optional().describe("layer of the hook"),
  dataset_path: z.string().optional().describe("training corpus"),
  prepend_bos: z.boolean().optional().describe("whether sequences began with BOS"),
  activation_fn_str: z.string().optional().describe("activation (topk: a TopK SAE)"),
  activation_fn: z.string().optional().describe("older SAELens's name for activation_fn_str"),
  activation_fn_kwargs: z.looseObject({ k: positiveInt.optional() }).optional()
    .describe("activation arguments (k of a TopK SAE)"),
  k: positiveInt.optional().describe("k of a TopK SAE, in some SAELens versions"),
  apply_b_dec_to_input: z.boolean().optional().describe("subtract b_dec before encoding"),
  normalize_activations: z.string().nullable().optional().describe("activation normalisation"),
  finetuning_scaling_factor: z.boolean().optional().describe("SAELens fine-tuning scale"),
  gsae: z.record(z.string(), z.unknown()).optional().describe("our exact SAE config"),
});

/** `cfg.json` as {@link saelensCfgSchema} reads it. */
export type SaelensCfg = z.output<typeof saelensCfgSchema>;

/** What the SAE was trained on, written into `cfg.json` (SAELens field names). */
export interface SAEFolderMeta {
  /** Model name as TransformerLens knows it (e.g. "gpt2"), or our embedded model's name. */
  model_name: string;
  /** Hook the SAE reads, e.g. `blocks.7.hook_resid_post`. */
  hook_name: string;
  /** Tokens per training sequence. */
  context_size: number;
  /** Layer of the hook; default: parsed from `hook_name`. */
  hook_layer?: number;
  /** Training corpus (default ""). */
  dataset_path?: string;
  /** Whether sequences began with BOS (default false: our corpus windows do not). */
  prepend_bos?: boolean;
  /** Further JSON fields for cfg.json (training tokens, seeds, …); they never override ours. */
  [field: string]: unknown;
}

/** Options for {@link saveSAE} beyond the cfg.json metadata. */
export interface SaveSAEOptions {
  /** log10 activation frequency per latent [d_sae], written to `sparsity.safetensors` as SAELens does. */
  logSparsity?: Float32Array;
}

/** A tensor as loaded: float32 values and shape. */
export interface LoadedTensor {
  /** Dimensions, outermost first. */
  shape: number[];
  /** Row-major values. */
  data: Float32Array;
}

/** The raw parts of a saved SAE, for the registry (`mod.ts`) to build the object from. */
export interface LoadedSAEFolder {
  /** Our configuration (from the `gsae` key, or derived from SAELens fields for foreign folders). */
  config: BaseSAEConfig;
  /** Parameters under OUR names (`log_threshold` for JumpReLU), float32. */
  tensors: Map<string, LoadedTensor>;
  /** Metadata fields of cfg.json (model_name, hook_name, …); `cfg` is the whole parsed file. */
  meta: SAEFolderMeta & { cfg: Record<string, unknown> };
  /** `sparsity.safetensors`'s log10 frequencies, when the folder has one. */
  logSparsity?: Float32Array;
}

/** A folder that is not a loadable SAE; the message is `${path}: ${problem}`. */
export class SAEFolderError extends Error {
  /** The folder or file at fault. */
  readonly path: string;
  /** What is wrong. */
  readonly problem: string;

  /** @param path Folder or file. @param problem Description. */
  constructor(path: string, problem: string) {
    super(`${path}: ${problem}`);
    this.name = "SAEFolderError";
    this.path = path;
    this.problem = problem;
  }
}

/** Expected shape of a known tensor name, or undefined for names we do not know. */
function expectedShape(name: string, dIn: number, dSae: number): number[] | undefined {
  if (name === "W_enc") return [dIn, dSae];
  if (name === "W_dec") return [dSae, dIn];
  if (name === "b_dec") return [dIn];
  if (["b_enc", "b_gate", "r_mag", "b_mag", "threshold", "log_threshold"].includes(name)) {
    return [dSae];
  }
  return undefined;
}

/** Throws unless `value` survives JSON unchanged (no NaN/Infinity, no functions). */
function checkJsonSafe(value: unknown, where: string, fail: (problem: string) => never): void {
  if (typeof value === "number" && !Number.isFinite(value)) {
    fail(`${where} is ${value}, which JSON cannot hold`);
  }
  if (typeof value === "function" || typeof value === "bigint") {
    fail(`${where} is a ${typeof value}`);
  }
  if (value && typeof value === "object") {
    for (const [k, v] of Object.entries(value)) checkJsonSafe(v, `${where}.${k}`, fail);
  }
}

/**
 * Write `sae` to the folder `dir` (replacing it atomically: a reader never sees it half-written).
 * `meta` supplies the SAELens training fields; see the module doc for the layout.
 */
export async function saveSAE(
  sae: SAE,
  dir: string,
  meta: SAEFolderMeta & SaveSAEOptions,
): Promise<void> {
  const fail = (problem: string): never => {
    throw new SAEFolderError(dir, `cannot save: ${problem}`);
  };
  const config = sae.config;
  let format;
  try {
    format = architectureOf(config.architecture).saelens;
  } catch (error) {
    fail((error as Error).message);
  }
  const arch = format!.architecture;
  const k = (config as { k?: unknown }).k;
  if (arch === "topk" && !(Number.isInteger(k) && (k as number) > 0)) {
    fail(`${config.architecture} config needs a positive integer k`);
  }
  checkJsonSafe(config, "config", fail);
  const { logSparsity, ...cfgMeta } = meta;
  checkJsonSafe(cfgMeta, "meta", fail);

  const tensors: Record<string, TensorToWrite> = {};
  for (const [name, variable] of sae.params) {
    const data = Float32Array.from(await variable.data() as Float32Array);
    const want = expectedShape(name, config.d_in, config.d_sae);
    if (
      want &&
      !(want.length === variable.shape.length && want.every((d, i) => d === variable.shape[i]))
    ) {
      fail(`parameter ${name} has shape [${variable.shape}], expected [${want}]`);
    }
    const renamed = format!.renamed?.[name];
    if (renamed) tensors[renamed.file] = { shape: variable.shape, data: renamed.toFile(data) };
    else tensors[name] = { shape: variable.shape, data };
  }
  const missing = SAELENS_TENSORS[arch].filter((n) => !(n in tensors));
  if (missing.length) fail(`SAELens "${arch}" needs parameter(s) ${missing.join(", ")}`);

  const layer = /^blocks\.(\d+)\./.exec(meta.hook_name);
  const cfg = {
    dataset_path: "",
    prepend_bos: false,
    hook_layer: layer ? Number(layer[1]) : null,
    ...cfgMeta,
    architecture: arch,
    d_in: config.d_in,
    d_sae: config.d_sae,
    dtype: "float32",
    device: "cpu",
    hook_head_index: null,
    activation_fn_str: arch === "topk" ? "topk" : "relu",
    activation_fn_kwargs: arch === "topk" ? { k } : {},
    apply_b_dec_to_input: true,
    finetuning_scaling_factor: false,
    normalize_activations: "none",
    sae_lens_training_version: null,
    dataset_trust_remote_code: false,
    neuronpedia_id: null,
    model_from_pretrained_kwargs: {},
    gsae: config,
  };
  const files: Record<string, Uint8Array | string> = {
    [CFG_FILE]: JSON.stringify(cfg, null, 2) + "\n",
    // Python's safetensors.torch.save_file writes this metadata; transformers checks for it.
    [WEIGHTS_FILE]: serializeSafetensors(tensors, { metadata: { format: "pt" } }),
  };
  if (logSparsity) {
    if (logSparsity.length !== config.d_sae) {
      fail(`logSparsity has ${logSparsity.length} values, expected d_sae = ${config.d_sae}`);
    }
    files[SPARSITY_FILE] = serializeSafetensors({
      sparsity: { shape: [config.d_sae], data: logSparsity },
    });
  }
  await writeDirAtomic(dir, files);
}

/** `text` as JSON, or a failure that says it is not. */
function parseCfgText(text: string, fail: (problem: string) => never): unknown {
  try {
    return JSON.parse(text);
  } catch (error) {
    return fail(`not valid JSON (${(error as Error).message})`);
  }
}

/** Reads a file, turning "not found" into an {@link SAEFolderError} that says what is missing. */
async function readOrFail<T>(
  path: string,
  read: (p: string) => Promise<T>,
  what: string,
): Promise<T> {
  try {
    return await read(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) throw new SAEFolderError(path, `missing ${what}`);
    throw error;
  }
}

/** Our config for a folder: the `gsae` key checked against the SAELens fields, or one derived from them. */
function ourConfig(
  cfg: SaelensCfg,
  arch: SaelensArchitecture,
  fail: (problem: string) => never,
): BaseSAEConfig {
  const [dIn, dSae] = [cfg.d_in, cfg.d_sae];
  const saved = cfg.gsae;
  if (saved === undefined) {
    // A foreign SAELens folder: only inference fields exist; the registry fills training defaults.
    const ours = arch === "standard" ? "relu_l1" : arch;
    const base = { architecture: ours, d_in: dIn, d_sae: dSae, seed: 0 };
    if (arch !== "topk") return base;
    const k = cfg.activation_fn_kwargs?.k ?? cfg.k;
    if (k === undefined) fail(`topk SAE needs activation_fn_kwargs.k`);
    return { ...base, k } as BaseSAEConfig;
  }
  // Files written before the dead-latent window moved to the trainer carry an SAE field that
  // nothing read (`dead_after_tokens`); the window used is cfg.json's `dead_window_tokens`.
  const { dead_after_tokens: _unread, ...config } = saved as unknown as BaseSAEConfig & {
    dead_after_tokens?: unknown;
  };
  let ours: SaelensArchitecture | undefined;
  try {
    ours = architectureOf(config.architecture).saelens.architecture;
  } catch (error) {
    fail(`gsae: ${(error as Error).message}`);
  }
  if (ours !== arch) {
    fail(
      `gsae architecture "${config.architecture}" is saved as "${ours}", but cfg.json says "${arch}"`,
    );
  }
  if (config.d_in !== dIn || config.d_sae !== dSae) {
    fail(`gsae d_in/d_sae ${config.d_in}/${config.d_sae} differ from cfg.json's ${dIn}/${dSae}`);
  }
  return config;
}

/**
 * Read a SAELens folder written by {@link saveSAE} (or by SAELens, for topk, gated and jumprelu
 * SAEs with `apply_b_dec_to_input` true and no activation normalisation). Every problem — no
 * folder, missing or malformed cfg.json, unknown architecture, missing or mis-shaped tensors —
 * throws an {@link SAEFolderError} or `SafetensorsError` naming the file and the problem.
 */
export async function loadSAEFolder(dir: string): Promise<LoadedSAEFolder> {
  const cfgPath = join(dir, CFG_FILE);
  const info = await readOrFail(dir, Deno.stat, "SAE folder (no such directory)");
  if (!info.isDirectory) throw new SAEFolderError(dir, "not a directory");
  const text = await readOrFail(
    cfgPath,
    Deno.readTextFile,
    `${CFG_FILE} (not a SAELens SAE folder)`,
  );
  const fail = (problem: string): never => {
    throw new SAEFolderError(cfgPath, problem);
  };
  let cfg: SaelensCfg;
  try {
    cfg = checkJson(parseCfgText(text, fail), saelensCfgSchema, { source: cfgPath });
  } catch (error) {
    if (error instanceof JsonFileError) fail(error.problems.join("; "));
    throw error;
  }

  let arch = (cfg.architecture ?? "standard") as SaelensArchitecture;
  // SAELens before "topk" existed stored TopK SAEs as "standard" with a topk activation.
  if (arch === "standard" && (cfg.activation_fn_str ?? cfg.activation_fn) === "topk") arch = "topk";
  if (!Object.hasOwn(SAELENS_TENSORS, arch)) {
    fail(
      `unknown architecture ${JSON.stringify(cfg.architecture)} (known: ${
        Object.keys(SAELENS_TENSORS).join(", ")
      })`,
    );
  }
  if (cfg.apply_b_dec_to_input === false) {
    fail("apply_b_dec_to_input false is not supported (our encoders subtract b_dec)");
  }
  if ((cfg.normalize_activations ?? "none") !== "none") {
    fail(`normalize_activations "${cfg.normalize_activations}" is not supported`);
  }
  if (cfg.finetuning_scaling_factor === true) fail("finetuning_scaling_factor is not supported");
  const config = ourConfig(cfg, arch, fail);

  const weightsPath = join(dir, WEIGHTS_FILE);
  const remedy = `delete ${dir} and train it again (deno task train-sae ` +
    `--out ${dir}; an SAE in a notebook cache is retrained by deno task reproduce --force)`;
  const file = await readOrFail(
    weightsPath,
    (path) => readSafetensors(path, { remedy }),
    WEIGHTS_FILE,
  );
  for (const name of SAELENS_TENSORS[arch]) requireTensor(file, name, undefined, weightsPath);
  const tensors = new Map<string, LoadedTensor>();
  // File tensor name -> our parameter name and conversion (JumpReLU's threshold).
  const fromFile = new Map(
    Object.entries(architectureOf(config.architecture).saelens.renamed ?? {})
      .map(([ours, renamed]) => [renamed.file, [ours, renamed] as const]),
  );
  for (const [name, t] of file.tensors) {
    const want = expectedShape(name, config.d_in, config.d_sae);
    const where = `tensor ${name} has shape [${t.shape}]`;
    if (want && !(want.length === t.shape.length && want.every((d, i) => d === t.shape[i]))) {
      throw new SAEFolderError(
        weightsPath,
        `${where}, expected [${want}] for d_in=${config.d_in}, d_sae=${config.d_sae}`,
      );
    }
    if (!(t.data instanceof Float32Array)) {
      throw new SAEFolderError(weightsPath, `tensor ${name} is ${t.dtype}, expected a float type`);
    }
    const [ours, renamed] = fromFile.get(name) ?? [name, undefined];
    if (renamed) {
      try {
        tensors.set(ours, { shape: t.shape, data: renamed.fromFile(t.data, weightsPath) });
      } catch (error) {
        throw new SAEFolderError(
          weightsPath,
          (error as Error).message.replace(`${weightsPath}: `, ""),
        );
      }
    } else tensors.set(name, { shape: t.shape, data: t.data });
  }

  let logSparsity: Float32Array | undefined;
  const sparsityPath = join(dir, SPARSITY_FILE);
  // log10 frequencies are -Infinity for latents that never fired.
  const sparsity = await readSafetensors(sparsityPath, { allowNonFinite: true, remedy }).catch(
    (error) => {
      if (error instanceof Deno.errors.NotFound) return null;
      throw error;
    },
  );
  if (sparsity) {
    logSparsity = requireTensor(sparsity, "sparsity", [config.d_sae], sparsityPath)
      .data as Float32Array;
  }

  const meta = { ...cfg, cfg } as LoadedSAEFolder["meta"];
  delete (meta as Record<string, unknown>).gsae;
  return { config, tensors, meta, ...(logSparsity ? { logSparsity } : {}) };
}
