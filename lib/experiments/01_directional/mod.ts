/**
 * Notebook 01_directional's one import: everything the notebook calls, from this section's modules and
 * from what every section shares.
 *
 * @module
 */
export { openWorkspace } from "../shared/workspace.ts";
export { NotebookResults, showMarkdown } from "../shared/results.ts";
export { measureDirectionalDerivatives } from "./directional.ts";
export {
  bootstrapDirectional,
  directionalClaims,
  directionalMetrics,
  directionalTable,
} from "./directional_summary.ts";
export { directionalFigure } from "./directional_figure.ts";
