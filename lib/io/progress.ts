/**
 * Progress lines for long jobs: rate, ETA and job-specific fields, at most one line every few
 * seconds (plain lines, not carriage returns, so logs and notebooks keep them).
 *
 * @module
 */

/** Format seconds as `1h02m`, `4m05s` or `12s`. */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return "?";
  const s = Math.round(seconds);
  if (s >= 3600) {
    return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, "0")}m`;
  }
  if (s >= 60) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s`;
  return `${s}s`;
}

/** Tracks work done against a total and prints `label | done/total | N unit/s | ETA | fields`. */
export class Progress {
  #label: string;
  #total: number;
  #unit: string;
  #every: number;
  #log: (line: string) => void;
  #start = performance.now();
  #startDone = 0;
  #last = -Infinity;

  /**
   * @param label what is running, e.g. `train-lm sotu-4x128`
   * @param options total units of work, their name (tokens), seconds between lines, sink
   */
  constructor(
    label: string,
    options: { total: number; unit?: string; everySeconds?: number; log?: (line: string) => void },
  ) {
    this.#label = label;
    this.#total = options.total;
    this.#unit = options.unit ?? "tokens";
    this.#every = (options.everySeconds ?? 5) * 1000;
    this.#log = options.log ?? ((line) => console.log(line));
  }

  /** Count from `done` (a resumed job's rate and ETA then ignore the work done before). */
  restart(done: number): void {
    this.#start = performance.now();
    this.#startDone = done;
  }

  /** Report `done` units so far; prints when due, or always with `force`. */
  update(done: number, fields: Record<string, string | number> = {}, force = false): void {
    const now = performance.now();
    if (!force && now - this.#last < this.#every) return;
    this.#last = now;
    const elapsed = (now - this.#start) / 1000;
    const rate = (done - this.#startDone) / Math.max(elapsed, 1e-9);
    const eta = rate > 0 ? (this.#total - done) / rate : Infinity;
    const extra = Object.entries(fields).map(([k, v]) =>
      `${k} ${typeof v === "number" ? fmt(v) : v}`
    );
    this.#log(
      [
        this.#label,
        `${done.toLocaleString("en-US")}/${this.#total.toLocaleString("en-US")} ${this.#unit}`,
        `${Math.round(rate).toLocaleString("en-US")} ${this.#unit}/s`,
        `elapsed ${formatDuration(elapsed)}`,
        `ETA ${formatDuration(eta)}`,
        ...extra,
      ].join(" | "),
    );
  }
}

function fmt(v: number): string {
  if (Number.isInteger(v)) return v.toLocaleString("en-US");
  return Math.abs(v) >= 0.01 ? v.toFixed(4) : v.toExponential(3);
}
