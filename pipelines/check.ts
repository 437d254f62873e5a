/**
 * `deno task check`: is the reproduction reproducible? Re-runs the pipeline for a profile into a
 * temporary out folder with fresh caches (or takes an existing `metrics.json`) and compares
 * every metric with the committed reference `outputs/reference/<profile>.json` within the
 * tolerance each notebook stated; `--update` writes the reference instead.
 *
 * @module
 */
import { dirname, join } from "node:path";
import { callerPath } from "../lib/io/caller_path.ts";
import { writeJsonAtomic } from "../lib/io/atomic_write.ts";
import { getProfile, PROFILE_NAMES } from "../lib/experiments/shared/profile.ts";
import { checkWritable, guardCommitted } from "../lib/io/output_guard.ts";
import {
  compareMetrics,
  formatCheckTable,
  readReference,
  referenceFromMetrics,
  referencePath,
  referenceProblems,
} from "../lib/pipeline/check.ts";
import { type PipelineMetrics, readMetrics } from "../lib/pipeline/metrics.ts";
import { runPipeline } from "../lib/pipeline/run.ts";
import { backendOption } from "../lib/tensor/backend_flag.ts";
import { gsaeCommand, InvalidArgumentError, parseCommandLine } from "../lib/io/cli.ts";

/** The command line: `--profile P --metrics FILE --update ...` (see `--help`). */
interface CheckOptions {
  profile?: string;
  metrics?: string;
  reference?: string;
  update?: boolean;
  force?: boolean;
  keep?: boolean;
  notebooks?: string;
  json?: boolean;
}

function command() {
  return gsaeCommand("check", {
    description:
      "Re-runs the whole pipeline for a profile into a temporary folder with fresh caches (nothing\n" +
      "cached is reused), then compares every metric with the committed reference\n" +
      "outputs/reference/<profile>.json: a metric passes when |this run - reference| <= abs + rel *\n" +
      "|reference|, with the tolerance the notebook recorded for it. Prints a table (metric, reference,\n" +
      "this run, tolerance, pass/fail); exits 1 on any failure, or a metric missing from either side.",
    after: "Refresh the committed reference after a deliberate change:\n" +
      "  deno task check --profile smoke --update --force\n" +
      "  deno task check --metrics outputs/metrics.json --update --force   (default profile, no re-run)",
  })
    .option(
      "--profile <P>",
      `${PROFILE_NAMES.join(" | ")} (default: smoke; with --metrics: that file's)`,
      (name: string) => checkedProfile(name),
    )
    .option(
      "--metrics <FILE>",
      "compare this metrics.json instead of running the pipeline " +
        "(e.g. outputs/metrics.json after deno task reproduce)",
    )
    .option("--reference <FILE>", "the reference (default: outputs/reference/<profile>.json)")
    .option(
      "--update",
      "write the reference from this run (or --metrics FILE) instead of failing on differences; " +
        "the comparison with the old reference is still printed. A committed reference is only " +
        "overwritten with --force (or --reference naming it); the check refuses before running " +
        "anything otherwise",
    )
    .option("--force", "with --update: allow overwriting the committed reference")
    .option(
      "--keep",
      "keep the temporary run folder (it is kept anyway when the check fails)",
    )
    .option("--notebooks <DIR>", "the notebooks folder (default: notebooks/)")
    .option("--json", "the comparison as JSON on stdout (progress to stderr)")
    .addOption(backendOption());
}

/** `name` if it is a profile, else commander's error with the profile's message. */
function checkedProfile(name: string): string {
  try {
    return getProfile(name).name;
  } catch (error) {
    throw new InvalidArgumentError((error as Error).message);
  }
}

/** Runs the pipeline into a temporary folder with fresh caches; returns its metrics. */
async function freshRun(
  profile: string,
  options: { notebooks?: string; log: (line: string) => void },
): Promise<{ metrics: PipelineMetrics; dir: string }> {
  const dir = await Deno.makeTempDir({ prefix: `gsae_check_${profile}_` });
  options.log(`check: running the ${profile} pipeline in ${dir} with fresh caches`);
  const result = await runPipeline({
    profile,
    out: join(dir, "out"),
    cacheDir: join(dir, "cache"),
    notebooksDir: options.notebooks,
    command: `deno task check --profile ${profile}`,
    log: options.log,
  });
  return { metrics: result.metrics, dir };
}

/** The error for a missing reference, with the command that writes one. */
function noReference(path: string, profile: string): string {
  return `no reference at ${path}; write one with: deno task check --profile ${profile} --update`;
}

async function main(): Promise<number> {
  const parsed = parseCommandLine<CheckOptions>(command(), Deno.args, { badArgumentExit: 1 });
  if (parsed.exit !== undefined) return parsed.exit;
  const options = parsed.options;
  const log = (line: string) => (options.json ? console.error(line) : console.log(line));
  let runDir: string | null = null;
  let ok = false;
  try {
    // Where --update would write is settled, and refused if committed, before any work.
    const guardReference = async (profile: string) => {
      const path = callerPath(options.reference ?? referencePath(profile));
      if (options.update) {
        await guardCommitted(path, {
          command: "check --update",
          explicit: options.reference !== undefined,
          force: options.force,
          how: "--force (or --reference naming the file)",
        });
        await checkWritable(dirname(path), { flag: "--reference's folder" });
      }
      return path;
    };
    let metrics: PipelineMetrics;
    let refPath: string;
    if (options.metrics !== undefined) {
      const read = await readMetrics(callerPath(options.metrics));
      if (read === null) throw new Error(`${options.metrics} does not exist`);
      metrics = read;
      refPath = await guardReference(options.profile ?? metrics.profile);
    } else {
      refPath = await guardReference(options.profile ?? "smoke");
      // Refused before the run, which can take hours (extended), not after it.
      if (!options.update && (await readReference(refPath)) === null) {
        throw new Error(noReference(refPath, options.profile ?? "smoke"));
      }
      const run = await freshRun(options.profile ?? "smoke", { notebooks: options.notebooks, log });
      metrics = run.metrics;
      runDir = run.dir;
    }
    const profile = options.profile ?? metrics.profile;
    const reference = await readReference(refPath);
    if (reference === null && !options.update) {
      throw new Error(noReference(refPath, profile));
    }
    if (reference !== null) {
      const result = compareMetrics(reference, metrics);
      if (profile !== metrics.profile) {
        result.problems.unshift(`--profile ${profile}, but the metrics are ${metrics.profile}'s`);
        result.ok = false;
      }
      if (options.json) console.log(JSON.stringify({ reference: refPath, ...result }));
      else log(`check: ${refPath}\n${formatCheckTable(result)}`);
      ok = result.ok;
    }
    if (options.update) {
      const fresh = referenceFromMetrics(metrics);
      const problems = referenceProblems(fresh);
      if (problems.length > 0) {
        throw new Error(`not writing ${refPath}: ${problems.slice(0, 5).join("; ")}`);
      }
      await writeJsonAtomic(refPath, fresh);
      log(`check: wrote ${refPath} (${Object.keys(metrics.notebooks).length} notebooks)`);
      ok = true;
    }
    return ok ? 0 : 1;
  } catch (error) {
    console.error(`check: FAILED: ${(error as Error).message}`);
    return 1;
  } finally {
    if (runDir !== null) {
      if (ok && !options.keep) await Deno.remove(runDir, { recursive: true }).catch(() => {});
      else log(`check: the run's outputs and caches are kept in ${runDir}`);
    }
  }
}

if (import.meta.main) Deno.exit(await main());
