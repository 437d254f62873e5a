/**
 * Tensor-by-tensor reading of a safetensors file, for checkpoints too large to hold twice: the
 * header is read and validated up front (the same checks as {@link parseSafetensors}), then each
 * tensor's bytes are read from disk only when asked for, so peak memory is what the caller keeps
 * plus one tensor. The checksum, when the file has one, is verified in fixed-size chunks.
 *
 * @module
 */
import {
  checkDigest,
  checkHeaderLength,
  checksumHasher,
  decodeEntry,
  failFor,
  parseHeader,
  type ParseSafetensorsOptions,
  type SafeTensor,
  type SafetensorsHeader,
  type TensorEntry,
} from "./safetensors.ts";

/** Bytes hashed per read while verifying a checksum. */
const CHUNK_BYTES = 16 << 20;

/** An open safetensors file; {@link SafetensorsReader.close} it when done. */
export class SafetensorsReader {
  /** The file path, used in every error. */
  readonly source: string;
  /** The `__metadata__` map (empty when absent). */
  readonly metadata: Record<string, string>;
  /** Header entries by name, in header order. */
  readonly entries: Map<string, TensorEntry>;
  readonly #file: Deno.FsFile;
  readonly #header: SafetensorsHeader;
  readonly #dataStart: number;
  readonly #options: ParseSafetensorsOptions;

  private constructor(
    file: Deno.FsFile,
    header: SafetensorsHeader,
    dataStart: number,
    options: ParseSafetensorsOptions & { source: string },
  ) {
    this.#file = file;
    this.#header = header;
    this.#dataStart = dataStart;
    this.#options = options;
    this.source = options.source;
    this.metadata = header.metadata;
    this.entries = new Map(header.entries.map((e) => [e.name, e]));
  }

  /**
   * Opens `path` and validates its header against the file's size. I/O errors (NotFound)
   * propagate as Deno errors; format problems throw `SafetensorsError`.
   */
  static async open(
    path: string,
    options: Omit<ParseSafetensorsOptions, "source" | "skip"> = {},
  ): Promise<SafetensorsReader> {
    const file = await Deno.open(path, { read: true });
    try {
      const fail = failFor(path);
      const size = (await file.stat()).size;
      if (size < 8) fail(`file is ${size} bytes, too short for the 8-byte header length`);
      const prefix = await readAt(file, 0, 8);
      const length = checkHeaderLength(
        new DataView(prefix.buffer).getBigUint64(0, true),
        size,
        fail,
      );
      const header = parseHeader(await readAt(file, 8, length), size - 8 - length, fail);
      return new SafetensorsReader(file, header, 8 + length, { ...options, source: path });
    } catch (error) {
      file.close();
      throw error;
    }
  }

  /** Whether the file records a checksum. */
  get hasChecksum(): boolean {
    return this.#header.checksum !== undefined;
  }

  /** Verifies the checksum when there is one (true), reading the data in chunks; false if none. */
  async verifyChecksum(): Promise<boolean> {
    if (!this.hasChecksum) return false;
    const hash = checksumHasher(this.#header);
    const end = (await this.#file.stat()).size;
    for (let at = this.#dataStart; at < end; at += CHUNK_BYTES) {
      hash.update(await readAt(this.#file, at, Math.min(CHUNK_BYTES, end - at)));
    }
    checkDigest(this.#header, hash.digest("hex"), failFor(this.source), this.#options.remedy);
    return true;
  }

  /** Reads and decodes tensor `name` (errors as {@link parseSafetensors} gives them). */
  async read(name: string): Promise<SafeTensor> {
    const fail = failFor(this.source);
    const entry = this.entries.get(name) ?? fail(`missing tensor ${name}`);
    const raw = await readAt(this.#file, this.#dataStart + entry.begin, entry.end - entry.begin);
    return decodeEntry(entry, raw, fail, this.#options);
  }

  /** Closes the file. */
  close(): void {
    this.#file.close();
  }
}

/** Exactly `length` bytes of `file` from byte `position`. */
async function readAt(file: Deno.FsFile, position: number, length: number): Promise<Uint8Array> {
  await file.seek(position, Deno.SeekMode.Start);
  const out = new Uint8Array(length);
  let got = 0;
  while (got < length) {
    const n = await file.read(out.subarray(got));
    if (n === null) throw new Error(`unexpected end of file at byte ${position + got}`);
    got += n;
  }
  return out;
}
