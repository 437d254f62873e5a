/**
 * Runs a Jupyter notebook with the Deno kernel from Deno, through
 * `pipelines/nb_runner.py` (nbclient under Debian's Python), which keeps the
 * outputs the Deno kernel publishes after reporting a cell idle; plain
 * `jupyter nbconvert --execute` drops some of them.
 *
 * The kernel is found through the project-local kernelspec
 * ({@linkcode PROJECT_JUPYTER_DIR} on `JUPYTER_PATH`), so the user's own
 * Jupyter setup is neither needed nor touched.
 *
 * @module
 */

import { fileURLToPath } from "node:url";
import { readJsonFile } from "../io/json_file.ts";
import { NOTEBOOK_SCHEMA } from "./figure_outputs.ts";
import {
  checkPythonModules,
  DEBIAN_PACKAGES,
  ensureDenoKernelSpec,
  installCommand,
  PROJECT_JUPYTER_DIR,
  SYSTEM_PYTHON,
} from "./system_deps.ts";

/** The Python runner script. */
export const NB_RUNNER_PATH: string = fileURLToPath(
  new URL("../../pipelines/nb_runner.py", import.meta.url),
);

/** Options for {@linkcode runNotebook}. */
export interface RunNotebookOptions {
  /** Where the executed notebook goes (written atomically, only on success). */
  output: string;
  /** Seconds one cell may run before the run fails; defaults to 600. */
  timeoutSeconds?: number;
  /** Notebook parameters: set in the kernel's environment, read with `Deno.env.get`. */
  env?: Record<string, string>;
  /** The kernel's working directory; defaults to the notebook's folder. */
  cwd?: string;
  /**
   * Seconds to keep reading a cell's outputs after it reports idle (the last cell waits at
   * least 0.5 s); defaults to 0.1.
   */
  graceSeconds?: number;
  /**
   * Seconds between the runner's progress lines while a cell runs (its running time and the
   * latest line it printed); defaults to 30, 0 for none.
   */
  heartbeatSeconds?: number;
  /** Keep going after a failing cell (its error stays in the notebook). Defaults to false. */
  allowErrors?: boolean;
  /** Where the runner's progress lines go; defaults to `console.error`. */
  log?: (line: string) => void;
}

/** What a successful {@linkcode runNotebook} reports. */
export interface RunNotebookResult {
  /** Wall-clock seconds, kernel start included. */
  seconds: number;
  /** Code cells executed. */
  cells: number;
  /** Outputs in the executed notebook. */
  outputs: number;
  /** Outputs that arrived after their cell reported idle (kept, but counted). */
  lateOutputs: number;
}

/** A notebook cell failed; the partial notebook is at `failedPath`. */
export class NotebookCellError extends Error {
  /** The notebook that was run. */
  readonly notebook: string;
  /** The failing cell's index in the notebook (from 0, markdown cells counted). */
  readonly cellIndex: number;
  /** The failing cell's first non-blank source line. */
  readonly firstLine: string;
  /** The partially executed notebook (`<output stem>.failed.ipynb`). */
  readonly failedPath: string;

  /** Builds the message from the failure's parts. */
  constructor(
    notebook: string,
    failure: { cellIndex: number; firstLine: string; error: string; failedPath: string },
  ) {
    super(
      `notebook ${notebook} failed at cell index ${failure.cellIndex} ` +
        `(\`${failure.firstLine}\`): ${failure.error}; partial notebook: ${failure.failedPath}`,
    );
    this.name = "NotebookCellError";
    this.notebook = notebook;
    this.cellIndex = failure.cellIndex;
    this.firstLine = failure.firstLine;
    this.failedPath = failure.failedPath;
  }
}

/** Where a failed run leaves its partial notebook: `out/x.ipynb` → `out/x.failed.ipynb`. */
export function failedPathFor(output: string): string {
  return `${output.replace(/\.ipynb$/, "")}.failed.ipynb`;
}

/** The runner processes now executing a notebook. */
const RUNNING = new Set<Deno.ChildProcess>();

/**
 * Stops every notebook runner now running: `signal` first (the runner, or nbclient inside it,
 * shuts its kernel down), then SIGKILL for any still running after `graceMs` (the runner's
 * watchdog then kills the kernel). Resolves once all have exited; returns how many there were.
 */
export async function stopRunningNotebooks(
  signal: Deno.Signal = "SIGTERM",
  options: { graceMs?: number } = {},
): Promise<number> {
  const children = [...RUNNING];
  const kill = (child: Deno.ChildProcess, sig: Deno.Signal) => {
    try {
      child.kill(sig);
    } catch { /* already exited */ }
  };
  for (const child of children) kill(child, signal);
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<void>((resolve) => {
    timer = setTimeout(() => {
      for (const child of RUNNING) kill(child, "SIGKILL");
      resolve();
    }, options.graceMs ?? 5000);
  });
  await Promise.race([Promise.all(children.map((c) => c.status)), late]);
  await Promise.all(children.map((c) => c.status));
  clearTimeout(timer);
  return children.length;
}

/**
 * Executes the notebook `input` with the Deno kernel and writes the result to
 * `options.output`; progress lines stream to `options.log`.
 *
 * @throws NotebookCellError when a cell fails (or times out).
 * @throws Error when Jupyter is not installed (naming the Debian packages) or
 * the kernel cannot start.
 */
export async function runNotebook(
  input: string,
  options: RunNotebookOptions,
): Promise<RunNotebookResult> {
  const log = options.log ?? ((line: string) => console.error(line));
  await requireJupyter();
  await ensureDenoKernelSpec();
  const args = [NB_RUNNER_PATH, input, options.output];
  args.push("--timeout", String(options.timeoutSeconds ?? 600));
  if (options.cwd !== undefined) args.push("--cwd", options.cwd);
  if (options.graceSeconds !== undefined) args.push("--grace", String(options.graceSeconds));
  if (options.heartbeatSeconds !== undefined) {
    args.push("--heartbeat", String(options.heartbeatSeconds));
  }
  if (options.allowErrors) args.push("--allow-errors");
  for (const [key, value] of Object.entries(options.env ?? {})) {
    args.push("--env", `${key}=${value}`);
  }
  const child = new Deno.Command(SYSTEM_PYTHON, {
    args,
    env: { JUPYTER_PATH: PROJECT_JUPYTER_DIR, NO_COLOR: "1" },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  RUNNING.add(child);
  let stdout: string, tail: string[], status: Deno.CommandStatus;
  try {
    [stdout, tail, status] = await Promise.all([
      new Response(child.stdout).text(),
      streamLines(child.stderr, log),
      child.status,
    ]);
  } finally {
    RUNNING.delete(child);
  }
  const summary = parseSummary(stdout);
  if (status.success && summary?.ok === true) {
    return {
      seconds: Number(summary.seconds),
      cells: Number(summary.cells),
      outputs: Number(summary.outputs),
      lateOutputs: Number(summary.late_outputs),
    };
  }
  if (summary?.ok === false && typeof summary.cell_index === "number") {
    throw new NotebookCellError(input, {
      cellIndex: summary.cell_index,
      firstLine: String(summary.first_line ?? ""),
      error: String(summary.error ?? "unknown error"),
      failedPath: String(summary.failed_path ?? failedPathFor(options.output)),
    });
  }
  const why = summary?.error ?? tail.at(-1) ?? "no output";
  throw new Error(`notebook ${input} did not run (exit ${status.code}): ${why}`);
}

/** Counts the outputs of all code cells in the notebook at `ipynbPath`. */
export async function countOutputs(ipynbPath: string): Promise<number> {
  const nb = await readJsonFile(ipynbPath, NOTEBOOK_SCHEMA);
  return nb.cells.reduce(
    (sum, cell) => sum + (cell.cell_type === "code" ? (cell.outputs?.length ?? 0) : 0),
    0,
  );
}

let jupyterChecked: Promise<void> | null = null;

/** Fails once per process with the install command when nbclient cannot be imported. */
function requireJupyter(): Promise<void> {
  jupyterChecked ??= (async () => {
    const problem = await checkPythonModules(["nbclient", "nbformat", "jupyter_client"]);
    if (problem === null) return;
    const packages = DEBIAN_PACKAGES.jupyter;
    throw new Error(
      `cannot run notebooks: ${problem}. They need the Debian packages ` +
        `${packages.join(", ")}; install them with:\n  ${installCommand(packages)}\n` +
        "(or: deno task setup)",
    );
  })();
  // A failed check is not cached, so installing meanwhile is picked up.
  jupyterChecked.catch(() => (jupyterChecked = null));
  return jupyterChecked;
}

/** The JSON summary the runner prints as its last stdout line, or null. */
function parseSummary(stdout: string): Record<string, unknown> | null {
  const last = stdout.trim().split("\n").at(-1);
  if (!last) return null;
  try {
    const value = JSON.parse(last);
    return typeof value === "object" && value !== null ? value : null;
  } catch {
    return null;
  }
}

/** Passes each line of `stream` to `log` as it arrives; returns the last lines. */
async function streamLines(
  stream: ReadableStream<Uint8Array>,
  log: (line: string) => void,
): Promise<string[]> {
  const tail: string[] = [];
  let pending = "";
  const emit = (line: string) => {
    log(line);
    tail.push(line);
    if (tail.length > 20) tail.shift();
  };
  for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
    const lines = (pending + chunk).split("\n");
    pending = lines.pop() ?? "";
    for (const line of lines) emit(line);
  }
  if (pending !== "") emit(pending);
  return tail;
}
