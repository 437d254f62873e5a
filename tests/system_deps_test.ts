import assert from "node:assert/strict";
import {
  DEBIAN_PACKAGES,
  denoKernelSpec,
  ensureDebianPackages,
  ensureDenoKernelSpec,
  installCommand,
  missingDebianPackages,
} from "../lib/pipeline/system_deps.ts";
import { packagesFor, purposesFor } from "../pipelines/setup.ts";

const NO_SUCH_PACKAGE = "gsae-no-such-package";

Deno.test("missingDebianPackages reports an unknown package as missing and dpkg as present", async () => {
  assert.deepEqual(await missingDebianPackages([NO_SUCH_PACKAGE, "dpkg"]), [NO_SUCH_PACKAGE]);
  assert.deepEqual(await missingDebianPackages([]), []);
});

Deno.test("ensureDebianPackages does nothing when all packages are present", async () => {
  const lines: string[] = [];
  const installed = await ensureDebianPackages(["dpkg"], {
    allowInstall: false,
    log: (line) => lines.push(line),
  });
  assert.deepEqual(installed, []);
  assert.deepEqual(lines, []);
});

Deno.test("ensureDebianPackages without permission to install names the package and the command", async () => {
  await assert.rejects(
    ensureDebianPackages(["dpkg", NO_SUCH_PACKAGE], { allowInstall: false, log: () => {} }),
    (error: Error) => {
      assert.match(error.message, new RegExp(`missing Debian packages: ${NO_SUCH_PACKAGE}\\b`));
      assert.ok(
        error.message.includes(`apt-get install -y --no-install-recommends ${NO_SUCH_PACKAGE}`),
        error.message,
      );
      assert.ok(!error.message.includes("install -y --no-install-recommends dpkg"), error.message);
      return true;
    },
  );
});

Deno.test("installCommand uses sudo unless already root", () => {
  assert.equal(
    installCommand(["a", "b"]),
    "sudo apt-get update && sudo apt-get install -y --no-install-recommends a b",
  );
  assert.equal(
    installCommand(["a"], { root: true }),
    "apt-get update && apt-get install -y --no-install-recommends a",
  );
});

Deno.test("setup targets: test and reproduce need Jupyter and figures, torch only on request", () => {
  for (const target of ["test", "reproduce"] as const) {
    assert.deepEqual(purposesFor(target).slice(0, 4), ["blas", "jupyter", "figures", "webgpu"]);
    assert.ok(!packagesFor(purposesFor(target)).includes("python3-torch"));
  }
  // Only the tests run Slurm (the sweep's one-node cluster).
  assert.ok(packagesFor(purposesFor("test")).includes("slurm-wlm"));
  assert.ok(packagesFor(purposesFor("test")).includes("munge"));
  assert.ok(!packagesFor(purposesFor("reproduce")).includes("slurm-wlm"));
  assert.deepEqual(packagesFor(purposesFor("bench")), [
    ...DEBIAN_PACKAGES.blas,
    ...DEBIAN_PACKAGES.webgpu,
  ]);
  assert.deepEqual(
    packagesFor(purposesFor("bench", ["torch"])),
    [...DEBIAN_PACKAGES.blas, ...DEBIAN_PACKAGES.webgpu, ...DEBIAN_PACKAGES.torch],
  );
});

Deno.test("ensureDenoKernelSpec writes kernel.json once and then leaves it alone", async () => {
  const jupyterDir = await Deno.makeTempDir({ prefix: "gsae-jupyter-" });
  try {
    const execPath = "/opt/deno/bin/deno";
    const check = await ensureDenoKernelSpec({ jupyterDir, execPath, checkOnly: true });
    assert.equal(check.state, "stale");
    const first = await ensureDenoKernelSpec({ jupyterDir, execPath });
    assert.equal(first.state, "written");
    assert.equal(first.path, `${jupyterDir}/kernels/deno/kernel.json`);
    const spec = JSON.parse(await Deno.readTextFile(first.path));
    assert.deepEqual(spec, denoKernelSpec(execPath));
    assert.deepEqual(spec.argv, [
      execPath,
      "jupyter",
      "--unstable-webgpu",
      "--kernel",
      "--conn",
      "{connection_file}",
    ]);
    const { mtime } = await Deno.stat(first.path);
    assert.equal((await ensureDenoKernelSpec({ jupyterDir, execPath })).state, "ok");
    assert.deepEqual((await Deno.stat(first.path)).mtime, mtime);
    // A different deno binary (e.g. a new npx cache) makes it rewrite.
    assert.equal(
      (await ensureDenoKernelSpec({ jupyterDir, execPath: "/x/deno" })).state,
      "written",
    );
  } finally {
    await Deno.remove(jupyterDir, { recursive: true });
  }
});
