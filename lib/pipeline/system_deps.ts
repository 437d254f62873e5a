/**
 * Debian packages the project needs, and how to check for and install them.
 *
 * The project runs on Debian (bookworm): OpenBLAS backs the matmul kernel,
 * Jupyter runs the notebooks, Chromium renders the figures and PyTorch
 * (optional) regenerates reference fixtures. npm packages are Deno's business
 * (`deno install`); this module covers only what apt provides.
 *
 * @module
 */

import { fileURLToPath } from "node:url";

/** What a group of Debian packages is for. */
export type Purpose = "blas" | "jupyter" | "figures" | "webgpu" | "torch" | "slurm";

/**
 * Debian packages per purpose.
 *
 * `webgpu` gives Deno's WebGPU an adapter on a machine without a GPU driver:
 * Mesa's llvmpipe through EGL (wgpu's GL backend). chromium only recommends
 * the DRI drivers, so with --no-install-recommends they must be named.
 *
 * `torch` is only for regenerating fixtures and the PyTorch side of the
 * benchmark: setup installs it only when asked for explicitly.
 */
export const DEBIAN_PACKAGES: Readonly<Record<Purpose, readonly string[]>> = {
  blas: ["libopenblas0"],
  jupyter: ["jupyter-nbconvert", "python3-nbclient", "jupyter-client"],
  figures: ["chromium"],
  webgpu: ["libegl1", "libegl-mesa0", "libgl1-mesa-dri"],
  torch: ["python3-torch", "python3-numpy"],
  // The sweep's test starts a one-node cluster (slurmctld, slurmd, munged) on localhost.
  slurm: ["slurm-wlm", "munge"],
};

/** The apt-get arguments used to install packages, shared by the installer and its advice. */
const APT_INSTALL_ARGS = ["install", "-y", "--no-install-recommends"];

/**
 * apt-get waits this many seconds for another apt/dpkg process to release its
 * lock instead of failing at once (e.g. unattended-upgrades on a fresh machine).
 */
const APT_LOCK_TIMEOUT_S = 600;

/** Whether the current process runs as root (always false where there are no uids). */
export function isRoot(): Promise<boolean> {
  // Deno.uid() is null on Windows; it is synchronous, the Promise keeps the
  // signature open to a future check that has to spawn a process.
  return Promise.resolve(Deno.uid() === 0);
}

/**
 * Returns the names from `names` whose Debian package is not installed, in the
 * order given. A package counts as installed only when dpkg reports
 * `install ok installed` (removed packages that kept their config do not).
 *
 * @throws Error when `dpkg-query` is not available (not a Debian-like system).
 */
export async function missingDebianPackages(names: readonly string[]): Promise<string[]> {
  const installed = await Promise.all(names.map((name) => isInstalled(name)));
  return names.filter((_, i) => !installed[i]);
}

/** Asks dpkg for one package's status; a package dpkg has never heard of is not installed. */
async function isInstalled(name: string): Promise<boolean> {
  let output: Deno.CommandOutput;
  try {
    output = await new Deno.Command("dpkg-query", {
      args: ["-W", "-f=${Status}\n", name],
      stdout: "piped",
      stderr: "piped",
    }).output();
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      throw new Error(
        `cannot check Debian package ${name}: dpkg-query not found ` +
          "(this project's setup expects Debian or a derivative)",
      );
    }
    throw error;
  }
  if (!output.success) return false;
  // A package installed for several architectures prints one status per line.
  return new TextDecoder().decode(output.stdout).split("\n")
    .some((line) => line.trim() === "install ok installed");
}

/** The command a person should run to install `names` (with sudo unless already root). */
export function installCommand(names: readonly string[], options: { root?: boolean } = {}): string {
  const sudo = options.root ? "" : "sudo ";
  return `${sudo}apt-get update && ${sudo}apt-get ${APT_INSTALL_ARGS.join(" ")} ${names.join(" ")}`;
}

/** Options for {@linkcode ensureDebianPackages}. */
export interface EnsureOptions {
  /** Where progress lines go; defaults to `console.error`, keeping stdout for results. */
  log?: (line: string) => void;
  /**
   * Whether missing packages may be installed with apt-get (only effective as
   * root). When false, a missing package is an error. Defaults to true.
   */
  allowInstall?: boolean;
}

/**
 * Makes sure every package in `names` is installed.
 *
 * Nothing missing: returns without running apt. Missing and running as root
 * with `allowInstall`: runs `apt-get update` once, then installs only the
 * missing packages non-interactively, streaming apt's output. Otherwise throws
 * an error that names the missing packages and the exact install command.
 *
 * @returns the packages that were installed (empty when none were missing).
 * @throws Error when packages are missing and cannot be installed, or when
 * apt-get fails.
 */
export async function ensureDebianPackages(
  names: readonly string[],
  options: EnsureOptions = {},
): Promise<string[]> {
  const log = options.log ?? ((line: string) => console.error(line));
  const allowInstall = options.allowInstall ?? true;
  const missing = await missingDebianPackages(names);
  if (missing.length === 0) return [];

  const root = await isRoot();
  if (!root || !allowInstall) {
    const why = root ? "installing is not allowed here" : "not running as root";
    throw new Error(
      `missing Debian packages: ${missing.join(", ")} (${why}). Install them with:\n  ` +
        installCommand(missing, { root }),
    );
  }

  log(`setup: installing Debian packages: ${missing.join(", ")}`);
  const env = { DEBIAN_FRONTEND: "noninteractive" };
  const lock = ["-o", `DPkg::Lock::Timeout=${APT_LOCK_TIMEOUT_S}`];
  // The package lists may be absent (fresh image) or stale (404s on old
  // versions), so refresh them once per install. A failed refresh is only a
  // warning: some mirrors failing does not stop the install from working, and
  // the install's own result is what decides.
  const update = await runStreaming("apt-get", [...lock, "update"], env);
  if (update !== 0) log(`setup: warning: apt-get update exited with ${update}`);
  const install = await runStreaming("apt-get", [...lock, ...APT_INSTALL_ARGS, ...missing], env);
  if (install !== 0) {
    throw new Error(
      `apt-get install failed (exit ${install}) for: ${missing.join(", ")}; ` +
        "see apt-get's output above",
    );
  }
  const still = await missingDebianPackages(missing);
  if (still.length > 0) {
    throw new Error(`apt-get reported success but these are still missing: ${still.join(", ")}`);
  }
  return missing;
}

/** Runs a command with inherited stdio and returns its exit code. */
async function runStreaming(
  command: string,
  args: string[],
  env: Record<string, string>,
): Promise<number> {
  const child = new Deno.Command(command, {
    args,
    env,
    stdin: "null",
    stdout: "inherit",
    stderr: "inherit",
  }).spawn();
  return (await child.status).code;
}

/**
 * Debian's own Python, which has the Debian-installed modules (nbclient,
 * torch). `python3` on PATH may be a pyenv or venv shim without them.
 */
export const SYSTEM_PYTHON = "/usr/bin/python3";

/**
 * Checks that {@linkcode SYSTEM_PYTHON} can import every module in `modules`.
 *
 * @returns null when all import, else a message naming the modules and
 * Python's last error line.
 */
export async function checkPythonModules(modules: readonly string[]): Promise<string | null> {
  let output: Deno.CommandOutput;
  try {
    output = await new Deno.Command(SYSTEM_PYTHON, {
      args: ["-c", `import ${modules.join(", ")}`],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).output();
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return `${SYSTEM_PYTHON} not found`;
    throw error;
  }
  if (output.success) return null;
  const lines = new TextDecoder().decode(output.stderr).trim().split("\n");
  return `${SYSTEM_PYTHON} cannot import ${modules.join(", ")}: ${lines.at(-1) ?? "unknown error"}`;
}

/**
 * The project-local Jupyter data folder. Pipeline runners put it on
 * `JUPYTER_PATH` so that the project's kernelspec is found without touching
 * the user's own Jupyter setup (`deno jupyter --install` writes to the home
 * folder and ignores `JUPYTER_DATA_DIR`).
 */
export const PROJECT_JUPYTER_DIR: string = fileURLToPath(
  new URL("../../.cache/jupyter", import.meta.url),
);

/** The Jupyter kernelspec (`kernel.json`) that runs `deno jupyter` from `execPath`. */
export interface DenoKernelSpec {
  /** The kernel's command line; Jupyter fills in `{connection_file}`. */
  argv: string[];
  /** The name shown in Jupyter's UIs. */
  display_name: string;
  /** The notebook language. */
  language: string;
  /** Extra environment for the kernel process. */
  env: Record<string, string>;
}

/**
 * The kernelspec for the Deno kernel run by the deno binary at `execPath`.
 *
 * The kernel trusts the system CA store as well as Deno's bundled roots
 * (HTTPS may go through an intercepting proxy whose CA only the system store
 * has), prints no colours (ANSI codes would end up in the cell outputs) and
 * has `navigator.gpu` (`--unstable-webgpu`), so notebooks can run on the
 * webgpu backend.
 */
export function denoKernelSpec(execPath: string): DenoKernelSpec {
  return {
    argv: [execPath, "jupyter", "--unstable-webgpu", "--kernel", "--conn", "{connection_file}"],
    display_name: "Deno (gsae)",
    language: "typescript",
    env: { DENO_TLS_CA_STORE: "mozilla,system", NO_COLOR: "1" },
  };
}

/** Options for {@linkcode ensureDenoKernelSpec}. */
export interface KernelSpecOptions {
  /** The Jupyter data folder; defaults to {@linkcode PROJECT_JUPYTER_DIR}. */
  jupyterDir?: string;
  /** The deno binary the kernel runs; defaults to the one running now. */
  execPath?: string;
  /** Only compare, never write. */
  checkOnly?: boolean;
}

/** What {@linkcode ensureDenoKernelSpec} found or did. */
export interface KernelSpecResult {
  /** `ok`: already up to date; `written`: created or rewritten; `stale`: differs or is absent (check only). */
  state: "ok" | "written" | "stale";
  /** The kernel.json file. */
  path: string;
}

/**
 * Writes `<jupyterDir>/kernels/deno/kernel.json` for the Deno kernel, only
 * when its content differs, so that a second run changes nothing.
 */
export async function ensureDenoKernelSpec(
  options: KernelSpecOptions = {},
): Promise<KernelSpecResult> {
  const dir = `${options.jupyterDir ?? PROJECT_JUPYTER_DIR}/kernels/deno`;
  const path = `${dir}/kernel.json`;
  const wanted = JSON.stringify(denoKernelSpec(options.execPath ?? Deno.execPath()), null, 2) +
    "\n";
  let current: string | null = null;
  try {
    current = await Deno.readTextFile(path);
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  if (current === wanted) return { state: "ok", path };
  if (options.checkOnly) return { state: "stale", path };
  await Deno.mkdir(dir, { recursive: true });
  // Write then rename, so that a kernel starting meanwhile never reads half a file.
  const tmp = `${path}.tmp`;
  await Deno.writeTextFile(tmp, wanted);
  await Deno.rename(tmp, path);
  return { state: "written", path };
}
