/**
 * Notebook 05_splitting's one import: everything the notebook calls, from this section's modules and
 * from what every section shares.
 *
 * @module
 */
export { openWorkspace } from "../shared/workspace.ts";
export { NotebookResults, showMarkdown } from "../shared/results.ts";
export { splittingRuns, splittingTable } from "./splitting.ts";
export {
  maxCosineFigure,
  splittingClaims,
  splittingMarkdown,
  splittingMetrics,
  tailFigure,
} from "./splitting_report.ts";
