/**
 * Installs or checks what the project needs outside npm: Debian packages,
 * the Python modules Jupyter runs on, and the project-local kernelspec for the
 * Deno Jupyter kernel. Idempotent: a second run installs and writes nothing.
 *
 * ```sh
 * deno run -A pipelines/setup.ts [--for test|reproduce|bench] [--with torch] [--check]
 * ```
 *
 * @module
 */

import { parseArgs } from "node:util";
import {
  checkPythonModules,
  DEBIAN_PACKAGES,
  ensureDebianPackages,
  ensureDenoKernelSpec,
  installCommand,
  isRoot,
  missingDebianPackages,
  type Purpose,
} from "../lib/pipeline/system_deps.ts";

/** What the setup prepares the machine for. */
export type Target = "test" | "reproduce" | "bench";

/** Optional extras that are never installed unless asked for. */
export type Extra = "torch";

const TARGETS: readonly Target[] = ["test", "reproduce", "bench"];
const EXTRAS: readonly Extra[] = ["torch"];

/**
 * The purposes each target needs. Tests run the smoke pipeline through real
 * Jupyter and render figures, so they need the same as a full reproduction, and
 * the sweep's test runs a one-node Slurm cluster.
 */
const TARGET_PURPOSES: Readonly<Record<Target, readonly Purpose[]>> = {
  test: ["blas", "jupyter", "figures", "webgpu", "slurm"],
  reproduce: ["blas", "jupyter", "figures", "webgpu"],
  bench: ["blas", "webgpu"],
};

/** Python modules that must import for a purpose, checked once its packages are present. */
const PYTHON_MODULES: Partial<Record<Purpose, readonly string[]>> = {
  jupyter: ["nbclient", "nbformat"],
  torch: ["torch", "numpy"],
};

const USAGE = `Usage: deno run -A pipelines/setup.ts [options]

Installs what the project needs outside npm (Debian packages via apt-get when
run as root) and writes the project-local Deno kernelspec for Jupyter.

Options:
  --for TARGET   test | reproduce | bench (default: reproduce)
                   test: ${purposesText(["blas", "jupyter", "figures", "webgpu", "slurm"])}
                   reproduce: ${purposesText(["blas", "jupyter", "figures", "webgpu"])}
                   bench: ${purposesText(["blas", "webgpu"])}
  --with EXTRA   also set up an optional extra (repeatable); only: torch
                   torch: ${purposesText(["torch"])}
                   (for fixtures and the benchmark's PyTorch side)
  --check        only report what is missing; install and write nothing
  -h, --help     show this help

Exit status: 0 all present, 1 something missing or failed, 2 bad usage.`;

/** Renders purposes with their packages for the help text. */
function purposesText(purposes: readonly Purpose[]): string {
  return purposes.map((p) => `${p} (${DEBIAN_PACKAGES[p].join(", ")})`).join(", ");
}

/** The purposes for `target` plus `extras`, in a stable order without repeats. */
export function purposesFor(target: Target, extras: readonly Extra[] = []): Purpose[] {
  return [...new Set<Purpose>([...TARGET_PURPOSES[target], ...extras])];
}

/** The Debian packages for `purposes`, in order, without repeats. */
export function packagesFor(purposes: readonly Purpose[]): string[] {
  return [...new Set(purposes.flatMap((p) => DEBIAN_PACKAGES[p]))];
}

/** Parsed command line. */
interface Options {
  target: Target;
  extras: Extra[];
  check: boolean;
  help: boolean;
}

/** Parses the command line; throws a TypeError with a short message on bad usage. */
function parseOptions(args: string[]): Options {
  const { values } = parseArgs({
    args,
    options: {
      for: { type: "string", default: "reproduce" },
      with: { type: "string", multiple: true, default: [] },
      check: { type: "boolean", default: false },
      help: { type: "boolean", short: "h", default: false },
    },
    strict: true,
    allowPositionals: false,
  });
  const target = values.for as Target;
  if (!TARGETS.includes(target)) {
    throw new TypeError(`--for must be one of ${TARGETS.join(", ")}, not "${values.for}"`);
  }
  const extras = values.with.flatMap((w) => w.split(",")).filter((w) => w !== "");
  for (const extra of extras) {
    if (!EXTRAS.includes(extra as Extra)) {
      throw new TypeError(`--with must be one of ${EXTRAS.join(", ")}, not "${extra}"`);
    }
  }
  return { target, extras: extras as Extra[], check: values.check, help: values.help };
}

/**
 * Runs the setup CLI with `args` and returns its exit status; progress and
 * problems go to stderr, the one-line summary to stdout.
 */
export async function main(args: string[]): Promise<number> {
  let options: Options;
  try {
    options = parseOptions(args);
  } catch (error) {
    console.error(`setup: ${error instanceof Error ? error.message : error}\n\n${USAGE}`);
    return 2;
  }
  if (options.help) {
    console.log(USAGE);
    return 0;
  }

  const purposes = purposesFor(options.target, options.extras);
  const packages = packagesFor(purposes);
  const problems: string[] = [];
  const done: string[] = [];

  // Debian packages first: the Python check below depends on them.
  let packagesOk = false;
  try {
    if (options.check) {
      const missing = await missingDebianPackages(packages);
      if (missing.length > 0) {
        const command = installCommand(missing, { root: await isRoot() });
        problems.push(
          `missing Debian packages: ${missing.join(", ")}; install with:\n  ${command}`,
        );
      } else {
        packagesOk = true;
      }
    } else {
      const installed = await ensureDebianPackages(packages);
      packagesOk = true;
      if (installed.length > 0) done.push(`installed Debian packages (${installed.join(", ")})`);
    }
  } catch (error) {
    problems.push(error instanceof Error ? error.message : String(error));
  }
  if (packagesOk && done.length === 0) {
    done.push(`all Debian packages present (${packages.join(", ")})`);
  }

  // A package can be present while its modules still fail to import (a
  // broken install, or a Python that is not Debian's): say so here rather
  // than from deep inside a notebook run.
  if (packagesOk) {
    for (const purpose of purposes) {
      const modules = PYTHON_MODULES[purpose];
      if (modules === undefined) continue;
      const problem = await checkPythonModules(modules);
      if (problem !== null) problems.push(problem);
    }
  }

  const spec = await ensureDenoKernelSpec({ checkOnly: options.check });
  const relative = spec.path.replace(`${Deno.cwd()}/`, "");
  if (spec.state === "ok") done.push("kernel spec ok");
  else if (spec.state === "written") done.push(`kernel spec written (${relative})`);
  else problems.push(`kernel spec missing or out of date: ${relative}`);

  if (problems.length > 0) {
    for (const problem of problems) console.error(`setup: ${problem}`);
    console.error(`setup: FAILED for --for ${options.target}`);
    return 1;
  }
  console.log(`setup: ${done.join("; ")}`);
  return 0;
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
