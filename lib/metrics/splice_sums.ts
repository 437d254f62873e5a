/**
 * Sums and means of the downstream (spliced) metrics: per-batch {@link SpliceSums} of next-token
 * losses, added over batches with {@link addSpliceSums} and turned into means (ΔCE, KL, fraction
 * of CE recovered) by {@link summariseSplice}.
 *
 * @module
 */

/**
 * Per-batch sums of next-token losses over the positions `GPT2.tokenLosses` scores (every
 * position but the last), in nats. Add batches with {@link addSpliceSums}; turn into means with
 * {@link summariseSplice}.
 */
export interface SpliceSums {
  /** Positions scored. */
  tokens: number;
  /** Σ CE of the clean model. */
  ceClean: number;
  /** Σ CE with x̂ spliced in at the hook. */
  ceSpliced: number;
  /** Σ CE with the hooked activation replaced by zeros. */
  ceZero: number;
  /** Σ CE with the hooked activation replaced by the mean activation. */
  ceMean: number;
  /** Σ KL(p_clean ‖ p_spliced) of the next-token distributions. */
  kl: number;
}

/** Means derived from {@link SpliceSums}; see {@link summariseSplice} for definitions. */
export interface SpliceSummary {
  /** Positions scored. */
  tokens: number;
  /** Mean clean CE. */
  ceClean: number;
  /** Mean CE with x̂ spliced in. */
  ceSpliced: number;
  /** ΔCE (CE loss added) = ceSpliced − ceClean. */
  deltaCe: number;
  /** Mean KL(clean ‖ spliced). */
  kl: number;
  /** Mean CE under zero-ablation. */
  ceZero: number;
  /** Mean CE under mean-ablation. */
  ceMean: number;
  /** (ceZero − ceSpliced) / (ceZero − ceClean). */
  fracRecoveredZero: number;
  /** (ceMean − ceSpliced) / (ceMean − ceClean). */
  fracRecoveredMean: number;
}

/** Sum of two batches' {@link SpliceSums}. */
export function addSpliceSums(a: SpliceSums, b: SpliceSums): SpliceSums {
  return {
    tokens: a.tokens + b.tokens,
    ceClean: a.ceClean + b.ceClean,
    ceSpliced: a.ceSpliced + b.ceSpliced,
    ceZero: a.ceZero + b.ceZero,
    ceMean: a.ceMean + b.ceMean,
    kl: a.kl + b.kl,
  };
}

/**
 * Downstream metrics from summed losses. CE means are over all scored positions (tokens t whose
 * next token t+1 is in the batch). ΔCE = CE_spliced − CE_clean. KL = mean over positions of
 * Σ_v p_clean(v)·(log p_clean(v) − log p_spliced(v)). Fraction of CE recovered vs an ablation A
 * (zero: x → 0; mean: x → mean activation) = (CE_A − CE_spliced) / (CE_A − CE_clean): 1 is a
 * perfect splice, 0 is no better than the ablation.
 */
export function summariseSplice(sums: SpliceSums): SpliceSummary {
  const n = sums.tokens;
  const [clean, spliced, zero, meanAbl] = [
    sums.ceClean / n,
    sums.ceSpliced / n,
    sums.ceZero / n,
    sums.ceMean / n,
  ];
  return {
    tokens: n,
    ceClean: clean,
    ceSpliced: spliced,
    deltaCe: spliced - clean,
    kl: sums.kl / n,
    ceZero: zero,
    ceMean: meanAbl,
    fracRecoveredZero: (zero - spliced) / (zero - clean),
    fracRecoveredMean: (meanAbl - spliced) / (meanAbl - clean),
  };
}
