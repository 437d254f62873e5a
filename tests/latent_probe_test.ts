import assert from "node:assert/strict";
import { initBackend } from "../lib/tensor/backend.ts";
import { createSAE, disposeSAE } from "../lib/sae/mod.ts";
import {
  chooseTourLatent,
  examplesTable,
  probeLatent,
  promotedLine,
} from "../lib/experiments/00_tour/latent_probe.ts";
import { LETTERS, tinyWorkspace } from "./fixtures/tiny_workspace.ts";

await initBackend();
const ws = tinyWorkspace();

Deno.test("chooseTourLatent: highest derivative within the frequency band, else most frequent", () => {
  const e = {
    frequencies: [0.001, 0.01, 0.02, 0.3, 0.04],
    meanAbsDerivFiring: [9, 1, 3, 8, null],
  };
  assert.equal(chooseTourLatent(e), 2);
  assert.equal(chooseTourLatent(e, { minFrequency: 0.5 }), 3);
});

Deno.test("probeLatent: top examples in context, logit lens, gradient-swapped selections", async () => {
  const gsae = createSAE({ architecture: "gsae", d_in: 16, d_sae: 64, k: 4, seed: 0, beta: 4 });
  const topk = createSAE({ architecture: "topk", d_in: 16, d_sae: 64, k: 4, seed: 0 });
  try {
    const probes = [];
    for (const latent of [0, 1, 2]) {
      probes.push(
        await probeLatent(ws, gsae, { latent, sequences: 8, top: 5, before: 3, after: 2 }),
      );
    }
    const p = probes.find((q) => q.examples.length > 0)!;
    assert.ok(p, "some latent fires");
    assert.equal(p.tokens, 8 * 15);
    assert.ok(p.frequency > 0 && p.frequency <= 1);
    assert.ok(p.l0 > 0 && p.l0 <= 4);
    assert.ok(p.swappedPerToken > 0 && p.swappedPerToken <= 4, `${p.swappedPerToken}`);
    const acts = p.examples.map((e) => e.activation);
    assert.deepEqual(acts, [...acts].sort((a, b) => b - a));
    for (const e of p.examples) {
      const at = e.offset + e.position;
      assert.equal(e.token, LETTERS[ws.val[at]]);
      assert.ok(e.before.length <= 3 && e.after.length <= 2);
    }
    assert.equal(p.promoted.length, 10);
    assert.ok(p.promoted.every((t, i) => i === 0 || t.score <= p.promoted[i - 1].score));
    assert.equal(examplesTable(p).split("\n").length, 2 + p.examples.length);
    assert.equal(promotedLine(p).split(", ").length, 10);
    const plain = await probeLatent(ws, topk, { latent: 0, sequences: 4 });
    assert.equal(plain.swappedPerToken, 0, "TopK selects the same latents either way");
  } finally {
    disposeSAE(gsae);
    disposeSAE(topk);
  }
});
