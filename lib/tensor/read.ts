/**
 * Reading tensors to the host asynchronously. `dataSync()` needs a synchronous read, which the
 * webgpu backend implements with a 2d canvas that Deno lacks; `await t.data()` works on every
 * backend (on wasm and cpu it returns what `dataSync()` would). Reads cannot sit inside `tf.tidy`
 * (it cannot span an await): compute in a tidy, read, then dispose, which {@link takeData} does.
 *
 * @module
 */
import type * as tf from "@tensorflow/tfjs";

/** The values of `t` (read asynchronously), after which `t` is disposed. */
export async function takeData(t: tf.Tensor): Promise<Float32Array> {
  try {
    return await t.data() as Float32Array;
  } finally {
    t.dispose();
  }
}

/** The values of each of `ts` (read asynchronously), after which they are all disposed. */
export async function takeAll(ts: tf.Tensor[]): Promise<Float32Array[]> {
  try {
    return await Promise.all(ts.map(async (t) => await t.data() as Float32Array));
  } finally {
    for (const t of ts) t.dispose();
  }
}
