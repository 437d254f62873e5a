/**
 * Paths typed on a command line, resolved against the folder the user typed them in. `deno
 * task` runs every task in the repository root, so `Deno.cwd()` is the root, not the user's
 * folder; Deno records the caller's folder in `INIT_CWD` (as npm does) for tasks.
 *
 * @module
 */
import { isAbsolute, resolve } from "node:path";

/** The folder the command was started from: `INIT_CWD` under `deno task`, else the cwd. */
export function callerCwd(): string {
  return Deno.env.get("INIT_CWD") || Deno.cwd();
}

/** `path` as an absolute path, relative ones taken from {@link callerCwd}. */
export function callerPath(path: string): string {
  return isAbsolute(path) ? resolve(path) : resolve(callerCwd(), path);
}
