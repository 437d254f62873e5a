/**
 * Crash-safe file and directory writes.
 *
 * Every writer here puts its data under a temporary sibling name first and
 * only then renames it into place. A rename within one directory is atomic on
 * POSIX file systems, so a reader (or a run resumed after a crash) sees either
 * the old content or the complete new content, never a truncated file.
 * {@linkcode readTextIfExists} is the reading side: a file that is absent is
 * not yet written, any other failure is an error.
 *
 * @module
 */

import { dirname, isAbsolute, join, normalize } from "node:path";

/**
 * Returns a fresh, unused-looking sibling path for `path`, such as
 * `out/model.json.tmp-1234-9f2c1a0b`.
 *
 * The process id plus random bytes keeps concurrent writers (several
 * processes, or several calls in one process) from picking the same name.
 * Staying in the same directory matters: rename is only atomic within one
 * file system.
 *
 * @param path The final path that the temporary file will be renamed to.
 * @param options.tag The word between the path and the suffix ("tmp" unless given).
 * @returns The temporary path; nothing is created.
 */
export function makeTempPath(path: string, options: { tag?: string } = {}): string {
  const random = crypto.getRandomValues(new Uint8Array(4));
  const hex = Array.from(random, (b) => b.toString(16).padStart(2, "0")).join("");
  return `${path}.${options.tag ?? "tmp"}-${Deno.pid}-${hex}`;
}

/**
 * Writes `data` to `path` atomically: parent directories are created, the
 * bytes go to a temporary sibling file which is flushed to disk, and that file
 * is then renamed over `path`. On failure the temporary file is removed and
 * `path` is left as it was.
 *
 * @param path Destination file path.
 * @param data Bytes, or a string written as UTF-8.
 */
export async function writeFileAtomic(path: string, data: Uint8Array | string): Promise<void> {
  await Deno.mkdir(dirname(path), { recursive: true });
  const tmp = makeTempPath(path);
  try {
    await writeAndSync(tmp, data);
    await Deno.rename(tmp, path);
  } catch (error) {
    await removeQuietly(tmp);
    throw error;
  }
}

/**
 * Writes `value` as pretty-printed JSON (two-space indent, trailing newline)
 * with {@link writeFileAtomic}.
 *
 * @param path Destination file path.
 * @param value Anything `JSON.stringify` accepts.
 */
export async function writeJsonAtomic(path: string, value: unknown): Promise<void> {
  const text = JSON.stringify(value, null, 2);
  // JSON.stringify returns undefined for undefined, functions and symbols;
  // writing the string "undefined" would produce a file no JSON reader accepts.
  if (text === undefined) {
    throw new TypeError(`writeJsonAtomic(${path}): value is not JSON-serializable`);
  }
  await writeFileAtomic(path, text + "\n");
}

/**
 * Replaces the directory `dir` with a new one holding exactly `files`.
 *
 * The files are written into a temporary sibling directory first. If `dir`
 * already exists it is renamed aside, the new directory is renamed into
 * place, and only then is the old one deleted. A crash at any point leaves
 * either the old or the new complete directory under `dir` (or, between the
 * two renames, no directory plus a leftover `.old-*` / `.tmp-*` sibling),
 * never a half-written one.
 *
 * @param dir Destination directory path.
 * @param files Relative file path (may contain `/` subfolders) to content.
 */
export async function writeDirAtomic(
  dir: string,
  files: Record<string, Uint8Array | string>,
): Promise<void> {
  // Trailing slashes would make the temp name land inside `dir` instead of beside it.
  const target = normalize(dir).replace(/[\\/]+$/, "") || dir;
  for (const name of Object.keys(files)) checkRelativeName(target, name);
  await Deno.mkdir(dirname(target), { recursive: true });

  const tmp = makeTempPath(target);
  try {
    await Deno.mkdir(tmp);
    for (const [name, data] of Object.entries(files)) {
      const filePath = join(tmp, name);
      await Deno.mkdir(dirname(filePath), { recursive: true });
      await writeAndSync(filePath, data);
    }
  } catch (error) {
    await removeQuietly(tmp);
    throw error;
  }

  const aside = (await exists(target)) ? makeTempPath(target, { tag: "old" }) : null;
  try {
    if (aside !== null) await Deno.rename(target, aside);
    try {
      await Deno.rename(tmp, target);
    } catch (error) {
      // Put the old directory back so a failed replace changes nothing.
      if (aside !== null) await Deno.rename(aside, target).catch(() => {});
      throw error;
    }
  } catch (error) {
    await removeQuietly(tmp);
    throw error;
  }
  if (aside !== null) await removeQuietly(aside);
}

/** Rejects names that would escape the directory being written. */
function checkRelativeName(dir: string, name: string): void {
  const clean = normalize(name);
  if (
    name === "" || isAbsolute(name) || clean === "." || clean === ".." ||
    clean.startsWith("../") || /[\\/]$/.test(name)
  ) {
    throw new TypeError(`writeDirAtomic(${dir}): bad file name ${JSON.stringify(name)}`);
  }
}

/** Creates `path` (which must not exist yet), writes `data` and flushes it to disk. */
async function writeAndSync(path: string, data: Uint8Array | string): Promise<void> {
  const bytes = typeof data === "string" ? new TextEncoder().encode(data) : data;
  const file = await Deno.open(path, { write: true, createNew: true });
  try {
    let written = 0;
    // FsFile.write may write fewer bytes than asked, so loop until done.
    while (written < bytes.length) {
      written += await file.write(bytes.subarray(written));
    }
    // Without fsync the rename can reach the disk before the data does, and a
    // power loss would leave an empty file under the final name.
    await file.sync();
  } finally {
    file.close();
  }
}

/** Whether anything exists at `path` (without following a final symlink). */
async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
}

/** Best-effort recursive removal for cleanup paths, where a second error would hide the first. */
async function removeQuietly(path: string): Promise<void> {
  try {
    await Deno.remove(path, { recursive: true });
  } catch {
    // Already gone, or never created: nothing to clean up.
  }
}

/** The text of `path`, or null when it does not exist (other read errors are thrown). */
export async function readTextIfExists(path: string): Promise<string | null> {
  try {
    return await Deno.readTextFile(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return null;
    throw error;
  }
}
