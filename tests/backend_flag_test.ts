import assert from "node:assert/strict";
import { Command } from "commander";
import { parseBackendName } from "../lib/tensor/backend.ts";
import { backendOption } from "../lib/tensor/backend_flag.ts";

function withEnv(fn: () => void): void {
  const before = Deno.env.get("GSAE_BACKEND");
  try {
    Deno.env.delete("GSAE_BACKEND");
    fn();
  } finally {
    if (before === undefined) Deno.env.delete("GSAE_BACKEND");
    else Deno.env.set("GSAE_BACKEND", before);
  }
}

/** The `--backend` value parsed from `args` by a bare command (errors thrown, not printed). */
function parsed(args: string[]): string | undefined {
  const command = new Command("demo")
    .option("--profile <P>")
    .option("--json")
    .addOption(backendOption())
    .exitOverride()
    .configureOutput({ writeErr: () => {}, writeOut: () => {} });
  command.parse(args, { from: "user" });
  return command.opts().backend;
}

Deno.test("backendOption takes --backend B and --backend=B and sets GSAE_BACKEND", () => {
  withEnv(() => {
    assert.equal(parsed(["--profile", "smoke", "--backend", "cpu", "--json"]), "cpu");
    assert.equal(Deno.env.get("GSAE_BACKEND"), "cpu");
    assert.equal(parsed(["--backend=webgpu"]), "webgpu");
    assert.equal(Deno.env.get("GSAE_BACKEND"), "webgpu");
    assert.equal(parsed(["--backend", "cpu", "--backend", "wasm"]), "wasm", "the last one wins");
    assert.equal(Deno.env.get("GSAE_BACKEND"), "wasm");
  });
});

Deno.test("backendOption leaves the environment alone without the flag", () => {
  withEnv(() => {
    assert.equal(parsed(["--profile", "smoke"]), undefined);
    assert.equal(Deno.env.get("GSAE_BACKEND"), undefined);
  });
});

Deno.test("backendOption rejects unknown names and a missing value, naming the flag", () => {
  withEnv(() => {
    assert.throws(() => parsed(["--backend", "cuda"]), /--backend=cuda is not one of/);
    assert.throws(() => parsed(["--backend"]), /option '--backend <B>' argument missing/);
    assert.throws(() => parsed(["--backend="]), /--backend wants a name/);
    assert.equal(Deno.env.get("GSAE_BACKEND"), undefined);
  });
});

Deno.test("parseBackendName: empty is no choice, unknown names the source", () => {
  assert.equal(parseBackendName(" ", "GSAE_BACKEND"), undefined);
  assert.equal(parseBackendName("wasm+blas", "GSAE_BACKEND"), "wasm+blas");
  assert.throws(() => parseBackendName("gpu", "GSAE_BACKEND"), /GSAE_BACKEND=gpu is not one of/);
});

Deno.test("backendOption's help lists every backend, webgpu among them", () => {
  const help = new Command("demo").addOption(backendOption()).helpInformation();
  assert.match(help, /--backend <B> +compute backend: .*wasm\+blas.*webgpu/s);
});
