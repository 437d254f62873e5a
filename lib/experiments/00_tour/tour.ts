/**
 * Notebook 00, a tour of the pieces every other notebook uses: the model and its hooks, the
 * gradient of the loss at a hook for one text, and a trained SAE with its held-out numbers, as
 * markdown tables. One latent up close is in `latent_probe.ts`.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { takeAll } from "../../tensor/read.ts";
import { parameterCount } from "../../gpt2/config.ts";
import { mean } from "../../metrics/mod.ts";
import type { BetaChoice } from "../zoo/compared.ts";
import type { SAEEvaluation } from "../zoo/sae_eval.ts";
import type { TrainedSAE } from "../zoo/sae_zoo.ts";
import type { Workspace } from "../shared/workspace.ts";
import { mdTable } from "../../io/markdown_table.ts";

/** A token as readable markdown table text: newlines as ↵, pipes escaped, in code quotes. */
export function showToken(text: string): string {
  const s = text.replace(/\n/g, "↵").replace(/\|/g, "\\|").replace(/`/g, "'");
  return "`" + (s.length > 0 ? s : "∅") + "`";
}

/** The model and the workspace as a two-column markdown table. */
export function modelCard(ws: Workspace): string {
  const c = ws.model.config;
  const rows: [string, string][] = [
    ["model", `${ws.modelName} (${ws.modelDir})`],
    ["layers × width", `${c.n_layer} × ${c.n_embd}, ${c.n_head} heads`],
    ["context", `${c.n_positions} tokens`],
    ["vocabulary", `${c.vocab_size.toLocaleString("en-US")} ids`],
    ["parameters", parameterCount(c).toLocaleString("en-US")],
    ["SAE hook", `${ws.hook} (layer ${ws.layer} of ${c.n_layer})`],
    [
      "corpus",
      `train ${ws.train.length.toLocaleString("en-US")} tokens, validation ` +
      `${ws.val.length.toLocaleString("en-US")}`,
    ],
    ["backend", ws.backend],
    ["profile", ws.profile.name],
  ];
  return mdTable(["", ""], rows);
}

/** One position of {@link tokenGradients}. */
export interface TokenGradientRow {
  /** Position in the text. */
  position: number;
  /** The token at it. */
  token: string;
  /** The next token (what this position predicts), if any. */
  next?: string;
  /** Cross-entropy of the next token, nats (none at the last position). */
  loss?: number;
  /** ‖x‖ of the activation at the hook. */
  activationNorm: number;
  /** ‖∂(Σ losses)/∂x‖ at the hook. */
  gradNorm: number;
}

/** The activation at `hook` for one text and the gradient of its summed loss there. */
export interface TokenGradients {
  /** The hook. */
  hook: string;
  /** Activation shape [batch, tokens, d]. */
  shape: number[];
  /** Mean next-token loss of the text. */
  meanLoss: number;
  /** One row per token. */
  rows: TokenGradientRow[];
}

/** Runs `text` through the model with {@link GPT2.gradAtHook} at `hook` (default: the SAE's). */
export async function tokenGradients(
  ws: Workspace,
  text: string,
  options: { hook?: string } = {},
): Promise<TokenGradients> {
  const hook = options.hook ?? ws.hook;
  const ids = ws.tokenizer.encode(text);
  if (ids.length < 2) throw new Error("tokenGradients: the text needs at least two tokens");
  const input = tf.tensor2d(ids, [1, ids.length], "int32");
  const g = ws.model.gradAtHook(input, hook);
  const shape = g.activation.shape;
  // Read asynchronously (any backend), outside tf.tidy.
  const [actNorms, gradNorms, losses] = await takeAll([
    tf.norm(g.activation, "euclidean", -1),
    tf.norm(g.gradient, "euclidean", -1),
    tf.clone(g.losses),
  ]);
  tf.dispose([input, ...Object.values(g)]);
  const tok = (i: number) => ws.tokenizer.decode([ids[i]]);
  const rows = Array.from(ids, (_, p) => ({
    position: p,
    token: tok(p),
    next: p + 1 < ids.length ? tok(p + 1) : undefined,
    loss: p + 1 < ids.length ? losses[p] : undefined,
    activationNorm: actNorms[p],
    gradNorm: gradNorms[p],
  }));
  const meanLoss = mean(losses);
  return { hook, shape, meanLoss, rows };
}

/** {@link tokenGradients} as a markdown table. */
export function tokenGradientTable(t: TokenGradients): string {
  const rows = t.rows.map((r) => [
    r.position,
    showToken(r.token),
    r.next === undefined ? "" : showToken(r.next),
    r.loss?.toFixed(3) ?? "",
    r.activationNorm.toFixed(2),
    r.gradNorm.toExponential(2),
  ]);
  return mdTable(["position", "token", "next token", "loss (nats)", "‖x‖", "‖∇ₓL‖"], rows);
}

/** A trained SAE, its training and its held-out evaluation as a two-column markdown table. */
export function saeCard(
  trained: TrainedSAE,
  evaluation: SAEEvaluation,
  choice?: BetaChoice,
): string {
  const c = trained.sae.config as unknown as Record<string, unknown>;
  const rows: [string, string][] = [
    ["SAE", `${trained.label} (${trained.dir})`],
    [
      "architecture",
      `${c.architecture}, ${c.d_in} → ${c.d_sae} latents, k = ${c.k}` +
      (c.beta !== undefined ? `, β = ${c.beta}` : ""),
    ],
    ...(choice
      ? [[
        "β sweep (dev ΔCE, nats)",
        choice.sweep.map((p) => `β=${p.beta}: ${p.deltaCe.toFixed(4)}`).join(", "),
      ] as [string, string]]
      : []),
    [
      "training",
      `${trained.train.tokens.toLocaleString("en-US")} tokens in ` +
      `${trained.seconds.toFixed(0)} s; ${trained.dead} dead latents at the end`,
    ],
    ["validation L0", evaluation.l0.toFixed(2)],
    ["validation FVU", evaluation.fvu.toFixed(4)],
    [
      "validation ΔCE",
      `${evaluation.deltaCe.toFixed(4)} nats (clean CE ` +
      `${evaluation.ceClean.toFixed(3)})`,
    ],
    ["validation KL(clean ‖ spliced)", evaluation.kl.toFixed(4)],
  ];
  return mdTable(["", ""], rows);
}
