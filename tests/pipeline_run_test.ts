/**
 * The pipeline end to end on the fixture notebooks (tests/fixtures/pipeline/notebooks), through
 * real Jupyter and Chromium: outputs, PNGs in the executed notebooks, --only merging, --force,
 * a failing cell (lib/pipeline/notebook_step.ts), and the reproduce/check command lines' errors.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { readMetrics } from "../lib/pipeline/metrics.ts";
import { PipelineNotebookError, runPipeline } from "../lib/pipeline/run.ts";

const REPO_ROOT = fileURLToPath(new URL("..", import.meta.url));
const FIXTURES = join(REPO_ROOT, "tests/fixtures/pipeline/notebooks");
const PLOTLY = "application/vnd.plotly.v1+json";

interface Output {
  output_type: string;
  data?: Record<string, unknown>;
}

/** The display outputs of a notebook file that carry a Plotly figure. */
async function plotlyOutputs(path: string): Promise<Output[]> {
  const nb = JSON.parse(await Deno.readTextFile(path)) as {
    cells: { outputs?: Output[] }[];
  };
  return nb.cells.flatMap((c) => c.outputs ?? []).filter((o) => o.data?.[PLOTLY] !== undefined);
}

/** Runs a CLI script with `args`; returns its exit code and output. */
async function cli(script: string, args: string[]) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", join(REPO_ROOT, "pipelines", script), ...args],
    cwd: REPO_ROOT,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder();
  return { code: out.code, stdout: text.decode(out.stdout), stderr: text.decode(out.stderr) };
}

/** Runs `fn` with the fixture switches set in the environment the kernels inherit. */
async function withEnv<T>(vars: Record<string, string>, fn: () => Promise<T>): Promise<T> {
  for (const [k, v] of Object.entries(vars)) Deno.env.set(k, v);
  try {
    return await fn();
  } finally {
    for (const k of Object.keys(vars)) Deno.env.delete(k);
  }
}

Deno.test("runPipeline: outputs, merging with --only, --force and a failing cell", async () => {
  const dir = await Deno.makeTempDir({ prefix: "gsae_pipeline_" });
  const out = join(dir, "out");
  const base = { profile: "smoke", out, notebooksDir: FIXTURES, log: () => {} };
  try {
    // 1. A full run.
    const first = await runPipeline(base);
    assert.deepEqual(first.notebooks.map((n) => n.stem), ["00_intro", "01_alpha", "02_beta"]);
    const files = (sub: string) => [...Deno.readDirSync(join(out, sub))].map((e) => e.name).sort();
    assert.deepEqual(files("notebooks"), ["00_intro.ipynb", "01_alpha.ipynb", "02_beta.ipynb"]);
    assert.deepEqual(
      files("figures"),
      ["01_alpha_squares", "02_beta_bars", "02_beta_line"].flatMap((f) =>
        ["html", "png", "svg"].map((x) => `${f}.${x}`)
      ).concat("plotly.min.js").sort(),
    );
    const metrics = (await readMetrics(join(out, "metrics.json")))!;
    assert.equal(metrics.profile, "smoke");
    assert.equal(metrics.model, "sotu-2x64");
    assert.deepEqual(metrics.lastRun?.notebooks, ["00_intro", "01_alpha", "02_beta"]);
    assert.equal(metrics.notebooks["01_alpha"].metrics.sum_of_squares.value, 30);
    assert.equal(metrics.notebooks["01_alpha"].metrics.fresh.value, 0);
    assert.equal(metrics.notebooks["01_alpha"].title, "Alpha fixture");
    assert.deepEqual(metrics.notebooks["02_beta"].figures, ["02_beta_bars", "02_beta_line"]);
    assert.match(metrics.notebooks["00_intro"].warnings[0], /saved no results/);
    for (const stem of ["01_alpha", "02_beta"]) {
      const figs = await plotlyOutputs(join(out, "notebooks", `${stem}.ipynb`));
      assert.ok(figs.length > 0);
      for (const o of figs) assert.match(String(o.data!["image/png"]), /^iVBORw0KGgo/);
    }
    const report = await Deno.readTextFile(join(out, "REPORT.md"));
    assert.match(report, /\| sum-is-30 \| the sum is 30 \| the sum is 30 \| \*\*reproduced\*\* \|/);
    assert.match(report, /!\[02_beta_line\]\(figures\/02_beta_line.png\)/);
    assert.match(report, /\| profile \| `smoke` \|/);

    // 2. A failing cell: named, partial notebook kept, earlier outputs untouched.
    const before = await Deno.readTextFile(join(out, "metrics.json"));
    const error = await withEnv(
      { GSAE_FIXTURE_FAIL: "02" },
      () => runPipeline({ ...base, only: "02" }).then(() => null, (e: unknown) => e),
    );
    assert.ok(error instanceof PipelineNotebookError, `got ${error}`);
    assert.equal(error.notebook, "02_beta");
    assert.equal(error.cellIndex, 4);
    assert.match(error.message, /02_beta\.ipynb failed at cell index 4 .*fixture failure in beta/);
    assert.equal(error.failedPath, join(out, "notebooks", "02_beta.failed.ipynb"));
    await Deno.stat(error.failedPath);
    assert.equal(await Deno.readTextFile(join(out, "metrics.json")), before);
    await Deno.stat(join(out, "notebooks", "02_beta.ipynb"));

    // 2b. A notebook that runs but clashes with another's figure name is rejected the same way.
    const clash = await withEnv(
      { GSAE_FIXTURE_CLASH: "1" },
      () => runPipeline({ ...base, only: "02" }).then(() => null, (e: unknown) => e),
    );
    assert.ok(clash instanceof PipelineNotebookError, `got ${clash}`);
    assert.equal(clash.cellIndex, null);
    assert.match(
      clash.message,
      /02_beta\.ipynb ran, but its figure name 01_alpha_squares is already used by 01_alpha/,
    );
    await Deno.stat(clash.failedPath!);
    assert.equal(await Deno.readTextFile(join(out, "metrics.json")), before);
    assert.ok((await Deno.stat(join(out, "figures", "01_alpha_squares.png"))).size > 0);

    // 3. --only merges; --force reaches the kernels; a success clears the failed notebook.
    const intro = metrics.notebooks["00_intro"];
    await withEnv(
      { GSAE_FIXTURE_VALUE: "2.5" },
      () => runPipeline({ ...base, only: "1,02_beta", force: true }),
    );
    const merged = (await readMetrics(join(out, "metrics.json")))!;
    assert.deepEqual(merged.notebooks["00_intro"], intro);
    assert.equal(merged.notebooks["01_alpha"].metrics.fresh.value, 1);
    assert.equal(merged.notebooks["02_beta"].metrics.value.value, 2.5);
    assert.deepEqual(merged.lastRun?.notebooks, ["01_alpha", "02_beta"]);
    await assert.rejects(Deno.stat(error.failedPath), Deno.errors.NotFound);

    // 4. deno task check against a reference written from this state, then edited.
    const ref = join(dir, "ref.json");
    const update = await cli("check.ts", [
      "--metrics",
      join(out, "metrics.json"),
      "--reference",
      ref,
      "--update",
    ]);
    assert.equal(update.code, 0, update.stderr);
    const same = await cli("check.ts", [
      "--metrics",
      join(out, "metrics.json"),
      "--reference",
      ref,
    ]);
    assert.equal(same.code, 0, same.stderr);
    assert.match(same.stdout, /3\/3 metrics within tolerance — PASS/);
    const reference = JSON.parse(await Deno.readTextFile(ref));
    reference.metrics["02_beta/value"].value = 1.5; // tolerance 0.01 + 0.15
    delete reference.metrics["01_alpha/fresh"];
    await Deno.writeTextFile(ref, JSON.stringify(reference));
    const diff = await cli("check.ts", [
      "--metrics",
      join(out, "metrics.json"),
      "--reference",
      ref,
    ]);
    assert.equal(diff.code, 1);
    assert.match(diff.stdout, /02_beta\/value\s+1\.5\s+2\.5\s+±0\.16\s+FAIL \(fail\)/);
    assert.match(diff.stdout, /01_alpha\/fresh\s+-\s+1\s+-\s+FAIL \(extra\)/);
    const wrongProfile = await cli("check.ts", [
      "--metrics",
      join(out, "metrics.json"),
      "--reference",
      ref,
      "--profile",
      "default",
    ]);
    assert.equal(wrongProfile.code, 1);
    assert.match(wrongProfile.stdout, /FAIL: --profile default, but the metrics are smoke's/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("reproduce and check command lines: help and clear errors, exit 1", async () => {
  for (const script of ["reproduce.ts", "check.ts"]) {
    const help = await cli(script, ["--help"]);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /^Usage: deno task (reproduce|check)/);
  }
  const cases: [string, string[], RegExp][] = [
    [
      "reproduce.ts",
      ["--profile", "huge"],
      /unknown profile "huge"; known: smoke, default, extended, paper/,
    ],
    [
      "reproduce.ts",
      ["--notebooks", FIXTURES, "--only", "07"],
      /--only: no notebook "07"; known: 00_intro/,
    ],
    // No committed reference for paper: refused at once, not after a run of hours.
    [
      "check.ts",
      ["--profile", "paper"],
      /no reference at .*outputs\/reference\/paper\.json; write one with: deno task check/,
    ],
    [
      "reproduce.ts",
      ["--only", "08"],
      /--only: notebook 08_label_free is not part of the default profile .*run it with --profile extended/,
    ],
    [
      "reproduce.ts",
      ["--notebooks", "/nonexistent/nb"],
      /notebooks folder \/nonexistent\/nb does not exist/,
    ],
    [
      "reproduce.ts",
      ["--bogus"],
      /^reproduce: unknown option '--bogus'\n\(see deno task reproduce --help\)/,
    ],
    ["reproduce.ts", ["stray"], /too many arguments. Expected 0 arguments but got 1/],
    [
      "reproduce.ts",
      ["--cell-timeout", "soon"],
      /--cell-timeout must be a number >= 0, got "soon"/,
    ],
    [
      "reproduce.ts",
      ["--notebooks", FIXTURES, "--model", "no-such-model"],
      /model "no-such-model" not found/,
    ],
    ["check.ts", ["--profile", "huge"], /unknown profile "huge"/],
    ["check.ts", ["--metrics", "/nonexistent/metrics.json"], /does not exist/],
  ];
  const json = await cli("reproduce.ts", ["--json", "--notebooks", FIXTURES, "--only", "9"]);
  assert.equal(json.code, 1);
  assert.deepEqual(Object.keys(JSON.parse(json.stdout)), ["ok", "error"]);
  assert.equal(JSON.parse(json.stdout).ok, false);
  for (const [script, args, message] of cases) {
    const r = await cli(script, args);
    assert.equal(r.code, 1, `${script} ${args.join(" ")}: ${r.stderr}`);
    assert.match(r.stderr, message);
  }
});
