/**
 * Plain statistics on arrays of numbers: mean, standard deviation, quantiles, median, average
 * ranks and Spearman rank correlation.
 *
 * @module
 */

/** Arithmetic mean (NaN for no values). */
export function mean(values: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < values.length; i++) s += values[i];
  return s / values.length;
}

/** Standard deviation with `ddof` delta degrees of freedom (default 0, the population std). */
export function std(values: ArrayLike<number>, options: { ddof?: number } = {}): number {
  const mu = mean(values);
  let s = 0;
  for (let i = 0; i < values.length; i++) s += (values[i] - mu) ** 2;
  return Math.sqrt(s / (values.length - (options.ddof ?? 0)));
}

/** Quantile q ∈ [0, 1], linear between order statistics at rank q·(n − 1) (NumPy's default). */
export function quantile(values: ArrayLike<number>, q: number): number {
  if (values.length === 0) return NaN;
  const sorted = Float64Array.from(values).sort();
  const h = q * (sorted.length - 1), lo = Math.floor(h), hi = Math.min(lo + 1, sorted.length - 1);
  return sorted[lo] + (h - lo) * (sorted[hi] - sorted[lo]);
}

/** Median (the 0.5 quantile; mean of the two middle values for even counts). */
export function median(values: ArrayLike<number>): number {
  return quantile(values, 0.5);
}

/** Ranks 1..n, ties given the average of the ranks they span. */
export function averageRanks(values: ArrayLike<number>): Float64Array {
  const order = Array.from({ length: values.length }, (_, i) => i).sort((i, j) =>
    values[i] - values[j]
  );
  const ranks = new Float64Array(values.length);
  for (let start = 0; start < order.length;) {
    let end = start + 1;
    while (end < order.length && values[order[end]] === values[order[start]]) end++;
    for (let k = start; k < end; k++) ranks[order[k]] = (start + end + 1) / 2;
    start = end;
  }
  return ranks;
}

/**
 * Spearman rank correlation: Pearson correlation of the average ranks (ties share their mean
 * rank, as in `scipy.stats.spearmanr`). NaN when either input is constant.
 */
export function spearman(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) {
    throw new Error(`spearman: lengths ${a.length} and ${b.length} differ`);
  }
  const [ra, rb] = [averageRanks(a), averageRanks(b)];
  const [ma, mb] = [mean(ra), mean(rb)];
  let cov = 0, va = 0, vb = 0;
  for (let i = 0; i < ra.length; i++) {
    cov += (ra[i] - ma) * (rb[i] - mb);
    va += (ra[i] - ma) ** 2;
    vb += (rb[i] - mb) ** 2;
  }
  return cov / Math.sqrt(va * vb);
}
