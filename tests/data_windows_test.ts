import assert from "node:assert/strict";
import {
  consecutiveOffsets,
  jitteredOffsets,
  randomOffsets,
  spreadOffsets,
  spreadWindows,
  windowIds,
  windows,
} from "../lib/data/windows.ts";
import { Rng } from "../lib/tensor/random.ts";
import { initBackend } from "../lib/tensor/backend.ts";

await initBackend();

Deno.test("spreadOffsets spreads windows evenly and checks the data is long enough", () => {
  assert.deepEqual(spreadOffsets(100, 3, 10), [0, 45, 90]);
  assert.deepEqual(spreadOffsets(100, 1, 10), [0]);
  assert.throws(() => spreadOffsets(5, 2, 10));
});

Deno.test("jitteredOffsets: one window per slot, in range, non-overlapping, seeded", () => {
  const a = jitteredOffsets(1000, 7, { seqLen: 16, seed: 1 });
  const slot = Math.floor((1000 - 16 + 1) / 7);
  assert.equal(a.length, 7);
  a.forEach((o, i) => assert.ok(o >= i * slot && o < (i + 1) * slot && o + 16 <= 1000));
  for (let i = 1; i < a.length; i++) assert.ok(a[i] - a[i - 1] >= 16 || slot < 16);
  assert.deepEqual(jitteredOffsets(1000, 7, { seqLen: 16, seed: 1 }), a);
  assert.notDeepEqual(jitteredOffsets(1000, 7, { seqLen: 16, seed: 2 }), a);
  // The last possible start is reachable only through the last slot: never past the end.
  for (let s = 0; s < 50; s++) {
    const o = jitteredOffsets(40, 3, { seqLen: 10, seed: s });
    assert.ok(o.every((x) => x >= 0 && x + 10 <= 40));
  }
  assert.throws(() => jitteredOffsets(10, 2, { seqLen: 10, seed: 0 }), /cannot take/);
});

Deno.test("spreadWindows concatenates the windows spreadOffsets picks", () => {
  const data = Int32Array.from({ length: 1000 }, (_, i) => i);
  const w = spreadWindows(data, 4, 10);
  const offsets = spreadOffsets(1000, 4, 10);
  assert.deepStrictEqual(w.length, 40);
  offsets.forEach((o, i) =>
    assert.deepStrictEqual(
      Array.from(w.subarray(i * 10, i * 10 + 10)),
      [...Array(10).keys()].map((j) => o + j),
    )
  );
});

Deno.test("consecutiveOffsets: back to back from a start", () => {
  assert.deepEqual(consecutiveOffsets(3, 10), [0, 10, 20]);
  assert.deepEqual(consecutiveOffsets(2, 8, 5), [5, 13]);
  assert.deepEqual(consecutiveOffsets(0, 8), []);
});

Deno.test("randomOffsets: every start in range, reachable at both ends, seeded", () => {
  const draw = (seed: number) => randomOffsets(20, 200, { seqLen: 16, rng: new Rng(seed) });
  const a = draw(3);
  assert.equal(a.length, 200);
  assert.ok(a.every((o) => Number.isInteger(o) && o >= 0 && o + 16 <= 20));
  assert.ok(a.includes(0) && a.includes(4), "the first and last starts are drawn");
  assert.deepEqual(draw(3), a);
  assert.notDeepEqual(draw(4), a);
  assert.throws(() => randomOffsets(10, 1, { seqLen: 16, rng: new Rng(0) }), /cannot take/);
});

Deno.test("windowIds and windows: the tokens at each offset, in order; out of range is an error", () => {
  const data = Int32Array.from({ length: 50 }, (_, i) => 100 + i);
  assert.deepEqual(Array.from(windowIds(data, [3, 0], 4)), [
    103,
    104,
    105,
    106,
    100,
    101,
    102,
    103,
  ]);
  const t = windows(data, [3, 0], 4);
  assert.deepEqual(t.shape, [2, 4]);
  assert.equal(t.dtype, "int32");
  assert.deepEqual(Array.from(t.dataSync()), Array.from(windowIds(data, [3, 0], 4)));
  t.dispose();
  assert.throws(() => windowIds(data, [47], 4), /window \[47, 51\) lies outside the 50 tokens/);
});
