/**
 * Reader and writer for the Hugging Face safetensors format.
 *
 * Layout: an 8-byte little-endian u64 header length N, then N bytes of UTF-8
 * JSON mapping tensor names to `{dtype, shape, data_offsets: [begin, end]}`
 * (plus an optional `"__metadata__"` string map), then the raw little-endian,
 * row-major tensor bytes. Offsets are relative to the start of that byte
 * buffer. Floats are decoded to Float32Array and integers to Int32Array,
 * which is what TensorFlow.js consumes.
 *
 * Integrity: every file written here carries a SHA-256 checksum under `__metadata__`
 * ({@link CHECKSUM_KEY}), over the header (minus the checksum) and the data; the readers check it
 * when present, so files from elsewhere (older saves, Hugging Face checkpoints) still load. Like
 * the reference implementation, the data offsets must tile the data buffer exactly (no gaps, no
 * trailing bytes), and decoded floats must be finite unless the caller allows otherwise.
 *
 * @module
 */

import { createHash } from "node:crypto";
import { writeFileAtomic } from "./atomic_write.ts";
import { f32ToBf16, f32ToF16, getF16Table } from "./float16.ts";

/** Element types this module reads and writes. */
export type SafetensorsDType = "F32" | "F16" | "BF16" | "I32" | "I64";

/** `__metadata__` key of the checksum: hex SHA-256 of the canonical header and the data. */
export const CHECKSUM_KEY = "gsae_sha256";

/**
 * One tensor as read: float dtypes are decoded to Float32Array, I32 to
 * Int32Array, I64 to Int32Array when every value fits (else an error).
 */
export interface SafeTensor {
  /** The dtype stored in the file (not the in-memory type). */
  dtype: SafetensorsDType;
  /** Dimensions, outermost first; `[]` is a scalar. */
  shape: number[];
  /** Row-major values. */
  data: Float32Array | Int32Array;
}

/** A whole parsed file. */
export interface SafetensorsFile {
  /** Tensors by name, in header order. */
  tensors: Map<string, SafeTensor>;
  /** The `__metadata__` string map (empty when absent). */
  metadata: Record<string, string>;
}

/** A tensor to serialize. */
export interface TensorToWrite {
  /** Dimensions; their product must equal `data.length`. */
  shape: number[];
  /** Row-major values. */
  data: Float32Array | Int32Array;
  /** Stored dtype; defaults to the writer's float dtype, or I32 for Int32Array. */
  dtype?: SafetensorsDType;
}

/** Options for {@link parseSafetensors} and the streaming reader. */
export interface ParseSafetensorsOptions {
  /** Label for errors (the file path). */
  source?: string;
  /** Tensors not to decode (e.g. ignored buffers); they may have any dtype. */
  skip?: (name: string) => boolean;
  /** Accept NaN and ±Infinity in float tensors (default: a non-finite value is an error). */
  allowNonFinite?: boolean;
  /** Appended to checksum and non-finite errors: how to get a good file again. */
  remedy?: string;
}

/** Options for {@link serializeSafetensors} and {@link writeSafetensors}. */
export interface WriteSafetensorsOptions {
  /** Stored dtype for Float32Array tensors without their own dtype (default F32). */
  dtype?: "F32" | "F16" | "BF16";
  /** String map written as `__metadata__`. */
  metadata?: Record<string, string>;
}

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

const ITEM_SIZE: Record<SafetensorsDType, number> = { F32: 4, F16: 2, BF16: 2, I32: 4, I64: 8 };
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
const LITTLE_ENDIAN_HOST = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** Parses a safetensors file held in memory; problems throw {@link SafetensorsError}. */
export function parseSafetensors(
  bytes: Uint8Array,
  options: ParseSafetensorsOptions = {},
): SafetensorsFile {
  const source = options.source ?? "<safetensors bytes>";
  const fail = failFor(source);
  if (bytes.length < 8) {
    fail(`file is ${bytes.length} bytes, too short for the 8-byte header length`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const dataStart = 8 + checkHeaderLength(view.getBigUint64(0, true), bytes.length, fail);
  const header = parseHeader(bytes.subarray(8, dataStart), bytes.length - dataStart, fail);
  const data = bytes.subarray(dataStart);
  if (header.checksum !== undefined) {
    const hash = checksumHasher(header);
    hash.update(data);
    checkDigest(header, hash.digest("hex"), fail, options.remedy);
  }
  const tensors = new Map<string, SafeTensor>();
  for (const e of header.entries) {
    if (options.skip?.(e.name)) continue;
    tensors.set(e.name, decodeEntry(e, data.subarray(e.begin, e.end), fail, options));
  }
  return { tensors, metadata: header.metadata };
}

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

/** Decodes one entry's bytes, refusing dtypes this module cannot decode and non-finite floats. */
export function decodeEntry(
  e: TensorEntry,
  raw: Uint8Array,
  fail: (problem: string) => never,
  options: Pick<ParseSafetensorsOptions, "allowNonFinite" | "remedy"> = {},
): SafeTensor {
  const what = `tensor ${JSON.stringify(e.name)}`;
  if (!Object.hasOwn(ITEM_SIZE, e.dtype)) {
    fail(`${what}: dtype ${e.dtype} is not supported (supported: ${Object.keys(ITEM_SIZE)})`);
  }
  const dtype = e.dtype as SafetensorsDType;
  const data = decode(raw, dtype, e.name, fail);
  if (data instanceof Float32Array && !options.allowNonFinite) {
    const bad = firstNonFinite(data);
    if (bad >= 0) {
      const at = e.shape.length > 1 ? ` (flat index into shape [${e.shape}])` : "";
      fail(
        `${what} holds ${data[bad]} at index ${bad}${at}: weights must be finite` +
          (options.remedy ? `; ${options.remedy}` : ""),
      );
    }
  }
  return { dtype, shape: e.shape, data };
}

/** Index of the first NaN or ±Infinity in `data`, or -1. */
export function firstNonFinite(data: Float32Array): number {
  for (let i = 0; i < data.length; i++) {
    // x - x is 0 for finite x and NaN for NaN and ±Infinity: one cheap test per element.
    if (data[i] - data[i] !== 0) return i;
  }
  return -1;
}

/**
 * The same file with a checksum (and `options.metadata`, if given) added to its header; the data
 * bytes are kept verbatim (the header only is rewritten). A file that already has a correct checksum comes back unchanged
 * in content.
 */
export function withChecksum(
  bytes: Uint8Array,
  options: { source?: string; metadata?: Record<string, string> } = {},
): Uint8Array {
  const fail = failFor(options.source ?? "<safetensors bytes>");
  if (bytes.length < 8) fail(`file is ${bytes.length} bytes, too short`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const dataStart = 8 + checkHeaderLength(view.getBigUint64(0, true), bytes.length, fail);
  const header = parseHeader(bytes.subarray(8, dataStart), bytes.length - dataStart, fail);
  const data = bytes.subarray(dataStart);
  const json: Record<string, unknown> = {};
  header.metadata = {
    ...header.metadata,
    ...checkStringMap(options.metadata ?? {}, "metadata", fail),
  };
  const hash = checksumHasher(header);
  hash.update(data);
  json.__metadata__ = { ...header.metadata, [CHECKSUM_KEY]: hash.digest("hex") };
  for (const e of header.entries) {
    json[e.name] = { dtype: e.dtype, shape: e.shape, data_offsets: [e.begin, e.end] };
  }
  return assemble(paddedJson(json), data);
}

/**
 * Reads and parses the file at `path`. I/O errors propagate as Deno errors;
 * format problems throw {@link SafetensorsError} with `source = path`.
 */
export async function readSafetensors(
  path: string,
  options: Omit<ParseSafetensorsOptions, "source"> = {},
): Promise<SafetensorsFile> {
  return parseSafetensors(await Deno.readFile(path), { ...options, source: path });
}

/**
 * Returns tensor `name`, throwing {@link SafetensorsError} (labelled `source`)
 * when it is missing or, if `shape` is given, has a different shape.
 */
export function requireTensor(
  file: SafetensorsFile,
  name: string,
  shape?: number[],
  source = "safetensors",
): SafeTensor {
  const tensor = file.tensors.get(name);
  if (tensor === undefined) {
    const names = [...file.tensors.keys()];
    const listed = names.slice(0, 10).join(", ") + (names.length > 10 ? ", ..." : "");
    throw new SafetensorsError(source, `missing tensor ${name} (file has: ${listed || "none"})`);
  }
  const sameShape = shape === undefined ||
    (shape.length === tensor.shape.length && shape.every((d, i) => d === tensor.shape[i]));
  if (!sameShape) {
    throw new SafetensorsError(
      source,
      `tensor ${name} has shape [${tensor.shape}], expected [${shape}]`,
    );
  }
  return tensor;
}

/** Encodes tensors (and metadata) into safetensors bytes that the Python/Rust readers accept. */
export function serializeSafetensors(
  tensors: Record<string, TensorToWrite>,
  options: WriteSafetensorsOptions = {},
): Uint8Array {
  const fail = (problem: string): never => {
    throw new SafetensorsError("serializeSafetensors", problem);
  };
  const planned = Object.entries(tensors).map(([name, t]) => {
    const what = `tensor ${JSON.stringify(name)}`;
    if (name === "__metadata__") fail(`"__metadata__" is reserved and cannot name a tensor`);
    const isInt = t.data instanceof Int32Array;
    const dtype = t.dtype ?? (isInt ? "I32" : options.dtype ?? "F32");
    if (!Object.hasOwn(ITEM_SIZE, dtype)) fail(`${what}: unknown dtype "${dtype}"`);
    if (isInt !== (dtype === "I32" || dtype === "I64")) {
      fail(`${what}: cannot store ${t.data.constructor.name} as ${dtype}`);
    }
    const count = elementCount(checkIntArray(t.shape, `${what}: shape`, fail), what, fail);
    if (count !== t.data.length) {
      fail(`${what}: shape [${t.shape}] has ${count} elements, data has ${t.data.length}`);
    }
    return { name, t, dtype, bytes: count * ITEM_SIZE[dtype] };
  });
  // Like the reference writer, place wider elements first: with the header
  // padded to 8 bytes every tensor then starts aligned to its element size,
  // without gaps (the Rust reader rejects gaps).
  planned.sort((a, b) => ITEM_SIZE[b.dtype] - ITEM_SIZE[a.dtype]);

  const metadata = options.metadata === undefined
    ? {}
    : checkStringMap(options.metadata, "metadata", fail);
  delete metadata[CHECKSUM_KEY];
  const entries: TensorEntry[] = [];
  let offset = 0;
  for (const p of planned) {
    entries.push({
      name: p.name,
      dtype: p.dtype,
      shape: p.t.shape,
      begin: offset,
      end: offset + p.bytes,
    });
    offset += p.bytes;
  }

  // The checksum's hex has a fixed length, so the header's size is known before the data is
  // hashed: the data is encoded straight into the output, with no second copy.
  const headerFor = (checksum: string) => {
    const header: Record<string, unknown> = {
      __metadata__: { ...metadata, [CHECKSUM_KEY]: checksum },
    };
    for (const e of entries) {
      header[e.name] = { dtype: e.dtype, shape: e.shape, data_offsets: [e.begin, e.end] };
    }
    return paddedJson(header);
  };
  const headerLength = headerFor("0".repeat(64)).length;
  assertLittleEndianHost();
  const out = new Uint8Array(8 + headerLength + offset);
  const data = out.subarray(8 + headerLength);
  let at = data.byteOffset;
  for (const { t, dtype, bytes } of planned) {
    const n = t.data.length;
    if (dtype === "F32" || dtype === "I32") {
      out.set(new Uint8Array(t.data.buffer, t.data.byteOffset, bytes), at);
    } else if (dtype === "F16" || dtype === "BF16") {
      const halves = new Uint16Array(out.buffer, at, n);
      const encode = dtype === "F16" ? f32ToF16 : f32ToBf16;
      for (let i = 0; i < n; i++) halves[i] = encode(t.data[i]);
    } else {
      // I64: low word is the value, high word its sign extension.
      const words = new Int32Array(out.buffer, at, 2 * n);
      for (let i = 0; i < n; i++) {
        words[2 * i] = t.data[i];
        words[2 * i + 1] = t.data[i] >> 31;
      }
    }
    at += bytes;
  }
  const hash = checksumHasher({ entries, metadata });
  hash.update(data);
  const json = headerFor(hash.digest("hex"));
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  return out;
}

/** Header JSON bytes padded with spaces to a multiple of 8 (keeps tensors aligned). */
function paddedJson(header: Record<string, unknown>): Uint8Array {
  const json = new TextEncoder().encode(JSON.stringify(header));
  const padded = new Uint8Array(Math.ceil(json.length / 8) * 8).fill(0x20);
  padded.set(json);
  return padded;
}

/** Length prefix + header + data. */
function assemble(json: Uint8Array, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(8 + json.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  out.set(data, 8 + json.length);
  return out;
}

/** Serializes with {@link serializeSafetensors} and writes the file atomically. */
export async function writeSafetensors(
  path: string,
  tensors: Record<string, TensorToWrite>,
  options: WriteSafetensorsOptions = {},
): Promise<void> {
  await writeFileAtomic(path, serializeSafetensors(tensors, options));
}

/** Decodes one tensor's bytes; each path copies the bytes exactly once. */
function decode(
  raw: Uint8Array,
  dtype: SafetensorsDType,
  name: string,
  fail: (problem: string) => never,
): Float32Array | Int32Array {
  assertLittleEndianHost();
  const count = raw.length / ITEM_SIZE[dtype];
  if (dtype === "F32" || dtype === "I32") {
    // Copying into a fresh typed array's buffer works at any source alignment.
    const out = dtype === "F32" ? new Float32Array(count) : new Int32Array(count);
    new Uint8Array(out.buffer).set(raw);
    return out;
  }
  if (dtype === "I64") {
    const words = new Int32Array(2 * count);
    new Uint8Array(words.buffer).set(raw);
    const out = new Int32Array(count);
    for (let i = 0; i < count; i++) {
      const [low, high] = [words[2 * i], words[2 * i + 1]];
      if (high !== low >> 31) {
        const value = (BigInt(high) << 32n) | BigInt(low >>> 0);
        fail(
          `tensor ${JSON.stringify(name)} (I64) value ${value} at index ${i} does not fit in int32`,
        );
      }
      out[i] = low;
    }
    return out;
  }
  const halves = new Uint16Array(count);
  new Uint8Array(halves.buffer).set(raw);
  const out = new Float32Array(count);
  if (dtype === "BF16") {
    // bfloat16 is the top half of a float32, so widening is a shift.
    const outBits = new Uint32Array(out.buffer);
    for (let i = 0; i < count; i++) outBits[i] = halves[i] << 16;
  } else {
    const table = getF16Table();
    for (let i = 0; i < count; i++) out[i] = table[halves[i]];
  }
  return out;
}

/** The raw-byte copies above reinterpret memory in host order, which must match the file's. */
function assertLittleEndianHost(): void {
  if (!LITTLE_ENDIAN_HOST) throw new Error("safetensors: big-endian hosts are not supported");
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
function checkStringMap(
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
function checkIntArray(value: unknown, what: string, fail: (problem: string) => never): number[] {
  if (!Array.isArray(value)) fail(`${what} must be an array of integers`);
  for (const v of value as unknown[]) {
    if (typeof v !== "number" || !Number.isSafeInteger(v) || v < 0) {
      fail(`${what} must hold non-negative integers, got ${JSON.stringify(v)}`);
    }
  }
  return [...(value as number[])];
}

/** Product of `shape`, refusing sizes too large to address. */
function elementCount(shape: number[], what: string, fail: (problem: string) => never): number {
  let count = 1;
  for (const d of shape) count *= d;
  // Beyond 2^53 / 8 the byte arithmetic is no longer exact.
  if (count > Number.MAX_SAFE_INTEGER / 8) fail(`${what}: shape [${shape}] is too large`);
  return count;
}
