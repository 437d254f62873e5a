/**
 * The safetensors header: its length prefix, its JSON (tensor entries and the `__metadata__`
 * map), the checks the reference implementation makes (well-formed entries that tile the data
 * buffer exactly, a sane header length), the integrity checksum, and the error every problem
 * becomes. The readers and writers that use it are in `safetensors.ts` (whole files in memory)
 * and `safetensors_stream.ts` (tensor by tensor).
 *
 * @module
 */

import { createHash } from "node:crypto";

/** Element types this module reads and writes. */
export type SafetensorsDType = "F32" | "F16" | "BF16" | "I32" | "I64";

/** `__metadata__` key of the checksum: hex SHA-256 of the canonical header and the data. */
export const CHECKSUM_KEY = "gsae_sha256";

/** A malformed file or a missing/mis-shaped tensor; the message is `${source}: ${problem}`. */
export class SafetensorsError extends Error {
  /** The file path (or other label) the problem was found in. */
  readonly source: string;
  /** What is wrong, without the source. */
  readonly problem: string;

  /** @param source File path or label. @param problem Description of the problem. */
  constructor(source: string, problem: string) {
    super(`${source}: ${problem}`);
    this.name = "SafetensorsError";
    this.source = source;
    this.problem = problem;
  }
}

/** Bytes per element of each dtype this project decodes. */
export const ITEM_SIZE: Record<SafetensorsDType, number> = {
  F32: 4,
  F16: 2,
  BF16: 2,
  I32: 4,
  I64: 8,
};

// Every dtype the reference implementation knows, so files holding others (a BOOL mask buffer)
// parse and the caller may skip them; only ITEM_SIZE's dtypes decode.
const ANY_ITEM_SIZE: Record<string, number> = {
  ...ITEM_SIZE,
  BOOL: 1,
  U8: 1,
  I8: 1,
  F8_E5M2: 1,
  F8_E4M3: 1,
  I16: 2,
  U16: 2,
  U32: 4,
  F64: 8,
  U64: 8,
};

// The reference Rust implementation refuses headers above 100 MB; a larger
// length prefix means a corrupt or non-safetensors file.
const MAX_HEADER_BYTES = 100_000_000;

/** The parsed header of a safetensors file: entries in header order, and the metadata. */
export interface SafetensorsHeader {
  /** Tensor entries in header order; offsets are relative to the data buffer. */
  entries: TensorEntry[];
  /** The `__metadata__` map (empty when absent), checksum included. */
  metadata: Record<string, string>;
  /** The stored checksum, when the file has one. */
  checksum?: string;
}

/** One tensor's header entry. `dtype` may be one this module cannot decode (e.g. BOOL). */
export interface TensorEntry {
  /** Tensor name. */
  name: string;
  /** Stored dtype. */
  dtype: string;
  /** Dimensions. */
  shape: number[];
  /** First byte, relative to the data buffer. */
  begin: number;
  /** One past the last byte. */
  end: number;
}

/** A function that throws {@link SafetensorsError} for `source`. */
export function failFor(source: string): (problem: string) => never {
  return (problem: string): never => {
    throw new SafetensorsError(source, problem);
  };
}

/** Checks the u64 header length against a file of `fileLength` bytes; returns it as a number. */
export function checkHeaderLength(
  headerLength: bigint,
  fileLength: number,
  fail: (problem: string) => never,
): number {
  if (headerLength > BigInt(MAX_HEADER_BYTES)) {
    fail(`header length ${headerLength} is absurdly large (limit ${MAX_HEADER_BYTES})`);
  }
  if (headerLength > BigInt(fileLength - 8)) {
    fail(`header length ${headerLength} exceeds the ${fileLength - 8} bytes after the prefix`);
  }
  return Number(headerLength);
}

/**
 * Parses and validates header bytes for a data buffer of `bufferLength` bytes: every entry is
 * well formed and the entries tile the buffer exactly, as the reference implementation demands.
 */
export function parseHeader(
  headerBytes: Uint8Array,
  bufferLength: number,
  fail: (problem: string) => never,
): SafetensorsHeader {
  const header = parseHeaderJson(headerBytes, fail);
  let metadata: Record<string, string> = {};
  const entries: TensorEntry[] = [];
  for (const [name, raw] of Object.entries(header)) {
    if (name === "__metadata__") metadata = checkStringMap(raw, "__metadata__", fail);
    else entries.push(checkEntry(name, raw, bufferLength, fail));
  }
  checkTiling(entries, bufferLength, fail);
  const checksum = metadata[CHECKSUM_KEY];
  return { entries, metadata, ...(checksum === undefined ? {} : { checksum }) };
}

/** A SHA-256 hasher already fed the canonical form of `header` (the data comes next). */
export function checksumHasher(
  header: Pick<SafetensorsHeader, "entries" | "metadata">,
): ReturnType<typeof createHash> {
  const metadata: Record<string, string> = { ...header.metadata };
  delete metadata[CHECKSUM_KEY];
  const canonical: unknown[] = [
    "gsae-safetensors-checksum/1",
    Object.entries(metadata).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
    header.entries.map((e) => [e.name, e.dtype, e.shape, e.begin, e.end]),
  ];
  return createHash("sha256").update(JSON.stringify(canonical) + "\n");
}

/** Throws (with `remedy`) unless `digest` is the checksum `header` records. */
export function checkDigest(
  header: SafetensorsHeader,
  digest: string,
  fail: (problem: string) => never,
  remedy?: string,
): void {
  if (digest !== header.checksum) {
    fail(
      `checksum mismatch: the header records ${CHECKSUM_KEY} ${header.checksum}, the contents ` +
        `hash to ${digest}; the file is damaged${remedy ? `: ${remedy}` : ""}`,
    );
  }
}

/** Validates one tensor's header entry against a data buffer of `bufferLength` bytes. */
function checkEntry(
  name: string,
  raw: unknown,
  bufferLength: number,
  fail: (problem: string) => never,
): TensorEntry {
  const what = `tensor ${JSON.stringify(name)}`;
  if (!isPlainObject(raw)) fail(`${what}: entry must be an object`);
  const entry = raw as Record<string, unknown>;
  for (const field of ["dtype", "shape", "data_offsets"]) {
    if (!(field in entry)) fail(`${what}: missing "${field}"`);
  }
  if (typeof entry.dtype !== "string") fail(`${what}: dtype must be a string`);
  const dtype = entry.dtype as string;
  if (!Object.hasOwn(ANY_ITEM_SIZE, dtype)) {
    fail(`${what}: unknown dtype "${dtype}" (known: ${Object.keys(ANY_ITEM_SIZE).join(", ")})`);
  }
  const shape = checkIntArray(entry.shape, `${what}: shape`, fail);
  const offsets = checkIntArray(entry.data_offsets, `${what}: data_offsets`, fail);
  if (offsets.length !== 2) fail(`${what}: data_offsets must be [begin, end]`);
  const [begin, end] = offsets;
  if (begin > end) fail(`${what}: data_offsets [${begin}, ${end}] have begin > end`);
  if (end > bufferLength) {
    fail(`${what}: data_offsets [${begin}, ${end}] run past the ${bufferLength}-byte data buffer`);
  }
  const needed = elementCount(shape, what, fail) * ANY_ITEM_SIZE[dtype];
  if (needed !== end - begin) {
    fail(`${what}: shape [${shape}] needs ${needed} bytes but data_offsets give ${end - begin}`);
  }
  return { name, dtype, shape, begin, end };
}

/**
 * The entries must cover the data buffer exactly, in offset order: no shared bytes, no gaps and
 * no trailing bytes (the reference reader refuses all three; a gap or a tail hides damage).
 */
function checkTiling(
  entries: TensorEntry[],
  bufferLength: number,
  fail: (problem: string) => never,
): void {
  const sorted = [...entries].sort((a, b) => a.begin - b.begin || a.end - b.end);
  let expected = 0;
  let prev: TensorEntry | null = null;
  for (const cur of sorted) {
    const where = `tensor ${JSON.stringify(cur.name)} data_offsets [${cur.begin}, ${cur.end}]`;
    if (cur.begin < expected) {
      fail(`${where} overlap tensor ${JSON.stringify(prev!.name)} [${prev!.begin}, ${prev!.end}]`);
    }
    if (cur.begin > expected) {
      fail(`${where} leave a gap of ${cur.begin - expected} bytes after byte ${expected}`);
    }
    expected = cur.end;
    prev = cur;
  }
  if (expected !== bufferLength) {
    fail(`${bufferLength - expected} trailing bytes after the last tensor (ends at ${expected})`);
  }
}

/** Decodes and parses the header bytes into a JSON object. */
function parseHeaderJson(
  headerBytes: Uint8Array,
  fail: (problem: string) => never,
): Record<string, unknown> {
  let text = "";
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(headerBytes);
  } catch {
    fail("header is not valid UTF-8");
  }
  let header: unknown;
  try {
    header = JSON.parse(text);
  } catch (error) {
    fail(`header is not valid JSON (${(error as Error).message})`);
  }
  if (!isPlainObject(header)) {
    fail(
      `header must be a JSON object, got ${
        Array.isArray(header) ? "array" : JSON.stringify(header)
      }`,
    );
  }
  return header as Record<string, unknown>;
}

/** Whether `value` is a non-null, non-array object. */
function isPlainObject(value: unknown): boolean {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Checks that `value` maps strings to strings. */
export function checkStringMap(
  value: unknown,
  what: string,
  fail: (problem: string) => never,
): Record<string, string> {
  if (!isPlainObject(value)) fail(`${what} must be an object of strings`);
  for (const [key, v] of Object.entries(value as object)) {
    if (typeof v !== "string") fail(`${what} value for ${JSON.stringify(key)} must be a string`);
  }
  return { ...(value as Record<string, string>) };
}

/** Checks that `value` is an array of non-negative safe integers. */
export function checkIntArray(
  value: unknown,
  what: string,
  fail: (problem: string) => never,
): number[] {
  if (!Array.isArray(value)) fail(`${what} must be an array of integers`);
  for (const v of value as unknown[]) {
    if (typeof v !== "number" || !Number.isSafeInteger(v) || v < 0) {
      fail(`${what} must hold non-negative integers, got ${JSON.stringify(v)}`);
    }
  }
  return [...(value as number[])];
}

/** Product of `shape`, refusing sizes too large to address. */
export function elementCount(
  shape: number[],
  what: string,
  fail: (problem: string) => never,
): number {
  let count = 1;
  for (const d of shape) count *= d;
  // Beyond 2^53 / 8 the byte arithmetic is no longer exact.
  if (count > Number.MAX_SAFE_INTEGER / 8) fail(`${what}: shape [${shape}] is too large`);
  return count;
}
