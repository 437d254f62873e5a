/**
 * Notebook 02_first_order's one import: everything the notebook calls, from this section's modules and
 * from what every section shares.
 *
 * @module
 */
export { openWorkspace } from "../shared/workspace.ts";
export { NotebookResults, showMarkdown } from "../shared/results.ts";
export { firstOrderVsNorm } from "./first_order.ts";
export {
  firstOrderClaims,
  firstOrderMetrics,
  firstOrderTable,
  summariseFirstOrder,
} from "./first_order_summary.ts";
export { firstOrderFigure, firstOrderScatter } from "./first_order_figure.ts";
