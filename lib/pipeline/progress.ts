/**
 * Progress of a pipeline run, per notebook and per stage (execute, figures, outputs), with the
 * elapsed time and an ETA. The ETA uses each notebook's wall time from the previous run when
 * `metrics.json` recorded one, and otherwise the mean time of the notebooks finished so far
 * (so on a first run it is known from the second notebook on).
 *
 * @module
 */
import { formatDuration } from "../io/progress.ts";

/** Options of {@link PipelineProgress}. */
export interface PipelineProgressOptions {
  /** Seconds each notebook took last time, by stem. */
  previous?: Record<string, number>;
  /** Where lines go (default: console.log). */
  log?: (line: string) => void;
  /** Clock in milliseconds (default: performance.now); tests pass their own. */
  now?: () => number;
}

/** Tracks a run of `stems` in order and writes one line per event. */
export class PipelineProgress {
  readonly #stems: readonly string[];
  readonly #previous: Record<string, number>;
  readonly #log: (line: string) => void;
  readonly #now: () => number;
  readonly #start: number;
  readonly #done = new Map<string, number>();
  #current = -1;
  #currentStart = 0;

  /** Starts the run's clock. */
  constructor(stems: readonly string[], options: PipelineProgressOptions = {}) {
    this.#stems = stems;
    this.#previous = options.previous ?? {};
    this.#log = options.log ?? ((line) => console.log(line));
    this.#now = options.now ?? (() => performance.now());
    this.#start = this.#now();
  }

  /** Marks `stem` as started and logs it. */
  startNotebook(stem: string): void {
    const index = this.#stems.indexOf(stem);
    if (index < 0) throw new Error(`progress: unknown notebook ${stem}`);
    this.#current = index;
    this.#currentStart = this.#now();
    const last = this.#previous[stem];
    this.stage(last === undefined ? "start" : `start (last run ${formatDuration(last)})`);
  }

  /** Logs a stage (or any event) of the current notebook with times and ETA. */
  stage(what: string): void {
    const stem = this.#stems[this.#current] ?? "-";
    const now = this.#now();
    this.#log(
      [
        `reproduce [${this.#current + 1}/${this.#stems.length}] ${stem}: ${what}`,
        `notebook ${formatDuration((now - this.#currentStart) / 1000)}`,
        `run ${formatDuration((now - this.#start) / 1000)}`,
        `ETA ${this.#etaText()}`,
      ].join(" | "),
    );
  }

  /** Marks the current notebook done after `seconds` and logs it. */
  finishNotebook(seconds: number): void {
    const stem = this.#stems[this.#current];
    this.#done.set(stem, seconds);
    this.stage(`done in ${formatDuration(seconds)}`);
  }

  /** Seconds left by the estimate, or null when nothing is known yet. */
  eta(): number | null {
    const now = this.#now();
    let left = 0;
    for (let i = Math.max(this.#current, 0); i < this.#stems.length; i++) {
      const stem = this.#stems[i];
      if (this.#done.has(stem)) continue;
      const estimate = this.#estimate(stem);
      if (estimate === null) return null;
      left += i === this.#current
        ? Math.max(estimate - (now - this.#currentStart) / 1000, 0)
        : estimate;
    }
    return left;
  }

  /** Seconds since the run started. */
  elapsed(): number {
    return (this.#now() - this.#start) / 1000;
  }

  /** The previous run's time, else the mean of this run's finished notebooks, else theirs. */
  #estimate(stem: string): number | null {
    if (this.#previous[stem] !== undefined) return this.#previous[stem];
    const done = [...this.#done.values()];
    if (done.length > 0) return done.reduce((a, b) => a + b, 0) / done.length;
    const known = Object.values(this.#previous);
    if (known.length > 0) return known.reduce((a, b) => a + b, 0) / known.length;
    return null;
  }

  #etaText(): string {
    const eta = this.eta();
    return eta === null ? "? (known after the first notebook)" : formatDuration(eta);
  }
}
