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
 * @module
 */

import { writeFileAtomic } from "./atomic_write.ts";
import { f32ToBf16, f32ToF16, getF16Table } from "./float16.ts";

/** Element types this module reads and writes. */
export type SafetensorsDType = "F32" | "F16" | "BF16" | "I32" | "I64";

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
// The reference Rust implementation refuses headers above 100 MB; a larger
// length prefix means a corrupt or non-safetensors file.
const MAX_HEADER_BYTES = 100_000_000;
const LITTLE_ENDIAN_HOST = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** Parses a safetensors file held in memory; problems throw {@link SafetensorsError}. */
export function parseSafetensors(
  bytes: Uint8Array,
  options: { source?: string } = {},
): SafetensorsFile {
  const source = options.source ?? "<safetensors bytes>";
  const fail = (problem: string): never => {
    throw new SafetensorsError(source, problem);
  };
  if (bytes.length < 8) {
    fail(`file is ${bytes.length} bytes, too short for the 8-byte header length`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLength = view.getBigUint64(0, true);
  if (headerLength > BigInt(MAX_HEADER_BYTES)) {
    fail(`header length ${headerLength} is absurdly large (limit ${MAX_HEADER_BYTES})`);
  }
  if (headerLength > BigInt(bytes.length - 8)) {
    fail(`header length ${headerLength} exceeds the ${bytes.length - 8} bytes after the prefix`);
  }
  const dataStart = 8 + Number(headerLength);
  const header = parseHeaderJson(bytes.subarray(8, dataStart), fail);
  const bufferLength = bytes.length - dataStart;

  let metadata: Record<string, string> = {};
  const entries: Entry[] = [];
  for (const [name, raw] of Object.entries(header)) {
    if (name === "__metadata__") metadata = checkStringMap(raw, "__metadata__", fail);
    else entries.push(checkEntry(name, raw, bufferLength, fail));
  }
  checkNoOverlap(entries, fail);

  const tensors = new Map<string, SafeTensor>();
  for (const e of entries) {
    const raw = bytes.subarray(dataStart + e.begin, dataStart + e.end);
    tensors.set(e.name, {
      dtype: e.dtype,
      shape: e.shape,
      data: decode(raw, e.dtype, e.name, fail),
    });
  }
  return { tensors, metadata };
}

/**
 * Reads and parses the file at `path`. I/O errors propagate as Deno errors;
 * format problems throw {@link SafetensorsError} with `source = path`.
 */
export async function readSafetensors(path: string): Promise<SafetensorsFile> {
  return parseSafetensors(await Deno.readFile(path), { source: path });
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

  const header: Record<string, unknown> = {};
  if (options.metadata !== undefined) {
    header.__metadata__ = checkStringMap(options.metadata, "metadata", fail);
  }
  let offset = 0;
  for (const p of planned) {
    header[p.name] = { dtype: p.dtype, shape: p.t.shape, data_offsets: [offset, offset + p.bytes] };
    offset += p.bytes;
  }
  let json = new TextEncoder().encode(JSON.stringify(header));
  const padded = Math.ceil(json.length / 8) * 8;
  if (padded !== json.length) {
    const withSpaces = new Uint8Array(padded).fill(0x20);
    withSpaces.set(json);
    json = withSpaces;
  }

  assertLittleEndianHost();
  const out = new Uint8Array(8 + json.length + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  let at = 8 + json.length;
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

/** A validated header entry; offsets are relative to the data buffer. */
interface Entry {
  name: string;
  dtype: SafetensorsDType;
  shape: number[];
  begin: number;
  end: number;
}

/** Validates one tensor's header entry against a data buffer of `bufferLength` bytes. */
function checkEntry(
  name: string,
  raw: unknown,
  bufferLength: number,
  fail: (problem: string) => never,
): Entry {
  const what = `tensor ${JSON.stringify(name)}`;
  if (!isPlainObject(raw)) fail(`${what}: entry must be an object`);
  const entry = raw as Record<string, unknown>;
  for (const field of ["dtype", "shape", "data_offsets"]) {
    if (!(field in entry)) fail(`${what}: missing "${field}"`);
  }
  if (typeof entry.dtype !== "string") fail(`${what}: dtype must be a string`);
  const dtype = entry.dtype as SafetensorsDType;
  if (!Object.hasOwn(ITEM_SIZE, dtype)) {
    fail(`${what}: unknown dtype "${dtype}" (supported: ${Object.keys(ITEM_SIZE).join(", ")})`);
  }
  const shape = checkIntArray(entry.shape, `${what}: shape`, fail);
  const offsets = checkIntArray(entry.data_offsets, `${what}: data_offsets`, fail);
  if (offsets.length !== 2) fail(`${what}: data_offsets must be [begin, end]`);
  const [begin, end] = offsets;
  if (begin > end) fail(`${what}: data_offsets [${begin}, ${end}] have begin > end`);
  if (end > bufferLength) {
    fail(`${what}: data_offsets [${begin}, ${end}] run past the ${bufferLength}-byte data buffer`);
  }
  const needed = elementCount(shape, what, fail) * ITEM_SIZE[dtype];
  if (needed !== end - begin) {
    fail(`${what}: shape [${shape}] needs ${needed} bytes but data_offsets give ${end - begin}`);
  }
  return { name, dtype, shape, begin, end };
}

/** Gaps between tensors are tolerated (the format allows them), shared bytes are not. */
function checkNoOverlap(entries: Entry[], fail: (problem: string) => never): void {
  const sorted = entries.filter((e) => e.end > e.begin).sort((a, b) => a.begin - b.begin);
  for (let i = 1; i < sorted.length; i++) {
    const [prev, cur] = [sorted[i - 1], sorted[i]];
    if (cur.begin < prev.end) {
      fail(
        `tensor ${JSON.stringify(cur.name)} data_offsets [${cur.begin}, ${cur.end}] overlap ` +
          `tensor ${JSON.stringify(prev.name)} [${prev.begin}, ${prev.end}]`,
      );
    }
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
