/**
 * GPT-2's parameters: every name and shape for a config (Hugging Face's names without the
 * `transformer.` prefix, Conv1D weights as [in, out]), the typed per-block view the model reads,
 * and GPT-2's random initialisation.
 *
 * @module
 */
import type * as tf from "@tensorflow/tfjs";
import { Rng } from "../tensor/random.ts";
import { variableFrom } from "../tensor/variables.ts";
import type { GPT2Config } from "./config.ts";

/** A LayerNorm's or a Conv1D layer's parameters (Conv1D applies as x·weight + bias). */
export interface Affine {
  /** LayerNorm gain, or the Conv1D weight [in, out]. */
  weight: tf.Tensor;
  /** The bias. */
  bias: tf.Tensor;
}

/** One block's parameters, named as in Hugging Face's GPT-2 (`h.{i}.attn.c_attn`, …). */
export interface BlockParams {
  /** LayerNorm before attention. */
  ln_1: Affine;
  /** Attention: the fused q, k, v projection [d, 3d] and the output projection [d, d]. */
  attn: { c_attn: Affine; c_proj: Affine };
  /** LayerNorm before the MLP. */
  ln_2: Affine;
  /** MLP: [d, 4d] then [4d, d], gelu_new between. */
  mlp: { c_fc: Affine; c_proj: Affine };
}

/** Block `i`'s parameters, typed, from a lookup by Hugging Face name. */
export function blockParams(param: (name: string) => tf.Tensor, i: number): BlockParams {
  const affine = (name: string) => ({
    weight: param(`h.${i}.${name}.weight`),
    bias: param(`h.${i}.${name}.bias`),
  });
  return {
    ln_1: affine("ln_1"),
    attn: { c_attn: affine("attn.c_attn"), c_proj: affine("attn.c_proj") },
    ln_2: affine("ln_2"),
    mlp: { c_fc: affine("mlp.c_fc"), c_proj: affine("mlp.c_proj") },
  };
}

/** Every parameter's Hugging Face name (no prefix) and shape for a config. */
export function expectedShapes(c: GPT2Config): [string, number[]][] {
  const d = c.n_embd;
  const out: [string, number[]][] = [
    ["wte.weight", [c.vocab_size, d]],
    ["wpe.weight", [c.n_positions, d]],
  ];
  for (let i = 0; i < c.n_layer; i++) {
    const h = `h.${i}.`;
    out.push(
      [h + "ln_1.weight", [d]],
      [h + "ln_1.bias", [d]],
      [h + "attn.c_attn.weight", [d, 3 * d]],
      [h + "attn.c_attn.bias", [3 * d]],
      [h + "attn.c_proj.weight", [d, d]],
      [h + "attn.c_proj.bias", [d]],
      [h + "ln_2.weight", [d]],
      [h + "ln_2.bias", [d]],
      [h + "mlp.c_fc.weight", [d, 4 * d]],
      [h + "mlp.c_fc.bias", [4 * d]],
      [h + "mlp.c_proj.weight", [4 * d, d]],
      [h + "mlp.c_proj.bias", [d]],
    );
  }
  out.push(["ln_f.weight", [d]], ["ln_f.bias", [d]]);
  return out;
}

/**
 * Randomly initialised parameters, GPT-2's scheme: weights N(0, std), the residual projections'
 * (`c_proj`) scaled by 1/√(2L), LayerNorm gains 1, biases 0.
 */
export function randomParams(
  config: GPT2Config,
  seed: number,
  std = 0.02,
): Map<string, tf.Variable> {
  const rng = new Rng(seed);
  const params = new Map<string, tf.Variable>();
  for (const [name, shape] of expectedShapes(config)) {
    const size = shape.reduce((a, b) => a * b, 1);
    let values: Float32Array;
    if (name.endsWith("ln_1.weight") || name.endsWith("ln_2.weight") || name === "ln_f.weight") {
      values = new Float32Array(size).fill(1);
    } else if (shape.length === 1) {
      values = new Float32Array(size);
    } else {
      const scale = name.endsWith("c_proj.weight") ? std / Math.sqrt(2 * config.n_layer) : std;
      values = rng.normalArray(size, scale);
    }
    params.set(name, variableFrom(values, shape));
  }
  return params;
}
