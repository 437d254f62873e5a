/**
 * The fast path of the TopK and g-SAE training step: loss and gradients computed on plain
 * Float32Arrays with OpenBLAS, equal (to float32 rounding) to what `tf.variableGrads` gives for
 * {@link SelectiveSAE.loss} with the TopK or g-SAE rules, AuxK included.
 *
 * Only the encoder product z = (x − b_dec)·W_enc + b_enc (and, for the g-SAE score, g·W_decᵀ)
 * is dense, [n, d_sae], and goes to BLAS. Everything after the selection is sparse: each token
 * touches only its k selected latents (and its aux_k dead ones), so decoding, the loss and the
 * backward pass cost O(n·k·d_in) instead of the O(n·d_sae·d_in) dense matmuls of the tfjs path
 * (and of PyTorch's reference, `pipelines/bench/torch_sae_step.py`). The selection itself is
 * {@link topkIndicesPerRow}, which reads each score once. Like EleutherAI/sparsify's fused
 * encoder, the result is checked against the plain path in `tests/sae_fused_test.ts`.
 *
 * Why one module of ~350 lines: the fast path stays isolated in one file, forward and backward
 * together, so it can be read against the naive path it must equal (tests/sae_fused_test.ts).
 *
 * @module
 */
import { tensorsOnHost } from "../tensor/backend.ts";
import { type Blas, loadBlas } from "../tensor/blas.ts";
import type { AdamW } from "../tensor/optim.ts";
import { assignFrom } from "../tensor/variables.ts";
import { fvuDenominator } from "../metrics/reconstruction.ts";
import {
  normaliseRowsInPlace,
  removeParallelComponentInPlace,
  type SAE,
  type SAETrainContext,
} from "./base.ts";
import type { GSAEConfig } from "./gsae.ts";
import { architectureOf } from "./registry.ts";
import { topkIndicesPerRow } from "./select.ts";
import { decodeEntries, entryBackward, transpose } from "./sparse_rows.ts";
import { SelectiveSAE } from "./topk.ts";

/** The sizes and rules the fused step needs (TopK: beta 0; g-SAE: its beta and grad_norm). */
export interface FusedConfig {
  /** Activation width. */
  d_in: number;
  /** Number of latents. */
  d_sae: number;
  /** Latents that fire per token. */
  k: number;
  /** Dead latents per token in the AuxK loss. */
  aux_k: number;
  /** Weight of the AuxK loss. */
  aux_coefficient: number;
  /** g-SAE selection strength (0: TopK). */
  beta: number;
  /** g-SAE scaling of u = |g·W_decᵀ|. */
  grad_norm: "batch_mean" | "none";
  /**
   * `fisher` (the Fisher g-SAE, `fisher_gsae.ts`): the gradient is S per-token gradients per
   * token, [n, S·d_in], and u = sqrt(mean_s (g_s·W_decᵀ)²). Absent: the g-SAE's |g·W_decᵀ|.
   */
  score?: "fisher";
}

/** The four SAE parameters as row-major arrays (SAELens names and shapes). */
export interface SAEArrays {
  /** [d_in, d_sae]. */
  W_enc: Float32Array;
  /** [d_sae, d_in]. */
  W_dec: Float32Array;
  /** [d_sae]. */
  b_enc: Float32Array;
  /** [d_in]. */
  b_dec: Float32Array;
}

/** What one fused evaluation returns. */
export interface FusedLossResult {
  /** fvu + aux_coefficient · auxk. */
  loss: number;
  /** The same parts as the tfjs loss: fvu, auxk, l0. */
  parts: { fvu: number; auxk: number; l0: number };
  /** d loss / d parameter, fresh arrays with the parameters' shapes. */
  grads: SAEArrays;
  /** Per latent, the tokens of the batch on which it is non-zero. */
  fired: Float32Array;
}

/** Reusable buffers for one batch size (the large ones are n × d_sae floats). */
function makeWorkspace(n: number, { d_in: d, d_sae: f, k, aux_k }: FusedConfig) {
  const floats = (size: number) => new Float32Array(size);
  return {
    n,
    z: floats(n * f),
    u: floats(0), // allocated by the first gradient-aware step
    fisherProducts: floats(0), // allocated by the first Fisher g-SAE step
    idx: new Int32Array(n * k),
    val: floats(n * k),
    auxIdx: new Int32Array(n * aux_k),
    auxVal: floats(n * aux_k),
    xc: floats(n * d),
    recon: floats(n * d),
    upstream: floats(n * d),
    residual: floats(n * d),
    auxUpstream: floats(n * d),
  };
}

type Workspace = ReturnType<typeof makeWorkspace>;

/** TopK / g-SAE loss and gradients on arrays (see the module comment). */
export class FusedSelectiveLoss {
  /** Sizes and rules. */
  readonly config: FusedConfig;
  #blas: Blas;
  #ws: Workspace | null = null;

  /** @param blas the sgemm to use; @param config sizes and selection rule. */
  constructor(blas: Blas, config: FusedConfig) {
    this.#blas = blas;
    this.config = config;
  }

  /**
   * Loss, parts, gradients and firing counts for the batch x [n, d_in] (and ∇ₓL `grad`, which
   * makes a g-SAE select on its score), with `ctx` giving the dead latents for AuxK.
   */
  lossAndGrads(
    p: SAEArrays,
    x: Float32Array,
    grad: Float32Array | undefined,
    n: number,
    ctx: Pick<SAETrainContext, "tokensSinceFired" | "deadWindowTokens">,
  ): FusedLossResult {
    const { d_in: d, d_sae: f } = this.config, k = Math.min(this.config.k, f);
    const gradOk = !grad ||
      (this.config.score === "fisher"
        ? grad.length > 0 && grad.length % (n * d) === 0
        : grad.length === n * d);
    if (x.length !== n * d || !gradOk) {
      throw new Error(`fused SAE step: batch arrays do not hold ${n}×${d} values`);
    }
    const ws = this.#workspace(n);
    const { z, xc, recon, upstream } = ws;
    for (let t = 0; t < n; t++) {
      for (let c = 0; c < d; c++) xc[t * d + c] = x[t * d + c] - p.b_dec[c];
      z.set(p.b_enc, t * f); // sgemm with beta = 1 adds xc·W_enc to these bias rows
    }
    this.#blas.sgemm(false, false, { m: n, n: f, k: d, beta: 1 }, { a: xc, b: p.W_enc, c: z });
    // Main selection: values ReLU(z) at the top k of the scores, decoded sparsely.
    if (grad && this.config.beta !== 0) this.#selectByGradientScores(p, grad, n);
    else topkIndicesPerRow(z, { n, f, k }, ws.idx);
    const fired = new Float32Array(f);
    let nonZero = 0;
    for (let t = 0; t < n; t++) {
      for (let s = t * k; s < (t + 1) * k; s++) {
        const zv = z[t * f + ws.idx[s]];
        ws.val[s] = zv > 0 ? zv : 0;
        if (zv > 0) {
          fired[ws.idx[s]]++;
          nonZero++;
        }
      }
    }
    decodeEntries({ idx: ws.idx, val: ws.val, k }, p.W_dec, d, n, recon, p.b_dec);

    // Normalised MSE Σ‖x − x̂‖² / Σ‖x − mean(x)‖² and its gradient with respect to x̂.
    const centred = fvuDenominator(x, n, d);
    let err = 0;
    for (let i = 0; i < n * d; i++) {
      const e = x[i] - recon[i];
      err += e * e;
      upstream[i] = (-2 * e) / centred;
    }
    const grads: SAEArrays = {
      W_enc: new Float32Array(d * f),
      W_dec: new Float32Array(f * d),
      b_enc: new Float32Array(f),
      b_dec: new Float32Array(d),
    };
    const wEncT = new Float32Array(f * d), bEnc = new Float64Array(f);
    const { idx, val } = ws;
    entryBackward({ idx, val, k }, upstream, xc, p.W_dec, d, n, grads.W_dec, wEncT, bEnc);
    const aux = this.#auxK(p, x, n, ctx);
    if (aux.k > 0) {
      const entries = { idx: ws.auxIdx, val: ws.auxVal, k: aux.k };
      entryBackward(entries, ws.auxUpstream, xc, p.W_dec, d, n, grads.W_dec, wEncT, bEnc);
    }

    // b_dec: Σ_t ∂x̂_t (x̂ = … + b_dec) − W_enc·Σ_t ∂z_t (z = (x − b_dec)·W_enc + …).
    transpose(wEncT, f, d, grads.W_enc);
    grads.b_enc.set(bEnc);
    const upstreamSum = new Float64Array(d);
    for (let t = 0; t < n; t++) for (let c = 0; c < d; c++) upstreamSum[c] += upstream[t * d + c];
    for (let c = 0; c < d; c++) {
      let along = 0;
      for (let j = 0; j < f; j++) along += p.W_enc[c * f + j] * bEnc[j];
      grads.b_dec[c] = upstreamSum[c] - along;
    }
    const reconstruction = err / centred;
    return {
      loss: reconstruction + this.config.aux_coefficient * aux.loss,
      parts: { fvu: reconstruction, auxk: aux.loss, l0: nonZero / n },
      grads,
      fired,
    };
  }

  /**
   * The g-SAE selection: top k per token of s = z ⊙ (1 + β·u), u = |g·W_decᵀ| (over its batch
   * mean). u goes to a [n, d_sae] buffer; each token's scores are formed in a row buffer that
   * stays in cache while the top k is picked from it.
   */
  #selectByGradientScores(p: SAEArrays, grad: Float32Array, n: number): void {
    const { d_in: d, d_sae: f, beta } = this.config, k = Math.min(this.config.k, f);
    const ws = this.#ws!, z = ws.z;
    if (ws.u.length !== n * f) ws.u = new Float32Array(n * f);
    const u = ws.u, row = new Float32Array(f);
    if (this.config.score === "fisher") this.#fisherNorm(p, grad, n, u);
    else this.#blas.sgemm(false, true, { m: n, n: f, k: d }, { a: grad, b: p.W_dec, c: u });
    let mean = 1;
    if (this.config.grad_norm === "batch_mean") {
      // Four partial sums: one would make each addition wait for the previous one.
      let s0 = 0, s1 = 0, s2 = 0, s3 = 0, i = 0;
      for (; i + 3 < n * f; i += 4) {
        s0 += Math.abs(u[i]);
        s1 += Math.abs(u[i + 1]);
        s2 += Math.abs(u[i + 2]);
        s3 += Math.abs(u[i + 3]);
      }
      for (; i < n * f; i++) s0 += Math.abs(u[i]);
      const sum = s0 + s1 + s2 + s3;
      // The floor only matters for an all-zero gradient, where u stays 0 and s = z.
      mean = Math.max(sum / (n * f), 1e-30);
    }
    const scale = beta / mean;
    for (let t = 0; t < n; t++) {
      const o = t * f;
      for (let j = 0; j < f; j++) row[j] = z[o + j] * (1 + Math.abs(u[o + j]) * scale);
      topkIndicesPerRow(row, { n: 1, f, k }, ws.idx.subarray(t * k, (t + 1) * k));
    }
  }

  /**
   * The Fisher g-SAE's u = sqrt(mean_s (g_s·W_decᵀ)²) into `u` [n, d_sae], from `grad`
   * [n, S·d_in] (row t: g_1(t) … g_S(t), so rows of S·n × d_in are the single gradients). Blocks
   * of tokens bound the [block·S, d_sae] product buffer. With S = 1 u = |g·W_decᵀ| exactly (the
   * square of a float32 is exact in float64), as the g-SAE's.
   */
  #fisherNorm(p: SAEArrays, grad: Float32Array, n: number, u: Float32Array): void {
    const { d_in: d, d_sae: f } = this.config, s = grad.length / (n * d);
    const block = Math.max(1, Math.min(n, Math.floor(4_194_304 / (s * f))));
    // Reused across steps: up to 16 MiB, too large to allocate afresh on every step.
    const ws = this.#ws!;
    if (ws.fisherProducts.length !== block * s * f) {
      ws.fisherProducts = new Float32Array(block * s * f);
    }
    const v = ws.fisherProducts;
    for (let t0 = 0; t0 < n; t0 += block) {
      const nb = Math.min(block, n - t0);
      const a = grad.subarray(t0 * s * d, (t0 + nb) * s * d);
      this.#blas.sgemm(false, true, { m: nb * s, n: f, k: d }, { a, b: p.W_dec, c: v });
      for (let t = 0; t < nb; t++) {
        const o = (t0 + t) * f;
        for (let j = 0; j < f; j++) {
          let sum = 0;
          for (let r = 0; r < s; r++) sum += v[(t * s + r) * f + j] ** 2;
          u[o + j] = Math.sqrt(sum / s);
        }
      }
    }
  }

  /**
   * AuxK: the top aux_k dead latents (by z) of each token reconstruct the detached residual
   * e = x − x̂: loss Σ‖e − ê‖² / Σ‖e − mean(e)‖², ê = Σ ReLU(z_j)·d_j over those latents.
   * Fills the aux entries and their upstream gradient aux_coefficient·∂loss/∂ê; returns the
   * loss and the number of aux latents per token (0 when no latent is dead).
   */
  #auxK(
    p: SAEArrays,
    x: Float32Array,
    n: number,
    ctx: Pick<SAETrainContext, "tokensSinceFired" | "deadWindowTokens">,
  ): { loss: number; k: number } {
    const { d_in: d, d_sae: f } = this.config;
    const ws = this.#ws!;
    const dead = new Uint8Array(f);
    let anyDead = false;
    for (let j = 0; j < f; j++) {
      if (ctx.tokensSinceFired[j] >= ctx.deadWindowTokens) {
        dead[j] = 1;
        anyDead = true;
      }
    }
    if (!anyDead) return { loss: 0, k: 0 };
    const { k } = topkIndicesPerRow(
      ws.z,
      { n, f, k: this.config.aux_k, eligible: dead },
      ws.auxIdx,
    );
    for (let t = 0; t < n; t++) {
      for (let s = t * k; s < (t + 1) * k; s++) {
        ws.auxVal[s] = Math.max(ws.z[t * f + ws.auxIdx[s]], 0);
      }
    }
    // residual e (float32, like the tfjs path's detached tensor) and the estimate ê.
    const e = ws.residual, estimate = ws.auxUpstream;
    for (let i = 0; i < n * d; i++) e[i] = x[i] - ws.recon[i];
    decodeEntries({ idx: ws.auxIdx, val: ws.auxVal, k }, p.W_dec, d, n, estimate, null);
    const centred = fvuDenominator(e, n, d);
    let err = 0;
    const scale = (2 * this.config.aux_coefficient) / centred;
    for (let i = 0; i < n * d; i++) {
      const diff = estimate[i] - e[i];
      err += diff * diff;
      estimate[i] = diff * scale; // now the upstream gradient
    }
    return { loss: err / centred, k };
  }

  #workspace(n: number): Workspace {
    if (this.#ws?.n !== n) this.#ws = makeWorkspace(n, this.config);
    return this.#ws;
  }
}

/**
 * The fused loss for `sae` when it has one: a TopK or g-SAE ({@link SelectiveSAE} with those
 * rules), OpenBLAS loadable and the backend's tensors in host memory. Null otherwise (other
 * architectures, no FFI, no library, a GPU backend such as webgpu).
 */
export function fusedLossFor(sae: SAE): FusedSelectiveLoss | null {
  const c = sae.config as Partial<GSAEConfig> & SAE["config"];
  // The registry says which architectures' losses this step computes (TopK's and the g-SAE's).
  if (!(sae instanceof SelectiveSAE) || !architectureOf(c.architecture).fusedStep) return null;
  // On a GPU backend the arrays would round-trip through the device every step: the stock tfjs
  // path keeps the step on the device there.
  if (!tensorsOnHost()) return null;
  const blas = loadBlas();
  if (!blas || c.k === undefined || c.aux_k === undefined || c.aux_coefficient === undefined) {
    return null;
  }
  return new FusedSelectiveLoss(blas, {
    d_in: c.d_in,
    d_sae: c.d_sae,
    k: c.k,
    aux_k: c.aux_k,
    aux_coefficient: c.aux_coefficient,
    beta: c.beta ?? 0,
    grad_norm: c.grad_norm ?? "batch_mean",
    ...(architectureOf(c.architecture).sampledGradients ? { score: "fisher" as const } : {}),
  });
}

/**
 * The SAE's four parameters read into arrays (copies). Synchronous on purpose: the fused step
 * runs only on host-memory backends ({@link fusedLossFor}), where dataSync is a plain copy, and
 * sits inside the synchronous training step.
 */
export function readSAEArrays(sae: SAE): SAEArrays {
  const get = (name: keyof SAEArrays) => sae.params.get(name)!.dataSync() as Float32Array;
  return { W_enc: get("W_enc"), W_dec: get("W_dec"), b_enc: get("b_enc"), b_dec: get("b_dec") };
}

/**
 * The optimiser step after a fused evaluation, on arrays, as the plain path does it with tfjs
 * ops: the decoder gradient loses its component along each decoder row
 * ({@link SelectiveSAE.adjustGradients}), AdamW updates `values` in place, the decoder rows go
 * back to unit norm ({@link SelectiveSAE.afterStep}), and the SAE's variables get the result.
 */
export function applyFusedUpdate(
  sae: SAE,
  opt: AdamW,
  step: { values: SAEArrays; grads: SAEArrays; lr: number },
): void {
  const { d_in: d, d_sae: f } = sae.config;
  const { values, grads } = step;
  removeParallelComponentInPlace(grads.W_dec, values.W_dec, f, d);
  opt.applyArrays(sae.params, {
    values: values as unknown as Record<string, Float32Array>,
    grads: grads as unknown as Record<string, Float32Array>,
  }, step.lr);
  normaliseRowsInPlace(values.W_dec, f, d);
  for (const [name, v] of sae.params) assignFrom(v, values[name as keyof SAEArrays]);
}
