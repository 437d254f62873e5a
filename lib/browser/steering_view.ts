/**
 * Notebook 06's example latents in the browser's card: for the first seed's TopK and g-SAE, the
 * steered latent of median concentration at the main strength (the rule of the notebook's
 * examples, a typical latent rather than a chosen one), shown with the latent card.
 *
 * @module
 */
import { mainSAE } from "../experiments/zoo/compared.ts";
import type { SteeringComparison } from "../experiments/06_steering/steering_study.ts";
import type { Workspace } from "../experiments/shared/workspace.ts";
import { openBrowser, showLatentCard } from "./inline.ts";
import { fromTrained } from "./sources.ts";

/**
 * The latent of `kind`'s first-seed run with the median concentration at `fraction` (the upper
 * median for an even count), with the SAE's label.
 */
export function medianConcentrationLatent(
  cmp: SteeringComparison,
  kind: "topk" | "gsae",
  fraction: number,
): { label: string; latent: number } {
  const f = cmp.budget.fractions.indexOf(fraction);
  if (f < 0) throw new Error(`no steering strength ${fraction} in ${cmp.budget.fractions}`);
  const run = cmp.runs.find((r) => r.seed === cmp.runs[0].seed && r.kind === kind);
  if (!run || run.latents.length === 0) throw new Error(`no ${kind} run in the comparison`);
  const order = run.directions.map((_, i) => i).sort((a, b) =>
    run.directions[a].points[f].concentration - run.directions[b].points[f].concentration
  );
  return { label: run.label, latent: run.latents[order[Math.floor(order.length / 2)]] };
}

/**
 * Shows the latent cards of the first seed's g-SAE and TopK example latents (see the module
 * doc); the two SAEs' browser data is built once and cached.
 */
export async function showSteeringCards(
  ws: Workspace,
  cmp: SteeringComparison,
  fraction: number,
): Promise<void> {
  const seed = cmp.runs[0].seed;
  const topk = await mainSAE(ws, "topk", seed);
  const gsae = await mainSAE(ws, "gsae", seed, { beta: cmp.beta });
  const browser = await openBrowser(ws, [fromTrained(ws, topk), fromTrained(ws, gsae)]);
  for (const kind of ["gsae", "topk"] as const) {
    const { label, latent } = medianConcentrationLatent(cmp, kind, fraction);
    await showLatentCard(browser, label, latent);
  }
}
