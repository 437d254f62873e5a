/**
 * Notebook 03_pareto's one import: everything the notebook calls, from this section's modules and
 * from what every section shares.
 *
 * @module
 */
export { openWorkspace } from "../shared/workspace.ts";
export { NotebookResults, showMarkdown } from "../shared/results.ts";
export {
  betaSweep,
  frontiers,
  furtherArchitectures,
  mainKComparison,
  PARETO_SETTINGS,
} from "./pareto.ts";
export { betaSweepFigure, controlsFigure } from "./pareto_figures.ts";
export { paretoFigure } from "./pareto_frontier_figure.ts";
export {
  betaSweepTable,
  buysAndCosts,
  mainKTable,
  paretoClaims,
  pointsTable,
  recordParetoMetrics,
} from "./pareto_report.ts";
export { seedPaperClaims } from "./seed_papers.ts";
