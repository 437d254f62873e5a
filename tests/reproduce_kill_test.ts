/**
 * A killed `reproduce` leaves nothing running: SIGTERM (like SIGINT and SIGHUP) stops the
 * notebook runner and its Deno kernel and removes the staging folder; after SIGKILL the runner's
 * watchdog kills the kernel and the next run removes the staging folder. While the cell runs,
 * reproduce prints its latest progress line (here every second; 30 s by default).
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { tmpdir } from "node:os";
import { fileURLToPath } from "node:url";
import { removeStaleStaging, STAGING_PREFIX } from "../lib/pipeline/staging.ts";

const REPO_ROOT = fileURLToPath(new URL("..", import.meta.url));

/** A notebook whose one cell prints a progress line and then waits a minute. */
function sleepingNotebook(): string {
  const cell = (source: string) => ({
    cell_type: "code",
    execution_count: null,
    id: crypto.randomUUID().slice(0, 8),
    metadata: {},
    outputs: [],
    source,
  });
  return JSON.stringify({
    cells: [
      cell(
        'console.log("train 12% | 3,456 tok/s | ETA 1m02s");\n' +
          "await new Promise((r) => setTimeout(r, 60_000));",
      ),
    ],
    metadata: { kernelspec: { display_name: "Deno", language: "typescript", name: "deno" } },
    nbformat: 4,
    nbformat_minor: 5,
  });
}

/** Live (not zombie) processes below `pid`, from /proc. */
function descendants(pid: number): number[] {
  const children = new Map<number, number[]>();
  for (const entry of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    try {
      const stat = Deno.readTextFileSync(`/proc/${entry.name}/stat`);
      const [state, ppid] = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      if (state === "Z") continue;
      const list = children.get(Number(ppid)) ?? [];
      list.push(Number(entry.name));
      children.set(Number(ppid), list);
    } catch { /* exited meanwhile */ }
  }
  const found: number[] = [];
  const queue = [pid];
  while (queue.length) {
    for (const child of children.get(queue.shift()!) ?? []) found.push(child), queue.push(child);
  }
  return found;
}

function alive(pid: number): boolean {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    return stat.slice(stat.lastIndexOf(")") + 2)[0] !== "Z";
  } catch {
    return false;
  }
}

/** Starts reproduce on the sleeping notebook and waits for a progress line of the running cell. */
async function startAndWaitForCell(dir: string) {
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      join(REPO_ROOT, "pipelines/reproduce.ts"),
      "--profile",
      "smoke",
      "--notebooks",
      join(dir, "notebooks"),
      "--out",
      join(dir, "out"),
    ],
    env: { GSAE_HEARTBEAT_S: "1", GSAE_CACHE_DIR: join(dir, "cache") },
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  child.stderr.pipeTo(new WritableStream()).catch(() => {});
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  const deadline = Date.now() + 60_000;
  while (!/running \d+s; latest: train 12% \| 3,456 tok\/s \| ETA 1m02s/.test(text)) {
    assert.ok(Date.now() < deadline, `no progress line of the running cell:\n${text}`);
    const { value, done } = await reader.read();
    assert.ok(!done, `reproduce ended early:\n${text}`);
    text += value;
  }
  reader.releaseLock();
  child.stdout.cancel().catch(() => {});
  const staging = [...Deno.readDirSync(tmpdir())].map((e) => e.name)
    .filter((n) => n.startsWith(`${STAGING_PREFIX}${child.pid}_`)).map((n) => join(tmpdir(), n));
  assert.equal(staging.length, 1, "one staging folder named after the pid");
  const below = descendants(child.pid);
  assert.ok(below.length >= 2, `the runner and its kernel run below reproduce: ${below}`);
  return { child, staging: staging[0], below };
}

async function waitUntilGone(pids: number[]): Promise<void> {
  const deadline = Date.now() + 15_000;
  while (pids.some(alive)) {
    assert.ok(Date.now() < deadline, `still running: ${pids.filter(alive)}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

Deno.test("a killed reproduce leaves no kernel and no staging folder; a running cell shows progress", async () => {
  const dir = await Deno.makeTempDir({ prefix: "gsae_kill_" });
  try {
    await Deno.mkdir(join(dir, "notebooks"));
    await Deno.writeTextFile(join(dir, "notebooks/01_sleep.ipynb"), sleepingNotebook());

    const term = await startAndWaitForCell(dir);
    term.child.kill("SIGTERM");
    assert.equal((await term.child.status).code, 143);
    await waitUntilGone(term.below);
    assert.throws(() => Deno.statSync(term.staging), Deno.errors.NotFound);

    const killed = await startAndWaitForCell(dir);
    killed.child.kill("SIGKILL");
    await killed.child.status;
    await waitUntilGone(killed.below); // the runner's watchdog kills the kernel
    assert.ok(Deno.statSync(killed.staging).isDirectory, "SIGKILL cannot clean up itself");
    assert.ok((await removeStaleStaging()).includes(killed.staging), "the next run removes it");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
