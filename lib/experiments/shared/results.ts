/**
 * What a notebook reports: named metrics (with the tolerance `deno task check` compares them
 * within), claims (the paper's statement beside this run's result and a verdict) and figures.
 *
 * A notebook creates one {@link NotebookResults}, records into it, and calls `save()` in its
 * last cell. Everything goes under the workspace's run folder:
 * - `results/<notebook>.json`: metrics and claims ({@link NotebookResultsJson});
 * - `figures/<name>.json`: each figure's Plotly spec, which the pipeline renders to HTML, PNG and
 *   SVG with one browser per run and adds as a static PNG to the executed notebook's display.
 *
 * In a notebook, figures and tables are displayed inline through `Deno.jupyter`; outside Jupyter
 * (tests, scripts) display is skipped.
 *
 * @module
 */
import { writeJsonAtomic } from "../../io/atomic_write.ts";
import { z } from "../../io/json_file.ts";
import { escapeCell, mdTable } from "../../io/markdown_table.ts";
import { figureBundle, type FigureSpec } from "../../pipeline/figures.ts";
import type { Workspace } from "./workspace.ts";

/** A metric and the tolerance a re-run must agree within: |a − b| ≤ abs + rel·|reference|. */
export interface MetricRecord {
  /** The value measured in this run. */
  value: number;
  /** Absolute tolerance (default 1e-4). */
  abs: number;
  /** Relative tolerance (default 0.02). */
  rel: number;
  /** What it is, with its unit. */
  description: string;
}

/**
 * The verdicts a claim may carry (`seed_spread.ts`: the 95 % interval of its primary comparison
 * on the claimed side, on the other side, or spanning zero).
 */
export const VERDICTS = ["reproduced", "not reproduced", "inconclusive"] as const;

/**
 * What a row is: a paper's `claim` (counted in the tally), a `sub-comparison` (a variant or a
 * second reference, e.g. against e2e-TopK) or a `control` (ours: what could explain an effect
 * away). Only claims are tallied.
 */
export const CLAIM_KINDS = ["claim", "sub-comparison", "control"] as const;

/** One of {@link CLAIM_KINDS}. */
export type ClaimKind = typeof CLAIM_KINDS[number];

/** Verdict of a claim on this run. */
export type Verdict = typeof VERDICTS[number];

/** One paper claim beside this run's result. */
export interface ClaimRecord {
  /** Short id, e.g. `pareto-delta-ce`. */
  id: string;
  /** The paper's statement (or figure/table reference and its numbers). */
  paper: string;
  /** This run's result in words, with numbers and their spread over seeds. */
  result: string;
  /** Whether the claim held. */
  verdict: Verdict;
  /** What the row is (default `claim`). */
  kind?: ClaimKind;
}

/** The `results/<notebook>.json` file. */
export interface NotebookResultsJson {
  /** Notebook stem, e.g. `03_pareto`. */
  notebook: string;
  /** Profile, model, hook and backend of the run. */
  run: { profile: string; model: string; hook: string; backend: string };
  /** Metrics by name. */
  metrics: Record<string, MetricRecord>;
  /** Claims, in order. */
  claims: ClaimRecord[];
  /** Names of the figures the notebook produced. */
  figures: string[];
}

/** {@link MetricRecord} as read back from a file (zod's number() rejects NaN and ±Infinity). */
export const metricRecordSchema: z.ZodType<MetricRecord> = z.object({
  value: z.number(),
  abs: z.number(),
  rel: z.number(),
  description: z.string(),
});

/** {@link ClaimRecord} as read back from a file. */
export const claimRecordSchema: z.ZodType<ClaimRecord> = z.object({
  id: z.string(),
  paper: z.string(),
  result: z.string(),
  // Results written before the one interval rule may say "partly reproduced"; read as inconclusive.
  verdict: z.enum([...VERDICTS, "partly reproduced"]).transform((v) =>
    v === "partly reproduced" ? "inconclusive" : v
  ),
  kind: z.enum(CLAIM_KINDS).optional(),
}) as unknown as z.ZodType<ClaimRecord>;

/** The `run` field of {@link NotebookResultsJson}. */
export const runInfoSchema: z.ZodType<NotebookResultsJson["run"]> = z.object({
  profile: z.string(),
  model: z.string(),
  hook: z.string(),
  backend: z.string(),
});

/** {@link NotebookResultsJson} as read back from `results/<notebook>.json`. */
export const notebookResultsSchema: z.ZodType<NotebookResultsJson> = z.object({
  notebook: z.string(),
  run: runInfoSchema,
  metrics: z.record(z.string(), metricRecordSchema),
  claims: z.array(claimRecordSchema),
  figures: z.array(z.string()),
});

/**
 * Claims as tables, one per kind present (claims, then sub-comparisons, then controls): id, the
 * paper's statement, this run's result and the verdict in bold.
 */
export function claimsTable(claims: readonly ClaimRecord[]): string {
  const heads: Record<ClaimKind, string> = {
    claim: "claim",
    "sub-comparison": "sub-comparison (not tallied)",
    control: "control (not tallied)",
  };
  return CLAIM_KINDS.filter((kind) => claims.some((c) => (c.kind ?? "claim") === kind))
    .map((kind) =>
      mdTable(
        [heads[kind], "paper", "this run", "verdict"],
        claims.filter((c) => (c.kind ?? "claim") === kind).map((c) => [
          escapeCell(c.id),
          escapeCell(c.paper),
          escapeCell(c.result),
          `**${c.verdict}**`,
        ]),
      )
    ).join("\n\n");
}

/** Key of the Plotly layout's `meta` that names a figure (the pipeline adds PNGs by it). */
export const FIGURE_META_KEY = "gsae_figure";

interface JupyterApi {
  display(bundle: unknown, options: { raw: boolean }): Promise<void>;
}

/** `Deno.jupyter` inside a Jupyter kernel; undefined elsewhere (where reading it throws). */
function jupyterApi(): JupyterApi | undefined {
  try {
    return (Deno as unknown as { jupyter?: JupyterApi }).jupyter;
  } catch {
    return undefined;
  }
}

/** Displays a MIME bundle inline when running in a Jupyter kernel; no-op elsewhere. */
export async function display(bundle: Record<string, unknown>): Promise<void> {
  await jupyterApi()?.display(bundle, { raw: true });
}

/** Displays markdown inline in Jupyter, or prints it elsewhere. */
export async function showMarkdown(markdown: string): Promise<void> {
  if (jupyterApi()) await display({ "text/markdown": markdown, "text/plain": markdown });
  else console.log(markdown);
}

/** Collects one notebook's metrics, claims and figures. */
export class NotebookResults {
  readonly #ws: Workspace;
  readonly #json: NotebookResultsJson;

  /** Results of `notebook` (its file stem) in workspace `ws`. */
  constructor(ws: Workspace, notebook: string) {
    this.#ws = ws;
    this.#json = {
      notebook,
      run: { profile: ws.profile.name, model: ws.modelName, hook: ws.hook, backend: ws.backend },
      metrics: {},
      claims: [],
      figures: [],
    };
  }

  /** Records a metric (a non-finite value is an error: it would hide a failed computation). */
  metric(
    name: string,
    value: number,
    options: { description: string; abs?: number; rel?: number },
  ): number {
    if (!Number.isFinite(value)) {
      throw new Error(`${this.#json.notebook}: metric ${name} is ${value}`);
    }
    this.#json.metrics[name] = {
      value,
      abs: options.abs ?? 1e-4,
      rel: options.rel ?? 0.02,
      description: options.description,
    };
    return value;
  }

  /** Records a claim; returns it for display. */
  claim(claim: ClaimRecord): ClaimRecord {
    this.#json.claims.push(claim);
    return claim;
  }

  /**
   * Shows `spec` inline and saves it as figure `name`. Figure names follow one scheme that ties
   * each figure to its section and, where it reproduces one, to the paper's figure or table:
   * `<notebook number>_[fig<N>_|table<N>_]<what>`, e.g. `01_fig2_directional`, `03_pareto_fvu`.
   */
  async figure(name: string, spec: FigureSpec): Promise<void> {
    if (!/^[\w.-]+$/.test(name)) throw new Error(`figure name "${name}" must be a file stem`);
    const section = /^(\d\d)_/.exec(this.#json.notebook)?.[1];
    if (section && !name.startsWith(`${section}_`)) {
      throw new Error(
        `figure name "${name}" of notebook ${this.#json.notebook} must start with "${section}_"`,
      );
    }
    const named: FigureSpec = {
      ...spec,
      layout: { ...(spec.layout ?? {}), meta: { [FIGURE_META_KEY]: name } },
    };
    await writeJsonAtomic(`${this.#ws.runDir}/figures/${name}.json`, named);
    if (!this.#json.figures.includes(name)) this.#json.figures.push(name);
    await display(figureBundle(named));
  }

  /** The claims as a markdown table (for the notebook's last cell). */
  claimsMarkdown(): string {
    return claimsTable(this.#json.claims);
  }

  /** The collected results. */
  toJSON(): NotebookResultsJson {
    return structuredClone(this.#json);
  }

  /** Writes `results/<notebook>.json` (atomically) and shows the claims table. */
  async save(): Promise<void> {
    await writeJsonAtomic(`${this.#ws.runDir}/results/${this.#json.notebook}.json`, this.#json);
    await showMarkdown(this.claimsMarkdown());
  }
}
