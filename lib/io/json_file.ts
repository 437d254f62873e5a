/**
 * JSON files read back against a zod schema. Every file the project writes and later reads
 * (metrics, references, manifests, caches, sweep state, configs) goes through here, so a corrupt
 * or hand-edited file fails at once with a message that names the file and the field:
 *
 *     outputs/metrics.json: notebooks.03_pareto.metrics.delta_ce_k32.value: expected number, got string
 *
 * instead of a `TypeError` (or a wrong number) far from the read.
 *
 * @module
 */
import { z } from "zod";

export { z };

/** At most this many problems are spelled out; the rest are counted. */
const SHOWN_PROBLEMS = 5;

/** A JSON file (or text) that is not valid JSON or does not fit its schema. */
export class JsonFileError extends Error {
  /** The file (or whatever the text came from). */
  readonly source: string;
  /** One line per problem: `field: what is wrong` (the field path dotted, `[i]` for items). */
  readonly problems: string[];

  /** @param source The file. @param problems One line per problem. */
  constructor(source: string, problems: string[]) {
    const shown = problems.slice(0, SHOWN_PROBLEMS);
    const more = problems.length - shown.length;
    super(`${source}: ${shown.join("; ")}${more > 0 ? ` (and ${more} more)` : ""}`);
    this.name = "JsonFileError";
    this.source = source;
    this.problems = problems;
  }
}

/**
 * `text` parsed as JSON and checked against `schema` (defaults filled in).
 *
 * @throws JsonFileError naming `options.source` and each bad field.
 */
export function parseJson<T>(text: string, schema: z.ZodType<T>, options: { source: string }): T {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (error) {
    throw new JsonFileError(options.source, [`not valid JSON (${(error as Error).message})`]);
  }
  return checkJson(raw, schema, options);
}

/**
 * An already parsed JSON value checked against `schema`.
 *
 * @throws JsonFileError naming `options.source` and each bad field.
 */
export function checkJson<T>(raw: unknown, schema: z.ZodType<T>, options: { source: string }): T {
  const result = schema.safeParse(raw, { reportInput: true });
  if (result.success) return result.data;
  throw new JsonFileError(options.source, describeIssues(result.error, raw));
}

/**
 * The file at `path` parsed and checked against `schema`.
 *
 * @throws Deno.errors.NotFound when it does not exist; JsonFileError when it is bad.
 */
export async function readJsonFile<T>(path: string, schema: z.ZodType<T>): Promise<T> {
  return parseJson(await Deno.readTextFile(path), schema, { source: path });
}

/** As {@link readJsonFile}, but null when the file does not exist. */
export async function readJsonFileIfExists<T>(
  path: string,
  schema: z.ZodType<T>,
): Promise<T | null> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return null;
    throw error;
  }
  return parseJson(text, schema, { source: path });
}

/**
 * A string field that holds JSON (as safetensors metadata does), parsed and checked against
 * `schema`; text that is not JSON is an issue at that field.
 */
export function jsonText<T extends z.ZodType>(schema: T) {
  return z.string().transform((text, ctx): unknown => {
    try {
      return JSON.parse(text);
    } catch (error) {
      ctx.addIssue({
        code: "custom",
        message: `not valid JSON (${(error as Error).message})`,
        input: text,
      });
      return z.NEVER;
    }
  }).pipe(schema);
}

/** A string field that holds a decimal number (as safetensors metadata does). */
export const numberText = z.string().regex(/^-?\d+(\.\d+)?(e[-+]?\d+)?$/i, "expected a number")
  .transform(Number);

/** One line per issue of `error` on `input`: `field.path: what is wrong, got what`. */
export function describeIssues(error: z.ZodError, input: unknown): string[] {
  return error.issues.flatMap((issue) => {
    // The value zod saw (reportInput), which inside a transform (`jsonText`) is not in `input`.
    const at = "input" in issue
      ? { found: issue.input !== undefined, value: issue.input }
      : valueAt(input, issue.path);
    if (issue.code === "unrecognized_keys") {
      return issue.keys.map((key) => `${fieldPath([...issue.path, key])}: unknown field`);
    }
    let what: string;
    if (issue.code === "invalid_type") {
      // zod's number() also rejects NaN and ±Infinity (JSON.parse reads 1e999 as Infinity).
      const expected = issue.expected === "int" ? "integer" : issue.expected;
      const numeric = typeof at.value === "number" && ["number", "integer"].includes(expected);
      const got = numeric ? String(at.value) : typeName(at.value);
      what = at.found ? `expected ${expected}, got ${got}` : `missing (expected ${expected})`;
    } else if (issue.code === "invalid_value") {
      const allowed = issue.values.map((v) => JSON.stringify(v)).join(", ");
      const expected = issue.values.length === 1 ? allowed : `one of ${allowed}`;
      what = at.found
        ? `expected ${expected}, got ${shown(at.value)}`
        : `missing (expected ${expected})`;
    } else if (issue.code === "invalid_union") {
      // A discriminated union reports its input object at the discriminator's path: show the
      // discriminator's own value.
      const key = "discriminator" in issue ? String(issue.discriminator) : undefined;
      const value = key !== undefined && at.value !== null && typeof at.value === "object" &&
          key in at.value
        ? (at.value as Record<string, unknown>)[key]
        : at.value;
      what = `does not fit any of the allowed forms, got ${shown(value)}`;
    } else {
      // zod's own words ("Too small: expected number to be >0"), in this message's lower case.
      what = `${issue.message[0].toLowerCase()}${issue.message.slice(1)}, got ${shown(at.value)}`;
    }
    const field = fieldPath(issue.path);
    return [field ? `${field}: ${what}` : what];
  });
}

/** `a.b[2].c` for the path `["a", "b", 2, "c"]`. */
function fieldPath(path: readonly PropertyKey[]): string {
  let out = "";
  for (const key of path) {
    if (typeof key === "number") out += `[${key}]`;
    else out += out ? `.${String(key)}` : String(key);
  }
  return out;
}

/** The value at `path` in `input`, and whether it is there at all. */
function valueAt(input: unknown, path: readonly PropertyKey[]): { found: boolean; value: unknown } {
  let value = input;
  for (const key of path) {
    if (typeof value !== "object" || value === null || !Object.hasOwn(value, key)) {
      return { found: false, value: undefined };
    }
    value = (value as Record<PropertyKey, unknown>)[key];
  }
  return { found: true, value };
}

/** The JSON type of `value`: null, array, object, string, number or boolean. */
function typeName(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "array";
  return typeof value;
}

/** `value` as a short JSON text, for messages. */
function shown(value: unknown): string {
  if (value === undefined) return "nothing";
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}
