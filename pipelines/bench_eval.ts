/**
 * Evaluation time of the SAE zoo: trains (or loads) a profile's TopK, g-SAE and e2e-TopK SAEs of
 * seed 0 at its main k, drops their cached evaluations, then times `evaluateSAE` in every mode
 * the notebooks use, twice in one process (the second pass finds whatever the first left in
 * memory). Writes every evaluation and every time to a JSON file, so two runs (e.g. before and
 * after a change) can be compared number by number.
 *
 * Usage: deno task bench-eval [--profile NAME] [--out FILE] (see --help)
 *
 * @module
 */
import { choiceArg, gsaeCommand, parseCommandLine } from "../lib/io/cli.ts";
import { PROFILE_NAMES } from "../lib/experiments/shared/profile.ts";
import { backendOption } from "../lib/tensor/backend_flag.ts";
import { writeJsonAtomic } from "../lib/io/atomic_write.ts";
import { cacheRoot, closeWorkspace, openWorkspace } from "../lib/experiments/shared/workspace.ts";
import { callerPath } from "../lib/io/caller_path.ts";
import { type SAESpec, trainedSAE } from "../lib/experiments/zoo/sae_zoo.ts";
import { type EvalOptions, evaluateSAE } from "../lib/experiments/zoo/sae_eval.ts";

/** The command line (see `--help`). */
function command() {
  return gsaeCommand("bench-eval", {
    description:
      "Times evaluateSAE of the profile's TopK, g-SAE and e2e-TopK SAEs (seed 0, main k) in every\n" +
      "evaluation mode, twice in one process, and writes the evaluations and times to --out. Set\n" +
      "GSAE_CACHE_DIR to keep its caches apart.",
  })
    .option(
      "--profile <NAME>",
      PROFILE_NAMES.join(" | "),
      choiceArg("profile", PROFILE_NAMES),
      "default",
    )
    .option("--out <FILE>", "(default: .cache/bench_eval-<profile>.json)")
    .addOption(backendOption());
}

async function main(): Promise<number> {
  const parsed = parseCommandLine<{ profile: string; out?: string }>(command(), Deno.args, {
    badArgumentExit: 1,
  });
  if (parsed.exit !== undefined) return parsed.exit;
  const v = parsed.options;
  const ws = await openWorkspace({ profile: v.profile });
  const k = ws.profile.mainK;
  const specs: SAESpec[] = (["topk", "gsae", "e2e_topk"] as const).map((architecture) => ({
    architecture,
    k,
    seed: 0,
  }));
  const trained = [];
  for (const spec of specs) trained.push(await trainedSAE(ws, spec));
  const modes: { name: string; options: EvalOptions; only?: string }[] = [
    { name: "true", options: {} },
    { name: "none", options: { gradient: "none" } },
    { name: "sampled", options: { gradient: "sampled" } },
    { name: "dev", options: { split: "dev" } },
    { name: "selection", options: { selectionBeta: 1 }, only: "topk" },
  ];
  const times: Record<string, number>[] = [];
  const results: Record<string, unknown> = {};
  for (const pass of [0, 1]) {
    const row: Record<string, number> = {};
    for (const t of trained) {
      for await (const entry of Deno.readDir(t.dir)) {
        if (entry.name.startsWith("eval-")) await Deno.remove(`${t.dir}/${entry.name}`);
      }
    }
    const start = performance.now();
    for (const m of modes) {
      for (const t of trained) {
        if (m.only && t.spec.architecture !== m.only) continue;
        const t0 = performance.now();
        const e = await evaluateSAE(ws, t, m.options);
        const s = (performance.now() - t0) / 1000;
        row[`${t.label} ${m.name}`] = s;
        results[`${t.label} ${m.name}`] = e;
        console.log(`pass ${pass}: ${t.label} ${m.name}: ${s.toFixed(2)} s, ΔCE ${e.deltaCe}`);
      }
    }
    row.total = (performance.now() - start) / 1000;
    console.log(`pass ${pass}: total ${row.total.toFixed(2)} s`);
    times.push(row);
  }
  const out = v.out === undefined
    ? `${cacheRoot()}/bench_eval-${ws.profile.name}.json`
    : callerPath(v.out);
  await writeJsonAtomic(out, { profile: ws.profile.name, backend: ws.backend, times, results });
  console.log(`wrote ${out}`);
  closeWorkspace(ws);
  return 0;
}

if (import.meta.main) Deno.exit(await main());
