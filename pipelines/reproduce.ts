/**
 * `deno task reproduce`: the main job. Runs every notebook (`notebooks/NN_*.ipynb`, in order)
 * headlessly through Jupyter with the Deno kernel and writes the executed notebooks, every figure
 * (HTML, PNG, SVG), `metrics.json` and `REPORT.md` (see `lib/pipeline/run.ts` and the README).
 *
 * @module
 */
import { PROFILE_NAMES } from "../lib/experiments/shared/profile.ts";
import { verdictCounts } from "../lib/pipeline/metrics.ts";
import { BUDGET_NAMES, budgetFromEnv } from "../lib/experiments/shared/budget.ts";
import { PipelineNotebookError, runPipeline } from "../lib/pipeline/run.ts";
import { backendOption } from "../lib/tensor/backend_flag.ts";
import { gsaeCommand, numberArg, parseCommandLine } from "../lib/io/cli.ts";

function command() {
  return gsaeCommand("reproduce", {
    description:
      `Runs the notebooks notebooks/NN_*.ipynb in order through Jupyter (Deno kernel) and writes
  <out>/notebooks/NN_name.ipynb   executed notebooks (figures also as static PNGs)
  <out>/figures/NAME.{html,png,svg}
  <out>/metrics.json              every number, per notebook, with its check tolerance
  <out>/REPORT.md                 per claim: the paper, this run, the verdict; times; figures
  <out>/browser/                  after a complete run: the latent browser of the run's
                                  first-seed TopK and g-SAE, a static site (deno task browse)`,
    after:
      `A failing cell stops the run (exit 1) naming the notebook and the cell; the partial notebook
is kept as <out>/notebooks/NN_name.failed.ipynb and earlier notebooks' outputs stay as they are.
Compare a run with the committed reference: deno task check --help.`,
  })
    .option("--profile <P>", PROFILE_NAMES.join(" | "), "default")
    .option(
      "--model <M>",
      "model overriding the profile's: an embedded name, a folder, or a Hugging Face name in " +
        "the local hub cache",
    )
    .option(
      "--only <IDS>",
      "only these notebooks, comma-separated ids or stems (--only 03,05); merged into the out " +
        "folder's metrics.json and REPORT.md",
    )
    .option("--force", "rebuild cached stores, SAEs and evaluations made before this run")
    .option(
      "--out <DIR>",
      "out folder (default: outputs/ for default, outputs/paper for paper, .cache/runs/smoke " +
        "for smoke; .cache/runs/<profile>-<model> with --model)",
    )
    .option("--notebooks <DIR>", "the notebooks folder (default: notebooks/)")
    .option(
      "--cell-timeout <S>",
      "seconds one cell may run (default: smoke 1800, default 14400, paper none; 0: no limit)",
      numberArg("cell-timeout", { min: 0 }),
    )
    .option(
      "--budget <B>",
      `${BUDGET_NAMES.join(" | ")}: tiny keeps the profile's model and shapes but shrinks every ` +
        "token, sequence and sweep budget (lib/experiments/shared/budget.ts), to prove a profile " +
        "end to end in minutes (not results; GSAE_BUDGET does the same)",
    )
    .option("--json", "progress to stderr, one JSON summary to stdout")
    .addOption(backendOption());
}

/** The command line (see `--help`). */
interface ReproduceOptions {
  profile: string;
  model?: string;
  only?: string;
  force?: boolean;
  out?: string;
  notebooks?: string;
  cellTimeout?: number;
  json?: boolean;
  budget?: string;
}

async function main(): Promise<number> {
  const parsed = parseCommandLine<ReproduceOptions>(command(), Deno.args, {
    badArgumentExit: 1,
  });
  if (parsed.exit !== undefined) return parsed.exit;
  const options = parsed.options;
  const log = options.json
    ? (line: string) => console.error(line)
    : (line: string) => console.log(line);
  try {
    // Read by getProfile here and passed to the notebooks' kernels by runPipeline.
    if (options.budget !== undefined) Deno.env.set("GSAE_BUDGET", options.budget);
    log(`budget: ${budgetFromEnv()}`);
    const result = await runPipeline({
      profile: options.profile,
      model: options.model,
      only: options.only,
      force: options.force,
      out: options.out,
      notebooksDir: options.notebooks,
      cellTimeoutSeconds: options.cellTimeout,
      command: ["deno task reproduce", ...Deno.args].join(" "),
      log,
    });
    if (options.json) {
      console.log(JSON.stringify({
        ok: true,
        out: result.out,
        profile: result.metrics.profile,
        model: result.metrics.model,
        seconds: result.seconds,
        notebooks: result.notebooks,
        verdicts: verdictCounts(result.metrics),
      }));
    }
    return 0;
  } catch (error) {
    const e = error as Error;
    console.error(`reproduce: FAILED: ${e.message}`);
    if (options.json) {
      const info = e instanceof PipelineNotebookError
        ? { notebook: e.notebook, cell_index: e.cellIndex, failed_path: e.failedPath }
        : {};
      console.log(JSON.stringify({ ok: false, error: e.message, ...info }));
    }
    return 1;
  }
}

if (import.meta.main) Deno.exit(await main());
