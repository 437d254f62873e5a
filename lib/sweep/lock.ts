/**
 * A lock file in the shared cache, so that two sweep tasks (on one machine or on several nodes)
 * never train the same SAE or build the same store at once.
 *
 * Taking the lock creates `<path>` exclusively (create-new fails when it exists, also on NFS v3+)
 * and writes who holds it. The holder touches it every {@link LockOptions.heartbeatMs}; a lock
 * is stale, and taken over, when its holder is a process of this host that no longer runs, or,
 * held on another node, when it has not been touched for {@link LockOptions.staleMs} (that node
 * died). A waiter polls until the lock is free.
 *
 * @module
 */
import { parseJson, z } from "../io/json_file.ts";

/** Options of {@link withLock}. */
export interface LockOptions {
  /** Poll interval while another process holds the lock (default 1000 ms). */
  pollMs?: number;
  /** The holder refreshes the lock file's time this often (default 30 s). */
  heartbeatMs?: number;
  /**
   * A lock of another host not refreshed for this long is stale (default 20 min: the heartbeat
   * runs between the holder's awaits, and one synchronous stretch of training or evaluation can
   * take minutes on a large model).
   */
  staleMs?: number;
  /** Called once when the lock is held by another process (default: nothing). */
  onWait?: (holder: string) => void;
}

/** What the lock file records. */
const holderSchema = z.object({ host: z.string(), pid: z.number().int(), since: z.string() });

type Holder = z.output<typeof holderSchema>;

const locks = new Set<string>();

/**
 * Runs `fn` holding the lock `path`, waiting while another live process holds it. The lock is
 * released when `fn` settles, and also when the process gets SIGTERM or SIGINT (Slurm's scancel
 * sends SIGTERM), so a cancelled task leaves no lock behind.
 */
export async function withLock<T>(
  path: string,
  fn: () => Promise<T>,
  options: LockOptions = {},
): Promise<T> {
  await acquire(path, options);
  const beat = setInterval(() => {
    const now = new Date();
    Deno.utime(path, now, now).catch(() => {});
  }, options.heartbeatMs ?? 30_000);
  try {
    return await fn();
  } finally {
    clearInterval(beat);
    locks.delete(path);
    await Deno.remove(path).catch(() => {});
  }
}

let listening = false;

/** On SIGTERM/SIGINT: remove the locks this process holds, then exit (143 / 130). */
function releaseOnSignals(): void {
  if (listening) return;
  listening = true;
  for (const [signal, code] of [["SIGTERM", 143], ["SIGINT", 130]] as const) {
    Deno.addSignalListener(signal, () => {
      for (const path of locks) {
        try {
          Deno.removeSync(path);
        } catch { /* already gone */ }
      }
      console.error(`${signal}: released ${locks.size} lock(s); exiting`);
      Deno.exit(code);
    });
  }
}

async function acquire(path: string, options: LockOptions): Promise<void> {
  const me: Holder = { host: Deno.hostname(), pid: Deno.pid, since: new Date().toISOString() };
  let told = false;
  releaseOnSignals();
  for (;;) {
    try {
      const f = await Deno.open(path, { createNew: true, write: true });
      locks.add(path);
      await f.write(new TextEncoder().encode(JSON.stringify(me) + "\n"));
      f.close();
      return;
    } catch (error) {
      if (!(error instanceof Deno.errors.AlreadyExists)) throw error;
    }
    const state = await inspect(path, options.staleMs ?? 1_200_000);
    if (state.stale) {
      await takeOver(path, state.text);
      continue;
    }
    if (!told && state.holder) {
      options.onWait?.(`${state.holder.host} pid ${state.holder.pid} since ${state.holder.since}`);
      told = true;
    }
    await new Promise((r) => setTimeout(r, options.pollMs ?? 1000));
  }
}

/** Whether the lock at `path` is stale (see the module doc), and its text. */
async function inspect(
  path: string,
  staleMs: number,
): Promise<{ stale: boolean; text: string; holder?: Holder }> {
  let text: string, mtime: number;
  try {
    [text, mtime] = await Promise.all([
      Deno.readTextFile(path),
      Deno.stat(path).then((s) => s.mtime?.getTime() ?? Date.now()),
    ]);
  } catch {
    return { stale: false, text: "" }; // released meanwhile: try again
  }
  let holder: Holder | undefined;
  try {
    holder = parseJson(text, holderSchema, { source: path });
  } catch {
    // Being written right now (create and write are two steps), or garbage: only time tells.
    return { stale: Date.now() - mtime > staleMs, text };
  }
  // A holder on this host is judged by its process; one elsewhere only by its heartbeat.
  const stale = holder.host === Deno.hostname()
    ? !processRuns(holder.pid)
    : Date.now() - mtime > staleMs;
  return { stale, text, holder };
}

/** Whether a process of this host with id `pid` runs (Linux: /proc). */
function processRuns(pid: number): boolean {
  try {
    Deno.statSync(`/proc/${pid}`);
    return true;
  } catch {
    return false;
  }
}

/**
 * Removes a stale lock whose content was `text`. It is first renamed aside (only one of several
 * processes that saw it stale succeeds); if what was renamed is not the stale lock (another
 * process took over and made a fresh one meanwhile), it is put back.
 */
async function takeOver(path: string, text: string): Promise<void> {
  const aside = `${path}.stale-${Deno.pid}-${Date.now()}`;
  try {
    await Deno.rename(path, aside);
  } catch {
    return; // someone else moved it
  }
  const moved = await Deno.readTextFile(aside).catch(() => "");
  if (moved !== text) {
    await Deno.link(aside, path).catch(() => {}); // a fresh lock: restore it unless replaced
  }
  await Deno.remove(aside).catch(() => {});
}
