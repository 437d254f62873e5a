/**
 * Tunes the baselines on development windows of the training split
 * (`lib/experiments/zoo/baseline_tuning.ts`) and writes the table the profile's choices cite:
 * `<out>/baselines-<profile>.json` and `.md`.
 *
 * Usage: deno task tune-baselines [--profile NAME] [--only ARCH,...] [--out DIR] (see --help)
 *
 * @module
 */
import { choiceArg, gsaeCommand, parseCommandLine } from "../lib/io/cli.ts";
import { PROFILE_NAMES } from "../lib/experiments/shared/profile.ts";
import { backendOption } from "../lib/tensor/backend_flag.ts";
import { writeFileAtomic, writeJsonAtomic } from "../lib/io/atomic_write.ts";
import { mdTable } from "../lib/io/markdown_table.ts";
import { closeWorkspace, openWorkspace } from "../lib/experiments/shared/workspace.ts";
import { callerPath } from "../lib/io/caller_path.ts";
import { type ArchitectureName, architectureNames } from "../lib/sae/mod.ts";
import {
  tuneBaselines,
  tuningGrid,
  type TuningRow,
} from "../lib/experiments/zoo/baseline_tuning.ts";

const DEFAULT_ARCHITECTURES = ["topk", "e2e_topk", "relu_l1", "gated", "jumprelu"];

/** The command line (see `--help`). */
function command() {
  return gsaeCommand("tune-baselines", {
    description:
      "Trains the baselines over their tuning grids (e2e-TopK's learning rate; the penalty of\n" +
      "ReLU-L1, Gated and JumpReLU as multiples of the rescaled default) at the profile's main k\n" +
      "and first seed, measures each on development windows of the training split (never the\n" +
      "validation split), and writes baselines-<profile>.json and .md to --out. SAEs go to the\n" +
      "zoo cache, so a run the notebooks share reuses them.",
  })
    .option(
      "--profile <NAME>",
      PROFILE_NAMES.join(" | "),
      choiceArg("profile", PROFILE_NAMES),
      "default",
    )
    .option("--only <ARCHS>", `comma-separated (default ${DEFAULT_ARCHITECTURES.join(",")})`)
    .option("--out <DIR>", "output folder", "outputs/tuning")
    .addOption(backendOption());
}

/** The rows as a markdown table. */
export function tuningTable(rows: readonly TuningRow[]): string {
  const f = (v: number, digits = 4) => Number.isFinite(v) ? v.toPrecision(digits) : "–";
  return mdTable(
    [
      "SAE",
      "lr",
      "penalty ×",
      "L0",
      "FVU",
      "ΔCE",
      "KL",
      "γ",
      "dead",
      "cos to init",
      "cos to start",
      "train s",
    ],
    rows.map((r) => [
      r.label,
      (r.lr ?? "profile") + (r.warmStart === "topk" ? ", from TopK" : "") +
      (r.tokens ? `, ${r.tokens} tokens` : ""),
      r.multiple ?? "–",
      f(r.l0, 3),
      f(r.fvu),
      f(r.deltaCe),
      f(r.kl),
      f(r.shrinkage, 3),
      `${(100 * r.deadFraction).toFixed(1)} %`,
      f(r.cosineToInit, 3),
      r.cosineToStart === null ? "–" : f(r.cosineToStart, 3),
      r.seconds.toFixed(0),
    ]),
    { align: "lrrrrrrrrrrr" },
  );
}

async function main(): Promise<number> {
  const parsed = parseCommandLine<{ profile: string; only?: string; out: string }>(
    command(),
    Deno.args,
    { badArgumentExit: 1 },
  );
  if (parsed.exit !== undefined) return parsed.exit;
  const v = parsed.options;
  const archs = v.only?.split(",").map((s) => s.trim()).filter(Boolean) ?? DEFAULT_ARCHITECTURES;
  const known = architectureNames();
  const unknown = archs.filter((a) => !known.includes(a));
  if (unknown.length > 0) {
    console.error(`tune-baselines: unknown architecture(s) ${unknown.join(", ")}`);
    return 1;
  }
  const ws = await openWorkspace({ profile: v.profile });
  const cases = tuningGrid(ws, archs as ArchitectureName[]);
  console.log(`tune-baselines: ${cases.length} settings on development windows`);
  const rows = await tuneBaselines(ws, cases, {
    log: (r) =>
      console.log(
        `tuned ${r.label}: L0 ${r.l0.toFixed(1)}, FVU ${r.fvu.toFixed(4)}, ΔCE ` +
          `${r.deltaCe.toFixed(4)}, KL ${r.kl.toFixed(4)}, cos to init ${
            r.cosineToInit.toFixed(3)
          }`,
      ),
  });
  const out = callerPath(v.out), name = `baselines-${ws.profile.name}`;
  await Deno.mkdir(out, { recursive: true });
  const rerun = `deno task tune-baselines --profile ${ws.profile.name}` +
    (v.only ? ` --only ${archs.join(",")}` : "");
  await writeJsonAtomic(`${out}/${name}.json`, {
    profile: ws.profile.name,
    model: ws.modelName,
    hook: ws.hook,
    backend: ws.backend,
    split: "dev",
    command: rerun,
    created_at: new Date().toISOString(),
    rows,
  });
  const table = tuningTable(rows);
  await writeFileAtomic(
    `${out}/${name}.md`,
    `# Baseline tuning: profile ${ws.profile.name}, model ${ws.modelName}, ${ws.hook}\n\n` +
      `Development windows of the training split (never the validation split); seed ` +
      `${ws.profile.seeds[0]}. Made by \`${rerun}\`.\n\n${table}\n`,
  );
  console.log(table);
  console.log(`wrote ${out}/${name}.json and .md`);
  closeWorkspace(ws);
  return 0;
}

if (import.meta.main) Deno.exit(await main());
