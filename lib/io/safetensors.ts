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
 * The header (length prefix, JSON, checks, checksum, errors) is in `safetensors_header.ts`.
 *
 * Why one module of ~400 lines: the in-memory reader and writer of one format, with its dtype
 * conversions; the header is in `safetensors_header.ts`.
 *
 * @module
 */

import { writeFileAtomic } from "./atomic_write.ts";
import { f32ToBf16, f32ToF16, getF16Table } from "./float16.ts";
import {
  checkDigest,
  checkHeaderLength,
  checkIntArray,
  checkStringMap,
  CHECKSUM_KEY,
  checksumHasher,
  elementCount,
  failFor,
  ITEM_SIZE,
  parseHeader,
  type SafetensorsDType,
  SafetensorsError,
  type TensorEntry,
} from "./safetensors_header.ts";

export {
  checkDigest,
  checkHeaderLength,
  CHECKSUM_KEY,
  checksumHasher,
  failFor,
  parseHeader,
  type SafetensorsDType,
  SafetensorsError,
  type SafetensorsHeader,
  type TensorEntry,
} from "./safetensors_header.ts";

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
