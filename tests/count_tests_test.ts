import assert from "node:assert/strict";
import { countTests, formatCounts } from "../pipelines/count_tests.ts";

const PASSING = `running 3 tests from ./tests/a_test.ts
one ... ok (2ms)
two ... ok (1ms)

ok | 12 passed (3 steps) | 0 failed (2s)
`;

const FAILING = `\x1b[0m\x1b[38;5;245mrunning 12 tests\x1b[0m
 ERRORS
FAILED | 10 passed | 2 failed (3s)

error: Test failed
`;

Deno.test("countTests reads a passing deno test summary, ignoring steps", () => {
  const counts = countTests(PASSING);
  assert.deepEqual(counts, { passed: 12, failed: 0, summaries: 1 });
  assert.equal(formatCounts(counts), "12 passed, 0 failed");
});

Deno.test("countTests reads a failing summary with colour codes", () => {
  const coloured = FAILING.replace(
    "FAILED | 10 passed | 2 failed (3s)",
    "\x1b[0m\x1b[1m\x1b[31mFAILED\x1b[0m | 10 passed | \x1b[0m\x1b[31m2 failed\x1b[0m \x1b[0m\x1b[38;5;245m(3s)\x1b[0m",
  );
  assert.deepEqual(countTests(coloured, { status: 1 }), { passed: 10, failed: 2, summaries: 1 });
});

Deno.test("countTests sums several summaries, with ignored and filtered counts", () => {
  const log = `${PASSING}\nok | 4 passed | 0 failed | 1 ignored (5ms)\n` +
    "FAILED | 1 passed (1 step) | 3 failed (2 steps) | 2 filtered out (9ms)\n";
  assert.equal(formatCounts(countTests(log, { status: 1 })), "17 passed, 3 failed");
});

Deno.test("countTests counts a failed run without a summary as one failure", () => {
  const log = "Task test deno fmt --check\nerror: Found 1 not formatted file in 3 files\n";
  assert.deepEqual(countTests(log, { status: 1 }), { passed: 0, failed: 1, summaries: 0 });
  assert.deepEqual(countTests("", { status: 0 }), { passed: 0, failed: 0, summaries: 0 });
});

Deno.test("countTests counts a failure after passing tests as one failure", () => {
  assert.equal(formatCounts(countTests(PASSING, { status: 1 })), "12 passed, 1 failed");
});

Deno.test("countTests ignores summary-like text that is not at the start of a line", () => {
  assert.equal(countTests("note: ok | 5 passed | 0 failed (1s)\n").summaries, 0);
});
