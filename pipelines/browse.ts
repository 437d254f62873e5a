/**
 * `deno task browse`: the latent browser over any SAE the project trained or any SAELens folder,
 * as a local web app or a static export (see `lib/browser/mod.ts` and the README).
 *
 * @module
 */
import { backendOption } from "../lib/tensor/backend_flag.ts";
import { initBackend } from "../lib/tensor/backend.ts";
import { choiceArg, gsaeCommand, intArg, numberArg, parseCommandLine } from "../lib/io/cli.ts";
import {
  defaultSAEs,
  exportSite,
  openBrowser,
  resolveSAE,
  siteDataFiles,
  startBrowserServer,
} from "../lib/browser/mod.ts";
import type { BrowserSAE } from "../lib/browser/mod.ts";
import { callerPath } from "../lib/io/caller_path.ts";
import { PROFILE_NAMES } from "../lib/experiments/shared/profile.ts";
import { openWorkspace } from "../lib/experiments/shared/workspace.ts";

/** The command line (see `--help`). */
function command() {
  return gsaeCommand("browse", {
    usage: "[--sae NAME|PATH ...] [options]",
    description:
      "The latent browser: a latent list (search by id or token; sort by frequency, max activation,\n" +
      "mean |∇L·d̂|, logit-lens top token), a page per latent (top and quantile-sampled contexts with\n" +
      "per-token shading, histograms, logit lens, nearest latents in the same and a second SAE) and a\n" +
      "prompt page (active latents per token, the latents the gradient swapped in or out, loss clean\n" +
      "vs spliced). Each SAE's data is computed once over validation tokens and cached.",
  })
    .option(
      "--sae <NAME|PATH>",
      "an SAE, repeatable: a SAELens folder (cfg.json + sae_weights.safetensors), or a zoo label " +
        "such as topk-k32-s0 or gsae-k32-b0.5-s0 (from the profile's SAE cache; trained into it " +
        "if missing). Default: the profile's first-seed TopK and g-SAE at its main k",
      (value: string, previous: string[] = []) => [...previous, value],
    )
    .option(
      "--profile <P>",
      PROFILE_NAMES.join(" | "),
      choiceArg("profile", PROFILE_NAMES),
      "default",
    )
    .option("--model <M>", "model overriding the profile's (embedded name, folder, hub name)")
    .option(
      "--beta <B>",
      "the default pair's g-SAE β (default: the β recorded by the profile's run in its " +
        "metrics.json, else chosen on development windows)",
      numberArg("beta", { min: 0 }),
    )
    .option(
      "--tokens <N>",
      "validation tokens probed per SAE (default: smoke 8192, default 65536, paper 262144)",
      intArg("tokens", { min: 1 }),
    )
    .option("--port <P>", "port (0: any free port)", intArg("port", { min: 0, max: 65535 }), 8123)
    .option("--host <H>", "address to bind (127.0.0.1: this machine only)", "127.0.0.1")
    .option(
      "--export <DIR>",
      "write a static site (everything but the prompt page) to DIR and exit; open " +
        "DIR/index.html from the file system",
    )
    .addOption(backendOption());
}

/** The parsed command line. */
interface BrowseOptions {
  sae?: string[];
  profile: string;
  model?: string;
  beta?: number;
  tokens?: number;
  port: number;
  host: string;
  export?: string;
}

async function main(): Promise<number> {
  const parsed = parseCommandLine<BrowseOptions>(command(), Deno.args, { badArgumentExit: 1 });
  if (parsed.exit !== undefined) return parsed.exit;
  const o = parsed.options;
  const log = (line: string) => console.log(line);
  try {
    // The browser reads tensors synchronously (lib/browser): a CPU backend unless forced; the
    // workspace then finds this backend started.
    await initBackend({ syncReads: true });
    const ws = await openWorkspace({ profile: o.profile, model: o.model, log });
    const sources: BrowserSAE[] = [];
    if (o.sae === undefined || o.sae.length === 0) {
      sources.push(...await defaultSAEs(ws, { beta: o.beta, log }));
    } else {
      for (const arg of o.sae) sources.push(await resolveSAE(ws, arg, { log }));
    }
    const browser = await openBrowser(ws, sources, {
      mode: o.export === undefined ? "server" : "static",
      ...(o.tokens === undefined ? {} : { tokens: o.tokens }),
      log,
    });
    const data = siteDataFiles(browser.site);
    if (o.export !== undefined) {
      const dir = callerPath(o.export);
      const bytes = await exportSite(dir, data);
      log(
        `browse: exported ${sources.map((s) => s.name).join(", ")} (` +
          `${(bytes / 1e6).toFixed(1)} MB) -> ${dir}; open file://${dir}/index.html`,
      );
      return 0;
    }
    const server = startBrowserServer(
      { ws, saes: sources, data },
      {
        host: o.host,
        port: o.port,
        onListen: (url) => log(`browse: ${sources.map((s) => s.name).join(", ")} at ${url}`),
      },
    );
    if (o.host !== "127.0.0.1" && o.host !== "localhost" && o.host !== "::1") {
      log(`browse: listening on ${o.host}: other machines can reach it (and run prompts)`);
    }
    const stop = () => server.shutdown();
    Deno.addSignalListener("SIGINT", stop);
    Deno.addSignalListener("SIGTERM", stop);
    await server.finished;
    return 0;
  } catch (error) {
    console.error(`browse: ${(error as Error).message}`);
    return 1;
  }
}

if (import.meta.main) Deno.exit(await main());
