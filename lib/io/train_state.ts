/**
 * Resumable training checkpoints shared by the LM and SAE trainers: parameters, AdamW moments,
 * extra arrays and string metadata in one safetensors file, written atomically. A checkpoint
 * records the configuration it was made with; resuming under another one is refused.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { AdamW } from "../tensor/optim.ts";
import { readSafetensors, type TensorToWrite, writeSafetensors } from "./safetensors.ts";
import { assignFrom } from "../tensor/variables.ts";
import { checkJson, jsonText, numberText, z } from "./json_file.ts";

/** What a trainer saves beside its parameters and optimiser. */
export interface TrainStateExtras {
  /** Arrays to keep (e.g. dead-latent counters), by name. */
  arrays?: Record<string, Float32Array>;
  /** Strings to keep; `identity` fields must match on resume. */
  metadata: Record<string, string>;
}

/** Write `params`, the optimiser's moments and `extras` to `path` (atomically). */
export async function saveTrainState(
  path: string,
  state: { params: Map<string, tf.Variable>; opt: AdamW } & TrainStateExtras,
): Promise<void> {
  const tensors: Record<string, TensorToWrite> = {};
  for (const [name, data] of Object.entries(state.arrays ?? {})) {
    tensors[`array.${name}`] = { shape: [data.length], data };
  }
  for (const [name, v] of state.params) {
    tensors[`param.${name}`] = { shape: v.shape, data: await v.data() as Float32Array };
  }
  Object.assign(tensors, await state.opt.stateTensors());
  await writeSafetensors(path, tensors, { metadata: state.metadata });
}

/**
 * Restore `params` and `opt` from `path`; null when there is no checkpoint. `identity` lists
 * metadata that must equal what was saved (the configs), else the error says to start over.
 */
export async function loadTrainState(
  path: string,
  state: { params: Map<string, tf.Variable>; opt: AdamW; identity: Record<string, string> },
): Promise<{ metadata: Record<string, string>; arrays: Map<string, Float32Array> } | null> {
  let file;
  try {
    file = await readSafetensors(path, {
      remedy: `delete ${path} to start over, or run without --resume`,
    });
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return null;
    throw err;
  }
  for (const [key, value] of Object.entries(state.identity)) {
    if (file.metadata[key] !== value) {
      throw new Error(
        `${path}: checkpoint was made with a different ${key}; delete it or do not resume`,
      );
    }
  }
  for (const [name, v] of state.params) {
    const t = file.tensors.get(`param.${name}`);
    if (!t) throw new Error(`${path}: missing param.${name}`);
    assignFrom(v, t.data, { shape: t.shape });
  }
  const step = Number(file.metadata.step);
  state.opt.loadState(file.tensors as Map<string, { shape: number[]; data: Float32Array }>, step);
  const arrays = new Map<string, Float32Array>();
  for (const [name, t] of file.tensors) {
    if (name.startsWith("array.")) arrays.set(name.slice(6), t.data as Float32Array);
  }
  return { metadata: file.metadata, arrays };
}

/** How far a resumable run got: what every trainer's checkpoint records besides its tensors. */
export interface TrainProgress<H> {
  /** Steps done. */
  step: number;
  /** Wall-clock training seconds so far. */
  seconds: number;
  /** The history points recorded so far. */
  history: H[];
}

/** {@link TrainProgress} as checkpoint metadata strings (`step`, `seconds`, `history`). */
export function progressMetadata<H>(p: TrainProgress<H>): Record<string, string> {
  return { step: String(p.step), seconds: String(p.seconds), history: JSON.stringify(p.history) };
}

/**
 * The {@link TrainProgress} in checkpoint metadata written by {@link progressMetadata}, checked
 * against `options.point` (the history entries' schema); a damaged field is an error naming
 * `options.source` and the field.
 */
export function readProgress<H>(
  metadata: Record<string, string>,
  options: { point: z.ZodType<H>; source: string },
): TrainProgress<H> {
  const schema = z.object({
    step: numberText.pipe(z.number().int().nonnegative()),
    seconds: numberText.pipe(z.number().nonnegative()),
    history: jsonText(z.array(options.point)),
  });
  return checkJson(metadata, schema, { source: options.source }) as TrainProgress<H>;
}
