import assert from "node:assert/strict";
import { budgetFromEnv, withBudget } from "../lib/experiments/shared/budget.ts";
import { getProfile, PROFILES } from "../lib/experiments/shared/profile.ts";

function withEnv(values: Record<string, string | undefined>, fn: () => void): void {
  const old = Object.fromEntries(Object.keys(values).map((k) => [k, Deno.env.get(k)]));
  const set = (vs: Record<string, string | undefined>) => {
    for (const [k, v] of Object.entries(vs)) {
      v === undefined ? Deno.env.delete(k) : Deno.env.set(k, v);
    }
  };
  set(values);
  try {
    fn();
  } finally {
    set(old);
  }
}

Deno.test("budget tiny shrinks the paper profile's budgets and keeps its model and shapes", () => {
  const paper = PROFILES.paper;
  withEnv({ GSAE_MODEL: "/models/gpt2-shaped" }, () => {
    const tiny = withBudget(paper, "tiny");
    assert.equal(tiny.model, paper.model);
    assert.equal(tiny.sae.expansion, paper.sae.expansion);
    assert.equal(tiny.layerFraction, paper.layerFraction);
    assert.ok(tiny.storeTokens < paper.storeTokens && tiny.sae.tokens < paper.sae.tokens);
    assert.ok(tiny.ks.includes(paper.mainK) && tiny.ks.length <= 2);
    assert.deepEqual(tiny.seeds, [0, 1]);
    assert.deepEqual(tiny.scalingModels, ["/models/gpt2-shaped"]);
  });
  assert.strictEqual(withBudget(paper, "full"), paper);
});

Deno.test("GSAE_BUDGET selects the budget getProfile applies; an unknown one is an error", () => {
  withEnv({ GSAE_BUDGET: undefined }, () => {
    assert.equal(budgetFromEnv(), "full");
    assert.strictEqual(getProfile("paper"), PROFILES.paper);
  });
  withEnv({ GSAE_BUDGET: "tiny", GSAE_MODEL: undefined }, () => {
    assert.equal(getProfile("paper").storeTokens, 4096);
    assert.deepEqual(getProfile("paper").scalingModels, ["gpt2"]);
  });
  withEnv({ GSAE_BUDGET: "huge" }, () => {
    assert.throws(() => budgetFromEnv(), /GSAE_BUDGET=huge is not one of full, tiny/);
  });
});
