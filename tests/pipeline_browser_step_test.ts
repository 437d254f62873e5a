import assert from "node:assert/strict";
import { browserStepArgs, runBeta } from "../lib/pipeline/browser_step.ts";
import { emptyMetrics } from "../lib/pipeline/metrics.ts";

Deno.test("browser step: exports the run's pair with the β its tour recorded", () => {
  const metrics = emptyMetrics("smoke", "sotu-2x64");
  assert.equal(runBeta(metrics), undefined);
  const base = { out: "/o", env: { GSAE_PROFILE: "smoke" }, metrics };
  const plain = browserStepArgs(base);
  assert.ok(plain.join(" ").endsWith("--profile smoke --export /o/browser"));
  assert.ok(!plain.includes("--beta") && !plain.includes("--model"));
  metrics.notebooks["00_tour"] = {
    metrics: { gsae_beta: { value: 0.25, abs: 0, rel: 0, description: "β" } },
  } as unknown as typeof metrics.notebooks[string];
  const withBeta = browserStepArgs({ ...base, env: { GSAE_PROFILE: "smoke", GSAE_MODEL: "/m" } });
  assert.ok(
    withBeta.join(" ").endsWith("--profile smoke --model /m --beta 0.25 --export /o/browser"),
    withBeta.join(" "),
  );
});
