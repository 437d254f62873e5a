import assert from "node:assert/strict";

/** Asserts |actual − expected| ≤ tol, naming `what` in the failure message. */
export function close(actual: number, expected: number, tol = 1e-6, what = ""): void {
  assert.ok(
    Math.abs(actual - expected) <= tol,
    `${what} ${actual} is not within ${tol} of ${expected}`,
  );
}
