/**
 * One sweep job, in this process: open the workspace, resolve the spec (the chosen β, Gated's λ),
 * then under the SAE's lock train it and cache its evaluations through the same code the notebooks
 * use (`trainedSAE`, `evaluateSAE`), so the notebooks then read them from the cache. Both engines
 * run every job through this function (`deno run -A pipelines/sweep.ts job ...`).
 *
 * Also the planner's cache check ({@link jobCached}), which trains nothing.
 *
 * @module
 */
import { dirname } from "node:path";
import { chooseBeta } from "../experiments/zoo/compared.ts";
import type { EvalNeed, NeedSpec } from "../experiments/zoo/needs.ts";
import { isPenalised, penaltyOptions } from "../experiments/zoo/penalty.ts";
import type { EvalOptions } from "../experiments/zoo/sae_eval.ts";
import { evaluateSAE, isEvaluated } from "../experiments/zoo/sae_eval.ts";
import { architectureOf } from "../sae/mod.ts";
import {
  isSAECached,
  saeDir,
  type SAESpec,
  specLabel,
  trainedSAE,
} from "../experiments/zoo/sae_zoo.ts";
import { trainStore, trainStoreDir } from "../experiments/zoo/train_store.ts";
import { closeWorkspace, openWorkspace, type Workspace } from "../experiments/shared/workspace.ts";
import { resolveModel } from "../gpt2/discovery.ts";
import type { SweepJob } from "./jobs.ts";
import { withLock } from "./lock.ts";

/** What a job did. */
export interface JobOutcome {
  /** Labels of the SAEs this process trained (empty: everything was cached). */
  trained: string[];
  /** The resolved spec's label. */
  label: string;
  /** Wall-clock seconds. */
  seconds: number;
}

/**
 * Open workspaces keyed by profile, model and hook, so a planner checking many jobs opens each
 * model once. {@link WorkspacePool.close} frees them.
 */
export class WorkspacePool {
  #open = new Map<string, Promise<Workspace>>();
  #log: (line: string) => void;

  /** @param log progress lines of opening a workspace */
  constructor(log: (line: string) => void = () => {}) {
    this.#log = log;
  }

  /** The workspace of `profile`, `model` (default: the profile's) and `hook`. */
  get(profile: string, model?: string, hook?: string): Promise<Workspace> {
    const key = JSON.stringify([profile, model ?? null, hook ?? null]);
    let ws = this.#open.get(key);
    if (!ws) {
      ws = openWorkspace({ profile, model, hook, log: this.#log });
      this.#open.set(key, ws);
    }
    return ws;
  }

  /** Makes `get(ws.profile.name, model, hook)` return `ws` (e.g. a workspace a test adjusted). */
  put(ws: Workspace, model: string, hook?: string): void {
    this.#open.set(JSON.stringify([ws.profile.name, model, hook ?? null]), Promise.resolve(ws));
  }

  /** Frees every workspace's model. */
  async close(): Promise<void> {
    for (const ws of this.#open.values()) {
      const opened = await ws.catch(() => null); // one that failed to open holds nothing
      if (opened) closeWorkspace(opened);
    }
    this.#open.clear();
  }
}

/** Workspaces of one job: the job's own, and the profile's main one (the chosen β lives there). */
interface Spaces {
  ws: Workspace;
  main: Workspace;
}

async function openSpaces(job: SweepJob, pool: WorkspacePool): Promise<Spaces> {
  const ws = await pool.get(job.profile, job.model, job.hook);
  if (!needsChosenBeta(job)) return { ws, main: ws };
  const own = !job.hook && (await resolveModel(ws.profile.model)).name === ws.modelName;
  return { ws, main: own ? ws : await pool.get(job.profile, ws.profile.model) };
}

/**
 * Runs `job` (see the module doc); `log` gets progress lines. Its workspaces come from `pool`
 * (left open) when given, else are opened and closed here.
 */
export async function runJob(
  job: SweepJob,
  options: { log?: (line: string) => void; pool?: WorkspacePool } = {},
): Promise<JobOutcome> {
  const t0 = performance.now(), log = options.log ?? ((line: string) => console.log(line));
  const pool = options.pool ?? new WorkspacePool(log);
  try {
    const spaces = await openSpaces(job, pool);
    const trained: string[] = [];
    const beta = needsChosenBeta(job) ? await chosenBeta(spaces.main, trained, log) : undefined;
    const spec = await resolveSpec(spaces.ws, job.spec, beta, true);
    const evals = job.evals.map((e) => resolveEval(e, beta));
    await ensure(spaces.ws, spec!, evals, trained, log);
    return { trained, label: specLabel(spec!), seconds: (performance.now() - t0) / 1000 };
  } finally {
    if (!options.pool) await pool.close();
  }
}

/**
 * Whether everything `job` would write is in the cache already, without training anything:
 * `null` when that cannot be told yet (the chosen β or the store are not there).
 */
export async function jobCached(job: SweepJob, pool: WorkspacePool): Promise<boolean | null> {
  const spaces = await openSpaces(job, pool);
  let beta: number | undefined;
  if (needsChosenBeta(job)) {
    const p = spaces.main.profile;
    for (const b of p.betas) {
      const s: SAESpec = { architecture: "gsae", k: p.mainK, seed: p.seeds[0], beta: b };
      const ok = await isSAECached(spaces.main, s) &&
        await isEvaluated(spaces.main, saeDir(spaces.main, s), { split: "dev" });
      if (!ok) return null;
    }
    beta = (await chooseBeta(spaces.main)).beta; // every SAE and evaluation it reads is cached
  }
  const spec = await resolveSpec(spaces.ws, job.spec, beta, false);
  if (!spec) return null;
  if (!(await isSAECached(spaces.ws, spec))) return false;
  for (const e of job.evals) {
    if (!(await isEvaluated(spaces.ws, saeDir(spaces.ws, spec), resolveEval(e, beta)))) {
      return false;
    }
  }
  return true;
}

function needsChosenBeta(job: SweepJob): boolean {
  return job.spec.beta === "chosen" || job.evals.some((e) => e.selectionBeta === "chosen");
}

/**
 * The β the notebooks choose on the main workspace ({@link chooseBeta}), training (under their
 * locks) the β sweep's SAEs that are not cached yet.
 */
async function chosenBeta(
  main: Workspace,
  trained: string[],
  log: (line: string) => void,
): Promise<number> {
  const p = main.profile;
  for (const beta of p.betas) {
    const spec: SAESpec = { architecture: "gsae", k: p.mainK, seed: p.seeds[0], beta };
    await ensure(main, spec, [{ split: "dev" }], trained, log);
  }
  const choice = await chooseBeta(main);
  log(`chosen β = ${choice.beta} (lowest development ΔCE of ${p.betas.join(", ")})`);
  return choice.beta;
}

/** The concrete spec; `null` when a penalty needs a store that is not built and `build` is off. */
async function resolveSpec(
  ws: Workspace,
  need: NeedSpec,
  beta: number | undefined,
  build: boolean,
): Promise<SAESpec | null> {
  const { penaltyMultiple, beta: b, ...rest } = need;
  const spec: SAESpec = { ...rest };
  if (b !== undefined) spec.beta = b === "chosen" ? beta! : b;
  if (penaltyMultiple !== undefined) {
    if (!isPenalised(need.architecture)) {
      throw new Error(`${need.architecture} has no penalty multiple`);
    }
    if (!build) {
      try {
        await Deno.stat(`${trainStoreDir(ws)}/manifest.json`);
      } catch {
        return null;
      }
    }
    await ensureStore(ws);
    const penalty = await penaltyOptions(ws, need.architecture, penaltyMultiple);
    spec.options = { ...spec.options, ...penalty };
  }
  return spec;
}

function resolveEval(e: EvalNeed, beta: number | undefined): EvalOptions {
  const { selectionBeta, ...rest } = e;
  if (selectionBeta === undefined) return rest;
  return { ...rest, selectionBeta: selectionBeta === "chosen" ? beta! : selectionBeta };
}

/** The training store, built under its lock (several jobs of one model start together). */
async function ensureStore(ws: Workspace): Promise<void> {
  const dir = trainStoreDir(ws);
  await Deno.mkdir(dirname(dir), { recursive: true });
  await withLock(`${dir}.lock`, async () => {
    await trainStore(ws);
  }, { onWait: (h) => console.log(`store ${dir}: waiting for ${h}`) });
}

/** Trains (unless cached) and evaluates `spec` under its lock; records what it trained. */
async function ensure(
  ws: Workspace,
  spec: SAESpec,
  evals: EvalOptions[],
  trained: string[],
  log: (line: string) => void,
): Promise<void> {
  const dir = saeDir(ws, spec);
  const done = async () => {
    if (!(await isSAECached(ws, spec))) return false;
    for (const e of evals) if (!(await isEvaluated(ws, dir, e))) return false;
    return true;
  };
  if (await done()) {
    log(`${specLabel(spec)}: cached`);
    return;
  }
  await Deno.mkdir(dirname(dir), { recursive: true });
  await withLock(`${dir}.lock`, async () => {
    const fresh = !(await isSAECached(ws, spec));
    if (fresh && architectureOf(spec.architecture).trainsOn === "activations") {
      await ensureStore(ws);
    }
    const t = await trainedSAE(ws, spec);
    if (fresh) {
      trained.push(`${ws.modelName}/${t.label}`);
      log(`trained ${t.label} in ${t.seconds.toFixed(1)} s`);
    }
    for (const e of evals) await evaluateSAE(ws, t, e);
    log(`${t.label}: ${evals.length} evaluation(s) cached`);
  }, { onWait: (h) => log(`${specLabel(spec)}: waiting for ${h}`) });
}
