/**
 * `deno task reproduce`: the main job. Runs every notebook (`notebooks/NN_*.ipynb`, in order)
 * headlessly through Jupyter with the Deno kernel and writes the executed notebooks, every figure
 * (HTML, PNG, SVG), `metrics.json` and `REPORT.md` (see `lib/pipeline/run.ts` and the README).
 *
 * @module
 */
import { parseArgs } from "node:util";
import { PROFILE_NAMES } from "../lib/experiments/profile.ts";
import { verdictCounts } from "../lib/pipeline/metrics.ts";
import { PipelineNotebookError, runPipeline } from "../lib/pipeline/run.ts";
import { backendFlagHelp, takeBackendFlag } from "../lib/backend_flag.ts";

const HELP = `Usage: deno task reproduce [options]

Runs the notebooks notebooks/NN_*.ipynb in order through Jupyter (Deno kernel) and writes
  <out>/notebooks/NN_name.ipynb   executed notebooks (figures also as static PNGs)
  <out>/figures/NAME.{html,png,svg}
  <out>/metrics.json              every number, per notebook, with its check tolerance
  <out>/REPORT.md                 per claim: the paper, this run, the verdict; times; figures
  <out>/browser/                  after a complete run: the latent browser of the run's
                                  first-seed TopK and g-SAE, a static site (deno task browse)

Options:
  --profile P      ${PROFILE_NAMES.join(" | ")} (default: default)
  --model M        model overriding the profile's: an embedded name, a folder, or a
                   Hugging Face name in the local hub cache
  --only IDS       only these notebooks, comma-separated ids or stems (--only 03,05);
                   merged into the out folder's metrics.json and REPORT.md
  --force          rebuild cached stores, SAEs and evaluations made before this run
  --out DIR        out folder (default: outputs/ for default, outputs/paper for paper,
                   .cache/runs/smoke for smoke; .cache/runs/<profile>-<model> with --model)
  --notebooks DIR  the notebooks folder (default: notebooks/)
  --cell-timeout S seconds one cell may run (default: smoke 1800, default 14400, paper none;
                   0: no limit)
  --json           progress to stderr, one JSON summary to stdout
${backendFlagHelp(19)}
  --help           this text

A failing cell stops the run (exit 1) naming the notebook and the cell; the partial notebook
is kept as <out>/notebooks/NN_name.failed.ipynb and earlier notebooks' outputs stay as they are.
Compare a run with the committed reference: deno task check --help.`;

/** Parses the command line; unknown options and stray arguments are errors. */
function parse(args: string[]) {
  const { values } = parseArgs({
    args,
    options: {
      profile: { type: "string", default: "default" },
      model: { type: "string" },
      only: { type: "string" },
      force: { type: "boolean", default: false },
      out: { type: "string" },
      notebooks: { type: "string" },
      "cell-timeout": { type: "string" },
      json: { type: "boolean", default: false },
      help: { type: "boolean", default: false },
    },
    strict: true,
    allowPositionals: false,
  });
  const timeout = values["cell-timeout"];
  if (timeout !== undefined && !(Number(timeout) >= 0)) {
    throw new Error(`--cell-timeout wants seconds (0: no limit), not "${timeout}"`);
  }
  return { ...values, cellTimeout: timeout === undefined ? undefined : Number(timeout) };
}

async function main(): Promise<number> {
  let options;
  try {
    options = parse(takeBackendFlag(Deno.args));
  } catch (error) {
    console.error(`reproduce: ${(error as Error).message}\n(see deno task reproduce --help)`);
    return 1;
  }
  if (options.help) {
    console.log(HELP);
    return 0;
  }
  const log = options.json
    ? (line: string) => console.error(line)
    : (line: string) => console.log(line);
  try {
    const result = await runPipeline({
      profile: options.profile!,
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
