/**
 * What every notebook opens first: the profile, the model, the corpus in the model's vocabulary,
 * the SAE hook, and where caches and results go.
 *
 * Notebooks run in separate kernels, so expensive work is shared through disk caches keyed by
 * what produced them (see `sae_zoo.ts`). The pipeline passes its settings through environment
 * variables, which interactive users can leave unset:
 *
 * - `GSAE_PROFILE`: profile name (default `default`).
 * - `GSAE_MODEL`: model spec overriding the profile's.
 * - `GSAE_RUN_DIR`: where notebooks record metrics, claims and figure specs (default
 *   `.cache/interactive/<profile>`, so exploring never touches the committed outputs).
 * - `GSAE_FRESH_AFTER`: epoch milliseconds; cache entries written before it are rebuilt
 *   (`deno task reproduce --force`).
 *
 * @module
 */
import { describeBackend, initBackend } from "../../tensor/backend.ts";
import { loadCorpus } from "../../data/corpus.ts";
import { REPO_ROOT } from "../../gpt2/embedded_models.ts";
import { loadGPT2 } from "../../gpt2/checkpoint.ts";
import { resolveModel } from "../../gpt2/discovery.ts";
import type { GPT2 } from "../../gpt2/model.ts";
import { modelFingerprint } from "../../store/mod.ts";
import { makeTokenizer, type Tokenizer, toModelIds, type VocabMap } from "../../data/tokenizer.ts";
import { getProfile, type Profile, saeLayer } from "./profile.ts";

/** An opened experiment: model, data and paths. */
export interface Workspace {
  /** The profile. */
  profile: Profile;
  /** Short model name (embedded preset, hub repo or folder). */
  modelName: string;
  /** The checkpoint folder. */
  modelDir: string;
  /** The frozen language model. */
  model: GPT2;
  /** The model's reduced vocabulary (embedded models), if any. */
  vocabMap?: VocabMap;
  /** Text ↔ model ids. */
  tokenizer: Tokenizer;
  /** Training split in model ids (SAEs train on it). */
  train: Int32Array;
  /** Validation split in model ids (everything reported is measured on it). */
  val: Int32Array;
  /** The layer the SAEs read. */
  layer: number;
  /** `blocks.<layer>.hook_resid_post`. */
  hook: string;
  /** The backend, in words. */
  backend: string;
  /** SHA-256 over the model's config and weights: caches are keyed by it. */
  fingerprint: string;
  /** `.cache/experiments/<profile>/<model>`: stores, SAEs and evaluations of this workspace. */
  cacheDir: string;
  /** Where notebooks record results (see the module doc). */
  runDir: string;
  /** Cache entries written before this time (epoch ms) are stale; 0 keeps every valid entry. */
  freshAfter: number;
}

/** Options of {@link openWorkspace}; each defaults to its environment variable. */
export interface WorkspaceOptions {
  /** Profile name (`GSAE_PROFILE`, else `default`). */
  profile?: string;
  /** Model spec (`GSAE_MODEL`, else the profile's model). */
  model?: string;
  /** Progress lines (default: console.log). */
  log?: (line: string) => void;
  /**
   * The SAE hook, `blocks.<layer>.<hook point>` (default: `resid_post` at the profile's layer);
   * the sweep's grids set it.
   */
  hook?: string;
}

const safe = (s: string) => s.replace(/[^\w.-]+/g, "_");

/** The cache root: `$GSAE_CACHE_DIR` or `<repo>/.cache`. */
export function cacheRoot(): string {
  return Deno.env.get("GSAE_CACHE_DIR") || `${REPO_ROOT}/.cache`;
}

/** Opens the workspace: initialises the backend, loads the model and the corpus. */
export async function openWorkspace(options: WorkspaceOptions = {}): Promise<Workspace> {
  const env = (k: string) => Deno.env.get(k) || undefined;
  const log = options.log ?? ((line: string) => console.log(line));
  const profile = getProfile(options.profile ?? env("GSAE_PROFILE") ?? "default");
  const backend = describeBackend(await initBackend());
  const resolved = await resolveModel(options.model ?? env("GSAE_MODEL") ?? profile.model);
  const { model, vocabMap } = await loadGPT2(resolved.dir);
  const corpus = await loadCorpus({ log: () => {} });
  const layer = options.hook === undefined
    ? saeLayer(model.config.n_layer, profile.layerFraction)
    : hookLayer(options.hook, model.config.n_layer);
  const freshAfter = Number(env("GSAE_FRESH_AFTER") ?? 0);
  if (!Number.isFinite(freshAfter)) {
    throw new Error(
      `GSAE_FRESH_AFTER must be epoch milliseconds, got "${env("GSAE_FRESH_AFTER")}"`,
    );
  }
  const ws: Workspace = {
    profile,
    modelName: resolved.name,
    modelDir: resolved.dir,
    model,
    vocabMap,
    tokenizer: makeTokenizer(vocabMap),
    train: toModelIds(corpus.train, vocabMap),
    val: toModelIds(corpus.val, vocabMap),
    layer,
    hook: options.hook ?? `blocks.${layer}.hook_resid_post`,
    backend,
    fingerprint: await modelFingerprint(model),
    cacheDir: `${cacheRoot()}/experiments/${profile.cacheName}/${safe(resolved.name)}`,
    runDir: env("GSAE_RUN_DIR") ?? `${cacheRoot()}/interactive/${profile.name}`,
    freshAfter,
  };
  log(
    `workspace: profile ${profile.name}, model ${ws.modelName} (${model.config.n_layer} layers × ` +
      `${model.config.n_embd}), SAE hook ${ws.hook}, ${backend}`,
  );
  return ws;
}

/** The block of a hook name `blocks.<layer>.<point>`; a malformed name or layer is an error. */
export function hookLayer(hook: string, nLayer: number): number {
  const m = /^blocks\.(\d+)\.hook_\w+$/.exec(hook);
  if (!m || Number(m[1]) >= nLayer) {
    throw new Error(
      `hook "${hook}" is not blocks.<layer>.hook_<point> with a layer below ${nLayer}`,
    );
  }
  return Number(m[1]);
}

/** Frees the model's tensors. */
export function closeWorkspace(ws: Workspace): void {
  ws.model.dispose();
}
