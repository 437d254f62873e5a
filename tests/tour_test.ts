import assert from "node:assert/strict";
import { initBackend } from "../lib/tensor/backend.ts";
import { createSAE, disposeSAE } from "../lib/sae/mod.ts";
import type { SAEEvaluation } from "../lib/experiments/zoo/sae_eval.ts";
import type { TrainedSAE } from "../lib/experiments/zoo/sae_zoo.ts";
import {
  modelCard,
  saeCard,
  showToken,
  tokenGradients,
  tokenGradientTable,
} from "../lib/experiments/00_tour/tour.ts";
import { tinyWorkspace } from "./fixtures/tiny_workspace.ts";

await initBackend();
const ws = tinyWorkspace();

Deno.test("showToken makes whitespace, pipes and empty tokens visible", () => {
  assert.equal(showToken(" the"), "` the`");
  assert.equal(showToken("a|b\n"), "`a\\|b↵`");
  assert.equal(showToken(""), "`∅`");
});

Deno.test("modelCard names the model, its size and the SAE hook", () => {
  const card = modelCard(ws);
  assert.match(card, /2 × 16, 2 heads/);
  assert.match(card, /blocks\.1\.hook_resid_post \(layer 1 of 2\)/);
});

Deno.test("tokenGradients: one row per token, losses for all but the last, last gradient 0", async () => {
  const t = await tokenGradients(ws, "the state of");
  assert.deepEqual(t.shape, [1, 12, 16]);
  assert.equal(t.rows.length, 12);
  assert.equal(t.rows[0].next, "h");
  assert.equal(t.rows[11].loss, undefined);
  assert.equal(t.rows[11].gradNorm, 0);
  assert.ok(t.rows.slice(0, 11).every((r) => r.loss! > 0 && r.gradNorm > 0));
  const mean = t.rows.slice(0, 11).reduce((s, r) => s + r.loss!, 0) / 11;
  assert.ok(Math.abs(t.meanLoss - mean) < 1e-6);
  assert.equal(tokenGradientTable(t).split("\n").length, 2 + 12);
  await assert.rejects(() => tokenGradients(ws, "a"), /two tokens/);
});

Deno.test("saeCard summarises training and evaluation", () => {
  const sae = createSAE({ architecture: "gsae", d_in: 16, d_sae: 64, k: 4, seed: 0 });
  const trained = {
    sae,
    label: "gsae-k4-s0",
    dir: "/nowhere",
    seconds: 12.3,
    dead: 2,
    train: { tokens: 4096 },
  } as unknown as TrainedSAE;
  const evaluation = {
    l0: 4,
    fvu: 0.25,
    deltaCe: 0.1234,
    ceClean: 4.5,
    kl: 0.1,
  } as unknown as SAEEvaluation;
  const card = saeCard(trained, evaluation, {
    beta: 1,
    betaByKl: 1,
    sweep: [{ beta: 0.5, deltaCe: 0.2, kl: 0.2 }, { beta: 1, deltaCe: 0.1, kl: 0.1 }],
  });
  assert.match(card, /k = 4, β = 1/);
  assert.match(card, /β=0\.5: 0\.2000, β=1: 0\.1000/);
  assert.match(card, /4,096 tokens in 12 s; 2 dead/);
  assert.match(card, /0\.1234 nats/);
  disposeSAE(sae);
});
