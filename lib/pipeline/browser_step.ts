/**
 * The pipeline's browser step: after a complete run, export the latent browser of the run's
 * first-seed TopK and g-SAE (the β the run chose) to `<out>/browser/`, a static site that opens
 * from `file://`. It runs `pipelines/browse.ts --export` as a child process with the run's
 * environment, so it reads the SAEs the notebooks cached and writes nothing else.
 *
 * @module
 */
import { join } from "node:path";
import { REPO_ROOT } from "../gpt2/embedded_models.ts";
import type { PipelineMetrics } from "./metrics.ts";

/** Options of {@link exportBrowserStep}. */
export interface BrowserStepOptions {
  /** The run's out folder; the site goes to `<out>/browser`. */
  out: string;
  /** The kernels' environment (profile, model, cache folder, fresh-after). */
  env: Record<string, string>;
  /** The run's metrics (for the chosen β). */
  metrics: PipelineMetrics;
  /** Progress lines. */
  log: (line: string) => void;
}

/** The β the run's tour recorded (`gsae_beta` of 00_tour), or undefined. */
export function runBeta(metrics: PipelineMetrics): number | undefined {
  const v = metrics.notebooks["00_tour"]?.metrics.gsae_beta?.value;
  return typeof v === "number" ? v : undefined;
}

/** The child command line of {@link exportBrowserStep}. */
export function browserStepArgs(options: Pick<BrowserStepOptions, "out" | "env" | "metrics">) {
  const beta = runBeta(options.metrics);
  return [
    "run",
    "-A",
    "--unstable-webgpu",
    join(REPO_ROOT, "pipelines", "browse.ts"),
    "--profile",
    options.env.GSAE_PROFILE ?? "default",
    ...(options.env.GSAE_MODEL ? ["--model", options.env.GSAE_MODEL] : []),
    ...(beta === undefined ? [] : ["--beta", String(beta)]),
    "--export",
    join(options.out, "browser"),
  ];
}

/**
 * Exports the browser (see the module doc), passing the child's lines to `log`.
 * @throws Error with the child's last lines when it fails.
 */
export async function exportBrowserStep(options: BrowserStepOptions): Promise<void> {
  const child = new Deno.Command(Deno.execPath(), {
    args: browserStepArgs(options),
    cwd: REPO_ROOT,
    env: options.env,
    stdout: "piped",
    stderr: "piped",
    stdin: "null",
  }).spawn();
  const tail: string[] = [];
  const pump = async (stream: ReadableStream<Uint8Array>) => {
    let rest = "";
    for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
      const lines = (rest + chunk).split("\n");
      rest = lines.pop()!;
      for (const line of lines) {
        options.log(`browser: ${line}`);
        tail.push(line);
        if (tail.length > 20) tail.shift();
      }
    }
    if (rest) (options.log(`browser: ${rest}`), tail.push(rest));
  };
  const [status] = await Promise.all([child.status, pump(child.stdout), pump(child.stderr)]);
  if (!status.success) {
    throw new Error(`the browser export failed (exit ${status.code}):\n${tail.join("\n")}`);
  }
}
