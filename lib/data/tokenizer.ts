/**
 * GPT-2 byte-pair encoding and vocabulary remapping.
 *
 * The BPE itself comes from `gpt-tokenizer` (GPT-2's `r50k_base` encoding).
 * {@link VocabMap} lets a tiny model use a reduced vocabulary: a subset of
 * GPT-2 ids plus one out-of-vocabulary id, because with the full 50,257-id
 * vocabulary the unembedding dominates the cost of small models.
 *
 * @module
 */

import { decode, encode } from "gpt-tokenizer/encoding/r50k_base";
import { writeFileAtomic } from "../io/atomic_write.ts";

/** Number of ids in GPT-2's vocabulary (valid ids are `0 … 50256`). */
export const GPT2_VOCAB_SIZE = 50257;

/** GPT-2's `<|endoftext|>` id, used to separate documents. */
export const GPT2_EOT_ID = 50256;

/**
 * GPT-2 id that out-of-vocabulary model ids map back to in {@link VocabMap.toGpt2}.
 *
 * GPT-2 has no `<unk>` token (" <unk>" is three tokens), so we use id 187, the
 * single-byte token for byte 0xFF. That byte never occurs in UTF-8, so encoding
 * any string can never produce this id: it cannot collide with a real token,
 * and `toModel(toGpt2([oov]))` gives the oov id back. Decoding it with plain
 * GPT-2 gives U+FFFD; {@link VocabMap.decode} shows {@link UNK_TEXT} instead.
 */
export const OOV_GPT2_ID = 187;

/** Text that {@link VocabMap.decode} shows for the out-of-vocabulary id. */
export const UNK_TEXT = "⟨unk⟩";

/** Format tag of `vocab_map.json` files. */
export const VOCAB_MAP_FORMAT = "gsae-vocab-map/1";

// Special-token strings in input are encoded as ordinary text, as tiktoken does
// with `disallowed_special=()`: text can then never inject `<|endoftext|>`, and
// callers add document separators as explicit ids.
const ENCODE_OPTIONS = { disallowedSpecial: new Set<string>() };

/**
 * Encodes text with GPT-2's BPE. Special-token strings such as
 * `<|endoftext|>` in the text are encoded as ordinary characters.
 */
export function encodeGpt2(text: string): number[] {
  return encode(text, ENCODE_OPTIONS);
}

/**
 * Decodes GPT-2 ids to text.
 *
 * @throws {RangeError} when an id is not an integer in `[0, 50257)`.
 */
export function decodeGpt2(ids: number[]): string {
  for (const id of ids) {
    if (!isGpt2Id(id)) throw new RangeError(`decodeGpt2: ${id} is not a GPT-2 id`);
  }
  return decode(ids);
}

/** JSON form of a {@link VocabMap}, as stored in `vocab_map.json`. */
export interface VocabMapJson {
  /** Always {@link VOCAB_MAP_FORMAT}. */
  format: string;
  /** Base vocabulary; always `"gpt2"`. */
  base: string;
  /** Model id of the out-of-vocabulary token; equals `gpt2_ids.length`. */
  oov_id: number;
  /** `gpt2_ids[i]` is the GPT-2 id of model id `i`. */
  gpt2_ids: number[];
}

/**
 * A model vocabulary that is an ordered subset of GPT-2 ids plus one
 * out-of-vocabulary (oov) id: model id `i` ↔ GPT-2 id `gpt2Ids[i]`, and model
 * id `gpt2Ids.length` is the oov id, so the model vocabulary has
 * `gpt2Ids.length + 1` entries.
 */
export class VocabMap {
  readonly #gpt2Ids: Int32Array;
  // GPT-2 id → model id; a dense table because lookups run over whole corpora.
  readonly #toModel: Int32Array;

  /**
   * Creates the map with model id `i` ↔ GPT-2 id `gpt2Ids[i]`.
   *
   * @param gpt2Ids distinct GPT-2 ids in model-id order; must not contain
   *   {@link OOV_GPT2_ID}, which is reserved for the oov id.
   * @throws {Error} on duplicate, out-of-range or reserved ids.
   */
  constructor(gpt2Ids: readonly number[]) {
    const oov = gpt2Ids.length;
    this.#gpt2Ids = Int32Array.from(gpt2Ids);
    this.#toModel = new Int32Array(GPT2_VOCAB_SIZE).fill(oov);
    gpt2Ids.forEach((id, i) => {
      if (!isGpt2Id(id)) {
        throw new RangeError(`gpt2_ids[${i}] = ${id} is not an integer in [0, ${GPT2_VOCAB_SIZE})`);
      }
      if (id === OOV_GPT2_ID) {
        throw new RangeError(`gpt2_ids[${i}] = ${id} is reserved for the out-of-vocabulary id`);
      }
      if (this.#toModel[id] !== oov) {
        throw new RangeError(`gpt2_ids[${i}] = ${id} duplicates gpt2_ids[${this.#toModel[id]}]`);
      }
      this.#toModel[id] = i;
    });
  }

  /** Model vocabulary size: the mapped GPT-2 ids plus the oov id. */
  get size(): number {
    return this.#gpt2Ids.length + 1;
  }

  /** Model id of the out-of-vocabulary token (the last id). */
  get oovId(): number {
    return this.#gpt2Ids.length;
  }

  /** Maps GPT-2 ids to model ids; ids not in the map become {@link oovId}. */
  toModel(gpt2Ids: ArrayLike<number>): Int32Array {
    const out = new Int32Array(gpt2Ids.length);
    for (let i = 0; i < gpt2Ids.length; i++) {
      const id = gpt2Ids[i];
      out[i] = isGpt2Id(id) ? this.#toModel[id] : this.oovId;
    }
    return out;
  }

  /**
   * Maps model ids to GPT-2 ids; the oov id becomes {@link OOV_GPT2_ID}.
   *
   * @throws {RangeError} when a model id is not in `[0, size)`.
   */
  toGpt2(modelIds: ArrayLike<number>): number[] {
    const out = new Array<number>(modelIds.length);
    for (let i = 0; i < modelIds.length; i++) {
      out[i] = this.#gpt2Of(modelIds[i]);
    }
    return out;
  }

  /** Decodes model ids to text, showing the oov id as {@link UNK_TEXT}. */
  decode(modelIds: ArrayLike<number>): string {
    let text = "";
    let run: number[] = [];
    for (let i = 0; i < modelIds.length; i++) {
      const id = modelIds[i];
      const gpt2 = this.#gpt2Of(id);
      if (id !== this.oovId) {
        run.push(gpt2);
        continue;
      }
      text += decode(run) + UNK_TEXT;
      run = [];
    }
    return text + decode(run);
  }

  /** Encodes text with GPT-2's BPE and maps it to model ids. */
  encode(text: string): Int32Array {
    return this.toModel(encodeGpt2(text));
  }

  /** Returns the `vocab_map.json` form. */
  toJSON(): VocabMapJson {
    return {
      format: VOCAB_MAP_FORMAT,
      base: "gpt2",
      oov_id: this.oovId,
      gpt2_ids: Array.from(this.#gpt2Ids),
    };
  }

  /**
   * Builds a map from its JSON form.
   *
   * @param source names where `obj` came from (a path), for error messages.
   * @throws {Error} naming `source` when the format or the ids are invalid.
   */
  static fromJSON(obj: unknown, source: string): VocabMap {
    const fail = (why: string): never => {
      throw new Error(`${source}: invalid vocab map: ${why}`);
    };
    if (typeof obj !== "object" || obj === null || Array.isArray(obj)) fail("not a JSON object");
    const o = obj as Record<string, unknown>;
    if (o.format !== VOCAB_MAP_FORMAT) {
      fail(`format is ${JSON.stringify(o.format)}, expected "${VOCAB_MAP_FORMAT}"`);
    }
    if (o.base !== "gpt2") fail(`base is ${JSON.stringify(o.base)}, expected "gpt2"`);
    if (!Array.isArray(o.gpt2_ids)) fail("gpt2_ids is not an array");
    const ids = o.gpt2_ids as unknown[];
    if (o.oov_id !== ids.length) {
      fail(`oov_id is ${JSON.stringify(o.oov_id)}, expected gpt2_ids.length = ${ids.length}`);
    }
    ids.forEach((id, i) => {
      if (typeof id !== "number") fail(`gpt2_ids[${i}] is not a number`);
    });
    try {
      return new VocabMap(ids as number[]);
    } catch (e) {
      return fail((e as Error).message);
    }
  }

  /** Reads a `vocab_map.json` file. */
  static async load(path: string): Promise<VocabMap> {
    let obj: unknown;
    try {
      obj = JSON.parse(await Deno.readTextFile(path));
    } catch (e) {
      if (e instanceof SyntaxError) throw new Error(`${path}: not valid JSON: ${e.message}`);
      throw e;
    }
    return VocabMap.fromJSON(obj, path);
  }

  /** Writes the map as `vocab_map.json` (atomically). */
  async save(path: string): Promise<void> {
    // One line keeps a 4k–16k id list compact; the file is not meant for reading.
    await writeFileAtomic(path, JSON.stringify(this.toJSON()) + "\n");
  }

  /**
   * Builds the map of the `size - 1` most frequent GPT-2 ids in `tokenIds`
   * (most frequent first, ties broken by the smaller id) plus the oov id, so
   * the model vocabulary has exactly `size` ids. When fewer distinct ids occur,
   * the rest are filled with unseen ids in ascending order, by the same rule.
   *
   * @throws {RangeError} when `size` is not in `[1, 50257]` or a token is not a GPT-2 id.
   */
  static fromFrequencies(tokenIds: ArrayLike<number>, size: number): VocabMap {
    // OOV_GPT2_ID can never be chosen, so at most 50256 GPT-2 ids + the oov id.
    if (!Number.isInteger(size) || size < 1 || size > GPT2_VOCAB_SIZE) {
      throw new RangeError(`fromFrequencies: size ${size} is not an integer in [1, 50257]`);
    }
    const counts = new Float64Array(GPT2_VOCAB_SIZE);
    for (let i = 0; i < tokenIds.length; i++) {
      const id = tokenIds[i];
      if (!isGpt2Id(id)) {
        throw new RangeError(`fromFrequencies: token ${i} = ${id} is not a GPT-2 id`);
      }
      counts[id]++;
    }
    const order: number[] = [];
    for (let id = 0; id < GPT2_VOCAB_SIZE; id++) if (id !== OOV_GPT2_ID) order.push(id);
    order.sort((a, b) => counts[b] - counts[a] || a - b);
    return new VocabMap(order.slice(0, size - 1));
  }

  #gpt2Of(modelId: number): number {
    if (!Number.isInteger(modelId) || modelId < 0 || modelId > this.oovId) {
      throw new RangeError(`model id ${modelId} is not an integer in [0, ${this.size})`);
    }
    return modelId === this.oovId ? OOV_GPT2_ID : this.#gpt2Ids[modelId];
  }
}

/**
 * GPT-2 ids (e.g. a corpus split) as a model's ids: through `vocabMap` for a checkpoint with a
 * reduced vocabulary, unchanged otherwise.
 */
export function toModelIds(gpt2Ids: ArrayLike<number>, vocabMap?: VocabMap): Int32Array {
  return vocabMap ? vocabMap.toModel(gpt2Ids) : Int32Array.from(gpt2Ids);
}

/** A text ↔ model-id mapping with the model's vocabulary size. */
export interface Tokenizer {
  /** Number of model ids; valid ids are `0 … vocabSize - 1`. */
  vocabSize: number;
  /** Encodes text to model ids. */
  encode(text: string): Int32Array;
  /** Decodes model ids to text. */
  decode(ids: ArrayLike<number>): string;
}

/**
 * Returns a tokenizer over `vocabMap`'s reduced vocabulary, or plain GPT-2
 * (vocabulary size 50257, model id = GPT-2 id) when no map is given.
 */
export function makeTokenizer(vocabMap?: VocabMap): Tokenizer {
  if (vocabMap) {
    return {
      vocabSize: vocabMap.size,
      encode: (text) => vocabMap.encode(text),
      decode: (ids) => vocabMap.decode(ids),
    };
  }
  return {
    vocabSize: GPT2_VOCAB_SIZE,
    encode: (text) => Int32Array.from(encodeGpt2(text)),
    decode: (ids) => decodeGpt2(Array.from(ids)),
  };
}

function isGpt2Id(id: number): boolean {
  return Number.isInteger(id) && id >= 0 && id < GPT2_VOCAB_SIZE;
}
