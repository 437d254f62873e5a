/**
 * Sparsity penalties of the SAEs whose L0 is not set by k (ReLU-L1, Gated, JumpReLU), given as
 * multiples of their papers' defaults rescaled to our activations.
 *
 * The defaults assume activations scaled to E‖x‖² = 1 and ours are not rescaled, so the same
 * trade-off at our scale needs the penalty in our units, with r = √E‖x‖² over the training store:
 * - ReLU-L1 and Gated: the loss is ‖x − x̂‖² + λ·L1; the squared error scales as ‖x‖² and the L1
 *   as ‖x‖, so λ = multiple · 5/√d_in · r (5/√d_in: the default of both, `defaultGatedL1`).
 * - JumpReLU: ‖x − x̂‖² + λ·L0; the L0 does not scale, so λ = multiple · 1e-3 · r², and the kernel
 *   width ε and initial threshold θ₀ (lengths in activation units) become 1e-3 · r.
 *
 * A multiple is what the tuning (`deno task tune-baselines`) sweeps and what notebook 03 names a
 * point by; the options are rounded to 3 significant digits (they name the cached SAE).
 *
 * @module
 */
import type { ArchitectureName } from "../../sae/mod.ts";
import { trainStore } from "./train_store.ts";
import type { Workspace } from "../shared/workspace.ts";

/** The architectures whose sparsity is a penalty rather than k. */
export const PENALISED = ["relu_l1", "gated", "jumprelu"] as const;

/** One of {@link PENALISED}. */
export type PenalisedArchitecture = typeof PENALISED[number];

/** Whether `architecture` sets its sparsity with a penalty (see {@link PENALISED}). */
export function isPenalised(architecture: ArchitectureName): architecture is PenalisedArchitecture {
  return (PENALISED as readonly string[]).includes(architecture);
}

const rmsCache = new WeakMap<Workspace, Promise<number>>();

/** √E‖x‖² over the workspace's training store (computed once per workspace). */
export function activationRms(ws: Workspace): Promise<number> {
  let rms = rmsCache.get(ws);
  if (!rms) {
    rms = trainStore(ws).then((rows) => {
      let sum = 0;
      for (let i = 0; i < rows.x.length; i++) sum += rows.x[i] * rows.x[i];
      return Math.sqrt(sum / rows.n);
    });
    rmsCache.set(ws, rms);
  }
  return rms;
}

/** `v` rounded to 3 significant digits. */
function round3(v: number): number {
  return Number(v.toPrecision(3));
}

/**
 * The architecture options of `multiple` times the default penalty of `architecture`, at the
 * workspace's activation scale (see the module doc).
 */
export async function penaltyOptions(
  ws: Workspace,
  architecture: PenalisedArchitecture,
  multiple: number,
): Promise<Record<string, number>> {
  if (!(multiple > 0)) throw new RangeError(`penalty multiple must be > 0, got ${multiple}`);
  const r = await activationRms(ws), d = ws.model.config.n_embd;
  if (architecture === "jumprelu") {
    const width = round3(1e-3 * r);
    return {
      l0_coefficient: round3(multiple * 1e-3 * r * r),
      bandwidth: width,
      initial_threshold: width,
    };
  }
  return { l1_coefficient: round3(multiple * 5 / Math.sqrt(d) * r) };
}
