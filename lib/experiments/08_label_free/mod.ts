/**
 * Notebook 08_label_free's one import: everything the notebook calls, from this section's modules
 * and from what every section shares.
 *
 * @module
 */
export { openWorkspace } from "../shared/workspace.ts";
export { NotebookResults, showMarkdown } from "../shared/results.ts";
export { FISHER_SAMPLES, labelFreeStudy } from "./label_free.ts";
export {
  comparisonsTable,
  deadTable,
  labelFreeClaims,
  labelFreeFigure,
  labelFreeMetrics,
  labelFreeTable,
  pairedFigure,
  sweepAndCostMarkdown,
  verdictMarkdown,
} from "./label_free_report.ts";
