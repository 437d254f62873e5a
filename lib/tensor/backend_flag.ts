/**
 * The `--backend B` flag every gsae CLI accepts, in one place: it is taken off the command line
 * before the CLI parses the rest, and becomes `GSAE_BACKEND` for this process and for every
 * process it starts (notebook kernels, workers), so that `initBackend` honours it wherever it
 * runs.
 *
 * @module
 */
import { InvalidArgumentError, Option } from "commander";
import { BACKEND_NAMES, parseBackendName } from "./backend.ts";

/**
 * The help lines for the flag, its description starting at `column` (0-based) to line up with
 * the CLI's other options.
 */
export function backendFlagHelp(column: number): string {
  const pad = " ".repeat(column);
  return [
    `  --backend B`.padEnd(column) + `compute backend: ${BACKEND_NAMES.join(", ")}`,
    `${pad}(default: the first that starts; GSAE_BACKEND does the same;`,
    `${pad}webgpu needs deno's --unstable-webgpu, which the deno tasks pass)`,
  ].join("\n");
}

/**
 * `args` without `--backend B` / `--backend=B`; when the flag is there, its value (checked
 * against the known backends) is set as `GSAE_BACKEND`. Throws on an unknown name or a missing
 * value. The last occurrence wins, as with other options.
 */
export function takeBackendFlag(args: readonly string[]): string[] {
  const rest: string[] = [];
  let value: string | undefined;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (arg === "--") {
      rest.push(...args.slice(i));
      break;
    }
    if (arg === "--backend") {
      value = args[i + 1];
      if (value === undefined || value.startsWith("--")) {
        throw new Error(`--backend wants a name: ${BACKEND_NAMES.join(", ")}`);
      }
      i++;
    } else if (arg.startsWith("--backend=")) {
      value = arg.slice("--backend=".length);
    } else {
      rest.push(arg);
    }
  }
  if (value !== undefined) {
    const name = parseBackendName(value, "--backend");
    if (!name) throw new Error(`--backend wants a name: ${BACKEND_NAMES.join(", ")}`);
    Deno.env.set("GSAE_BACKEND", name);
  }
  return rest;
}

/**
 * The flag as a commander option: its value is checked against the known backends and set as
 * `GSAE_BACKEND` (as {@link takeBackendFlag} does), when the command line is parsed.
 */
export function backendOption(): Option {
  return new Option(
    "--backend <B>",
    backendFlagHelp(0).replace(/\s*\n\s*/g, " ").replace(/^\s*--backend B\s*/, ""),
  )
    .argParser((value: string) => {
      let name;
      try {
        name = parseBackendName(value, "--backend");
      } catch (error) {
        throw new InvalidArgumentError((error as Error).message);
      }
      if (!name) {
        throw new InvalidArgumentError(`--backend wants a name: ${BACKEND_NAMES.join(", ")}`);
      }
      Deno.env.set("GSAE_BACKEND", name);
      return name;
    });
}
