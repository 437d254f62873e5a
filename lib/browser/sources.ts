/**
 * Which SAEs a browser shows: `--sae NAME|PATH` resolved to live SAEs. A PATH is any SAELens
 * folder (cfg.json + sae_weights.safetensors; its `hook_name` says where it reads); a NAME is an
 * SAE of the zoo (`lib/experiments/sae_zoo.ts`), by its label such as `topk-k32-s0` or
 * `gsae-k32-b0.5-s0`, loaded from the workspace's cache or trained into it. Without `--sae`, the
 * profile's first-seed TopK and g-SAE at the main k: the default run's pair.
 *
 * @module
 */
import { basename, join, relative } from "node:path";
import { chooseBeta, mainSAE } from "../experiments/zoo/compared.ts";
import { type SAESpec, type TrainedSAE, trainedSAE } from "../experiments/zoo/sae_zoo.ts";
import type { Workspace } from "../experiments/shared/workspace.ts";
import { cacheRoot, hookLayer } from "../experiments/shared/workspace.ts";
import { readMetrics } from "../pipeline/metrics.ts";
import { defaultOutDir } from "../pipeline/run.ts";
import { architectureNames, loadSAE } from "../sae/mod.ts";
import type { BrowserSAE } from "./data.ts";

/** A zoo SAE as a browser source. */
export function fromTrained(ws: Workspace, trained: TrainedSAE): BrowserSAE {
  return {
    name: trained.label,
    sae: trained.sae,
    hook: ws.hook,
    // Relative to the cache folder: an exported site must not carry this machine's paths.
    description: `SAE zoo (cache folder): ${relative(cacheRoot(), trained.dir)}`,
  };
}

/** The zoo spec of a label `<arch>[-k<k>][-b<beta>]-s<seed>`, or null if it is not one. */
export function parseSpecLabel(label: string): SAESpec | null {
  const m = /^([a-z0-9_]+)(?:-k(\d+))?(?:-b(\d+(?:\.\d+)?(?:e-?\d+)?))?-s(\d+)$/.exec(label);
  if (!m || !architectureNames().includes(m[1])) return null;
  return {
    architecture: m[1] as SAESpec["architecture"],
    ...(m[2] !== undefined ? { k: Number(m[2]) } : {}),
    ...(m[3] !== undefined ? { beta: Number(m[3]) } : {}),
    seed: Number(m[4]),
  };
}

/** Loads a SAELens folder as a browser source (its hook from cfg.json). */
export async function fromFolder(ws: Workspace, dir: string): Promise<BrowserSAE> {
  const { sae, meta } = await loadSAE(dir);
  const hook = String(meta.hook_name);
  hookLayer(hook, ws.model.config.n_layer); // a hook the model lacks is an error naming it
  if (sae.config.d_in !== ws.model.config.n_embd) {
    throw new Error(
      `${dir}: d_in ${sae.config.d_in} does not match the model ${ws.modelName} (width ` +
        `${ws.model.config.n_embd}); pass --model with the model it was trained on ` +
        `(cfg.json says ${JSON.stringify(meta.model_name)})`,
    );
  }
  const name = basename(dir.replace(/\/+$/, "")).replace(/[^\w.=-]+/g, "_") || "sae";
  return { name, sae, hook, description: `SAELens folder: ${dir}` };
}

/**
 * Resolves one `--sae` value: an existing folder is a SAELens folder; otherwise a zoo label
 * (loaded from the cache, or trained now through the zoo).
 */
export async function resolveSAE(
  ws: Workspace,
  arg: string,
  options: { log?: (line: string) => void } = {},
): Promise<BrowserSAE> {
  const isDir = await Deno.stat(arg).then((s) => s.isDirectory, () => false);
  if (isDir) return await fromFolder(ws, arg);
  const spec = parseSpecLabel(arg);
  if (spec === null) {
    throw new Error(
      `--sae ${arg}: not a folder, nor a zoo label <arch>[-k<k>][-b<beta>]-s<seed> ` +
        `(architectures: ${architectureNames().join(", ")}); cached SAEs: ` +
        `${(await cachedLabels(ws)).join(", ") || "none"}`,
    );
  }
  options.log?.(`browser: ${arg} from the SAE zoo (trained now if not cached)`);
  return fromTrained(ws, await trainedSAE(ws, spec));
}

/** Labels of the SAEs in the workspace's zoo cache at its hook. */
export async function cachedLabels(ws: Workspace): Promise<string[]> {
  const dir = join(ws.cacheDir, "saes", ws.hook);
  const names: string[] = [];
  try {
    for await (const e of Deno.readDir(dir)) if (e.isDirectory) names.push(e.name);
  } catch {
    // no cache yet
  }
  return names.sort();
}

/**
 * The g-SAE β of the profile's recorded run: `gsae_beta` of 00_tour in the profile's out folder's
 * metrics.json when it is this profile and model, else null.
 */
export async function recordedBeta(ws: Workspace): Promise<number | null> {
  const metrics = await readMetrics(join(defaultOutDir(ws.profile.name), "metrics.json"))
    .catch(() => null);
  if (!metrics || metrics.profile !== ws.profile.name || metrics.model !== ws.modelName) {
    return null;
  }
  const value = metrics.notebooks["00_tour"]?.metrics.gsae_beta?.value;
  return typeof value === "number" ? value : null;
}

/**
 * The default run's pair: TopK and g-SAE at the profile's main k, first seed; g-SAE's β is
 * `options.beta`, else the recorded run's ({@link recordedBeta}), else chosen now on
 * development windows (`chooseBeta`, which trains the β sweep).
 */
export async function defaultSAEs(
  ws: Workspace,
  options: { beta?: number; log?: (line: string) => void } = {},
): Promise<BrowserSAE[]> {
  const seed = ws.profile.seeds[0];
  let beta = options.beta ?? await recordedBeta(ws);
  if (beta === null) {
    options.log?.("browser: no recorded β for this profile and model: choosing it (β sweep)");
    beta = (await chooseBeta(ws)).beta;
  }
  const topk = await mainSAE(ws, "topk", seed);
  const gsae = await mainSAE(ws, "gsae", seed, { beta });
  return [fromTrained(ws, topk), fromTrained(ws, gsae)];
}
