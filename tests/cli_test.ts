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
