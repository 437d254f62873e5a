/**
 * The headless pipeline behind `deno task reproduce`: runs the notebooks in order through real
 * Jupyter (`lib/pipeline/notebook_runner.ts`), each with its own staging run folder, then renders its
 * figures (HTML, PNG, SVG; one browser per run), adds the PNGs to the executed notebook, and
 * only then moves everything into the out folder:
 *
 * - `<out>/notebooks/<NN_name>.ipynb`: the executed notebooks (`.failed.ipynb` when a cell failed);
 * - `<out>/figures/<name>.{html,png,svg}` and `plotly.min.js` for the HTML;
 * - `<out>/metrics.json` ({@link PipelineMetrics}) and `<out>/REPORT.md`;
 * - `<out>/browser/`: after a complete run of the real notebooks, the latent browser of the
 *   run's first-seed TopK and g-SAE as a static site (`browser_step.ts`).
 *
 * Every file is written atomically, and metrics and report after each notebook, so a failing
 * notebook stops the run without touching what earlier notebooks produced.
 *
 * @module
 */
import { join, resolve } from "node:path";
import { callerPath } from "../io/caller_path.ts";
import { writeFileAtomic, writeJsonAtomic } from "../io/atomic_write.ts";
import { REPO_ROOT } from "../gpt2/embedded_models.ts";
import {
  getProfile,
  type Profile,
  PROFILE_NAMES,
  type ProfileName,
  PROFILES,
} from "../experiments/shared/profile.ts";
import { FigureRenderer } from "./figures.ts";
import { resolveModel } from "../gpt2/discovery.ts";
import {
  emptyMetrics,
  keepEntries,
  type PipelineMetrics,
  previousSeconds,
  readMetrics,
  withEntry,
} from "./metrics.ts";
import {
  discoverNotebooks,
  type NotebookFile,
  NOTEBOOKS_DIR,
  selectNotebooks,
} from "./notebooks.ts";
import { exportBrowserStep } from "./browser_step.ts";
import { runNotebookStep } from "./notebook_step.ts";
import { PipelineProgress } from "./progress.ts";
import { makeStagingDir } from "./staging.ts";
import { stopRunningNotebooks } from "./notebook_runner.ts";
import { renderReport } from "./report.ts";

export { PipelineNotebookError } from "./notebook_step.ts";

/** Seconds one cell may run, per profile (0: no limit; paper runs take as long as they take). */
export const CELL_TIMEOUT_S: Readonly<Record<ProfileName, number>> = {
  smoke: 1800,
  default: 4 * 3600,
  extended: 4 * 3600,
  paper: 0,
};

/** Options of {@link runPipeline}. */
export interface PipelineOptions {
  /** Profile name: smoke, default, extended or paper. */
  profile: string;
  /** Model spec overriding the profile's (`GSAE_MODEL`). */
  model?: string;
  /** Comma-separated notebook ids or stems (`03,05`); all when absent. */
  only?: string;
  /** Rebuild every cache entry written before this run (`GSAE_FRESH_AFTER`). */
  force?: boolean;
  /** The out folder; {@link defaultOutDir} when absent. */
  out?: string;
  /** Where the notebooks are (default: `notebooks/`). */
  notebooksDir?: string;
  /** `GSAE_CACHE_DIR` for the kernels (default: inherited, else `.cache`). */
  cacheDir?: string;
  /** Seconds per cell (default {@link CELL_TIMEOUT_S} of the profile; 0: none). */
  cellTimeoutSeconds?: number;
  /** The command line, recorded in the report. */
  command?: string;
  /**
   * Export the latent browser to `<out>/browser` after the notebooks (default: on a complete
   * run of the real notebooks, i.e. without `only` and `notebooksDir`).
   */
  browser?: boolean;
  /** Progress lines (default: console.log). */
  log?: (line: string) => void;
}

/** What a successful run did. */
export interface PipelineResult {
  /** The out folder. */
  out: string;
  /** The notebooks run, in order, with their wall time. */
  notebooks: { stem: string; seconds: number }[];
  /** Wall-clock seconds of the whole run. */
  seconds: number;
  /** The merged `metrics.json` as written. */
  metrics: PipelineMetrics;
}

/**
 * The out folder of a profile: `outputs/` for default (committed results), `outputs/extended` and
 * `outputs/paper` for those, `.cache/runs/smoke` for smoke; with a model other than the profile's,
 * `.cache/runs/<profile>-<model>`, so committed results are never overwritten by another model.
 */
export function defaultOutDir(profile: string, options: { model?: string } = {}): string {
  const p = getProfile(profile);
  if (options.model !== undefined && options.model !== p.model) {
    return `${REPO_ROOT}/.cache/runs/${p.name}-${options.model.replace(/[^\w.-]+/g, "_")}`;
  }
  if (p.name === "default") return `${REPO_ROOT}/outputs`;
  if (p.name === "extended" || p.name === "paper") return `${REPO_ROOT}/outputs/${p.name}`;
  return `${REPO_ROOT}/.cache/runs/${p.name}`;
}

/**
 * The notebooks of `profile`'s runs: `notebooks` less the profile's `excludedNotebooks`.
 *
 * @throws Error when `only` names an excluded notebook, saying which profile runs it.
 */
function notebooksOf(
  profile: Profile,
  notebooks: readonly NotebookFile[],
  options: { only?: string },
): NotebookFile[] {
  const excluded = (nb: NotebookFile) => profile.excludedNotebooks.includes(nb.id);
  const asked = options.only === undefined ? [] : selectNotebooks(notebooks, options.only);
  const refused = asked.find(excluded);
  if (refused !== undefined) {
    const runsIt = PROFILE_NAMES.find((name) =>
      PROFILES[name].cacheName === profile.cacheName && !PROFILES[name].excludedNotebooks.length
    );
    throw new Error(
      `--only: notebook ${refused.stem} is not part of the ${profile.name} profile (README, "The ` +
        `cost of the protocol")` + (runsIt ? `; run it with --profile ${runsIt}` : ""),
    );
  }
  return notebooks.filter((nb) => !excluded(nb));
}

/**
 * Runs the selected notebooks and writes their outputs (see the module doc).
 *
 * @throws PipelineNotebookError when a notebook fails (earlier notebooks' outputs are kept).
 * @throws Error on bad input (unknown profile, unknown `--only` id, no notebooks, unknown
 * model) before anything runs.
 */
export async function runPipeline(options: PipelineOptions): Promise<PipelineResult> {
  const log = options.log ?? ((line: string) => console.log(line));
  const profile = getProfile(options.profile);
  const all = notebooksOf(profile, await discoverNotebooks(options.notebooksDir ?? NOTEBOOKS_DIR), {
    only: options.only,
  });
  const selected = selectNotebooks(all, options.only);
  const resolved = await resolveModel(options.model ?? profile.model);
  const modelEnv = options.model === undefined
    ? undefined
    : resolved.source === "folder"
    ? resolved.dir
    : options.model;
  const otherModel = options.model !== undefined &&
    !(await isProfileModel(resolved.name, profile.model));
  const out = options.out !== undefined
    ? callerPath(options.out)
    : defaultOutDir(profile.name, { model: otherModel ? resolved.name : undefined });
  // No committed-results guard here, unlike train-lm and check --update: regenerating the
  // default run's committed outputs is this command's documented job (the README's main command),
  // git shows what changed, and it never writes into outputs/models or outputs/reference.
  const metricsPath = join(out, "metrics.json");
  const existing = await readMetrics(metricsPath);
  let metrics = existing ?? emptyMetrics(profile.name, resolved.name);
  if (metrics.profile !== profile.name || metrics.model !== resolved.name) {
    if (options.only !== undefined) {
      throw new Error(
        `${metricsPath} holds profile ${metrics.profile}, model ${metrics.model}: --only cannot ` +
          `merge a ${profile.name}/${resolved.name} run into it (use --out, or run every notebook)`,
      );
    }
    metrics = emptyMetrics(profile.name, resolved.name);
  }
  const started = new Date();
  const progress = new PipelineProgress(selected.map((nb) => nb.stem), {
    previous: await previousTimes(metrics, profile.name),
    log,
  });
  log(
    `reproduce: profile ${profile.name}, model ${resolved.name}, ${selected.length} of ` +
      `${all.length} notebooks -> ${out}`,
  );
  const env: Record<string, string> = { GSAE_PROFILE: profile.name };
  if (modelEnv !== undefined) env.GSAE_MODEL = modelEnv;
  if (options.force) env.GSAE_FRESH_AFTER = String(started.getTime());
  if (options.cacheDir !== undefined) env.GSAE_CACHE_DIR = resolve(options.cacheDir);
  const budget = Deno.env.get("GSAE_BUDGET");
  if (budget) env.GSAE_BUDGET = budget;
  const staging = await makeStagingDir();
  let renderer: FigureRenderer | null = null;
  const ran: { stem: string; seconds: number }[] = [];
  // Interrupted (Ctrl-C, kill, a closed terminal): stop the notebook runners, which kill their
  // kernels, and remove the staging folder before exiting. SIGKILL cannot be caught: the
  // runner's watchdog kills the kernel, and the next run removes the staging folder.
  const onSignal = (signal: Deno.Signal, code: number) => async () => {
    log(`reproduce: ${signal}: stopping the notebook kernel and removing ${staging}`);
    // Wait for the runners: one still exiting could write into the staging folder.
    await stopRunningNotebooks("SIGTERM");
    await Deno.remove(staging, { recursive: true }).catch(() => {});
    Deno.exit(code);
  };
  const handlers = ([["SIGINT", 130], ["SIGTERM", 143], ["SIGHUP", 129]] as const).map((
    [signal, code],
  ) => [signal, onSignal(signal, code)] as const);
  for (const [signal, handler] of handlers) Deno.addSignalListener(signal, handler);
  try {
    for (const nb of selected) {
      progress.startNotebook(nb.stem);
      const t0 = performance.now();
      const entry = await runNotebookStep(nb, {
        out,
        staging: join(staging, nb.stem),
        env,
        timeoutSeconds: options.cellTimeoutSeconds ?? CELL_TIMEOUT_S[profile.name],
        progress,
        metrics,
        expected: { profile: profile.name, model: resolved.name },
        renderer: async () => (renderer ??= await FigureRenderer.launch()),
      });
      entry.seconds = (performance.now() - t0) / 1000;
      metrics = withEntry(metrics, nb.stem, entry);
      await writeOutputs(out, metrics);
      ran.push({ stem: nb.stem, seconds: entry.seconds });
      progress.finishNotebook(entry.seconds);
    }
    if (options.browser ?? (options.only === undefined && options.notebooksDir === undefined)) {
      log(`reproduce: latent browser -> ${join(out, "browser")}`);
      await exportBrowserStep({ out, env, metrics, log });
    }
  } finally {
    for (const [signal, handler] of handlers) Deno.removeSignalListener(signal, handler);
    await (renderer as FigureRenderer | null)?.close();
    await Deno.remove(staging, { recursive: true }).catch(() => {});
  }
  // A complete run drops the entries of notebooks that no longer exist.
  if (options.only === undefined) metrics = keepEntries(metrics, all.map((nb) => nb.stem));
  const seconds = progress.elapsed();
  metrics = {
    ...metrics,
    updated: new Date().toISOString(),
    lastRun: {
      started: started.toISOString(),
      seconds,
      notebooks: ran.map((r) => r.stem),
      command: options.command ?? `deno task reproduce --profile ${profile.name}`,
    },
  };
  await writeOutputs(out, metrics);
  log(`reproduce: ${ran.length} notebooks in ${seconds.toFixed(1)} s -> ${out}/REPORT.md`);
  return { out, notebooks: ran, seconds, metrics };
}

/**
 * Per-notebook seconds for the ETA: from this out folder's `metrics.json`, else (a fresh folder,
 * as `deno task check` uses) from the profile's usual out folder.
 */
async function previousTimes(
  metrics: PipelineMetrics,
  profile: string,
): Promise<Record<string, number>> {
  const own = previousSeconds(metrics);
  if (Object.keys(own).length > 0) return own;
  const usual = await readMetrics(join(defaultOutDir(profile), "metrics.json")).catch(() => null);
  return usual?.profile === profile ? previousSeconds(usual) : {};
}

/** Whether `name` (a resolved model) is the profile's model `spec` (an alias resolves to it). */
async function isProfileModel(name: string, spec: string): Promise<boolean> {
  if (name === spec) return true;
  const resolved = await resolveModel(spec).catch(() => null);
  return resolved?.name === name;
}

/** Writes `metrics.json` and `REPORT.md` (each atomically). */
async function writeOutputs(out: string, metrics: PipelineMetrics): Promise<void> {
  await writeJsonAtomic(join(out, "metrics.json"), metrics);
  await writeFileAtomic(join(out, "REPORT.md"), renderReport(metrics));
}
