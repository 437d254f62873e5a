/**
 * A small seeded random number generator, so runs are reproducible on every backend
 * (tfjs's own random ops differ between backends and versions).
 *
 * @module
 */

/** Deterministic PRNG (mulberry32) with uniform, normal and integer draws. */
export class Rng {
  #state: number;

  /** @param seed any integer; equal seeds give equal streams. */
  constructor(seed: number) {
    this.#state = (seed >>> 0) ^ 0x9e3779b9;
  }

  /** Uniform in [0, 1). */
  uniform(): number {
    let t = (this.#state = (this.#state + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /**
   * Standard normal (Box-Muller). Uses one of the pair only, so the whole generator state is
   * the one integer {@link state} and a checkpoint resumes the exact stream.
   */
  normal(): number {
    const u = 1 - this.uniform();
    const theta = 2 * Math.PI * this.uniform();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(theta);
  }

  /** Integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.uniform() * n);
  }

  /** A Float32Array of `size` normal draws times `std`. */
  normalArray(size: number, std = 1): Float32Array {
    const out = new Float32Array(size);
    for (let i = 0; i < size; i++) out[i] = this.normal() * std;
    return out;
  }

  /** Shuffle `a` in place (Fisher-Yates) and return it. */
  shuffle<T extends { length: number; [i: number]: unknown }>(a: T): T {
    for (let i = a.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const tmp = a[i];
      a[i] = a[j];
      a[j] = tmp;
    }
    return a;
  }

  /** The generator's state, to save in a checkpoint. */
  get state(): number {
    return this.#state;
  }

  /** Restore a state from {@link state}. */
  set state(value: number) {
    this.#state = value >>> 0;
  }
}
