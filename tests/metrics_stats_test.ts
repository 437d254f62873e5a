import assert from "node:assert/strict";
import { averageRanks, median, quantile, spearman, std } from "../lib/metrics/stats.ts";
import { close } from "./metrics_fixtures.ts";

Deno.test("statistics helpers: ranks with ties, spearman, quantiles, std", () => {
  assert.deepEqual([...averageRanks([10, 20, 20, 30])], [1, 2.5, 2.5, 4]);
  // Ranks [1, 2.5, 2.5, 4] vs [1, 3, 2, 4]: cov 4.5, variances 4.5 and 5 → 4.5/√22.5
  // (scipy.stats.spearmanr([1, 2, 2, 3], [1, 3, 2, 4]) = 0.9486832980505139).
  close(spearman([1, 2, 2, 3], [1, 3, 2, 4]), 0.9486832980505139, 1e-12);
  close(spearman([1, 2, 3, 4], [10, 20, 30, 1000]), 1);
  close(spearman([1, 2, 3], [3, 2, 1]), -1);
  assert.ok(Number.isNaN(spearman([1, 1, 1], [1, 2, 3])), "constant input");
  assert.equal(median([3, 1, 2]), 2);
  assert.equal(median([4, 1, 3, 2]), 2.5);
  assert.equal(quantile([5, 1, 4, 2, 3], 0.25), 2);
  close(quantile([1, 2], 0.9), 1.9);
  assert.equal(std([2, 4, 4, 4, 5, 5, 7, 9]), 2);
  close(std([1, 2, 3, 4], { ddof: 1 }), Math.sqrt(5 / 3));
});
