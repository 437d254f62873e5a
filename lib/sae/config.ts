/**
 * SAE configurations as zod schemas: every field with its type, default and a one-line
 * description, checked whenever a config is built, loaded from `cfg.json` or given on the
 * command line. A typo (`beeta`), a wrong type or an out-of-range value is an error that names
 * the field, instead of an SAE trained and saved with a setting nobody asked for.
 *
 * Each architecture module declares its fields here-style and the registry (`registry.ts`)
 * keeps the schema beside the constructor.
 *
 * @module
 */
import { z } from "zod";

export { z };

/** A config that failed its schema; the message lists every bad field. */
export class SAEConfigError extends Error {
  /** One line per problem: `field: what is wrong`. */
  readonly problems: string[];

  /** @param architecture The config's architecture. @param problems One line per bad field. */
  constructor(architecture: string, problems: string[]) {
    super(`invalid ${architecture} SAE config: ${problems.join("; ")}`);
    this.name = "SAEConfigError";
    this.problems = problems;
  }
}

/** The fields every architecture has, with `architecture` one of `names`. */
export function baseFields<const N extends string>(names: readonly [N, ...N[]]) {
  return {
    architecture: z.enum(names).describe("which architecture (the registry's name)"),
    d_in: z.number().int().positive().describe("width of the hooked activation"),
    d_sae: z.number().int().positive().describe("number of latents (expansion factor × d_in)"),
    seed: z.number().int().default(0).describe("seed of the initial weights"),
  };
}

/** How the trainer sets b_dec from a data sample before the first step. */
export const decoderBiasInit = z.enum(["mean", "geometric_median"]);

/** One of {@link decoderBiasInit}'s values. */
export type DecoderBiasInit = z.output<typeof decoderBiasInit>;

/**
 * Parse `options` with `schema`: defaults filled in, unknown fields and bad values rejected.
 * @throws SAEConfigError naming every bad field.
 */
export function parseConfig<C>(
  schema: z.ZodType<C>,
  options: unknown,
  architecture: string,
): C {
  const result = schema.safeParse(options);
  if (result.success) return result.data;
  throw new SAEConfigError(
    architecture,
    result.error.issues.map((issue) => {
      const field = issue.path.join(".");
      return field ? `${field}: ${issue.message}` : issue.message;
    }),
  );
}

/** Each field's name, type, default and description, for `--help` texts and the README. */
export function describeFields(fields: z.ZodRawShape): string[] {
  return Object.entries(fields).map(([name, schema]) => {
    const s = schema as z.ZodType;
    const def = s instanceof z.ZodDefault ? ` (default ${JSON.stringify(s.def.defaultValue)})` : "";
    return `${name}${def}: ${s.description ?? ""}`;
  });
}
