import assert from "node:assert/strict";
import { withLock } from "../lib/sweep/lock.ts";

Deno.test("withLock: holders never overlap, and the lock is gone afterwards", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/spec.lock`;
    let inside = 0, most = 0;
    const task = () =>
      withLock(path, async () => {
        most = Math.max(most, ++inside);
        await new Promise((r) => setTimeout(r, 30));
        inside--;
      }, { pollMs: 5 });
    await Promise.all([task(), task(), task()]);
    assert.equal(most, 1);
    await assert.rejects(Deno.stat(path), Deno.errors.NotFound);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("withLock: a lock of a dead process here, or one not touched for long, is taken over", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/spec.lock`;
    // A pid no process has (above Linux's pid_max).
    const dead = { host: Deno.hostname(), pid: 4_194_305, since: "2020-01-01T00:00:00Z" };
    await Deno.writeTextFile(path, JSON.stringify(dead));
    assert.equal(await withLock(path, () => Promise.resolve(1), { pollMs: 5 }), 1);
    const away = { host: "some-other-node", pid: 1, since: "2020-01-01T00:00:00Z" };
    await Deno.writeTextFile(path, JSON.stringify(away));
    const old = new Date(Date.now() - 60_000);
    await Deno.utime(path, old, old);
    assert.equal(await withLock(path, () => Promise.resolve(2), { pollMs: 5, staleMs: 10_000 }), 2);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("withLock: a live holder on another node is waited for", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/spec.lock`;
    const other = { host: "some-other-node", pid: 1, since: new Date().toISOString() };
    await Deno.writeTextFile(path, JSON.stringify(other));
    let waited = "";
    const t0 = performance.now();
    setTimeout(() => Deno.removeSync(path), 100);
    await withLock(path, () => Promise.resolve(), {
      pollMs: 5,
      onWait: (h) => (waited = h),
    });
    assert.ok(performance.now() - t0 >= 90);
    assert.match(waited, /some-other-node pid 1/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("withLock: SIGTERM (Slurm's scancel) releases the lock before the process exits", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/spec.lock`;
    const lock = new URL("../lib/sweep/lock.ts", import.meta.url).href;
    const child = new Deno.Command(Deno.execPath(), {
      args: [
        "eval",
        `import { withLock } from "${lock}";
         await withLock("${path}", () => new Promise((r) => setTimeout(r, 60_000)));`,
      ],
      stdout: "null",
      stderr: "null",
    }).spawn();
    let held = false;
    for (let i = 0; i < 200 && !held; i++) {
      held = (await Deno.readTextFile(path).catch(() => "")).includes(`"pid":${child.pid}`);
      if (!held) await new Promise((r) => setTimeout(r, 50));
    }
    assert.ok(held, "the child never took the lock");
    child.kill("SIGTERM");
    assert.equal((await child.status).code, 143);
    await assert.rejects(Deno.stat(path), Deno.errors.NotFound);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
