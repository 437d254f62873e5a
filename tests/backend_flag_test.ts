import assert from "node:assert/strict";
import { parseBackendName } from "../lib/tensor/backend.ts";
import { backendFlagHelp, takeBackendFlag } from "../lib/tensor/backend_flag.ts";

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

Deno.test("takeBackendFlag removes --backend B and --backend=B and sets GSAE_BACKEND", () => {
  withEnv(() => {
    assert.deepEqual(takeBackendFlag(["--profile", "smoke", "--backend", "cpu", "--json"]), [
      "--profile",
      "smoke",
      "--json",
    ]);
    assert.equal(Deno.env.get("GSAE_BACKEND"), "cpu");
    assert.deepEqual(takeBackendFlag(["--backend=webgpu"]), []);
    assert.equal(Deno.env.get("GSAE_BACKEND"), "webgpu");
  });
});

Deno.test("takeBackendFlag leaves the environment alone without the flag, and after --", () => {
  withEnv(() => {
    assert.deepEqual(takeBackendFlag(["a", "--", "--backend", "cpu"]), [
      "a",
      "--",
      "--backend",
      "cpu",
    ]);
    assert.equal(Deno.env.get("GSAE_BACKEND"), undefined);
  });
});

Deno.test("takeBackendFlag rejects unknown names and a missing value, naming the flag", () => {
  withEnv(() => {
    assert.throws(() => takeBackendFlag(["--backend", "cuda"]), /--backend=cuda is not one of/);
    assert.throws(() => takeBackendFlag(["--backend"]), /--backend wants a name/);
    assert.throws(() => takeBackendFlag(["--backend", "--json"]), /--backend wants a name/);
    assert.throws(() => takeBackendFlag(["--backend="]), /--backend wants a name/);
    assert.equal(Deno.env.get("GSAE_BACKEND"), undefined);
  });
});

Deno.test("parseBackendName: empty is no choice, unknown names the source", () => {
  assert.equal(parseBackendName(" ", "GSAE_BACKEND"), undefined);
  assert.equal(parseBackendName("wasm+blas", "GSAE_BACKEND"), "wasm+blas");
  assert.throws(() => parseBackendName("gpu", "GSAE_BACKEND"), /GSAE_BACKEND=gpu is not one of/);
});

Deno.test("backendFlagHelp lines up with the given column and lists webgpu", () => {
  const lines = backendFlagHelp(19).split("\n");
  assert.equal(lines[0].indexOf("compute backend"), 19);
  assert.ok(lines.slice(1).every((l) => l.startsWith(" ".repeat(19)) && l[19] !== " "));
  assert.match(lines[0], /webgpu/);
});
