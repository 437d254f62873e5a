import assert from "node:assert/strict";
import { REPO_ROOT } from "../lib/gpt2/embedded_models.ts";
import {
  checkWritable,
  guardCommitted,
  holdsCommittedResults,
  OutputGuardError,
} from "../lib/io/output_guard.ts";

const MODEL_DIR = `${REPO_ROOT}/outputs/models/sotu-2x64`;

async function sha256(path: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", await Deno.readFile(path));
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

/** Runs a pipeline script (as `deno task` would) and returns its exit code and output. */
async function run(script: string, args: string[]) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", `${REPO_ROOT}/pipelines/${script}`, ...args],
    cwd: REPO_ROOT,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder();
  return { code: out.code, output: text.decode(out.stdout) + text.decode(out.stderr) };
}

Deno.test("committed folders are recognised; others are not", async () => {
  assert.equal(await holdsCommittedResults(MODEL_DIR), true);
  assert.equal(await holdsCommittedResults(`${REPO_ROOT}/outputs/reference/smoke.json`), true);
  assert.equal(await holdsCommittedResults(`${REPO_ROOT}/outputs/saes/never-there`), false);
  const tmp = await Deno.makeTempDir();
  try {
    assert.equal(await holdsCommittedResults(tmp), false);
    await guardCommitted(tmp, { command: "x" });
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
  await assert.rejects(
    () => guardCommitted(MODEL_DIR, { command: "train-lm sotu-2x64" }),
    (e: Error) =>
      e instanceof OutputGuardError &&
      e.message.includes(`would overwrite committed results in ${MODEL_DIR}`) &&
      /pass --force, or --out .*outputs\/models\/sotu-2x64/.test(e.message),
  );
  await guardCommitted(MODEL_DIR, { command: "x", explicit: true });
  await guardCommitted(MODEL_DIR, { command: "x", force: true });
});

Deno.test("checkWritable proves a folder writable and names one that is not", async () => {
  const tmp = await Deno.makeTempDir();
  try {
    await checkWritable(`${tmp}/new/sub`);
    assert.deepEqual([...Deno.readDirSync(`${tmp}/new/sub`)], [], "the probe is removed");
    await Deno.writeTextFile(`${tmp}/file`, "x");
    await assert.rejects(
      () => checkWritable(`${tmp}/file/sub`, { flag: "--out" }),
      /--out .*file\/sub is not writable/,
    );
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test("train-lm and check --update refuse to overwrite committed results before any work", async () => {
  const before = await sha256(`${MODEL_DIR}/model.safetensors`);
  const lm = await run("train_lm.ts", ["sotu-2x64", "--tokens", "4096"]);
  assert.equal(lm.code, 1);
  assert.match(
    lm.output,
    /train-lm: train-lm sotu-2x64 would overwrite committed results in .*outputs\/models\/sotu-2x64 .*nothing was done.*--force/,
  );
  assert.equal(await sha256(`${MODEL_DIR}/model.safetensors`), before);

  const check = await run("check.ts", ["--metrics", "outputs/metrics.json", "--update"]);
  assert.equal(check.code, 1);
  assert.match(
    check.output,
    /check --update would overwrite committed results in .*outputs\/reference\/default\.json.*--force \(or --reference naming the file\)/,
  );
});

Deno.test("train-sae validates every option before building a store", async () => {
  const base = [
    "--model",
    "sotu-2x64",
    "--hook",
    "blocks.0.hook_resid_post",
    "--architecture",
    "topk",
  ];
  const cases: [string[], RegExp][] = [
    [["--k", "0"], /--k must be an integer between 1 and 512, got "0"/],
    [["--seed", "abc"], /--seed must be an integer between 0 and 4294967295, got "abc"/],
    [["--eval-sequences", "0"], /--eval-sequences must be an integer >= 1, got "0"/],
    [["--expansion", "0"], /--expansion must be an integer between 1 and 1024, got "0"/],
    [["--lr=-1"], /--lr must be a number > 0 and <= 1, got "-1"/],
    [["--out", "lib"], /--out .*\/lib exists and is not an SAE folder \(no cfg\.json\).*--force/],
  ];
  for (const [args, expected] of cases) {
    const result = await run("train_sae.ts", [...base, ...args]);
    assert.equal(result.code, 1, args.join(" "));
    assert.match(result.output, expected);
    assert.doesNotMatch(result.output, /store|step/i, `${args.join(" ")}: no work started`);
  }
});
