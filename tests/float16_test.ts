import assert from "node:assert/strict";
import { bf16ToF32, f16ToF32, f32ToBf16, f32ToF16 } from "../lib/io/float16.ts";

Deno.test("f16 known values", () => {
  assert.equal(f16ToF32(0x3c00), 1);
  assert.equal(f16ToF32(0xc000), -2);
  assert.equal(f16ToF32(0x7bff), 65504);
  assert.equal(f16ToF32(0x0001), 2 ** -24);
  assert.equal(f16ToF32(0x0400), 2 ** -14);
  assert.equal(f16ToF32(0x7c00), Infinity);
  assert.equal(f16ToF32(0xfc00), -Infinity);
  assert.ok(Number.isNaN(f16ToF32(0x7e00)));
  assert.ok(Object.is(f16ToF32(0x8000), -0));
  for (const bits of [0x3c00, 0xc000, 0x7bff, 0x0001, 0x03ff, 0x7c00, 0x8000, 0x0000, 0x3555]) {
    assert.equal(f32ToF16(f16ToF32(bits)), bits, `bits 0x${bits.toString(16)}`);
  }
  assert.equal(f32ToF16(NaN), 0x7e00);
  assert.equal(f32ToF16(-Infinity), 0xfc00);
});

Deno.test("f32ToF16 rounds to nearest even, including subnormals and overflow", () => {
  assert.equal(f32ToF16(1 + 2 ** -11), 0x3c00, "tie rounds down to even");
  assert.equal(f32ToF16(1 + 3 * 2 ** -11), 0x3c02, "tie rounds up to even");
  assert.equal(f32ToF16(1 + 2 ** -11 + 2 ** -20), 0x3c01, "above the tie rounds up");
  assert.equal(f32ToF16(2 ** -25), 0x0000, "half the smallest subnormal ties to zero");
  assert.equal(f32ToF16(3 * 2 ** -25), 0x0002, "1.5 subnormal units ties to 2");
  assert.equal(f32ToF16(2 ** -25 * 1.0001), 0x0001);
  assert.equal(f32ToF16(2 ** -30), 0x0000);
  assert.ok(Object.is(f16ToF32(f32ToF16(-(2 ** -30))), -0));
  assert.equal(f32ToF16(2 ** -14 - 2 ** -25), 0x0400, "largest subnormal carries into normal");
  assert.equal(f32ToF16(65519), 0x7bff);
  assert.equal(f32ToF16(65520), 0x7c00, "rounds up to infinity");
  assert.equal(f32ToF16(1e10), 0x7c00);
  // Exhaustive check: every finite half value survives a round trip.
  for (let bits = 0; bits < 0x10000; bits++) {
    if ((bits & 0x7c00) === 0x7c00) continue;
    if (f32ToF16(f16ToF32(bits)) !== bits) assert.fail(`round trip of 0x${bits.toString(16)}`);
  }
});

Deno.test("bf16 known values and rounding", () => {
  assert.equal(bf16ToF32(0x3f80), 1);
  assert.equal(bf16ToF32(0x4049), 3.140625);
  assert.equal(bf16ToF32(0xc0a0), -5);
  assert.equal(bf16ToF32(0x7f80), Infinity);
  assert.ok(Number.isNaN(bf16ToF32(0x7fc0)));
  assert.equal(f32ToBf16(Math.PI), 0x4049);
  assert.equal(f32ToBf16(-5), 0xc0a0);
  assert.equal(f32ToBf16(1 + 2 ** -8), 0x3f80, "tie rounds down to even");
  assert.equal(f32ToBf16(1 + 3 * 2 ** -8), 0x3f82, "tie rounds up to even");
  assert.equal(f32ToBf16(1 + 2 ** -8 + 2 ** -16), 0x3f81);
  assert.equal(f32ToBf16(3.4e38), 0x7f80, "overflow rounds to infinity");
  assert.ok(Number.isNaN(bf16ToF32(f32ToBf16(NaN))));
});
