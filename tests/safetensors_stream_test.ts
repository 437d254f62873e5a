import assert from "node:assert/strict";
import { parseSafetensors, serializeSafetensors, withChecksum } from "../lib/io/safetensors.ts";
import { SafetensorsReader } from "../lib/io/safetensors_stream.ts";

const TENSORS = {
  w: { shape: [2, 3], data: new Float32Array([1, 2, 3, 4, 5, 6]) },
  h: { shape: [2], data: new Float32Array([0.5, -2]), dtype: "F16" as const },
  ids: { shape: [3], data: new Int32Array([7, -1, 9]) },
};

Deno.test("the streaming reader reads each tensor as the in-memory parser does", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/m.safetensors`;
    const bytes = serializeSafetensors(TENSORS, { metadata: { format: "pt" } });
    await Deno.writeFile(path, bytes);
    const whole = parseSafetensors(bytes);
    const reader = await SafetensorsReader.open(path);
    try {
      assert.deepEqual(reader.metadata, whole.metadata);
      assert.deepEqual([...reader.entries.keys()].sort(), [...whole.tensors.keys()].sort());
      for (const name of ["h", "ids", "w"]) {
        assert.deepEqual(await reader.read(name), whole.tensors.get(name));
      }
      assert.equal(await reader.verifyChecksum(), true);
      await assert.rejects(() => reader.read("nope"), /m\.safetensors: missing tensor nope/);
    } finally {
      reader.close();
    }

    // A flipped data byte: the checksum names the file; a file without one has nothing to verify.
    const flipped = bytes.slice();
    flipped[flipped.length - 1] ^= 0x40;
    await Deno.writeFile(path, flipped);
    const damaged = await SafetensorsReader.open(path, { remedy: "fetch it again" });
    await assert.rejects(
      () => damaged.verifyChecksum(),
      /checksum mismatch.*damaged: fetch it again$/,
    );
    damaged.close();

    // Header problems are found at open, against the file's size: here, trailing bytes.
    await Deno.writeFile(path, new Uint8Array([...withChecksum(bytes), 0]));
    await assert.rejects(() => SafetensorsReader.open(path), /m\.safetensors: 1 trailing bytes/);
    await Deno.writeFile(path, bytes.subarray(0, 5));
    await assert.rejects(() => SafetensorsReader.open(path), /5 bytes, too short/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
