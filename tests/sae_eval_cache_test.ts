// The evaluation cache (lib/experiments/zoo/sae_eval.ts): a damaged entry is named in a warning
// and evaluated again; a matching entry is read.
import assert from "node:assert/strict";
import { EVAL_VERSION, isEvaluated } from "../lib/experiments/zoo/sae_eval.ts";
import type { Workspace } from "../lib/experiments/shared/workspace.ts";

const ws = { profile: { sae: { evalSequences: 4 } } } as unknown as Workspace;
const key = { version: EVAL_VERSION, mode: "gradient true", split: "val", sequences: 4 };
const result = { name: "x", deltaCe: 0.1, kl: 0.1, fvu: 0.2, l0: 32, frequencies: [0.5] };

Deno.test("evaluation cache: a matching entry is read, a damaged one is named and redone", async () => {
  const dir = await Deno.makeTempDir();
  const file = `${dir}/eval-val-gradient_true.json`;
  const warnings: string[] = [];
  const warn = console.warn;
  console.warn = (line: string) => warnings.push(line);
  try {
    assert.equal(await isEvaluated(ws, dir), false);
    await Deno.writeTextFile(file, JSON.stringify({ key, result }));
    assert.equal(await isEvaluated(ws, dir), true);
    await Deno.writeTextFile(file, JSON.stringify({ key, result: { ...result, kl: "0.1" } }));
    assert.equal(await isEvaluated(ws, dir), false);
    assert.match(warnings.join("\n"), /eval-val-gradient_true\.json: result\.kl: expected number/);
    await Deno.writeTextFile(file, "{ not json");
    assert.equal(await isEvaluated(ws, dir), false);
    assert.equal(warnings.length, 2);
  } finally {
    console.warn = warn;
    await Deno.remove(dir, { recursive: true });
  }
});
