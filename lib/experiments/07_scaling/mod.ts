/**
 * Notebook 07_scaling's one import: everything the notebook calls, from this section's modules and
 * from what every section shares.
 *
 * @module
 */
export { openWorkspace } from "../shared/workspace.ts";
export { NotebookResults, showMarkdown } from "../shared/results.ts";
export { chooseBeta } from "../zoo/compared.ts";
export { PROFILES } from "../shared/profile.ts";
export { modelsAvailable, scalingStudy } from "./scaling.ts";
export {
  betaMarkdown,
  differencesTable,
  paperModelsNote,
  scalingClaims,
  scalingFigure,
  scalingMetrics,
  scalingTable,
} from "./scaling_report.ts";
