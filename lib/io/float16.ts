/**
 * Half-precision float codecs: IEEE binary16 (F16) and bfloat16 (BF16) bits to and from numbers,
 * rounding to nearest even, for reading and writing checkpoints stored in those dtypes.
 *
 * @module
 */

// Shared scratch for reinterpreting float32 bits (single-threaded, so safe).
const scratchF32 = new Float32Array(1);
const scratchU32 = new Uint32Array(scratchF32.buffer);
let f16Table: Float32Array | null = null;

/** Decodes IEEE half-precision bits (0..0xFFFF) to a number. */
export function f16ToF32(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exponent = (bits >> 10) & 0x1f;
  const fraction = bits & 0x3ff;
  if (exponent === 0) return sign * fraction * 2 ** -24; // zero or subnormal
  if (exponent === 0x1f) return fraction ? NaN : sign * Infinity;
  return sign * (1 + fraction / 1024) * 2 ** (exponent - 15);
}

/** Encodes `x` (first rounded to float32) as half-precision bits, rounding to nearest even. */
export function f32ToF16(x: number): number {
  scratchF32[0] = x;
  const bits = scratchU32[0];
  const sign = (bits >>> 16) & 0x8000;
  const exponent = (bits >>> 23) & 0xff;
  const mantissa = bits & 0x7fffff;
  if (exponent === 0xff) return sign | 0x7c00 | (mantissa ? 0x200 : 0); // inf, or quiet NaN
  const halfExponent = exponent - 127 + 15;
  if (halfExponent >= 0x1f) return sign | 0x7c00; // too large: infinity
  // Keep 10 mantissa bits; `shift` is how many low bits of the 24-bit
  // significand are dropped (more than 13 when the result is subnormal).
  const significand = halfExponent > 0 ? mantissa : mantissa | 0x800000;
  const shift = halfExponent > 0 ? 13 : 14 - halfExponent;
  if (shift > 24) return sign; // below half the smallest subnormal: zero
  let half = (halfExponent > 0 ? halfExponent << 10 : 0) | (significand >>> shift);
  const rest = significand & ((1 << shift) - 1);
  const halfway = 1 << (shift - 1);
  // A carry out of the mantissa correctly bumps the exponent (or reaches inf).
  if (rest > halfway || (rest === halfway && (half & 1))) half++;
  return sign | half;
}

/** Decodes bfloat16 bits (0..0xFFFF) to a number. */
export function bf16ToF32(bits: number): number {
  scratchU32[0] = (bits & 0xffff) << 16;
  return scratchF32[0];
}

/** Encodes `x` (first rounded to float32) as bfloat16 bits, rounding to nearest even. */
export function f32ToBf16(x: number): number {
  scratchF32[0] = x;
  const bits = scratchU32[0];
  if ((bits & 0x7fffffff) > 0x7f800000) return (bits >>> 16) | 0x40; // keep NaN a (quiet) NaN
  return ((bits + 0x7fff + ((bits >>> 16) & 1)) / 0x10000) >>> 0;
}

/** All 65536 half values, built on first use: a lookup beats recomputing powers per element. */
export function getF16Table(): Float32Array {
  if (f16Table === null) {
    f16Table = new Float32Array(65536);
    for (let bits = 0; bits < 65536; bits++) f16Table[bits] = f16ToF32(bits);
  }
  return f16Table;
}
