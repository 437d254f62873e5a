import assert from "node:assert/strict";
import { bf16ToF32, f16ToF32, f32ToBf16, f32ToF16 } from "../lib/io/float16.ts";
import {
  CHECKSUM_KEY,
  parseSafetensors,
  readSafetensors,
  requireTensor,
  SafetensorsError,
  serializeSafetensors,
  withChecksum,
  writeSafetensors,
} from "../lib/io/safetensors.ts";

const SOURCE = "fixture.safetensors";

/** Builds a file the way Python's `safetensors.torch.save_file` lays it out, minus padding. */
function rawFile(header: unknown, data: Uint8Array = new Uint8Array()): Uint8Array {
  const json = new TextEncoder().encode(
    typeof header === "string" ? header : JSON.stringify(header),
  );
  return rawWithHeaderBytes(json, data);
}

function rawWithHeaderBytes(json: Uint8Array, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(8 + json.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  out.set(data, 8 + json.length);
  return out;
}

/** Asserts that parsing throws a SafetensorsError naming the source and matching `problem`. */
function assertRejects(bytes: Uint8Array, problem: RegExp): void {
  assert.throws(() => parseSafetensors(bytes, { source: SOURCE }), (error: unknown) => {
    assert.ok(error instanceof SafetensorsError, `expected SafetensorsError, got ${error}`);
    assert.equal(error.source, SOURCE);
    assert.ok(error.message.startsWith(`${SOURCE}: `), error.message);
    assert.match(error.problem, problem);
    return true;
  });
}

const f32Entry = (begin: number, end: number, shape = [(end - begin) / 4]) => ({
  dtype: "F32",
  shape,
  data_offsets: [begin, end],
});

Deno.test("round trip of F32, F16, BF16, I32 and I64 tensors with metadata", async () => {
  const floats = new Float32Array([0, 1, -2.5, 0.333, 65504, 1e-3]);
  const ints = new Int32Array([0, -1, 2147483647, -2147483648, 7, 42]);
  const bytes = serializeSafetensors({
    "w.f32": { shape: [2, 3], data: floats },
    "w.f16": { shape: [3, 2], data: floats, dtype: "F16" },
    "w.bf16": { shape: [6], data: floats, dtype: "BF16" },
    "ids.i32": { shape: [6], data: ints },
    "ids.i64": { shape: [2, 3], data: ints, dtype: "I64" },
    scalar: { shape: [], data: new Float32Array([3.5]) },
    empty: { shape: [0, 4], data: new Float32Array(0) },
  }, { metadata: { format: "pt", note: "héllo" } });
  const headerLength = Number(new DataView(bytes.buffer).getBigUint64(0, true));
  assert.equal(headerLength % 8, 0, "header is padded to 8-byte alignment");

  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/nested/model.safetensors`;
    await writeSafetensors(path, {
      a: { shape: [2], data: new Float32Array([1, 2]) },
    });
    assert.deepEqual([...(await readSafetensors(path)).tensors.get("a")!.data], [1, 2]);

    const file = parseSafetensors(bytes);
    const { [CHECKSUM_KEY]: checksum, ...metadata } = file.metadata;
    assert.deepEqual(metadata, { format: "pt", note: "héllo" });
    assert.match(checksum, /^[0-9a-f]{64}$/);
    const f32 = requireTensor(file, "w.f32", [2, 3]);
    assert.equal(f32.dtype, "F32");
    assert.deepEqual(f32.data, floats);
    const f16 = requireTensor(file, "w.f16", [3, 2]);
    assert.ok(f16.data instanceof Float32Array);
    assert.deepEqual([...f16.data], [...floats].map((x) => f16ToF32(f32ToF16(x))));
    assert.ok(Math.abs(f16.data[3] - 0.333) < 1e-3);
    const bf16 = requireTensor(file, "w.bf16", [6]);
    assert.deepEqual([...bf16.data], [...floats].map((x) => bf16ToF32(f32ToBf16(x))));
    assert.deepEqual(requireTensor(file, "ids.i32").data, ints);
    const i64 = requireTensor(file, "ids.i64", [2, 3]);
    assert.equal(i64.dtype, "I64");
    assert.deepEqual(i64.data, ints);
    assert.deepEqual(requireTensor(file, "scalar", []).data, new Float32Array([3.5]));
    assert.equal(requireTensor(file, "empty", [0, 4]).data.length, 0);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("default float dtype option applies to Float32Array tensors only", () => {
  const file = parseSafetensors(serializeSafetensors({
    x: { shape: [2], data: new Float32Array([1, 3]) },
    n: { shape: [1], data: new Int32Array([5]) },
  }, { dtype: "BF16" }));
  assert.equal(file.tensors.get("x")!.dtype, "BF16");
  assert.equal(file.tensors.get("n")!.dtype, "I32");
});

Deno.test("tensors are laid out contiguously and aligned to their element size", () => {
  const bytes = serializeSafetensors({
    h: { shape: [3], data: new Float32Array(3), dtype: "F16" },
    f: { shape: [1], data: new Float32Array(1) },
    l: { shape: [1], data: new Int32Array(1), dtype: "I64" },
  });
  const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n)));
  assert.deepEqual(header.l.data_offsets, [0, 8]);
  assert.deepEqual(header.f.data_offsets, [8, 12]);
  assert.deepEqual(header.h.data_offsets, [12, 18]);
});

Deno.test("parses a file laid out like Python writes it, unpadded and at an odd offset", () => {
  // Header of odd length so the F32 data is unaligned in the buffer.
  const header = '{"__metadata__":{"format":"pt"},"b":{"dtype":"F32","shape":[2],' +
    '"data_offsets":[0,8]},"a":{"dtype":"F16","shape":[2,1],"data_offsets":[8,12]}}';
  assert.notEqual(header.length % 4, 0);
  const data = new Uint8Array(12);
  const view = new DataView(data.buffer);
  view.setFloat32(0, 1.5, true);
  view.setFloat32(4, -7, true);
  view.setUint16(8, 0x3c00, true);
  view.setUint16(10, 0xc000, true);
  const file = parseSafetensors(rawFile(header, data));
  assert.deepEqual(file.metadata, { format: "pt" });
  assert.deepEqual([...file.tensors.keys()], ["b", "a"]);
  assert.deepEqual([...file.tensors.get("b")!.data], [1.5, -7]);
  assert.deepEqual(file.tensors.get("a")!.shape, [2, 1]);
  assert.deepEqual([...file.tensors.get("a")!.data], [1, -2]);
});

Deno.test("parses a view into a larger buffer", () => {
  const data = new Uint8Array(4);
  new DataView(data.buffer).setFloat32(0, 2.25, true);
  const inner = rawFile({ x: f32Entry(0, 4) }, data);
  const outer = new Uint8Array(inner.length + 3);
  outer.set(inner, 3);
  const file = parseSafetensors(outer.subarray(3));
  assert.deepEqual([...file.tensors.get("x")!.data], [2.25]);
});

Deno.test("rejects gaps and trailing bytes, as the reference reader does", () => {
  assertRejects(rawFile({ x: f32Entry(8, 12) }, new Uint8Array(12)), /leave a gap of 8 bytes/);
  assertRejects(
    rawFile({ a: f32Entry(0, 4), b: f32Entry(6, 10) }, new Uint8Array(10)),
    /tensor "b" data_offsets \[6, 10\] leave a gap of 2 bytes after byte 4/,
  );
  assertRejects(rawFile({ x: f32Entry(0, 4) }, new Uint8Array(7)), /3 trailing bytes/);
  const good = serializeSafetensors({ x: { shape: [1], data: new Float32Array([1]) } });
  const longer = new Uint8Array(good.length + 1);
  longer.set(good);
  assertRejects(longer, /1 trailing bytes after the last tensor/);
});

Deno.test("the checksum catches flipped bits, and files without one still load", () => {
  const bytes = serializeSafetensors({
    w: { shape: [4], data: new Float32Array([1, 2, 3, 4]) },
    h: { shape: [2], data: new Float32Array([5, 6]), dtype: "F16" },
  }, { metadata: { format: "pt" } });
  const flipped = bytes.slice();
  flipped[flipped.length - 7] ^= 0x01; // a mantissa bit of w[2]: still a finite number
  assert.throws(
    () => parseSafetensors(flipped, { source: SOURCE, remedy: "train it again" }),
    (e: unknown) =>
      e instanceof SafetensorsError &&
      /checksum mismatch: .*the file is damaged: train it again$/.test(e.problem),
  );
  // Without a checksum (as Hugging Face and older saves write them) the same bytes load.
  const header = { h: { dtype: "F16", shape: [2], data_offsets: [0, 4] } };
  const plain = rawFile(header, new Uint8Array([0, 0x3c, 0, 0x40]));
  assert.deepEqual([...parseSafetensors(plain).tensors.get("h")!.data], [1, 2]);
  // withChecksum rewrites the header only: the data bytes stay as they were.
  const sealed = withChecksum(plain);
  assert.deepEqual(sealed.subarray(sealed.length - 4), plain.subarray(plain.length - 4));
  assert.match(parseSafetensors(sealed).metadata[CHECKSUM_KEY], /^[0-9a-f]{64}$/);
  const damaged = sealed.slice();
  damaged[damaged.length - 1] ^= 0x01;
  assertRejects(damaged, /checksum mismatch/);
});

Deno.test("non-finite floats are an error naming the tensor, unless allowed", () => {
  const data = new Float32Array([1, NaN, 3, Infinity]);
  const header = { w: f32Entry(0, 16, [2, 2]) };
  const bytes = rawFile(header, new Uint8Array(data.buffer));
  assert.throws(
    () => parseSafetensors(bytes, { source: SOURCE, remedy: "delete it" }),
    /fixture\.safetensors: tensor "w" holds NaN at index 1 \(flat index into shape \[2,2\]\): weights must be finite; delete it/,
  );
  const file = parseSafetensors(bytes, { allowNonFinite: true });
  assert.ok(Number.isNaN(file.tensors.get("w")!.data[1]));
});

Deno.test("skipped tensors may have any known dtype", () => {
  const header = {
    mask: { dtype: "BOOL", shape: [2], data_offsets: [4, 6] },
    w: f32Entry(0, 4),
  };
  const bytes = rawFile(header, new Uint8Array([0, 0, 0x80, 0x3f, 1, 0]));
  assertRejects(bytes, /tensor "mask": dtype BOOL is not supported/);
  const file = parseSafetensors(bytes, { skip: (name) => name === "mask" });
  assert.deepEqual([...file.tensors.keys()], ["w"]);
  assert.deepEqual([...file.tensors.get("w")!.data], [1]);
});

Deno.test("rejects a file shorter than 8 bytes", () => {
  assertRejects(new Uint8Array(5), /5 bytes, too short/);
});

Deno.test("rejects a header length beyond the file", () => {
  const bytes = rawFile({});
  new DataView(bytes.buffer).setBigUint64(0, 1000n, true);
  assertRejects(bytes, /header length 1000 exceeds the 2 bytes/);
});

Deno.test("rejects an absurdly large header length", () => {
  const bytes = new Uint8Array(16);
  new DataView(bytes.buffer).setBigUint64(0, 0xffffffffffffffffn, true);
  assertRejects(bytes, /header length 18446744073709551615 is absurdly large/);
});

Deno.test("rejects a header that is not UTF-8", () => {
  assertRejects(
    rawWithHeaderBytes(new Uint8Array([0x7b, 0xff, 0x7d]), new Uint8Array()),
    /not valid UTF-8/,
  );
});

Deno.test("rejects a header that is not JSON", () => {
  assertRejects(rawFile('{"x": '), /header is not valid JSON/);
});

Deno.test("rejects a header that is not an object", () => {
  assertRejects(rawFile("[1, 2]"), /header must be a JSON object, got array/);
  assertRejects(rawFile("null"), /header must be a JSON object, got null/);
});

Deno.test("rejects tensor entries with missing fields", () => {
  for (const field of ["dtype", "shape", "data_offsets"]) {
    const entry: Record<string, unknown> = { ...f32Entry(0, 4) };
    delete entry[field];
    assertRejects(
      rawFile({ w: entry }, new Uint8Array(4)),
      new RegExp(`tensor "w": missing "${field}"`),
    );
  }
  assertRejects(rawFile({ w: 3 }), /tensor "w": entry must be an object/);
});

Deno.test("rejects tensor entries with wrongly typed fields", () => {
  const data = new Uint8Array(4);
  assertRejects(
    rawFile({ w: { ...f32Entry(0, 4), dtype: 7 } }, data),
    /tensor "w": dtype must be a string/,
  );
  assertRejects(
    rawFile({ w: { ...f32Entry(0, 4), shape: "1" } }, data),
    /tensor "w": shape must be an array/,
  );
  assertRejects(
    rawFile({ w: { ...f32Entry(0, 4), data_offsets: [0, "4"] } }, data),
    /tensor "w": data_offsets must hold non-negative integers, got "4"/,
  );
  assertRejects(
    rawFile({ w: { ...f32Entry(0, 4), data_offsets: [0] } }, data),
    /must be \[begin, end\]/,
  );
  assertRejects(rawFile({ __metadata__: { a: 1 } }), /__metadata__ value for "a" must be a string/);
});

Deno.test("rejects an unknown dtype and names it", () => {
  assertRejects(
    rawFile({ w: { ...f32Entry(0, 1), dtype: "Q3", shape: [1] } }, new Uint8Array(1)),
    /unknown dtype "Q3"/,
  );
});

Deno.test("rejects negative or non-integer shape dims", () => {
  const data = new Uint8Array(8);
  assertRejects(
    rawFile({ w: f32Entry(0, 8, [-2]) }, data),
    /tensor "w": shape must hold non-negative integers, got -2/,
  );
  assertRejects(
    rawFile({ w: f32Entry(0, 8, [1.5]) }, data),
    /shape must hold non-negative integers, got 1.5/,
  );
});

Deno.test("rejects data_offsets out of range", () => {
  assertRejects(
    rawFile({ w: f32Entry(0, 8) }, new Uint8Array(4)),
    /\[0, 8\] run past the 4-byte data buffer/,
  );
  assertRejects(
    rawFile({ w: f32Entry(-4, 4) }, new Uint8Array(8)),
    /data_offsets must hold non-negative integers, got -4/,
  );
});

Deno.test("rejects data_offsets with begin > end", () => {
  assertRejects(
    rawFile({ w: f32Entry(8, 4, [1]) }, new Uint8Array(8)),
    /\[8, 4\] have begin > end/,
  );
});

Deno.test("rejects overlapping tensors", () => {
  const header = { a: f32Entry(0, 8), b: f32Entry(4, 12) };
  assertRejects(
    rawFile(header, new Uint8Array(12)),
    /tensor "b" data_offsets \[4, 12\] overlap tensor "a"/,
  );
});

Deno.test("rejects a byte length that does not match the shape", () => {
  assertRejects(
    rawFile({ w: f32Entry(0, 8, [3]) }, new Uint8Array(8)),
    /tensor "w": shape \[3\] needs 12 bytes but data_offsets give 8/,
  );
});

Deno.test("rejects I64 values that do not fit in int32", () => {
  const data = new Uint8Array(16);
  new DataView(data.buffer).setBigInt64(8, 1n << 40n, true);
  const header = { ids: { dtype: "I64", shape: [2], data_offsets: [0, 16] } };
  assertRejects(
    rawFile(header, data),
    /tensor "ids" \(I64\) value 1099511627776 at index 1 does not fit/,
  );
});

Deno.test("requireTensor reports missing and mis-shaped tensors", () => {
  const file = parseSafetensors(
    serializeSafetensors({ w: { shape: [2, 2], data: new Float32Array(4) } }),
  );
  assert.throws(() => requireTensor(file, "b", undefined, "sae.safetensors"), (error: unknown) => {
    assert.ok(error instanceof SafetensorsError);
    assert.match(error.message, /^sae\.safetensors: missing tensor b \(file has: w\)$/);
    return true;
  });
  assert.throws(() => requireTensor(file, "w", [4], "sae.safetensors"), (error: unknown) => {
    assert.ok(error instanceof SafetensorsError);
    assert.equal(error.message, "sae.safetensors: tensor w has shape [2,2], expected [4]");
    return true;
  });
});

Deno.test("serializeSafetensors rejects bad input", () => {
  assert.throws(
    () => serializeSafetensors({ w: { shape: [3], data: new Float32Array(2) } }),
    /serializeSafetensors: tensor "w": shape \[3\] has 3 elements, data has 2/,
  );
  assert.throws(
    () => serializeSafetensors({ w: { shape: [1], data: new Float32Array(1), dtype: "I32" } }),
    /cannot store Float32Array as I32/,
  );
  assert.throws(
    () => serializeSafetensors({ __metadata__: { shape: [0], data: new Float32Array(0) } }),
    /"__metadata__" is reserved/,
  );
});
