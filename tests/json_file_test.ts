import assert from "node:assert/strict";
import { join } from "node:path";
import {
  checkJson,
  JsonFileError,
  jsonText,
  numberText,
  parseJson,
  readJsonFile,
  readJsonFileIfExists,
  z,
} from "../lib/io/json_file.ts";

const metricsLike = z.object({
  format: z.literal("demo/1"),
  notebooks: z.record(
    z.string(),
    z.object({
      metrics: z.record(z.string(), z.object({ value: z.number() })),
      verdicts: z.array(z.enum(["yes", "no"])),
    }),
  ),
  seed: z.number().int().default(0),
});

Deno.test("parseJson names the file and the field of a wrong type", () => {
  const text = JSON.stringify({
    format: "demo/1",
    notebooks: { "03_pareto": { metrics: { delta_ce_k32: { value: "0.1" } }, verdicts: [] } },
  });
  assert.throws(
    () => parseJson(text, metricsLike, { source: "outputs/metrics.json" }),
    (error: unknown) => {
      assert.ok(error instanceof JsonFileError);
      assert.equal(
        error.message,
        "outputs/metrics.json: notebooks.03_pareto.metrics.delta_ce_k32.value: " +
          "expected number, got string",
      );
      assert.equal(error.source, "outputs/metrics.json");
      return true;
    },
  );
});

Deno.test("parseJson: missing fields, wrong literals and enums, array items, integers", () => {
  const text = JSON.stringify({
    format: "demo/2",
    notebooks: { a: { metrics: { m: { value: 1e999 } }, verdicts: ["yes", "maybe"] }, b: {} },
  });
  let problems: string[] = [];
  try {
    parseJson(text, metricsLike, { source: "f.json" });
  } catch (error) {
    problems = (error as JsonFileError).problems;
  }
  assert.deepEqual(problems.sort(), [
    'format: expected "demo/1", got "demo/2"',
    "notebooks.a.metrics.m.value: expected number, got null",
    'notebooks.a.verdicts[1]: expected one of "yes", "no", got "maybe"',
    "notebooks.b.metrics: missing (expected record)",
    "notebooks.b.verdicts: missing (expected array)",
  ]);
});

Deno.test("checkJson: a non-finite number, unknown fields of strict objects, the root", () => {
  assert.throws(
    () => parseJson('{"value": 1e999}', z.object({ value: z.number() }), { source: "x" }),
    /^JsonFileError: x: value: expected number, got Infinity$/,
  );
  assert.throws(
    () => checkJson({ beeta: 1 }, z.strictObject({ beta: z.number().optional() }), { source: "c" }),
    /^JsonFileError: c: beeta: unknown field$/,
  );
  assert.throws(
    () => checkJson([1], z.object({}), { source: "r" }),
    /^JsonFileError: r: expected object, got array$/,
  );
  assert.deepEqual(checkJson({ format: "demo/1", notebooks: {} }, metricsLike, { source: "ok" }), {
    format: "demo/1",
    notebooks: {},
    seed: 0,
  });
});

Deno.test("parseJson: invalid JSON names the file; many problems are counted, not listed", () => {
  assert.throws(
    () => parseJson("{ nope", metricsLike, { source: "m.json" }),
    /^JsonFileError: m\.json: not valid JSON \(/,
  );
  const many = z.array(z.number());
  assert.throws(
    () => checkJson(["a", "b", "c", "d", "e", "f", "g"], many, { source: "l" }),
    /\[4\]: expected number, got string \(and 2 more\)$/,
  );
});

Deno.test("readJsonFile and readJsonFileIfExists", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = join(dir, "a.json");
    await assert.rejects(readJsonFile(path, metricsLike), Deno.errors.NotFound);
    assert.equal(await readJsonFileIfExists(path, metricsLike), null);
    await Deno.writeTextFile(path, JSON.stringify({ format: "demo/1", notebooks: {}, seed: 3 }));
    assert.equal((await readJsonFile(path, metricsLike)).seed, 3);
    await Deno.writeTextFile(path, JSON.stringify({ format: "demo/1", notebooks: {}, seed: 0.5 }));
    await assert.rejects(
      readJsonFileIfExists(path, metricsLike),
      (error: Error) => error.message === `${path}: seed: expected integer, got 0.5`,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("jsonText and numberText read string fields that hold JSON and numbers", () => {
  const meta = z.object({
    step: numberText,
    history: jsonText(z.array(z.object({ ce: z.number() }))),
  });
  assert.deepEqual(checkJson({ step: "12", history: '[{"ce": 1.5}]' }, meta, { source: "m" }), {
    step: 12,
    history: [{ ce: 1.5 }],
  });
  assert.throws(
    () => checkJson({ step: "12", history: '[{"ce": "x"}]' }, meta, { source: "m" }),
    /^JsonFileError: m: history\[0\]\.ce: expected number, got string$/,
  );
  assert.throws(
    () => checkJson({ step: "1e", history: "[" }, meta, { source: "m" }),
    /^JsonFileError: m: step: expected a number, got "1e"; history: not valid JSON \(.*\), got "\["$/,
  );
});
