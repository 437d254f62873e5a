/**
 * The browser's site: the app (`app/`: one HTML page, its scripts and styles) and the data as
 * JSONP-style script files that call `GSAE.register(key, value)`, so the same files load over
 * HTTP from the server and from `file://` in an exported copy (browsers refuse `fetch` there).
 *
 * Data layout (`data/`): `saes.js` (the SAEs, the mode, the model), `vocab.js` (every token's
 * text), and per SAE `<name>/index.js` (columns for the list: frequency, max activation, mean
 * |∇L·d̂|, logit-lens top token, most frequent firing tokens) and `<name>/latents_<n>.js` (full
 * records of {@link SHARD_SIZE} latents each, with nearest latents in the paired SAE), so the
 * list opens from one small file and a latent page loads one shard, at any number of latents.
 *
 * @module
 */
import { join } from "node:path";
import { writeDirAtomic } from "../io/atomic_write.ts";
import type { Tokenizer } from "../data/tokenizer.ts";
import type { BrowserSAE, LatentRecord, SAEBrowserData } from "./data.ts";
import { nearestByCosine, type Scored, unitDecoderRows } from "./decoder.ts";
import { sig4 } from "./data.ts";

/** Latents per shard file. */
export const SHARD_SIZE = 64;

/** The app's folder (HTML, scripts, styles). */
export const APP_DIR: string = new URL("./app", import.meta.url).pathname;

/** Where the site runs: `server` has the prompt page, `static` (an export) does not. */
export type SiteMode = "server" | "static";

/** One SAE in `saes.js`: its description from the precomputed data, and how the site holds it. */
export interface SiteSAE extends
  Pick<
    SAEBrowserData,
    "name" | "description" | "architecture" | "gradientAware" | "dSae" | "dIn" | "k" | "hook"
  > {
  /** Tokens probed. */
  tokens: number;
  /** The SAE whose nearest latents each latent page lists beside its own (null: none). */
  pair: string | null;
  /** Latents per shard. */
  shardSize: number;
}

/** `saes.js`'s value. */
export interface SiteManifest {
  /** Server or static export. */
  mode: SiteMode;
  /** The model's name. */
  model: string;
  /** The SAEs, in the order given. */
  saes: SiteSAE[];
  /** When the site was written. */
  generated: string;
}

/** A latent record as shipped: plus its nearest latents in the paired SAE. */
export interface SiteLatent extends LatentRecord {
  /** Nearest latents of the paired SAE by decoder cosine. */
  nearOther: Scored[];
}

/** JSONP: a script that registers `value` under `key`. */
export function jsonp(key: string, value: unknown): string {
  const json = JSON.stringify(value).replace(/\u2028/g, "\\u2028").replace(/\u2029/g, "\\u2029");
  return `GSAE.register(${JSON.stringify(key)}, ${json});\n`;
}

/**
 * Each SAE's pair: the next SAE with the same width and hook (the last pairs with the first of
 * its kind), so a TopK and a g-SAE given together list each other's nearest latents.
 */
export function pairSAEs(saes: readonly { name: string; dIn: number; hook: string }[]) {
  return saes.map((s, i) => {
    const same = saes.filter((o) => o.dIn === s.dIn && o.hook === s.hook);
    if (same.length < 2) return null;
    const at = same.findIndex((o) => o === saes[i]);
    return same[(at + 1) % same.length].name;
  });
}

/** A site in memory: what the data files hold (inline views read it directly). */
export interface SiteModel {
  /** `saes.js`. */
  manifest: SiteManifest;
  /** Every token's text, by model id. */
  vocab: string[];
  /** Per SAE name, its latent records by index. */
  latents: Map<string, SiteLatent[]>;
}

/**
 * The site of `sources` (their precomputed data plus the nearest latents in each SAE's pair).
 * @throws Error when two SAEs share a name or a name is not URL-safe.
 */
export function buildSite(
  sources: readonly { source: BrowserSAE; data: SAEBrowserData }[],
  options: { tokenizer: Tokenizer; model: string; mode: SiteMode; listed?: number },
): SiteModel {
  const names = new Set<string>();
  for (const { source } of sources) {
    if (!/^[\w.=-]+$/.test(source.name) || names.has(source.name)) {
      throw new Error(`SAE name "${source.name}" is not unique and URL-safe ([A-Za-z0-9_.=-])`);
    }
    names.add(source.name);
  }
  const pairs = pairSAEs(sources.map(({ data }) => data));
  const saes: SiteSAE[] = sources.map(({ data }, i) => ({
    name: data.name,
    description: data.description,
    architecture: data.architecture,
    gradientAware: data.gradientAware,
    dSae: data.dSae,
    dIn: data.dIn,
    k: data.k,
    hook: data.hook,
    tokens: data.tokens,
    pair: pairs[i],
    shardSize: SHARD_SIZE,
  }));
  const units = new Map(sources.map(({ source }) => [source.name, unitDecoderRows(source.sae)]));
  const latents = new Map<string, SiteLatent[]>();
  sources.forEach(({ source, data }, i) => {
    const pair = pairs[i];
    const nearOther = pair === null
      ? []
      : nearestByCosine(units.get(source.name)!, units.get(pair)!, {
        d: data.dIn,
        n: options.listed ?? 8,
      });
    latents.set(
      data.name,
      data.latents.map((l, j) => ({
        ...l,
        nearOther: (nearOther[j] ?? []).map(([id, c]) => [id, sig4(c)] as Scored),
      })),
    );
  });
  const vocab = Array.from(
    { length: options.tokenizer.vocabSize },
    (_, id) => options.tokenizer.decode([id]),
  );
  return {
    manifest: {
      mode: options.mode,
      model: options.model,
      saes,
      generated: new Date().toISOString(),
    },
    vocab,
    latents,
  };
}

/** The data files of a site (paths under the site root, `data/…`; see the module doc). */
export function siteDataFiles(site: SiteModel): Record<string, string> {
  const files: Record<string, string> = {};
  for (const [name, latents] of site.latents) {
    files[`data/${name}/index.js`] = jsonp(`index/${name}`, {
      freq: latents.map((l) => l.freq),
      maxAct: latents.map((l) => l.maxAct),
      meanGrad: latents.map((l) => l.meanGrad),
      lensTop: latents.map((l) => l.lens.top[0]?.[0] ?? null),
      topTokens: latents.map((l) => l.topTokens),
    });
    for (let s = 0; s * SHARD_SIZE < latents.length; s++) {
      files[`data/${name}/latents_${s}.js`] = jsonp(
        `latents/${name}/${s}`,
        latents.slice(s * SHARD_SIZE, (s + 1) * SHARD_SIZE),
      );
    }
  }
  files["data/vocab.js"] = jsonp("vocab", site.vocab);
  files["data/saes.js"] = jsonp("saes", site.manifest);
  return files;
}

/** The app's files (`index.html` at the root, the rest under `app/`). */
export async function appFiles(): Promise<Record<string, string>> {
  const files: Record<string, string> = {};
  for await (const entry of Deno.readDir(APP_DIR)) {
    if (!entry.isFile) continue;
    const text = await Deno.readTextFile(join(APP_DIR, entry.name));
    files[entry.name === "index.html" ? "index.html" : `app/${entry.name}`] = text;
  }
  return files;
}

/**
 * Writes a static copy of the browser (app and data, mode `static`: no prompt page) to `dir`,
 * replacing it atomically; it opens from `file://<dir>/index.html`. Returns its size in bytes.
 */
export async function exportSite(dir: string, data: Record<string, string>): Promise<number> {
  const files = { ...(await appFiles()), ...data };
  await writeDirAtomic(dir, files);
  return Object.values(files).reduce((n, t) => n + new TextEncoder().encode(t).length, 0);
}
