/**
 * The latent browser's precomputed data for one SAE: one pass over validation windows (the
 * model's activation and the gradient of the next-token loss at the SAE's hook, encoded as the
 * evaluation does: gradient-aware SAEs select with the true-token gradient), then per latent its
 * firing frequency, maximum activation, activation histogram, |∇L·d̂| histogram over the tokens
 * it fires on, top-activating contexts and contexts sampled from its activation quantiles (every
 * token with the latent's activation), the logit lens and its nearest latents in the same SAE.
 *
 * Records are compact JSON: contexts hold token ids and activations in thousandths of the
 * latent's maximum (`a · maxAct / 1000`), `[id, score]` pairs, numbers to 4 significant digits.
 *
 * Why one module of ~380 lines: one pass over the validation windows fills every per-latent
 * statistic the browser shows; splitting it would mean a pass per statistic.
 *
 * @module
 */
import { windowsPerPass } from "../gpt2/config.ts";
import { budgetFromEnv, TINY_BROWSER_TOKENS } from "../experiments/shared/budget.ts";
import * as tf from "@tensorflow/tfjs";
import { spreadOffsets, windows } from "../data/windows.ts";
import type { Workspace } from "../experiments/shared/workspace.ts";
import { matMul } from "../tensor/ops.ts";
import { Progress } from "../io/progress.ts";
import { Rng } from "../tensor/random.ts";
import { architectureOf, type SAE } from "../sae/mod.ts";
import {
  type LensTokens,
  logitLensTokens,
  nearestByCosine,
  type Scored,
  unitDecoderRows,
} from "./decoder.ts";

/** Bump when a change to this module changes the data (invalidates the cache). */
export const BROWSER_DATA_VERSION = 1;

/**
 * Validation tokens probed per SAE, per profile: enough for the rarer latents' contexts and
 * histograms, small enough that building the data takes about a minute per SAE on 2 cores (the
 * smoke profile's few seconds keep CI short).
 */
export const BROWSER_TOKENS: Readonly<Record<string, number>> = {
  smoke: 8_192,
  default: 65_536,
  paper: 262_144,
};

/**
 * Validation tokens a browser probes by default: {@link BROWSER_TOKENS} of the workspace's
 * profile, or two windows under the tiny budget (`GSAE_BUDGET=tiny`).
 */
export function browserTokens(ws: Workspace): number {
  if (budgetFromEnv() === "tiny") return TINY_BROWSER_TOKENS;
  return BROWSER_TOKENS[ws.profile.name] ?? 65_536;
}

/** One SAE to browse: a name (unique in a browser), the SAE and the hook it reads. */
export interface BrowserSAE {
  /** Short unique name (URL-safe), e.g. `gsae-k32-b0.5-s0`. */
  name: string;
  /** The SAE. */
  sae: SAE;
  /** The hook it reads, `blocks.<layer>.hook_<kind>`. */
  hook: string;
  /** One line about where it comes from (zoo cache folder, SAELens folder). */
  description: string;
}

/** A window of tokens around one firing, with the latent's activation at each token. */
export interface ContextRecord {
  /** Token ids. */
  t: number[];
  /** Activations in thousandths of the latent's maximum, one per token. */
  a: number[];
  /** Index in `t` of the token this context was chosen for. */
  at: number;
}

/** Counts in equal-width bins over [0, max]. */
export interface Histogram {
  /** Upper edge of the last bin. */
  max: number;
  /** Counts per bin. */
  counts: number[];
}

/** Contexts sampled from one activation quantile range of a latent. */
export interface QuantileSample {
  /** Lowest and highest activation of the range. */
  lo: number;
  /** Highest activation of the range. */
  hi: number;
  /** Quantile range, e.g. `[0.5, 0.75]`. */
  q: [number, number];
  /** Sampled contexts. */
  contexts: ContextRecord[];
}

/** Everything the latent page shows about one latent (neighbours in a second SAE are added later). */
export interface LatentRecord {
  /** Latent index. */
  id: number;
  /** Fraction of probed tokens it fired on. */
  freq: number;
  /** Largest activation seen (0 when it never fired). */
  maxAct: number;
  /** Mean |∇L·d̂| over the tokens it fired on (null when it never fired). */
  meanGrad: number | null;
  /** Activation histogram over firing tokens. */
  hist: Histogram;
  /** |∇L·d̂| histogram over firing tokens. */
  gradHist: Histogram;
  /** Logit lens of d̂. */
  lens: LensTokens;
  /** Nearest latents of the same SAE by decoder cosine. */
  near: Scored[];
  /** The token ids it fires on most often (up to 3), most frequent first. */
  topTokens: number[];
  /** Top-activating contexts, highest first. */
  top: ContextRecord[];
  /** Contexts from its activation quantiles, lowest range first. */
  quantiles: QuantileSample[];
}

/** The browser data of one SAE. */
export interface SAEBrowserData {
  /** {@link BROWSER_DATA_VERSION}. */
  version: number;
  /** The SAE's name. */
  name: string;
  /** Where it comes from. */
  description: string;
  /** Architecture name. */
  architecture: string;
  /** Whether its selection uses the gradient. */
  gradientAware: boolean;
  /** Latents. */
  dSae: number;
  /** Activation width. */
  dIn: number;
  /** Active latents per token (TopK family). */
  k: number | null;
  /** The hook. */
  hook: string;
  /** The model's name. */
  model: string;
  /** Tokens probed. */
  tokens: number;
  /** One record per latent, by index. */
  latents: LatentRecord[];
}

/** Options of {@link precomputeLatents}. */
export interface PrecomputeOptions {
  /**
   * Validation tokens to probe (default: {@link BROWSER_TOKENS} of the workspace's profile; fewer
   * when the split is shorter).
   */
  tokens?: number;
  /** Windows per batch (default 8, fewer for long contexts: `windowsPerPass`). */
  batch?: number;
  /** Top contexts per latent (default 10). */
  top?: number;
  /** Quantile ranges (default 4) and contexts sampled from each (default 3). */
  quantiles?: number;
  /** Contexts per quantile range. */
  perQuantile?: number;
  /** Tokens before and after the chosen token in a context (defaults 16 and 4). */
  before?: number;
  /** Tokens after. */
  after?: number;
  /** Histogram bins (default 24). */
  bins?: number;
  /** Logit-lens tokens and neighbours per latent (default 8). */
  listed?: number;
  /** Progress lines (default console.log; a line every few seconds). */
  log?: (line: string) => void;
}

/** Rounds to 4 significant digits (compact JSON). */
export function sig4(v: number): number {
  return v === 0 || !Number.isFinite(v) ? v : Number(v.toPrecision(4));
}

/** Firings of every latent, grouped by latent (CSR), each latent's in token order. */
interface Firings {
  start: Int32Array;
  pos: Int32Array;
  act: Float32Array;
  grad: Float32Array;
}

/** Runs the model and the SAE over validation windows and collects every firing. */
function collectFirings(
  ws: Workspace,
  source: BrowserSAE,
  unit: Float32Array,
  o: { tokens: number; batch: number; log: (line: string) => void },
): { firings: Firings; tokenIds: Int32Array; per: number } {
  const seq = ws.model.config.n_positions, per = seq - 1, d = source.sae.config.d_in;
  const dSae = source.sae.config.d_sae;
  const count = Math.max(1, Math.min(Math.ceil(o.tokens / per), Math.floor(ws.val.length / seq)));
  const offsets = spreadOffsets(ws.val.length, count, seq);
  const tokenIds = new Int32Array(count * per);
  offsets.forEach((off, i) => tokenIds.set(ws.val.subarray(off, off + per), i * per));
  const chunks: { lat: Int32Array; pos: Int32Array; act: Float32Array; grad: Float32Array }[] = [];
  const perLatent = new Int32Array(dSae);
  const progress = new Progress(`browser ${source.name}`, { total: tokenIds.length, log: o.log });
  const dirs = tf.tensor2d(unit, [dSae, d]);
  try {
    for (let b = 0; b < count; b += o.batch) {
      const batch = offsets.slice(b, b + o.batch);
      const ids = windows(ws.val, batch, seq);
      const g = ws.model.gradAtHook(ids, source.hook);
      const out = tf.tidy(() => {
        const x = g.activation.slice([0, 0, 0], [batch.length, per, d]).reshape([-1, d]);
        const grad = g.gradient.slice([0, 0, 0], [batch.length, per, d]).reshape([-1, d]);
        const a = source.sae.encode(x as tf.Tensor2D, { grad: grad as tf.Tensor2D });
        return [a, tf.abs(matMul(grad as tf.Tensor2D, dirs, false, true))];
      });
      // Read outside tf.tidy, which would walk every element of a returned typed array.
      const [acts, dd] = out.map((t) => t.dataSync() as Float32Array);
      tf.dispose([ids, ...out, ...Object.values(g)]);
      let nnz = 0;
      for (let i = 0; i < acts.length; i++) if (acts[i] > 0) nnz++;
      const c = {
        lat: new Int32Array(nnz),
        pos: new Int32Array(nnz),
        act: new Float32Array(nnz),
        grad: new Float32Array(nnz),
      };
      let f = 0;
      for (let i = 0; i < acts.length; i++) {
        if (!(acts[i] > 0)) continue;
        const j = i % dSae;
        c.lat[f] = j;
        c.pos[f] = b * per + Math.floor(i / dSae);
        c.act[f] = acts[i];
        c.grad[f] = dd[i];
        perLatent[j]++;
        f++;
      }
      chunks.push(c);
      const done = Math.min(count, b + o.batch) * per;
      progress.update(done, { latents: dSae }, done === tokenIds.length);
    }
  } finally {
    dirs.dispose();
  }
  const start = new Int32Array(dSae + 1);
  for (let j = 0; j < dSae; j++) start[j + 1] = start[j] + perLatent[j];
  const total = start[dSae], fill = start.slice(0, dSae);
  const firings = {
    start,
    pos: new Int32Array(total),
    act: new Float32Array(total),
    grad: new Float32Array(total),
  };
  for (const c of chunks) {
    for (let f = 0; f < c.lat.length; f++) {
      const at = fill[c.lat[f]]++;
      firings.pos[at] = c.pos[f];
      firings.act[at] = c.act[f];
      firings.grad[at] = c.grad[f];
    }
  }
  return { firings, tokenIds, per };
}

function histogram(values: ArrayLike<number>, bins: number): Histogram {
  let max = 0;
  for (let i = 0; i < values.length; i++) max = Math.max(max, values[i]);
  const counts = new Array(bins).fill(0);
  if (max > 0) {
    for (let i = 0; i < values.length; i++) {
      counts[Math.min(bins - 1, Math.floor((values[i] / max) * bins))]++;
    }
  }
  return { max: sig4(max), counts };
}

/**
 * Precomputes the browser data of one SAE over validation windows of the workspace (see the
 * module doc). Prints a progress line every few seconds.
 */
export function precomputeLatents(
  ws: Workspace,
  source: BrowserSAE,
  options: PrecomputeOptions = {},
): SAEBrowserData {
  const log = options.log ?? ((line: string) => console.log(line));
  const cfg = source.sae.config as unknown as Record<string, unknown>;
  const dSae = source.sae.config.d_sae, d = source.sae.config.d_in;
  if (d !== ws.model.config.n_embd) {
    throw new Error(
      `SAE ${source.name}: d_in ${d} differs from the model's width ${ws.model.config.n_embd}`,
    );
  }
  const bins = options.bins ?? 24, listed = options.listed ?? 8;
  const before = options.before ?? 16, after = options.after ?? 4;
  const unit = unitDecoderRows(source.sae);
  const { firings, tokenIds, per } = collectFirings(ws, source, unit, {
    tokens: options.tokens ?? browserTokens(ws),
    // GPT-2's logits one window at a time (tfjs-wasm's 4 GiB heap).
    batch: options.batch ?? windowsPerPass(ws.model.config, 8),
    log,
  });
  const exclude = ws.vocabMap ? [ws.vocabMap.oovId] : [];
  const lens = logitLensTokens(ws.model, unit, { n: listed, exclude });
  const near = nearestByCosine(unit, unit, { d, n: listed, self: true });
  const rng = new Rng(dSae * 31 + 7);
  const latents: LatentRecord[] = [];
  for (let j = 0; j < dSae; j++) {
    const s = firings.start[j], e = firings.start[j + 1], n = e - s;
    const acts = firings.act.subarray(s, e), grads = firings.grad.subarray(s, e);
    const pos = firings.pos.subarray(s, e);
    const hist = histogram(acts, bins);
    const maxAct = hist.max;
    const actAt = (p: number) => {
      let lo = 0, hi = n; // binary search: positions are in token order
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if (pos[mid] < p) lo = mid + 1;
        else hi = mid;
      }
      return lo < n && pos[lo] === p ? acts[lo] : 0;
    };
    const context = (f: number): ContextRecord => {
      const p = pos[f], w0 = Math.floor(p / per) * per;
      const from = Math.max(w0, p - before), to = Math.min(w0 + per, p + after + 1);
      const t: number[] = [], a: number[] = [];
      for (let q = from; q < to; q++) {
        t.push(tokenIds[q]);
        a.push(maxAct > 0 ? Math.round((1000 * actAt(q)) / maxAct) : 0);
      }
      return { t, a, at: p - from };
    };
    const order = Array.from({ length: n }, (_, i) => i).sort((x, y) => acts[y] - acts[x] || x - y);
    const topN = Math.min(n, options.top ?? 10);
    const top = order.slice(0, topN).map(context);
    const rest = order.slice(topN).reverse(); // ascending activation
    const nq = options.quantiles ?? 4, perQ = options.perQuantile ?? 3;
    const quantiles: QuantileSample[] = [];
    if (rest.length > 0) {
      for (let q = 0; q < nq; q++) {
        const lo = Math.floor((q * rest.length) / nq),
          hi = Math.floor(((q + 1) * rest.length) / nq);
        if (hi <= lo) continue;
        const range = rest.slice(lo, hi);
        const picked = rng.shuffle(range.slice()).slice(0, perQ).sort((x, y) => acts[y] - acts[x]);
        quantiles.push({
          lo: sig4(acts[range[0]]),
          hi: sig4(acts[range[range.length - 1]]),
          q: [sig4(lo / n), sig4(hi / n)],
          contexts: picked.map(context),
        });
      }
    }
    const tokenCounts = new Map<number, number>();
    for (let f = 0; f < n; f++) {
      const id = tokenIds[pos[f]];
      tokenCounts.set(id, (tokenCounts.get(id) ?? 0) + 1);
    }
    const topTokens = [...tokenCounts].sort((x, y) => y[1] - x[1] || x[0] - y[0]).slice(0, 3)
      .map(([id]) => id);
    let gradSum = 0;
    for (let f = 0; f < n; f++) gradSum += grads[f];
    latents.push({
      id: j,
      freq: sig4(n / tokenIds.length),
      maxAct,
      meanGrad: n > 0 ? sig4(gradSum / n) : null,
      hist,
      gradHist: histogram(grads, bins),
      lens: {
        top: lens[j].top.map(([id, v]) => [id, sig4(v)]),
        bottom: lens[j].bottom.map(([id, v]) => [id, sig4(v)]),
      },
      near: near[j].map(([id, v]) => [id, sig4(v)]),
      topTokens,
      top,
      quantiles,
    });
  }
  return {
    version: BROWSER_DATA_VERSION,
    name: source.name,
    description: source.description,
    architecture: source.sae.config.architecture,
    gradientAware: architectureOf(source.sae.config.architecture).usesGradient,
    dSae,
    dIn: d,
    k: typeof cfg.k === "number" ? cfg.k : null,
    hook: source.hook,
    model: ws.modelName,
    tokens: tokenIds.length,
    latents,
  };
}
