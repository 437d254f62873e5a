/**
 * Notebook 04_density's one import: everything the notebook calls, from this section's modules and
 * from what every section shares.
 *
 * @module
 */
export { openWorkspace } from "../shared/workspace.ts";
export { NotebookResults, showMarkdown } from "../shared/results.ts";
export { deadCurves, densityRuns, densityTable } from "./density.ts";
export {
  deadLatentsFigure,
  densityClaims,
  densityMarkdown,
  densityMetrics,
  frequencyCdfFigure,
} from "./density_report.ts";
