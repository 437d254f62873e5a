/**
 * The browser data of an SAE, built once and cached on disk: `<cache>/browser/<name>-<key>.json`
 * where the key hashes everything the data depends on (the SAE's config and weights, the model's
 * fingerprint, the hook, the options and {@link BROWSER_DATA_VERSION}), so a retrained SAE or
 * another model never reuses stale data and the default SAEs' pages open at once.
 *
 * @module
 */
import { join } from "node:path";
import { readTextIfExists, writeJsonAtomic } from "../io/atomic_write.ts";
import { cacheRoot, type Workspace } from "../experiments/shared/workspace.ts";
import type { SAE } from "../sae/mod.ts";
import {
  BROWSER_DATA_VERSION,
  type BrowserSAE,
  browserTokens,
  precomputeLatents,
  type PrecomputeOptions,
  type SAEBrowserData,
} from "./data.ts";

/** SHA-256 (hex) of an SAE's config and every parameter's values, in name order. */
export async function saeFingerprint(sae: SAE): Promise<string> {
  const parts: Uint8Array[] = [new TextEncoder().encode(JSON.stringify(sae.config))];
  for (const name of [...sae.params.keys()].sort()) {
    const values = await sae.params.get(name)!.data();
    parts.push(new TextEncoder().encode(name));
    parts.push(new Uint8Array(values.buffer, values.byteOffset, values.byteLength));
  }
  const all = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) (all.set(p, at), at += p.length);
  return hex(await crypto.subtle.digest("SHA-256", all));
}

function hex(buffer: ArrayBuffer): string {
  return [...new Uint8Array(buffer)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/** Options of {@link browserData}. */
export interface BrowserDataOptions extends Omit<PrecomputeOptions, "log"> {
  /** Cache folder (default `<cache root>/browser`). */
  cacheDir?: string;
  /** Progress lines (default console.log). */
  log?: (line: string) => void;
}

/**
 * The browser data of `source`: from the cache when its key matches, else precomputed now (with a
 * progress line) and cached. A cache file that is unreadable or of another key is rebuilt.
 */
export async function browserData(
  ws: Workspace,
  source: BrowserSAE,
  options: BrowserDataOptions = {},
): Promise<SAEBrowserData> {
  const log = options.log ?? ((line: string) => console.log(line));
  const { cacheDir, log: _log, ...rest } = options;
  // The resolved token count is part of the key, whether given or the profile's default.
  const precompute = { ...rest, tokens: rest.tokens ?? browserTokens(ws) };
  const key = {
    version: BROWSER_DATA_VERSION,
    sae: await saeFingerprint(source.sae),
    model: ws.fingerprint,
    modelName: ws.modelName,
    hook: source.hook,
    options: precompute,
  };
  const keyHash = hex(
    await crypto.subtle.digest("SHA-256", new TextEncoder().encode(JSON.stringify(key))),
  ).slice(0, 16);
  const path = join(
    cacheDir ?? join(cacheRoot(), "browser"),
    `${source.name.replace(/[^\w.=-]+/g, "_")}-${keyHash}.json`,
  );
  const text = await readTextIfExists(path);
  if (text !== null) {
    try {
      const cached = JSON.parse(text) as { key: unknown; data: SAEBrowserData };
      if (JSON.stringify(cached.key) === JSON.stringify(key)) {
        return { ...cached.data, name: source.name, description: source.description };
      }
    } catch {
      // unreadable (e.g. truncated by a full disk): rebuilt below
    }
  }
  log(`browser: precomputing ${source.name} (${source.sae.config.d_sae} latents) -> ${path}`);
  const t0 = performance.now();
  const data = precomputeLatents(ws, source, { ...precompute, log });
  await writeJsonAtomic(path, { key, data });
  log(`browser: ${source.name} done in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  return data;
}
