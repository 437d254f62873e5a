/**
 * Download a GPT-2 checkpoint (config.json, model.safetensors) from the Hugging Face hub into
 * the local hub cache, where {@link resolveModel} finds it. Needs internet; the endpoint can be
 * changed with `HF_ENDPOINT` (tests point it at a server on 127.0.0.1).
 *
 * @module
 */
import { makeTempPath, writeFileAtomic } from "../io/atomic_write.ts";
import { Progress } from "../io/progress.ts";
import { SafetensorsError } from "../io/safetensors.ts";
import { SafetensorsReader } from "../io/safetensors_stream.ts";
import { parseGPT2Config } from "./config.ts";
import { readJsonFile, z } from "../io/json_file.ts";
import { hubRepoDir } from "./discovery.ts";

const FILES = ["config.json", "model.safetensors"] as const;

/**
 * Fetch `repo` at `revision` (default "main"). Each file is streamed to a temporary file and
 * renamed only when complete and valid, so an interrupted download never looks finished.
 * Returns the snapshot folder.
 */
export async function fetchModel(
  repo: string,
  options: { revision?: string; endpoint?: string; log?: (line: string) => void } = {},
): Promise<string> {
  if (!/^[\w.-]+(\/[\w.-]+)?$/.test(repo)) {
    throw new Error(`"${repo}" is not a hub repository name`);
  }
  const endpoint = (options.endpoint ?? Deno.env.get("HF_ENDPOINT") ?? "https://huggingface.co")
    .replace(/\/$/, "");
  const revision = options.revision ?? "main";
  const log = options.log ?? ((line: string) => console.log(line));
  const base = hubRepoDir(repo);
  let commit = revision;
  let snapshot = "";
  for (const file of FILES) {
    const url = `${endpoint}/${repo}/resolve/${revision}/${file}`;
    let response: Response;
    try {
      response = await fetch(url);
    } catch (err) {
      throw new Error(
        `cannot reach ${url}: ${(err as Error).message} (downloading needs internet access)`,
      );
    }
    if (!response.ok || !response.body) {
      await response.body?.cancel();
      throw new Error(`${url}: HTTP ${response.status} ${response.statusText}`);
    }
    commit = response.headers.get("x-repo-commit") ?? commit;
    snapshot = `${base}/snapshots/${commit}`;
    await Deno.mkdir(snapshot, { recursive: true });
    const target = `${snapshot}/${file}`;
    const tmp = makeTempPath(target);
    const size = Number(response.headers.get("content-length") ?? 0);
    const progress = new Progress(`fetch-model ${repo}/${file}`, {
      total: size,
      unit: "bytes",
      log,
    });
    let received = 0;
    try {
      const out = await Deno.open(tmp, { write: true, create: true, truncate: true });
      try {
        for await (const chunk of response.body) {
          await out.write(chunk);
          received += chunk.length;
          progress.update(received);
        }
      } finally {
        out.close();
      }
      if (size > 0 && received !== size) {
        throw new Error(`${url}: got ${received} of ${size} bytes`);
      }
      await validate(file, tmp, url);
      await Deno.rename(tmp, target);
    } catch (err) {
      await Deno.remove(tmp).catch(() => {});
      throw err;
    }
    progress.update(received, {}, true);
  }
  await writeFileAtomic(`${base}/refs/${revision}`, commit);
  return snapshot;
}

/** Check a downloaded file parses before it is put in place. */
async function validate(file: string, path: string, url: string): Promise<void> {
  if (file === "config.json") {
    parseGPT2Config(await readJsonFile(path, z.unknown()), url);
  } else {
    // Header, sizes and tiling (and a checksum, if any), without holding gigabytes in memory;
    // the tensors themselves are checked when the model loads.
    const reader = await SafetensorsReader.open(path).catch((error) => {
      throw error instanceof SafetensorsError ? new SafetensorsError(url, error.problem) : error;
    });
    try {
      await reader.verifyChecksum();
    } finally {
      reader.close();
    }
  }
}
