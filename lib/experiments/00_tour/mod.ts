/**
 * Notebook 00_tour's one import: everything the notebook calls, from this section's modules and
 * from what every section shares.
 *
 * @module
 */
export { openWorkspace } from "../shared/workspace.ts";
export { NotebookResults, showMarkdown } from "../shared/results.ts";
export { chooseBeta, mainSAE } from "../zoo/compared.ts";
export { evaluateSAE } from "../zoo/sae_eval.ts";
export { modelCard, saeCard, tokenGradients, tokenGradientTable } from "./tour.ts";
export { chooseTourLatent, examplesTable, probeLatent, promotedLine } from "./latent_probe.ts";
export { fromTrained, openBrowser, showLatentCard, showPromptView } from "../../browser/mod.ts";
