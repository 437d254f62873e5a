import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { evaluateSAE } from "../lib/experiments/zoo/sae_eval.ts";
import { trainedSAE } from "../lib/experiments/zoo/sae_zoo.ts";
import {
  decodeLinear,
  preActivations,
  type SAE,
  type SAEBatch,
  type SAELossResult,
  sumSquaredError,
  tiedInit,
} from "../lib/sae/base.ts";
import { l0 } from "../lib/metrics/reconstruction.ts";
import { baseFields, z } from "../lib/sae/config.ts";
import {
  type Architecture,
  type ArchitectureName,
  architectureNames,
  architectureOf,
  ARCHITECTURES,
  createSAE,
  disposeSAE,
  loadSAE,
  registerArchitecture,
} from "../lib/sae/mod.ts";
import { withSmokeWorkspace } from "./fixtures/smoke_workspace.ts";

// A toy architecture defined here alone: a ReLU SAE with an L1 penalty (SAELens "standard").
const TOY_FIELDS = {
  l1_coefficient: z.number().min(0).default(1e-3).describe("weight of the L1 of the latents"),
};
const TOY_SCHEMA = z.strictObject({ ...baseFields(["toy_relu"]), ...TOY_FIELDS });
type ToyConfig = z.output<typeof TOY_SCHEMA>;

class ToyReLU implements SAE {
  readonly params: Map<string, tf.Variable>;
  constructor(readonly config: ToyConfig) {
    this.params = tiedInit(config.d_in, config.d_sae, config.seed);
  }
  encode(x: tf.Tensor2D): tf.Tensor2D {
    return tf.tidy(() => tf.relu(preActivations(this.params, x)));
  }
  decode(latents: tf.Tensor2D): tf.Tensor2D {
    return decodeLinear(this.params, latents);
  }
  loss(batch: SAEBatch): SAELossResult {
    const latents = tf.relu(preActivations(this.params, batch.x)) as tf.Tensor2D;
    const mse = sumSquaredError(batch.x, this.decode(latents));
    const l1 = tf.mean(tf.sum(latents, 1)) as tf.Scalar;
    const loss = tf.add(mse, tf.mul(l1, this.config.l1_coefficient)) as tf.Scalar;
    return { loss, parts: { mse, l1, l0: l0(latents) }, latents };
  }
}

const TOY: Architecture<ToyConfig> = {
  name: "toy_relu",
  source: "a test's own",
  fields: TOY_FIELDS,
  schema: TOY_SCHEMA,
  create: (config) => new ToyReLU(config),
  trainsOn: "activations",
  usesGradient: false,
  saelens: { architecture: "standard" },
  fusedStep: false,
};

Deno.test("registry: a toy architecture registered in a test trains, evaluates, saves and reloads through the ordinary paths", async () => {
  registerArchitecture(TOY);
  assert.throws(() => registerArchitecture(TOY), /"toy_relu" exists already/);
  assert.ok(architectureNames().includes("toy_relu"));
  assert.ok(!(ARCHITECTURES as string[]).includes("toy_relu"), "built-in list unchanged");
  assert.throws(
    () => createSAE({ architecture: "toy_relu", d_in: 4, d_sae: 8, l1_coeficient: 1 }),
    /invalid toy_relu SAE config: Unrecognized key: "l1_coeficient"/,
  );

  await withSmokeWorkspace(async (ws) => {
    const spec = { architecture: "toy_relu" as ArchitectureName, seed: 0 };
    const trained = await trainedSAE(ws, spec);
    assert.equal(trained.sae.config.architecture, "toy_relu");
    assert.ok(trained.history.length > 0 && Number.isFinite(trained.history.at(-1)!.loss));
    const evaluation = await evaluateSAE(ws, trained);
    assert.ok(Number.isFinite(evaluation.fvu) && Number.isFinite(evaluation.deltaCe));
    assert.ok(evaluation.l0 > 0);

    const cfg = JSON.parse(await Deno.readTextFile(`${trained.dir}/cfg.json`));
    assert.equal(cfg.architecture, "standard");
    assert.equal(cfg.gsae.l1_coefficient, 1e-3);
    assert.equal(cfg.dead_window_tokens, trained.train.deadWindowTokens);
    const { sae } = await loadSAE(trained.dir);
    assert.ok(sae instanceof ToyReLU);
    for (const [name, v] of trained.sae.params) {
      assert.deepEqual(sae.params.get(name)!.dataSync(), v.dataSync(), name);
    }
    disposeSAE(sae);
  });
});

Deno.test("registry: each built-in entry's schema fills its defaults and names a bad field", () => {
  for (const name of ARCHITECTURES) {
    const entry = architectureOf(name);
    const k = "k" in entry.fields ? { k: 4 } : {};
    const sae = createSAE({ architecture: name, d_in: 8, d_sae: 16, ...k });
    assert.equal(sae.config.seed, 0, name);
    assert.deepEqual(createSAE(sae.config as never).config, sae.config, `${name}: reparse`);
    disposeSAE(sae);
    assert.throws(
      () => createSAE({ architecture: name, d_in: 8, d_sae: 16, ...k, seeed: 1 }),
      new RegExp(`invalid ${name} SAE config: Unrecognized key: "seeed"`),
    );
  }
  assert.throws(() => architectureOf("relu"), /unknown SAE architecture "relu"; known: topk, gsae/);
});
