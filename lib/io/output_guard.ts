/**
 * Where a command may write. Committed results (the trained models, the references and the
 * default run's outputs, all tracked by git under `outputs/`) are never overwritten unasked: a
 * command whose default destination holds tracked files refuses before any work unless the user
 * named that destination with `--out` or passed `--force`. And a destination is proven writable
 * by a test write before hours of work go into filling it.
 *
 * @module
 */
import { isAbsolute, join, relative, resolve } from "node:path";
import { callerCwd } from "./caller_path.ts";
import { REPO_ROOT } from "../gpt2/embedded_models.ts";

/** A refused destination; the message says where and how to allow it. */
export class OutputGuardError extends Error {
  /** @param message What would be overwritten and how to allow it. */
  constructor(message: string) {
    super(message);
    this.name = "OutputGuardError";
  }
}

/**
 * Files tracked by git at or under `path` (repository-relative), or null when git cannot tell
 * (no git, or no repository): then everything under `outputs/` counts as committed.
 */
export async function trackedFiles(path: string): Promise<string[] | null> {
  const rel = relative(REPO_ROOT, resolve(path));
  if (rel.startsWith("..") || isAbsolute(rel)) return [];
  try {
    const out = await new Deno.Command("git", {
      args: ["-C", REPO_ROOT, "ls-files", "-z", "--", rel === "" ? "." : rel],
      stdout: "piped",
      stderr: "null",
    }).output();
    if (!out.success) return null;
    return new TextDecoder().decode(out.stdout).split("\0").filter((f) => f !== "");
  } catch {
    return null;
  }
}

/** Whether `path` holds committed results: tracked files, or (without git) anything in outputs/. */
export async function holdsCommittedResults(path: string): Promise<boolean> {
  const tracked = await trackedFiles(path);
  if (tracked !== null) return tracked.length > 0;
  const rel = relative(join(REPO_ROOT, "outputs"), resolve(path));
  if (rel.startsWith("..") || isAbsolute(rel)) return false;
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}

/**
 * Refuses (before any work) to write to `path` when it holds committed results, unless the user
 * asked for it: `explicit` (they named it with `--out`, `--reference`, …) or `force`.
 * `command` and `how` word the message, e.g. "train-lm" and "--force or --out <folder>".
 */
export async function guardCommitted(
  path: string,
  options: { command: string; explicit?: boolean; force?: boolean; how?: string },
): Promise<void> {
  if (options.explicit || options.force) return;
  if (!(await holdsCommittedResults(path))) return;
  throw new OutputGuardError(
    `${options.command} would overwrite committed results in ${resolve(path)} (tracked by git); ` +
      `nothing was done. To overwrite them, pass ${
        options.how ?? `--force, or --out ${relative(callerCwd(), resolve(path)) || "."}`
      }; to keep them, write elsewhere with --out DIR`,
  );
}

/**
 * Proves that files can be created in folder `dir` (creating it if needed) by writing and
 * removing a probe file; throws an error naming the folder and the reason otherwise.
 */
export async function checkWritable(dir: string, options: { flag?: string } = {}): Promise<void> {
  const probe = join(dir, `.write-test-${Deno.pid}-${crypto.randomUUID().slice(0, 8)}`);
  try {
    await Deno.mkdir(dir, { recursive: true });
    await Deno.writeTextFile(probe, "probe\n", { createNew: true });
    await Deno.remove(probe);
  } catch (error) {
    const flag = options.flag ? `${options.flag} ` : "";
    throw new Error(
      `${flag}${dir} is not writable (${(error as Error).message}); choose another folder`,
    );
  }
}
