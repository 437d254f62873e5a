/**
 * Turns the log of a test run into the one closing line CI reads:
 * `N passed, N failed`.
 *
 * `deno test` closes with `ok | 12 passed (3 steps) | 0 failed (2s)` or
 * `FAILED | 10 passed | 2 failed (3s)`, a form CI does not read; a task may
 * run `deno test` more than once, so all such lines are summed.
 *
 * ```sh
 * deno run --no-config --allow-read pipelines/count_tests.ts LOG [--status N]
 * ```
 *
 * Prints the line and exits 0 when the run passed, 1 when it did not.
 *
 * @module
 */

/** Test counts taken from a log. */
export interface TestCounts {
  /** Tests that passed, summed over all summaries. */
  passed: number;
  /** Tests that failed, summed over all summaries, plus one for a failed run that reported none. */
  failed: number;
  /** How many `deno test` summary lines the log had. */
  summaries: number;
}

// deno-lint-ignore no-control-regex -- ANSI escapes are control characters by definition
const ANSI = /\x1b\[[0-9;?]*[ -\/]*[@-~]/g;

/**
 * A `deno test` summary line. Steps are shown in brackets after the counts
 * and are not counted; `| N ignored` and `| N filtered out` may follow.
 */
const SUMMARY = /^(?:ok|FAILED) \| (\d+) passed(?: \([^)]*\))? \| (\d+) failed\b/;

/**
 * Counts the tests in `log`, the combined output of a test run that exited
 * with `status`.
 *
 * A run that exited non-zero without any failed test (fmt, lint or type
 * check failed, tests never ran, or a step after them failed) counts as one
 * failed, so that the counts never call a failed run green.
 */
export function countTests(log: string, options: { status?: number } = {}): TestCounts {
  const status = options.status ?? 0;
  let passed = 0;
  let failed = 0;
  let summaries = 0;
  for (const raw of log.split(/\r?\n/)) {
    const match = SUMMARY.exec(raw.replace(ANSI, "").trim());
    if (match === null) continue;
    passed += Number(match[1]);
    failed += Number(match[2]);
    summaries++;
  }
  if (status !== 0 && failed === 0) failed = 1;
  return { passed, failed, summaries };
}

/** The closing line for `counts`: `N passed, N failed`. */
export function formatCounts(counts: TestCounts): string {
  return `${counts.passed} passed, ${counts.failed} failed`;
}

/** Runs the CLI with `args` and returns the exit status. */
export async function main(args: string[]): Promise<number> {
  let path: string | undefined;
  let status = 0;
  for (let i = 0; i < args.length; i++) {
    if (args[i] === "--status") {
      status = Number(args[++i]);
      if (!Number.isInteger(status)) {
        console.error("count_tests: --status needs an integer");
        return 2;
      }
    } else if (path === undefined) {
      path = args[i];
    } else {
      console.error(`count_tests: unexpected argument ${args[i]}`);
      return 2;
    }
  }
  if (path === undefined) {
    console.error("usage: count_tests.ts LOG [--status N]");
    return 2;
  }
  const counts = countTests(await Deno.readTextFile(path), { status });
  console.log(formatCounts(counts));
  return status === 0 && counts.failed === 0 ? 0 : 1;
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
