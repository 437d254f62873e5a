/**
 * Notebook 06_steering's one import: everything the notebook calls, from this section's modules and
 * from what every section shares.
 *
 * @module
 */
export { openWorkspace } from "../shared/workspace.ts";
export { NotebookResults, showMarkdown } from "../shared/results.ts";
export { steeringComparison, summariseSteering } from "./steering_study.ts";
export {
  steeringClaims,
  steeringExamples,
  steeringFigure,
  steeringMetrics,
  steeringSetup,
  steeringTable,
} from "./steering_report.ts";
export { showSteeringCards } from "../../browser/steering_view.ts";
