// The safetensors header checks (lib/io/safetensors_header.ts) on hand-made headers.
import assert from "node:assert/strict";
import {
  checkHeaderLength,
  failFor,
  parseHeader,
  SafetensorsError,
} from "../lib/io/safetensors_header.ts";

const fail = failFor("test.safetensors");
const bytes = (json: unknown) => new TextEncoder().encode(JSON.stringify(json));

Deno.test("checkHeaderLength refuses lengths past the file or the 100 MB limit", () => {
  assert.equal(checkHeaderLength(16n, 100, fail), 16);
  assert.throws(() => checkHeaderLength(93n, 100, fail), /exceeds the 92 bytes after the prefix/);
  assert.throws(() => checkHeaderLength(200_000_000n, 10 ** 9, fail), /absurdly large/);
});

Deno.test("parseHeader: entries in order, metadata, checksum; tiling is exact", () => {
  const h = parseHeader(
    bytes({
      __metadata__: { gsae_sha256: "ab", note: "x" },
      a: { dtype: "F32", shape: [2], data_offsets: [0, 8] },
      b: { dtype: "BOOL", shape: [3], data_offsets: [8, 11] },
    }),
    11,
    fail,
  );
  assert.deepEqual(h.entries.map((e) => [e.name, e.begin, e.end]), [["a", 0, 8], ["b", 8, 11]]);
  assert.equal(h.checksum, "ab");
  assert.equal(h.metadata.note, "x");
  const gap = bytes({ a: { dtype: "F32", shape: [2], data_offsets: [0, 8] } });
  assert.throws(() => parseHeader(gap, 12, fail), (e: unknown) => {
    assert.ok(e instanceof SafetensorsError);
    assert.equal(e.source, "test.safetensors");
    return true;
  });
  const wrongSize = bytes({ a: { dtype: "F32", shape: [3], data_offsets: [0, 8] } });
  assert.throws(() => parseHeader(wrongSize, 8, fail), /test\.safetensors: .*a/);
  assert.throws(
    () => parseHeader(bytes({ a: { dtype: "Q9", shape: [1], data_offsets: [0, 1] } }), 1, fail),
    /unknown dtype "Q9"/,
  );
});
