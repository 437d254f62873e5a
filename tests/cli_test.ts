import assert from "node:assert/strict";
import { choiceArg, gsaeCommand, intArg, numberArg, parseCommandLine } from "../lib/io/cli.ts";
import { backendOption } from "../lib/tensor/backend_flag.ts";

/** Runs `fn` with console output captured; returns what went to stdout and stderr. */
function captured<T>(fn: () => T): { value: T; out: string; err: string } {
  const { log } = console;
  const writes = { out: "", err: "" };
  const stdout = Deno.stdout.writeSync, stderr = Deno.stderr.writeSync;
  const dec = new TextDecoder();
  Deno.stdout.writeSync = (b) => (writes.out += dec.decode(b), b.length);
  Deno.stderr.writeSync = (b) => (writes.err += dec.decode(b), b.length);
  console.log = (...a: unknown[]) => (writes.out += a.join(" ") + "\n");
  try {
    return { value: fn(), ...writes };
  } finally {
    Object.assign(Deno.stdout, { writeSync: stdout });
    Object.assign(Deno.stderr, { writeSync: stderr });
    console.log = log;
  }
}

function demo() {
  return gsaeCommand("demo", { description: "A demo.", after: "Footnote." })
    .argument("[files...]", "input files")
    .option("--k <N>", "active latents", intArg("k", { min: 1, max: 512 }), 32)
    .option("--lr <X>", "learning rate", numberArg("lr", { above: 0, max: 1 }))
    .option("--dtype <T>", "F32 | F16", choiceArg("dtype", ["F32", "F16"] as const), "F32")
    .option("--json", "JSON output")
    .addOption(backendOption());
}

Deno.test("parseCommandLine: options with defaults, parsers and positionals", () => {
  const r = parseCommandLine<{ k: number; lr?: number; dtype: string; json?: boolean }>(
    demo(),
    ["a", "--k", "8", "--lr=0.5", "b", "--json"],
  );
  assert.equal(r.exit, undefined);
  if (r.exit !== undefined) return;
  assert.deepEqual(r.options, { k: 8, lr: 0.5, dtype: "F32", json: true });
  assert.deepEqual(r.args, ["a", "b"]);
});

Deno.test("parseCommandLine: --help prints usage, options and the text after; exit 0", () => {
  const { value, out } = captured(() => parseCommandLine(demo(), ["--help"]));
  assert.deepEqual(value, { exit: 0 });
  assert.match(out, /^Usage: deno task demo \[options\]\n\nA demo\.\n/);
  assert.match(out, /--k <N> +active latents \(default: 32\)/);
  assert.match(out, /--backend <B> +compute backend: .*webgpu/);
  assert.match(out, /-h, --help +this text\n\nFootnote\.\n$/);
});

Deno.test("parseCommandLine: a bad argument names the option and gives the CLI's exit code", () => {
  const cases: [string[], RegExp][] = [
    [["--k", "0"], /^demo: .*--k must be an integer between 1 and 512, got "0"/],
    [["--lr", "2"], /--lr must be a number > 0 and <= 1, got "2"/],
    [["--dtype", "F8"], /--dtype must be one of F32, F16, got "F8"/],
    [["--nope"], /^demo: unknown option '--nope'/],
    [["--backend", "cuda"], /--backend=cuda is not one of/],
  ];
  for (const [args, message] of cases) {
    const { value, err } = captured(() => parseCommandLine(demo(), args, { badArgumentExit: 1 }));
    assert.deepEqual(value, { exit: 1 }, args.join(" "));
    assert.match(err, message);
    assert.match(err, /\(see deno task demo --help\)\n$/);
  }
  const { value } = captured(() => parseCommandLine(demo(), ["--k"]));
  assert.deepEqual(value, { exit: 2 }, "the default exit code of a usage error is 2");
});

Deno.test("backendOption sets GSAE_BACKEND", () => {
  const before = Deno.env.get("GSAE_BACKEND");
  try {
    const r = parseCommandLine<{ backend: string }>(demo(), ["--backend", "cpu"]);
    assert.equal(r.exit === undefined && r.options.backend, "cpu");
    assert.equal(Deno.env.get("GSAE_BACKEND"), "cpu");
  } finally {
    if (before === undefined) Deno.env.delete("GSAE_BACKEND");
    else Deno.env.set("GSAE_BACKEND", before);
  }
});

/**
 * Every CLI on commander: its script, its `deno task`, its exit code on a bad flag and the
 * arguments it requires (commander reports a missing one before an unknown one).
 */
const CLIS: [script: string, task: string, badExit: number, required: string[]][] = [
  ["bench.ts", "bench", 1, []],
  ["bench_eval.ts", "bench-eval", 1, []],
  ["browse.ts", "browse", 1, []],
  ["browser_screenshots.ts", "browser-screenshots", 1, []],
  ["check.ts", "check", 1, []],
  ["fetch_model.ts", "fetch-model", 2, ["gpt2"]],
  ["gsae.ts", "gsae", 1, []],
  ["loader_memory.ts", "loader-memory", 1, []],
  ["make_gpt2_shaped.ts", "make-gpt2-shaped", 1, ["--out", "unused", "gpt2"]],
  ["reproduce.ts", "reproduce", 1, []],
  ["sweep.ts", "sweep", 2, []],
  ["train_lm.ts", "train-lm", 1, []],
  ["train_sae.ts", "train-sae", 1, [
    "--hook",
    "blocks.0.hook_resid_post",
    "--architecture",
    "topk",
  ]],
];

async function runCli(script: string, args: string[]) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", new URL(`../pipelines/${script}`, import.meta.url).pathname, ...args],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, out: dec.decode(out.stdout), err: dec.decode(out.stderr) };
}

Deno.test("every CLI: --help is its deno task's usage; a bad flag is named, with its exit code", async () => {
  const tasks = JSON.parse(
    await Deno.readTextFile(new URL("../deno.json", import.meta.url)),
  ).tasks as Record<string, { command: string }>;
  for (const [script, task, badExit, required] of CLIS) {
    assert.match(tasks[task].command, new RegExp(`pipelines/${script}`), `deno task ${task}`);
    const help = await runCli(script, ["--help"]);
    assert.equal(help.code, 0, `${script} --help: ${help.err}`);
    assert.match(help.out, new RegExp(`^Usage: deno task ${task} `), script);
    assert.match(help.out, /\n {2}-h, --help +this text\n/, script);
    const bad = await runCli(script, [...required, "--no-such-flag"]);
    assert.equal(bad.code, badExit, `${script} --no-such-flag: ${bad.err}`);
    assert.match(
      bad.err,
      new RegExp(`^${task}: unknown option '--no-such-flag'\\n\\(see deno task ${task} --help\\)`),
      script,
    );
  }
});

Deno.test("CLIs: a bad value is named with its range before any work", async () => {
  const cases: [string, string[], number, RegExp][] = [
    ["bench.ts", ["--reps", "0"], 1, /--reps must be an integer >= 1, got "0"/],
    ["gsae.ts", ["--backend", "cuda"], 1, /--backend=cuda is not one of/],
    ["gsae.ts", ["frob", "default"], 1, /^gsae: unknown command "frob" \(info, loss, grad\)/],
    ["gsae.ts", ["grad", "default", "--text", "a b"], 1, /grad needs --hook/],
    ["loader_memory.ts", ["--model", "gpt9"], 1, /--model must be one of gpt2, .*got "gpt9"/],
    ["sweep.ts", ["--engine", "pbs"], 2, /--engine must be one of local, slurm, got "pbs"/],
    ["sweep.ts", [], 2, /give exactly one of --profile P or --grid FILE/],
    ["sweep.ts", ["--jobs", "0", "--profile", "smoke"], 2, /--jobs must be an integer >= 1/],
    ["train_lm.ts", ["sotu-2x64", "--lr", "2"], 1, /--lr must be a number > 0 and <= 1/],
    ["train_lm.ts", ["sotu-2x64", "--tokens", "5"], 1, /--tokens must be an integer >= 4096/],
    ["train_lm.ts", ["gpt5"], 1, /unknown or missing preset "gpt5"; choose one of sotu-2x64/],
  ];
  for (const [script, args, code, message] of cases) {
    const r = await runCli(script, args);
    assert.equal(r.code, code, `${script} ${args.join(" ")}: ${r.err}`);
    assert.match(r.err, message, `${script} ${args.join(" ")}`);
    assert.equal(r.out, "", `${script} ${args.join(" ")}: nothing on stdout, no work started`);
  }
});

Deno.test("sweep: a grid file that does not fit is named with its field", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/g.json`, JSON.stringify({ profile: "smoke", ks: [8] }));
    const r = await runCli("sweep.ts", ["--grid", `${dir}/g.json`, "--dry-run", "--no-check"]);
    assert.equal(r.code, 1);
    assert.match(r.err, /g\.json: architectures: missing \(expected array\)/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
