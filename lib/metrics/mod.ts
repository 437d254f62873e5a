/**
 * Evaluation metrics for sparse autoencoders: reconstruction, downstream (spliced) loss,
 * per-latent statistics, decoder geometry, and small statistics helpers.
 *
 * Conventions: activations x, reconstructions x̂, gradients g are `tf.Tensor2D` [n, d] (n tokens);
 * latents are [n, d_sae] with zeros where a latent is off; `W_dec` is [d_sae, d_in]. Results are
 * plain numbers or Float32Arrays. Batch functions give one batch's value; the accumulators
 * ({@link ReconstructionStats}, {@link LatentStats}, {@link SpliceSums}) aggregate many batches
 * exactly (sums first, ratios last), so an evaluation over N tokens is not a mean of batch ratios.
 *
 * @module
 */
export {
  activationFrequency,
  fvu,
  fvuDenominator,
  l0,
  mse,
  normalisedMse,
  ReconstructionStats,
} from "./reconstruction.ts";
export {
  addSpliceSums,
  splicedSums,
  spliceMetrics,
  type SpliceOptions,
  type SpliceReference,
  spliceReference,
  type SpliceReferenceOptions,
  type SpliceSummary,
  type SpliceSums,
  summariseSplice,
} from "./splice.ts";
export { referenceActivation, referenceGradient } from "./splice.ts";
export {
  directionalDerivatives,
  type FrequencySummary,
  LatentStats,
  maxDecoderCosine,
  unitRows,
} from "./latents.ts";
export { klDivergence } from "./divergence.ts";
export { averageRanks, mean, median, quantile, spearman, std } from "./stats.ts";
