/**
 * Notebook 06's example latents in the browser's card: for the first seed's TopK and g-SAE, the
 * steered latent of median log-odds gain at the main strength (the rule of the notebook's
 * examples, a typical latent rather than a chosen one), shown with the latent card.
 *
 * @module
 */
import { mainSAE } from "../experiments/zoo/compared.ts";
import type { SteeringComparison } from "../experiments/06_steering/steering_study.ts";
import { medianLatentIndex } from "../experiments/06_steering/steering_report.ts";
import type { Workspace } from "../experiments/shared/workspace.ts";
import { openBrowser, showLatentCard } from "./inline.ts";
import { fromTrained } from "./sources.ts";

/**
 * The latent of `kind`'s first-seed run with the median log-odds gain at `strength` (the upper
 * median for an even count), with the SAE's label.
 */
export function medianSteeringLatent(
  cmp: SteeringComparison,
  kind: "topk" | "gsae",
  strength: number,
): { label: string; latent: number } {
  if (!cmp.budget.quantiles.includes(strength)) {
    throw new Error(`no steering strength ${strength} in ${cmp.budget.quantiles}`);
  }
  const run = cmp.runs.find((r) => r.seed === cmp.runs[0].seed && r.kind === kind);
  if (!run || run.latents.length === 0) throw new Error(`no ${kind} run in the comparison`);
  return { label: run.label, latent: run.latents[medianLatentIndex(run, strength, "logOddsGain")] };
}

/**
 * Shows the latent cards of the first seed's g-SAE and TopK example latents (see the module
 * doc); the two SAEs' browser data is built once and cached.
 */
export async function showSteeringCards(
  ws: Workspace,
  cmp: SteeringComparison,
  strength: number,
): Promise<void> {
  const seed = cmp.runs[0].seed;
  const topk = await mainSAE(ws, "topk", seed);
  const gsae = await mainSAE(ws, "gsae", seed, { beta: cmp.beta });
  const browser = await openBrowser(ws, [fromTrained(ws, topk), fromTrained(ws, gsae)]);
  for (const kind of ["gsae", "topk"] as const) {
    const { label, latent } = medianSteeringLatent(cmp, kind, strength);
    await showLatentCard(browser, label, latent);
  }
}
