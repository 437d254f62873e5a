/**
 * The Pareto notebook's tables, claims and metrics, computed from the points of `pareto.ts`: the
 * verdicts come from the numbers (the 95 % interval of the paired difference at the main k, the
 * one rule of `seed_spread.ts`), never from the text.
 *
 * Why one module of ~300 lines: the notebook's tables, claims and metrics read the same
 * points and comparisons.
 *
 * @module
 */
import type { ClaimRecord, NotebookResults } from "../shared/results.ts";
import type { BetaSweep, ParetoPoint } from "./pareto.ts";
import type { ClaimKind } from "../shared/results.ts";
import { type FrontierMetric, pairedValues, select, type Selector } from "./pareto_compare.ts";
import { CONTROL_CONDITIONS, seriesName } from "./pareto_figures.ts";
import {
  compareWithInterval,
  describeOutcome,
  formatSpread,
  spread,
  verdictOf,
} from "../shared/seed_spread.ts";
import { formatInterval, pairedInterval } from "../shared/paired_interval.ts";
import { mdTable } from "../../io/markdown_table.ts";

const f4 = (v: number) => v.toFixed(4);
const pct = (v: number) => `${(100 * v).toFixed(1)} %`;
const pm = (values: number[], digits = 4) => formatSpread(spread(values), { digits });

/** A markdown table of points: one row each, with L0, ΔCE, KL, FVU, CE recovered and dead latents. */
export function pointsTable(points: readonly ParetoPoint[]): string {
  return mdTable(
    [
      "SAE",
      "evaluation",
      "L0",
      "ΔCE",
      "KL",
      "FVU",
      "CE recovered (mean abl.)",
      "dead (eval)",
      "train s",
    ],
    points.map((p) => [
      p.label,
      seriesName(p.architecture, p.mode),
      p.l0.toFixed(1),
      f4(p.deltaCe),
      f4(p.kl),
      f4(p.fvu),
      pct(p.fracRecoveredMean),
      pct(p.deadFraction),
      p.trainSeconds.toFixed(0),
    ]),
    { align: "--rrrrrrr" },
  );
}

/** The β sweep as a table: dev and val ΔCE/KL, val FVU, val ΔCE with plain selection. */
export function betaSweepTable(sweep: BetaSweep): string {
  return mdTable(
    [
      "β",
      "dev ΔCE",
      "dev KL",
      "val ΔCE",
      "val KL",
      "val FVU",
      "val ΔCE, plain selection",
      "val KL, plain selection",
    ],
    sweep.rows.map((r) => [
      `${r.beta === 0 ? "0 (TopK)" : r.beta}${r.beta === sweep.chosen ? " **(chosen: ΔCE)**" : ""}${
        r.beta === sweep.chosenByKl ? " **(chosen: KL)**" : ""
      }`,
      f4(r.dev.deltaCe),
      f4(r.dev.kl),
      f4(r.val.deltaCe),
      f4(r.val.kl),
      f4(r.val.fvu),
      f4(r.valPlain.deltaCe),
      f4(r.valPlain.kl),
    ]),
    { align: "rrrrrrrr" },
  );
}

/** Mean ± sd over seeds at the main k for every condition of the controls. */
export function mainKTable(points: readonly ParetoPoint[]): string {
  const rows = CONTROL_CONDITIONS.map((c) => select(points, c)).filter((p) => p.length).map(
    (p) => [
      seriesName(p[0].architecture, p[0].mode),
      p.length,
      spread(p.map((q) => q.l0)).mean.toFixed(1),
      pm(p.map((q) => q.deltaCe)),
      pm(p.map((q) => q.kl)),
      pm(p.map((q) => q.fvu)),
      `${pm(p.map((q) => 100 * q.fracRecoveredMean), 1)} %`,
    ],
  );
  return mdTable(
    ["condition", "seeds", "L0", "ΔCE", "KL", "FVU", "CE recovered (mean abl.)"],
    rows,
    { align: "-rrrrrr" },
  );
}

/**
 * "What the gradient buys and what it costs", in words from the numbers: each condition of the
 * controls against TopK at the main k, as the mean over seeds of the paired relative change in
 * ΔCE, KL and FVU (negative: lower than TopK), with its range over seeds.
 */
export function buysAndCosts(points: readonly ParetoPoint[]): string {
  const metrics = [["deltaCe", "ΔCE"], ["kl", "KL"], ["fvu", "FVU"]] as const;
  const lines = CONTROL_CONDITIONS.slice(1).filter((c) => select(points, c).length).map((c) => {
    const parts = metrics.map(([m, name]) => {
      const v = pairedValues(points, c, T, m);
      const rel = spread(v.candidate.map((x, i) => x / v.reference[i] - 1));
      const f = (x: number) => `${x >= 0 ? "+" : ""}${(100 * x).toFixed(1)} %`;
      return `${name} ${f(rel.mean)} (${f(rel.min)} … ${f(rel.max)})`;
    });
    return `- **${seriesName(c.architecture, c.mode)}**: ${parts.join(", ")}`;
  });
  return [
    `Relative to TopK at k = ${points[0]?.k}, paired by seed (mean, and range over seeds; ` +
    `negative is better):`,
    "",
    ...lines,
  ].join("\n");
}

/** One comparison behind a claim: candidate against reference on one metric. */
interface Comparison {
  id: string;
  paper: string;
  /** A paper's claim, a sub-comparison or a control (only claims are tallied). */
  kind: ClaimKind;
  candidate: Selector;
  reference: Selector;
  metric: FrontierMetric;
  /** Whether the other ks' paired differences are reported beside it (frontier seeds). */
  useFrontier: boolean;
}

const G: Selector = { architecture: "gsae" }, T: Selector = { architecture: "topk" };
const E: Selector = { architecture: "e2e_topk" };

const COMPARISONS: Comparison[] = [
  {
    id: "pareto-delta-ce",
    paper: "g-SAE improves ΔCE (CE loss added) at a given L0 and expansion factor over TopK " +
      "(Pareto frontiers; g-SAE evaluated with the true next token's gradient).",
    kind: "claim",
    candidate: G,
    reference: T,
    metric: "deltaCe",
    useFrontier: true,
  },
  {
    id: "pareto-delta-ce-vs-e2e",
    paper: "g-SAE improves ΔCE at a given L0 over e2e-TopK too (Pareto frontiers).",
    kind: "sub-comparison",
    candidate: G,
    reference: E,
    metric: "deltaCe",
    useFrontier: true,
  },
  {
    id: "pareto-kl-label-free",
    paper: "(label-free check, ours) the improvement shows in KL(clean ‖ spliced), which does " +
      "not single out the true next token.",
    kind: "sub-comparison",
    candidate: G,
    reference: T,
    metric: "kl",
    useFrontier: true,
  },
  {
    id: "pareto-plain-selection",
    paper: "(label-free check, ours) the g-SAE dictionary alone, run with plain TopK selection " +
      "(no gradient at inference), improves ΔCE over TopK.",
    kind: "sub-comparison",
    candidate: { architecture: "gsae", mode: "plain" },
    reference: T,
    metric: "deltaCe",
    useFrontier: true,
  },
  {
    id: "control-sampled-gradient",
    paper: "(control, ours) g-SAE selecting with the gradient at a next token sampled from the " +
      "model (no label) still improves ΔCE over TopK.",
    kind: "control",
    candidate: { architecture: "gsae", mode: "sampled" },
    reference: T,
    metric: "deltaCe",
    useFrontier: true,
  },
  {
    id: "control-per-token-gradient",
    paper: "(control, ours) g-SAE selecting with the per-token gradient ∂L_t/∂x_t (the next " +
      "token's loss only, where the paper's summed-window gradient also carries every later " +
      "label) still improves ΔCE over TopK.",
    kind: "control",
    candidate: { architecture: "gsae", mode: "token" },
    reference: T,
    metric: "deltaCe",
    useFrontier: false,
  },
  {
    id: "control-topk-selection",
    paper: "(control, ours) gradient-aware training matters: g-SAE beats a plain TopK SAE that " +
      "is given g-SAE selection (true-token gradient, same β) only at evaluation.",
    kind: "control",
    candidate: G,
    reference: { architecture: "topk", mode: "selection" },
    metric: "deltaCe",
    useFrontier: false,
  },
  {
    id: "control-e2e-trained",
    paper: "(baseline check, ours) e2e-TopK reached its own objective: lower KL than TopK at " +
      "the same k (Braun et al.'s point; a failed e2e baseline would make every comparison " +
      "with it empty).",
    kind: "control",
    candidate: E,
    reference: T,
    metric: "kl",
    useFrontier: true,
  },
];

/** What the claims are computed from. */
export interface ClaimInputs {
  /** Frontiers across k (the profile's frontier seeds). */
  frontier: ParetoPoint[];
  /** Every seed at the main k. */
  mainK: ParetoPoint[];
}

/**
 * The notebook's claims: each compares a candidate with a reference by the 95 % interval of the
 * paired difference at the main k (which decides the verdict), with the same interval at every
 * other k of the frontier reported beside it.
 */
export function paretoClaims(data: ClaimInputs): ClaimRecord[] {
  const mainK = data.mainK[0]?.k;
  const name = (s: Selector) => seriesName(s.architecture, s.mode);
  const label = (m: FrontierMetric) => (m === "kl" ? "KL" : m === "fvu" ? "FVU" : "ΔCE");
  const out: ClaimRecord[] = [];
  for (const c of COMPARISONS) {
    let v;
    try {
      v = pairedValues(data.mainK, c.candidate, c.reference, c.metric);
    } catch {
      continue; // a condition this run did not measure (e.g. e2e-TopK left out)
    }
    const { outcome, interval } = compareWithInterval(v.candidate, v.reference, {
      claim: "lower",
      paired: true,
    });
    let result = `${label(c.metric)} at k = ${mainK}, mean ± sd over ${v.seeds.length} seeds: ` +
      `${name(c.candidate)} ${pm(v.candidate)} vs ${name(c.reference)} ${pm(v.reference)}` +
      `${c.metric === "fvu" ? "" : " nats"}; paired difference ${formatInterval(interval)} ` +
      `(${describeOutcome(outcome)}).`;
    if (c.useFrontier) {
      const ks = [...new Set(data.frontier.map((p) => p.k))]
        .filter((k) => k !== null && k !== mainK).sort((a, b) => a! - b!);
      const parts = ks.flatMap((k) => {
        try {
          const at = data.frontier.filter((p) => p.k === k);
          const w = pairedValues(at, c.candidate, c.reference, c.metric);
          return [`k = ${k}: ${formatInterval(pairedInterval(w.candidate, w.reference))}`];
        } catch {
          return [];
        }
      });
      if (parts.length > 0) result += ` Other k (frontier seeds): ${parts.join("; ")}.`;
    }
    out.push({ id: c.id, paper: c.paper, result, verdict: verdictOf([outcome]), kind: c.kind });
  }
  return out;
}

/** Metric tolerances: a re-run on other hardware trains like another seed. */
function tolerance(points: readonly ParetoPoint[], metric: FrontierMetric): number {
  const s = spread(points.map((p) => p[metric]));
  return Math.max(0.1, points.length > 1 ? 3 * s.std / Math.abs(s.mean) : 0.1);
}

/**
 * Records the notebook's metrics: every point of the frontiers (seed 0), the main-k means over
 * seeds per condition, the β sweep and the chosen β. Relative tolerances are three times the
 * seed spread of the same condition at the main k (at least 10 %).
 */
export function recordParetoMetrics(
  results: NotebookResults,
  data: ClaimInputs & { sweep: BetaSweep; further: ParetoPoint[] },
): void {
  const tol = new Map<string, number>();
  const keyOf = (p: ParetoPoint, m: FrontierMetric) => `${p.architecture}/${p.mode}/${m}`;
  for (const c of CONTROL_CONDITIONS) {
    const pts = select(data.mainK, c);
    if (!pts.length) continue;
    for (const m of ["deltaCe", "kl", "fvu"] as const) {
      const rel = tolerance(pts, m);
      tol.set(keyOf(pts[0], m), rel);
      const tag = `${c.architecture}${c.mode && c.mode !== "true" ? `_${c.mode}` : ""}`;
      results.metric(`${m}_${tag}_k${pts[0].k}_mean`, spread(pts.map((p) => p[m])).mean, {
        description: `${m} (val) of ${seriesName(c.architecture, c.mode)} at the main k, ` +
          `mean over ${pts.length} seeds`,
        rel,
        abs: 1e-3,
      });
    }
  }
  const unit = { deltaCe: " nats", kl: " nats", fvu: "" };
  for (const p of [...data.frontier, ...data.further]) {
    for (const m of ["deltaCe", "kl", "fvu"] as const) {
      results.metric(`${m}_${p.name}${p.mode === "true" ? "" : `_${p.mode}`}`, p[m], {
        description: `${m}${unit[m]} (val) of ${p.label}, ${seriesName(p.architecture, p.mode)}`,
        rel: tol.get(keyOf(p, m)) ?? 0.2,
        abs: 1e-3,
      });
    }
  }
  for (const r of data.sweep.rows) {
    results.metric(`deltaCe_dev_beta${r.beta}`, r.dev.deltaCe, {
      description: `ΔCE nats on dev windows, ${r.beta === 0 ? "TopK" : `g-SAE β=${r.beta}`}`,
      rel: tol.get(`gsae/true/deltaCe`) ?? 0.2,
      abs: 1e-3,
    });
  }
  for (const c of COMPARISONS) {
    const v = pairedValues(data.mainK, c.candidate, c.reference, c.metric);
    const gain = spread(v.reference.map((r, i) => r - v.candidate[i]));
    // A gain can be near zero: its tolerance is absolute, three seed standard deviations.
    results.metric(`gain_${c.id}`, gain.mean, {
      description: `${c.metric} nats (val) of the reference minus the candidate at the main k, ` +
        `mean over ${v.seeds.length} paired seeds (claim ${c.id})`,
      rel: 0.1,
      abs: Math.max(1e-3, 3 * gain.std),
    });
  }
  results.metric("beta_chosen_by_kl", data.sweep.chosenByKl, {
    description:
      "β with the lowest development KL (label-free; reported, not used); a neighbouring β is within tolerance",
    rel: 1,
    abs: 0,
  });
  results.metric("beta_chosen", data.sweep.chosen, {
    description: "g-SAE β chosen on dev (lowest dev ΔCE); a neighbouring β is within tolerance",
    rel: 1,
    abs: 0,
  });
}
