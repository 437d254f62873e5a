import assert from "node:assert/strict";
import { notebookNeeds } from "../lib/experiments/zoo/needs.ts";
import { PARETO_SETTINGS } from "../lib/experiments/03_pareto/pareto.ts";
import { PROFILES } from "../lib/experiments/shared/profile.ts";
import { gridJobs, jobKey, jobName, profileJobs } from "../lib/sweep/jobs.ts";

Deno.test("gridJobs: every combination; k skips Gated, β only gradient-aware ones", () => {
  const jobs = gridJobs({
    profile: "smoke",
    architectures: ["topk", "gsae", "gated"],
    ks: [8, 16],
    betas: [0.5, 1],
    seeds: [0, 1],
    evals: ["val", "none"],
  });
  // topk: 2 k × 2 seeds; gsae: 2 k × 2 β × 2 seeds; gated: 2 seeds.
  assert.equal(jobs.length, 4 + 8 + 2);
  assert.deepEqual(jobs[0], {
    profile: "smoke",
    model: "sotu-2x64",
    spec: { architecture: "topk", k: 8, seed: 0 },
    evals: [{}, { gradient: "none" }],
  });
  assert.ok(
    jobs.filter((j) => j.spec.architecture === "gated").every((j) => j.spec.k === undefined),
  );
  assert.ok(
    jobs.filter((j) => j.spec.architecture === "topk").every((j) => j.spec.beta === undefined),
  );
  assert.equal(new Set(jobs.map(jobKey)).size, jobs.length);
  assert.equal(jobName(jobs[4]), "sotu-2x64 gsae-k8-b0.5-s0 [val true, val none]");
});

Deno.test("gridJobs: defaults come from the profile; a hook is kept", () => {
  const [job, ...rest] = gridJobs({
    profile: "smoke",
    architectures: ["topk"],
    hooks: ["blocks.0.hook_resid_post"],
  });
  assert.equal(rest.length, PROFILES.smoke.seeds.length - 1);
  assert.deepEqual(job.spec, { architecture: "topk", k: PROFILES.smoke.mainK, seed: 0 });
  assert.equal(job.hook, "blocks.0.hook_resid_post");
  assert.deepEqual(job.evals, [{}]);
});

Deno.test("gridJobs: bad grids are errors that say what and where", () => {
  const bad: [unknown, RegExp][] = [
    [[], /^JsonFileError: g\.json: expected object, got array$/],
    [{ profile: "smoke", architectures: ["topk"], kz: [1] }, /g\.json: kz: unknown field$/],
    [{ profile: "nope", architectures: ["topk"] }, /g\.json: profile: unknown profile "nope"/],
    [{ profile: "smoke" }, /g\.json: architectures: missing \(expected array\)$/],
    [
      { profile: "smoke", architectures: ["topq"] },
      /g\.json: architectures\[0\]: expected one of "topk", .*, got "topq"$/,
    ],
    [{ profile: "smoke", architectures: ["topk"], ks: [0] }, /g\.json: ks\[0\]: too small/],
    [
      { profile: "smoke", architectures: ["topk"], evals: ["val", "x"] },
      /g\.json: evals\[1\]: expected one of "val", "dev", "none", "sampled", "token", got "x"$/,
    ],
    [{ profile: "smoke", architectures: [] }, /g\.json: architectures: too small/],
  ];
  for (const [grid, message] of bad) assert.throws(() => gridJobs(grid, "g.json"), message);
});

Deno.test("profile jobs: the β sweep first, one job per SAE, notebooks named", () => {
  const p = PROFILES.smoke, jobs = profileJobs("smoke");
  assert.equal(new Set(jobs.map(jobKey)).size, jobs.length);
  for (const [i, beta] of p.betas.entries()) {
    assert.deepEqual(jobs[i].spec, { architecture: "gsae", k: p.mainK, seed: p.seeds[0], beta });
    assert.ok(jobs[i].evals.some((e) => e.split === "dev"), "chooseBeta reads dev evaluations");
  }
  // Notebook 03's settings come from PARETO_SETTINGS.
  for (const [a, multiples] of Object.entries(PARETO_SETTINGS.penaltyMultiples)) {
    const these = jobs.filter((j) => j.spec.architecture === a && j.spec.seed === p.seeds[0]);
    assert.deepEqual(these.map((j) => j.spec.penaltyMultiple), [...multiples], a);
  }
  for (const { architecture, options } of PARETO_SETTINGS.furtherArchitectures) {
    const same = (o?: Record<string, unknown>) =>
      JSON.stringify(o ?? {}) === JSON.stringify(options ?? {});
    assert.ok(
      jobs.some((j) => j.spec.architecture === architecture && same(j.spec.options)),
      architecture,
    );
  }
  // Notebook 07: TopK and g-SAE at every scaling model and seed.
  for (const m of p.scalingModels) {
    const here = jobs.filter((j) => j.model === m && j.notebooks!.includes("07"));
    assert.equal(here.filter((j) => j.spec.k === p.mainK).length >= 2 * p.seeds.length, true, m);
  }
  // β sweep 2; notebook 03: TopK, g-SAE and e2e-TopK at 2 ks × 2 frontier seeds 12 (the main-k
  // seeds among them), penalised 6 multiples × 2 seeds 12, batch choices 6 × 2 seeds 12;
  // notebook 07's second model: TopK and g-SAE × 2 seeds 4.
  assert.equal(jobs.length, 42);
});

Deno.test("notebookNeeds: --only 04 is the β sweep plus the compared SAEs at every seed", () => {
  const p = PROFILES.smoke;
  const needs = notebookNeeds(p, { only: ["04"] });
  assert.equal(needs.length, p.betas.length + 3 * p.seeds.length);
  assert.ok(needs.every((n) => n.notebooks.join() === "04"));
  const gsae = needs.filter((n) => n.spec.beta === "chosen");
  assert.equal(gsae.length, p.seeds.length);
  // g-SAE's frequencies under plain selection as well as with the true-token gradient.
  for (const n of gsae) assert.deepEqual(n.evals, [{}, { gradient: "none" }]);
});

Deno.test("notebookNeeds: the seed papers' architectures only where the profile has them", () => {
  const penalised = (name: "default" | "extended") =>
    notebookNeeds(PROFILES[name], { only: ["03"] }).filter((n) => n.spec.architecture === "gated");
  assert.equal(penalised("default").length, 0);
  // Two penalties × three frontier seeds.
  assert.equal(penalised("extended").length, 6);
  // Notebook 08 trains nothing listed here, and default leaves it out anyway.
  assert.deepEqual(notebookNeeds(PROFILES.default, { only: ["08"] }), []);
});

Deno.test("profile jobs: --only takes ids or stems, and rejects others", () => {
  assert.deepEqual(
    profileJobs("smoke", { only: ["04_density"] }),
    profileJobs("smoke", { only: ["04"] }),
  );
  assert.equal(profileJobs("smoke", { only: ["01", "02"] }).length, 0);
  assert.throws(() => profileJobs("smoke", { only: ["9"] }), /"9" is not a notebook id/);
});
