/**
 * Find a GPT-2 checkpoint from what a user types: a folder, an embedded model's name, or a
 * Hugging Face hub name whose files are already in the local hub cache.
 *
 * @module
 */
import { callerPath } from "../io/caller_path.ts";
import { DEFAULT_MODEL, LM_PRESETS, REPO_ROOT } from "./embedded_models.ts";

/** Where a model spec led. */
export interface ResolvedModel {
  /** Folder holding config.json and model.safetensors. */
  dir: string;
  /** How it was found. */
  source: "folder" | "embedded" | "hf-cache";
  /** A short name for reports (the preset, the hub repo, or the folder). */
  name: string;
}

/** Hub repos that real GPT-2 sizes are published under (old names first, as users type them). */
const HUB_ALIASES: Record<string, string[]> = {
  "gpt2": ["gpt2", "openai-community/gpt2"],
  "gpt2-medium": ["gpt2-medium", "openai-community/gpt2-medium"],
  "gpt2-large": ["gpt2-large", "openai-community/gpt2-large"],
  "gpt2-xl": ["gpt2-xl", "openai-community/gpt2-xl"],
};

/** The Hugging Face hub cache folder: `$HF_HUB_CACHE`, else `$HF_HOME/hub`, else `~/.cache/huggingface/hub`. */
export function hubCacheDir(): string {
  const env = (k: string) => Deno.env.get(k) || undefined;
  const hubCache = env("HF_HUB_CACHE");
  if (hubCache) return hubCache;
  const home = env("HF_HOME") ??
    `${env("XDG_CACHE_HOME") ?? `${env("HOME") ?? "."}/.cache`}/huggingface`;
  return `${home}/hub`;
}

/** The cache folder of hub repo `repo` (`models--org--name`). */
export function hubRepoDir(repo: string): string {
  return `${hubCacheDir()}/models--${repo.replaceAll("/", "--")}`;
}

async function isCheckpoint(dir: string): Promise<boolean> {
  try {
    await Deno.stat(`${dir}/config.json`);
    await Deno.stat(`${dir}/model.safetensors`);
    return true;
  } catch {
    return false;
  }
}

/** For an existing folder: the checkpoint files it lacks; empty when it is not a folder. */
async function missingCheckpointFiles(dir: string): Promise<string[]> {
  try {
    if (!(await Deno.stat(dir)).isDirectory) return [];
  } catch {
    return [];
  }
  const missing: string[] = [];
  for (const file of ["config.json", "model.safetensors"]) {
    try {
      await Deno.stat(`${dir}/${file}`);
    } catch {
      missing.push(`${dir}/${file}`);
    }
  }
  return missing;
}

/** The snapshot of a cached hub repo: the one `refs/main` names, else the newest complete one. */
async function findSnapshot(repo: string): Promise<string | null> {
  const base = hubRepoDir(repo);
  try {
    const ref = (await Deno.readTextFile(`${base}/refs/main`)).trim();
    if (await isCheckpoint(`${base}/snapshots/${ref}`)) return `${base}/snapshots/${ref}`;
  } catch { /* no refs/main: look at the snapshots themselves */ }
  const found: { dir: string; mtime: number }[] = [];
  try {
    for await (const entry of Deno.readDir(`${base}/snapshots`)) {
      const dir = `${base}/snapshots/${entry.name}`;
      if (await isCheckpoint(dir)) {
        found.push({ dir, mtime: (await Deno.stat(dir)).mtime?.getTime() ?? 0 });
      }
    }
  } catch {
    return null;
  }
  found.sort((a, b) => b.mtime - a.mtime);
  return found[0]?.dir ?? null;
}

/**
 * Resolve `spec`: "default" (the default embedded model), a folder path, an embedded model name
 * (`sotu-4x128`), or a hub name (`gpt2`, `openai-community/gpt2-medium`) found in the hub cache.
 * The error lists every place it looked and how to get the model.
 */
export async function resolveModel(spec: string): Promise<ResolvedModel> {
  const name = spec === "default" ? DEFAULT_MODEL : spec;
  const tried: string[] = [];
  if (name in LM_PRESETS) {
    const dir = `${REPO_ROOT}/outputs/models/${name}`;
    if (await isCheckpoint(dir)) return { dir, source: "embedded", name };
    tried.push(`${dir} (embedded model; train it with: deno task train-lm ${name})`);
  }
  // A folder typed on a command line is relative to the caller's folder, not the repository's.
  const folder = callerPath(name);
  if (await isCheckpoint(folder)) return { dir: folder, source: "folder", name };
  const missing = await missingCheckpointFiles(folder);
  if (missing.length > 0) {
    throw new Error(
      `model folder ${folder} has no ${missing.join(" and no ")}; a GPT-2 checkpoint folder ` +
        `needs config.json and model.safetensors (Hugging Face layout)`,
    );
  }
  tried.push(`${folder} (as a folder with config.json and model.safetensors)`);
  for (const repo of HUB_ALIASES[name] ?? [name]) {
    if (!/^[\w.-]+(\/[\w.-]+)?$/.test(repo)) continue;
    const snapshot = await findSnapshot(repo);
    if (snapshot) return { dir: snapshot, source: "hf-cache", name: repo };
    tried.push(`${hubRepoDir(repo)}/snapshots/* (Hugging Face hub cache)`);
  }
  throw new Error(
    `model "${spec}" not found. Looked in:\n  ${tried.join("\n  ")}\n` +
      `With internet access, download it with: deno task fetch-model ${
        HUB_ALIASES[name]?.[0] ?? name
      }`,
  );
}
