/**
 * The tables `deno task bench` prints (Markdown, as pasted into the README) from its result.
 *
 * @module
 */
import type { Timing } from "./bench.ts";
import type { StoreThroughput } from "../store/mod.ts";
import { mdTable } from "../io/markdown_table.ts";

/** One compared piece of work. */
export interface BenchRow {
  /** Short key: topk, gsae, lm. */
  key: string;
  /** What was timed, for the table. */
  work: string;
  /** Our timing. */
  ours: Timing;
  /** PyTorch's on the same work, or null when it did not run. */
  torch: Timing | null;
  /** Why PyTorch did not run, when it did not. */
  torch_note?: string;
  /** Our tokens/s over PyTorch's. */
  ratio: number | null;
  /** PyTorch's timing with its sparse (sparsify-style) implementation, where there is one. */
  torch_sparse?: Timing | null;
  /** Our tokens/s over that. */
  ratio_sparse?: number | null;
  /** FLOPs of the step's sgemm calls, median over steps, in GFLOP. */
  matmul_gflop_per_step: number;
  /** Seconds of the step inside sgemm calls (median). */
  sgemm_seconds_per_step: number;
  /** matmul GFLOP per step / median step time. */
  achieved_gflops: number;
  /** The step's shapes at their measured sgemm rates (FLOP-weighted harmonic mean). */
  limit_gflops: number;
  /** achieved / limit. */
  fraction_of_limit: number;
}

/** What the tables need from a bench result. */
export interface BenchReport {
  /** The command that produced it. */
  command: string;
  /** The backend line. */
  backend: string;
  /** The compared rows. */
  rows: BenchRow[];
  /** Median g-SAE step time over TopK's. */
  gsae_over_topk_step_time: number;
  /** sgemm GFLOP/s by shape name. */
  sgemm_gflops: Record<string, number>;
  /** Store throughput (null: not measured, see `store_note`). */
  store: StoreThroughput | null;
  /** Why the store was not measured. */
  store_note?: string;
  /** Every architecture's step (with --all-architectures). */
  architectures?: { architecture: string; median_s: number; tokens_per_s: number }[];
}

const int = (x: number) => Math.round(x).toLocaleString("en-US");
const fixed = (x: number | null, digits = 2) =>
  x === null || !Number.isFinite(x) ? "—" : x.toFixed(digits);

/** The Markdown tables, with a line of context before each. */
export function benchTables(r: BenchReport): string {
  const lines: string[] = [];
  lines.push(`\n${r.backend}; \`${r.command}\`; medians over all timed steps\n`);
  const rows: (string | number)[][] = r.rows.map((row) => [
    row.work,
    fixed(row.ours.median_s * 1000, 0),
    int(row.ours.tokens_per_s),
    row.torch ? int(row.torch.tokens_per_s) : "skipped",
    fixed(row.ratio),
    row.torch_sparse ? int(row.torch_sparse.tokens_per_s) : "—",
    fixed(row.ratio_sparse ?? null),
  ]);
  if (r.store) {
    const build = int(r.store.buildTokensPerSecond);
    rows.push([
      `store build, end to end (${int(r.store.tokens)} tokens)`,
      "—",
      build,
      "—",
      "—",
      "—",
      "—",
    ]);
  }
  const head = ["work", "ours ms/step", "ours tokens/s", "PyTorch tokens/s", "ours / PyTorch"];
  head.push("PyTorch sparse tokens/s", "ours / PyTorch sparse");
  lines.push(mdTable(head, rows, { align: "-rrrrrr" }));
  const notes = [...new Set(r.rows.map((row) => row.torch_note).filter((n) => n))];
  for (const note of notes) lines.push(`\nPyTorch not run: ${note}`);
  lines.push(`\ng-SAE step time / TopK step time: ${fixed(r.gsae_over_topk_step_time)}\n`);

  // Matmul work is counted in OpenBLAS calls; a GPU backend makes none, so the table says nothing.
  const counted = r.rows.some((row) => row.matmul_gflop_per_step > 0);
  if (!counted) lines.push("matmul work: not counted (no OpenBLAS calls on this backend)\n");
  else {
    const head = ["step", "matmul GFLOP/step", "in sgemm", "sgemm limit GFLOP/s"];
    head.push("achieved GFLOP/s", "fraction of limit");
    const rows = r.rows.map((row) => [
      row.work,
      fixed(row.matmul_gflop_per_step),
      `${fixed(row.sgemm_seconds_per_step / row.ours.median_s * 100, 0)} %`,
      fixed(row.limit_gflops, 1),
      fixed(row.achieved_gflops, 1),
      `${fixed(row.fraction_of_limit * 100, 0)} %`,
    ]);
    lines.push(mdTable(head, rows, { align: "-rrrrr" }));
  }
  const sgemm = Object.entries(r.sgemm_gflops).map(([name, rate]) => [name, fixed(rate, 1)]);
  lines.push("\n" + mdTable(["sgemm shape (OpenBLAS)", "GFLOP/s"], sgemm, { align: "-r" }));
  const s = r.store;
  if (!s) lines.push(`\nstore: ${r.store_note ?? "not measured"}`);
  else {
    const rows = [
      ["build, end to end", int(s.buildTokensPerSecond)],
      ["of which forward + hook gradient", int(s.computeTokensPerSecond)],
      ["of which serialize, hash, atomic write", int(s.writeTokensPerSecond)],
      ["read (read, verify checksum, parse)", int(s.readTokensPerSecond)],
      ["shuffled batches of 4,096", int(s.batchesTokensPerSecond)],
    ];
    const head = [`store, d ${s.d}, ${int(s.tokens)} tokens`, "tokens/s"];
    lines.push("\n" + mdTable(head, rows, { align: "-r" }));
  }
  if (r.architectures) {
    const topk = r.architectures.find((a) => a.architecture === "topk")?.median_s ?? NaN;
    const rows = r.architectures.map((a) => [
      a.architecture,
      fixed(a.median_s * 1000, 0),
      int(a.tokens_per_s),
      fixed(a.median_s / topk),
    ]);
    const head = ["architecture", "ms/step", "tokens/s", "step time / TopK's"];
    lines.push("\n" + mdTable(head, rows, { align: "-rrr" }));
  }
  return lines.join("\n");
}
