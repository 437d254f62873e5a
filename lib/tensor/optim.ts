/**
 * AdamW with a warmup + cosine learning-rate schedule, with state that saves and restores
 * exactly, so a resumed run ends at the same weights as an uninterrupted one.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { variableFrom } from "./variables.ts";

/** Learning-rate schedule: linear warmup, then cosine decay to `minRatio · peak`. */
export interface Schedule {
  /** Peak learning rate, reached at the end of warmup. */
  lr: number;
  /** Warmup steps (linear from lr/warmup to lr). */
  warmupSteps: number;
  /** Total steps; the cosine reaches its floor here. */
  totalSteps: number;
  /** Floor as a fraction of `lr` (0.1 in nanoGPT). */
  minRatio: number;
}

/** The learning rate at `step` (0-based). */
export function learningRate(s: Schedule, step: number): number {
  if (step < s.warmupSteps) return (s.lr * (step + 1)) / s.warmupSteps;
  const progress = Math.min(1, (step - s.warmupSteps) / Math.max(1, s.totalSteps - s.warmupSteps));
  const floor = s.lr * s.minRatio;
  return floor + 0.5 * (s.lr - floor) * (1 + Math.cos(Math.PI * progress));
}

/** AdamW hyperparameters. */
export interface AdamWOptions {
  /** β₁ (0.9). */
  beta1?: number;
  /** β₂ (0.999; 0.95 is usual for transformers). */
  beta2?: number;
  /** ε (1e-8). */
  epsilon?: number;
  /** Decoupled weight decay, applied only to parameters that `decay(name)` selects (0). */
  weightDecay?: number;
  /** Which parameters decay (default: those of rank ≥ 2, i.e. matrices, not biases or gains). */
  decay?: (name: string, v: tf.Variable) => boolean;
}

/**
 * AdamW over named variables. {@link AdamW.apply} updates with tfjs ops; {@link
 * AdamW.applyArrays} does the same arithmetic on plain arrays in one pass per parameter (the
 * fused SAE step, where a dozen tfjs ops over a million parameters cost more than the step's
 * loss). Each parameter's moments live where its updates happen; checkpoints hold the same
 * tensors either way, so a run can resume on either path.
 */
export class AdamW {
  #m = new Map<string, tf.Variable>();
  #v = new Map<string, tf.Variable>();
  /** Moments of the parameters updated by {@link AdamW.applyArrays}. */
  #arrays = new Map<string, { m: Float32Array; v: Float32Array; shape: number[] }>();
  #opts: Required<AdamWOptions>;
  /** Number of updates applied so far (bias correction uses it). */
  step = 0;

  /** @param options see {@link AdamWOptions}. */
  constructor(options: AdamWOptions = {}) {
    this.#opts = {
      beta1: options.beta1 ?? 0.9,
      beta2: options.beta2 ?? 0.999,
      epsilon: options.epsilon ?? 1e-8,
      weightDecay: options.weightDecay ?? 0,
      decay: options.decay ?? ((_, v) => v.rank >= 2),
    };
  }

  /** Apply one update with learning rate `lr` to `params` from `grads` (same names). */
  apply(params: Map<string, tf.Variable>, grads: Record<string, tf.Tensor>, lr: number): void {
    const { beta1, beta2, epsilon, weightDecay, decay } = this.#opts;
    this.step++;
    const c1 = 1 - beta1 ** this.step, c2 = 1 - beta2 ** this.step;
    tf.tidy(() => {
      for (const [name, g] of Object.entries(grads)) {
        const p = params.get(name);
        if (!p) throw new Error(`AdamW: gradient for unknown parameter ${name}`);
        const m = this.#slot(this.#m, name, p), v = this.#slot(this.#v, name, p);
        m.assign(tf.add(tf.mul(m, beta1), tf.mul(g, 1 - beta1)));
        v.assign(tf.add(tf.mul(v, beta2), tf.mul(tf.mul(g, g), 1 - beta2)));
        const update = tf.div(tf.div(m, c1), tf.add(tf.sqrt(tf.div(v, c2)), epsilon));
        let next = tf.sub(p, tf.mul(update, lr));
        if (weightDecay > 0 && decay(name, p)) next = tf.sub(next, tf.mul(p, lr * weightDecay));
        p.assign(next);
      }
    });
  }

  /**
   * The update of {@link AdamW.apply} on arrays: `values` (each parameter's current values,
   * updated in place) and `grads` (same names and lengths). Writing the new values back into
   * the variables is the caller's job, so it can adjust them first (e.g. renormalise rows).
   */
  applyArrays(
    params: Map<string, tf.Variable>,
    arrays: { values: Record<string, Float32Array>; grads: Record<string, Float32Array> },
    lr: number,
  ): void {
    const { beta1, beta2, epsilon, weightDecay, decay } = this.#opts;
    this.step++;
    const c1 = 1 - beta1 ** this.step, c2 = 1 - beta2 ** this.step;
    for (const [name, g] of Object.entries(arrays.grads)) {
      const p = params.get(name), w = arrays.values[name];
      if (!p || !w || w.length !== g.length) {
        throw new Error(`AdamW: gradient for unknown parameter ${name} or wrong length`);
      }
      const { m, v } = this.#arrayMoments(name, p.shape);
      const shrink = weightDecay > 0 && decay(name, p) ? lr * weightDecay : 0;
      for (let i = 0; i < g.length; i++) {
        const gi = g[i];
        m[i] = beta1 * m[i] + (1 - beta1) * gi;
        v[i] = beta2 * v[i] + (1 - beta2) * gi * gi;
        w[i] = w[i] - lr * ((m[i] / c1) / (Math.sqrt(v[i] / c2) + epsilon)) - shrink * w[i];
      }
    }
  }

  /** Moment estimates as plain arrays, for a checkpoint (read asynchronously: any backend). */
  async stateTensors(): Promise<Record<string, { shape: number[]; data: Float32Array }>> {
    const out: Record<string, { shape: number[]; data: Float32Array }> = {};
    for (const [prefix, slots] of [["adam_m.", this.#m], ["adam_v.", this.#v]] as const) {
      for (const [name, t] of slots) {
        out[prefix + name] = { shape: t.shape, data: await t.data() as Float32Array };
      }
    }
    for (const [name, { m, v, shape }] of this.#arrays) {
      out["adam_m." + name] = { shape, data: m };
      out["adam_v." + name] = { shape, data: v };
    }
    return out;
  }

  /** Restore from {@link stateTensors} output and the step count. */
  loadState(
    tensors: Map<string, { shape: number[]; data: Float32Array | Int32Array }>,
    step: number,
  ): void {
    this.step = step;
    this.#arrays.clear();
    for (const [key, t] of tensors) {
      const slots = key.startsWith("adam_m.")
        ? this.#m
        : key.startsWith("adam_v.")
        ? this.#v
        : null;
      if (!slots) continue;
      const name = key.slice("adam_m.".length);
      slots.get(name)?.dispose();
      slots.set(name, variableFrom(t.data, t.shape, { trainable: false }));
    }
  }

  /** Free the moment estimates. */
  dispose(): void {
    for (const t of [...this.#m.values(), ...this.#v.values()]) t.dispose();
    this.#m.clear();
    this.#v.clear();
    this.#arrays.clear();
  }

  #slot(slots: Map<string, tf.Variable>, name: string, p: tf.Variable): tf.Variable {
    const moved = this.#arrays.get(name);
    if (moved) { // last updated on arrays: carry the moments over
      this.#arrays.delete(name);
      this.#m.set(name, variableFrom(moved.m, p.shape, { trainable: false }));
      this.#v.set(name, variableFrom(moved.v, p.shape, { trainable: false }));
    }
    let s = slots.get(name);
    if (!s) {
      s = variableFrom(new Float32Array(p.size), p.shape, { trainable: false });
      slots.set(name, s);
    }
    return s;
  }

  #arrayMoments(name: string, shape: number[]): { m: Float32Array; v: Float32Array } {
    let moments = this.#arrays.get(name);
    if (!moments) {
      const m = this.#m.get(name), v = this.#v.get(name);
      const size = shape.reduce((a, b) => a * b, 1);
      // Synchronous reads: moments move to arrays only for the fused step (lib/sae/fused.ts),
      // which runs on host-memory backends (wasm, cpu) only, where dataSync needs no canvas.
      moments = { // last updated by tfjs (or restored from a checkpoint): carry them over
        m: m ? Float32Array.from(m.dataSync()) : new Float32Array(size),
        v: v ? Float32Array.from(v.dataSync()) : new Float32Array(size),
        shape,
      };
      m?.dispose();
      v?.dispose();
      this.#m.delete(name);
      this.#v.delete(name);
      this.#arrays.set(name, moments);
    }
    return moments;
  }
}

/** Scale `grads` in place so their global L2 norm is at most `maxNorm`; returns the norm before. */
export function clipGlobalNorm(grads: Record<string, tf.Tensor>, maxNorm: number): number {
  const norm = tf.tidy(() =>
    tf.sqrt(tf.addN(Object.values(grads).map((g) => tf.sum(tf.mul(g, g))))).dataSync()[0]
  );
  if (norm > maxNorm && Number.isFinite(norm)) {
    for (const [name, g] of Object.entries(grads)) {
      grads[name] = tf.mul(g, maxNorm / norm);
      g.dispose();
    }
  }
  return norm;
}

/**
 * `tf.variableGrads` over `params`, with gradients keyed by the names in `params` (tfjs keys
 * them by its own, globally unique, variable names).
 */
export function namedGrads(
  f: () => tf.Scalar,
  params: Map<string, tf.Variable>,
): { value: tf.Scalar; grads: Record<string, tf.Tensor> } {
  const names = new Map([...params].map(([name, v]) => [v.name, name]));
  const { value, grads } = tf.variableGrads(f, [...params.values()]);
  const out: Record<string, tf.Tensor> = {};
  for (const [varName, g] of Object.entries(grads)) out[names.get(varName)!] = g;
  return { value, grads: out };
}
