/**
 * A one-node Slurm cluster on localhost for tests: slurmctld and slurmd with a configuration in a
 * temporary folder (own ports, state and logs), munged started if it is not running. Needs root
 * and Debian's slurm-wlm and munge (`deno task setup --for test` installs them).
 *
 * @module
 */

/** A running test cluster. */
export interface TestCluster {
  /** Environment for Slurm's clients (`SLURM_CONF`). */
  env: Record<string, string>;
  /** The configuration folder (state, logs). */
  dir: string;
  /** Stops the daemons this cluster started and removes its folder. */
  stop(): Promise<void>;
}

async function sh(cmd: string, env: Record<string, string> = {}) {
  const o = await new Deno.Command("bash", {
    args: ["-c", cmd],
    env,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { ok: o.success, out: dec.decode(o.stdout).trim(), err: dec.decode(o.stderr).trim() };
}

/** Why a cluster cannot start here, or null when it can. */
export async function clusterUnavailable(): Promise<string | null> {
  if (Deno.uid() !== 0) return "not root (the one-node test cluster runs slurmd as root)";
  for (const tool of ["slurmctld", "slurmd", "sbatch", "squeue", "scontrol", "munged", "munge"]) {
    const r = await sh(`command -v ${tool} || test -x /usr/sbin/${tool}`);
    if (!r.ok) return `${tool} not installed (apt-get install slurm-wlm munge)`;
  }
  return null;
}

async function until(what: string, ok: () => Promise<boolean>, seconds: number): Promise<void> {
  const end = Date.now() + seconds * 1000;
  while (!(await ok())) {
    if (Date.now() > end) throw new Error(`test cluster: ${what} not within ${seconds} s`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** Starts the cluster (see the module doc); throws with the daemons' logs when it cannot. */
export async function startCluster(): Promise<TestCluster> {
  let startedMunge = false;
  if (!(await sh("munge -n | unmunge")).ok) {
    const r = await sh(
      "mkdir -p /run/munge && chown munge:munge /run/munge && runuser -u munge -- /usr/sbin/munged",
    );
    if (!r.ok) throw new Error(`cannot start munged: ${r.err}`);
    startedMunge = true;
    await until("munge", async () => (await sh("munge -n | unmunge")).ok, 10);
  }
  const dir = await Deno.makeTempDir({ prefix: "gsae-slurm-" });
  const host = (await sh("hostname -s")).out;
  const port = 20000 + Math.floor(Math.random() * 20000);
  const cpus = navigator.hardwareConcurrency;
  const conf = `${dir}/slurm.conf`;
  await Deno.mkdir(`${dir}/state`);
  await Deno.mkdir(`${dir}/spool`);
  await Deno.writeTextFile(
    conf,
    [
      `ClusterName=gsaetest`,
      `SlurmctldHost=${host}`,
      "AuthType=auth/munge",
      "SlurmUser=root",
      "SlurmdUser=root",
      `StateSaveLocation=${dir}/state`,
      `SlurmdSpoolDir=${dir}/spool`,
      `SlurmctldPidFile=${dir}/slurmctld.pid`,
      `SlurmdPidFile=${dir}/slurmd.pid`,
      `SlurmctldLogFile=${dir}/slurmctld.log`,
      `SlurmdLogFile=${dir}/slurmd.log`,
      `SlurmctldPort=${port}`,
      `SlurmdPort=${port + 1}`,
      "ProctrackType=proctrack/linuxproc",
      "TaskPlugin=task/none",
      "SelectType=select/cons_tres",
      "SelectTypeParameters=CR_Core",
      "ReturnToService=2",
      "JobCompType=jobcomp/none",
      "JobAcctGatherType=jobacct_gather/none",
      "MpiDefault=none",
      // Tasks that end stay visible to scontrol for a while (the default is 300 s).
      "MinJobAge=600",
      `NodeName=${host} CPUs=${cpus} RealMemory=1000 State=UNKNOWN`,
      `PartitionName=test Nodes=${host} Default=YES MaxTime=INFINITE State=UP`,
    ].join("\n") + "\n",
  );
  const env = { SLURM_CONF: conf };
  const stop = async () => {
    for (const d of ["slurmd", "slurmctld"]) {
      await sh(`test -f ${dir}/${d}.pid && kill $(cat ${dir}/${d}.pid)`);
    }
    await until("daemons stopping", async () => {
      const r = await sh(
        `for f in ${dir}/*.pid; do kill -0 $(cat $f) 2>/dev/null && exit 1; done; exit 0`,
      );
      return r.ok;
    }, 20).catch(() => {});
    if (startedMunge) await sh("kill $(cat /run/munge/munged.pid)");
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  };
  try {
    for (const d of ["slurmctld", "slurmd"]) {
      const r = await sh(`${d} -f ${conf}`, env);
      if (!r.ok) throw new Error(`${d} did not start: ${r.err}`);
    }
    await until("the node idle", async () => {
      const r = await sh("sinfo -h -o %t", env);
      return r.ok && r.out.split("\n").includes("idle");
    }, 30);
  } catch (error) {
    const logs = (await sh(`tail -n 5 ${dir}/*.log`)).out;
    await stop();
    throw new Error(`${(error as Error).message}\n${logs}`);
  }
  return { env, dir, stop };
}
