import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { join } from "node:path";
import { initBackend } from "../lib/tensor/backend.ts";
import { readSafetensors, SafetensorsError, writeSafetensors } from "../lib/io/safetensors.ts";
import {
  type BaseSAEConfig,
  decodeLinear,
  param,
  preActivations,
  type SAE,
  type SAEBatch,
  type SAELossResult,
  tiedInit,
} from "../lib/sae/base.ts";
import { loadSAEFolder, SAEFolderError, type SAEFolderMeta, saveSAE } from "../lib/sae/saelens.ts";
import { createSAE, disposeSAE, loadSAE } from "../lib/sae/mod.ts";

await initBackend();

/** The least SAE that satisfies the interface: ReLU encoder, linear decoder. */
class TinySAE implements SAE {
  readonly config: BaseSAEConfig;
  readonly params: Map<string, tf.Variable>;

  constructor(config: BaseSAEConfig, extras: Record<string, Float32Array> = {}) {
    this.config = config;
    this.params = tiedInit(config.d_in, config.d_sae, config.seed);
    // Distinct bias values, so a swapped or zeroed tensor would show in the round trip.
    this.params.get("b_enc")!.assign(tf.linspace(-1, 1, config.d_sae));
    this.params.get("b_dec")!.assign(tf.linspace(2, 3, config.d_in));
    for (const [name, values] of Object.entries(extras)) {
      this.params.set(name, param(name, values, [values.length]));
    }
  }

  encode(x: tf.Tensor2D): tf.Tensor2D {
    return tf.relu(preActivations(this.params, x));
  }

  decode(latents: tf.Tensor2D): tf.Tensor2D {
    return decodeLinear(this.params, latents);
  }

  loss(batch: SAEBatch): SAELossResult {
    const latents = this.encode(batch.x);
    const loss = tf.mean(tf.squaredDifference(this.decode(latents), batch.x)) as tf.Scalar;
    return { loss, parts: {}, latents };
  }
}

const META: SAEFolderMeta = {
  model_name: "tiny-gpt2",
  hook_name: "blocks.1.hook_resid_post",
  context_size: 64,
  dataset_path: "sotu",
  training_tokens: 1000,
};

async function withTempDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "saelens_test_" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

async function readCfg(dir: string): Promise<Record<string, unknown>> {
  return JSON.parse(await Deno.readTextFile(join(dir, "cfg.json")));
}

function topkSAE(): TinySAE {
  return new TinySAE(
    { architecture: "gsae", d_in: 4, d_sae: 6, seed: 3, k: 2, beta: 0.5 } as BaseSAEConfig,
  );
}

Deno.test("a TopK-family SAE round-trips tensors, config and metadata", async () => {
  await withTempDir(async (root) => {
    const sae = topkSAE();
    const dir = join(root, "sae");
    const logSparsity = new Float32Array([-1, -2, -3, -4, -5, -6]);
    await saveSAE(sae, dir, { ...META, logSparsity });
    // Saving again replaces the folder atomically and leaves no temporary siblings.
    await saveSAE(sae, dir, { ...META, logSparsity });
    assert.deepEqual((await Array.fromAsync(Deno.readDir(root))).map((e) => e.name), ["sae"]);

    const cfg = await readCfg(dir);
    assert.equal(cfg.architecture, "topk");
    assert.deepEqual(cfg.activation_fn_kwargs, { k: 2 });
    assert.equal(cfg.activation_fn_str, "topk");
    assert.equal(cfg.d_in, 4);
    assert.equal(cfg.d_sae, 6);
    assert.equal(cfg.hook_layer, 1);
    assert.equal(cfg.prepend_bos, false);
    assert.equal(cfg.dtype, "float32");
    assert.equal(cfg.normalize_activations, "none");
    assert.equal(cfg.apply_b_dec_to_input, true);
    assert.equal(cfg.training_tokens, 1000);
    assert.deepEqual(cfg.gsae, sae.config);
    const file = await readSafetensors(join(dir, "sae_weights.safetensors"));
    assert.deepEqual([...file.tensors.keys()].sort(), ["W_dec", "W_enc", "b_dec", "b_enc"]);

    const loaded = await loadSAEFolder(dir);
    assert.deepEqual(loaded.config, sae.config);
    assert.equal(loaded.tensors.size, 4);
    for (const [name, v] of sae.params) {
      const t = loaded.tensors.get(name)!;
      assert.deepEqual(t.shape, v.shape, name);
      assert.deepEqual(t.data, v.dataSync(), name);
    }
    assert.equal(loaded.meta.model_name, "tiny-gpt2");
    assert.equal(loaded.meta.hook_name, META.hook_name);
    assert.equal(loaded.meta.context_size, 64);
    assert.equal(loaded.meta.dataset_path, "sotu");
    assert.equal("gsae" in loaded.meta, false);
    assert.deepEqual(loaded.logSparsity, logSparsity);
  });
});

Deno.test("JumpReLU: log_threshold is saved as SAELens's threshold and converted back", async () => {
  await withTempDir(async (dir) => {
    const logThreshold = new Float32Array([-3, -2, -1, 0, 0.5]);
    const sae = new TinySAE({ architecture: "jumprelu", d_in: 3, d_sae: 5, seed: 1 }, {
      log_threshold: logThreshold,
    });
    await saveSAE(sae, dir, META);
    assert.equal((await readCfg(dir)).architecture, "jumprelu");
    const file = await readSafetensors(join(dir, "sae_weights.safetensors"));
    assert.equal(file.tensors.has("log_threshold"), false);
    const threshold = file.tensors.get("threshold")!;
    assert.deepEqual(threshold.shape, [5]);
    threshold.data.forEach((v, i) =>
      assert.ok(Math.abs(v / Math.exp(logThreshold[i]) - 1) < 1e-6, `θ[${i}]`)
    );

    const loaded = await loadSAEFolder(dir);
    assert.equal(loaded.tensors.has("threshold"), false);
    loaded.tensors.get("log_threshold")!.data.forEach((v, i) =>
      assert.ok(Math.abs(v - logThreshold[i]) < 1e-6)
    );
  });
});

Deno.test("gated SAEs are saved with b_gate, r_mag, b_mag and no b_enc", async () => {
  await withTempDir(async (dir) => {
    const d = new Float32Array([0.1, 0.2, 0.3]);
    const sae = new TinySAE({ architecture: "gated", d_in: 2, d_sae: 3, seed: 2 }, {
      b_gate: d,
      r_mag: d,
      b_mag: d,
    });
    sae.params.delete("b_enc");
    await saveSAE(sae, dir, META);
    const cfg = await readCfg(dir);
    assert.equal(cfg.architecture, "gated");
    assert.deepEqual(cfg.activation_fn_kwargs, {});
    const loaded = await loadSAEFolder(dir);
    assert.deepEqual([...loaded.tensors.keys()].sort(), [
      "W_dec",
      "W_enc",
      "b_dec",
      "b_gate",
      "b_mag",
      "r_mag",
    ]);
  });
});

Deno.test("saveSAE refuses SAEs SAELens could not load", async () => {
  await withTempDir(async (dir) => {
    const noK = new TinySAE({ architecture: "topk", d_in: 2, d_sae: 3, seed: 0 });
    await assert.rejects(saveSAE(noK, dir, META), /topk config needs a positive integer k/);
    const gatedWithoutGate = new TinySAE({ architecture: "gated", d_in: 2, d_sae: 3, seed: 0 });
    await assert.rejects(
      saveSAE(gatedWithoutGate, dir, META),
      /"gated" needs parameter\(s\) b_gate, r_mag, b_mag/,
    );
    const weird = new TinySAE(
      { architecture: "unknown", d_in: 2, d_sae: 3, seed: 0 } as unknown as BaseSAEConfig,
    );
    await assert.rejects(saveSAE(weird, dir, META), /unknown SAE architecture "unknown"/);
  });
});

Deno.test("a foreign SAELens TopK folder (no gsae key) loads with k from activation_fn_kwargs", async () => {
  await withTempDir(async (dir) => {
    await saveSAE(topkSAE(), dir, META);
    const { gsae: _, ...cfg } = await readCfg(dir);
    await Deno.writeTextFile(
      join(dir, "cfg.json"),
      JSON.stringify({ ...cfg, architecture: "standard" }),
    );
    const loaded = await loadSAEFolder(dir);
    assert.deepEqual(loaded.config, { architecture: "topk", d_in: 4, d_sae: 6, seed: 0, k: 2 });
  });
});

Deno.test("a foreign SAELens standard (ReLU + L1) folder loads as relu_l1 and encodes the same", async () => {
  await withTempDir(async (dir) => {
    const relu = createSAE({ architecture: "relu_l1", d_in: 4, d_sae: 6, seed: 3 });
    await saveSAE(relu, dir, META);
    const { gsae: _, ...cfg } = await readCfg(dir);
    assert.equal(cfg.architecture, "standard");
    await Deno.writeTextFile(join(dir, "cfg.json"), JSON.stringify(cfg));
    const loaded = await loadSAEFolder(dir);
    assert.deepEqual(loaded.config, { architecture: "relu_l1", d_in: 4, d_sae: 6, seed: 0 });
    const { sae } = await loadSAE(dir);
    const x = tf.tensor2d([[1, -2, 0.5, 3], [0, 1, -1, 2]]);
    assert.deepEqual(sae.encode(x).arraySync(), relu.encode(x).arraySync());
    tf.dispose(x);
    disposeSAE(sae);
    disposeSAE(relu);
  });
});

/** Saves a valid SAE, lets `mutate` break it, and checks the load error. */
async function assertLoadError(
  mutate: (dir: string) => Promise<void>,
  expected: { type?: new (...args: never[]) => Error; file: string; problem: RegExp },
): Promise<void> {
  await withTempDir(async (root) => {
    const dir = join(root, "sae");
    await saveSAE(topkSAE(), dir, META);
    await mutate(dir);
    await assert.rejects(loadSAEFolder(dir), (error: Error) => {
      assert.ok(
        error instanceof (expected.type ?? SAEFolderError),
        `${error.name}: ${error.message}`,
      );
      assert.ok(
        error.message.startsWith(join(dir, expected.file).replace(/\/$/, "")),
        error.message,
      );
      assert.match(error.message, expected.problem);
      return true;
    });
  });
}

async function editCfg(dir: string, edit: (cfg: Record<string, unknown>) => void): Promise<void> {
  const cfg = await readCfg(dir);
  edit(cfg);
  await Deno.writeTextFile(join(dir, "cfg.json"), JSON.stringify(cfg));
}

Deno.test("malformed folders give errors naming the file and the problem", async () => {
  await assertLoadError((dir) => Deno.remove(dir, { recursive: true }), {
    file: "",
    problem: /missing SAE folder/,
  });
  await assertLoadError((dir) => Deno.remove(join(dir, "cfg.json")), {
    file: "cfg.json",
    problem: /missing cfg\.json/,
  });
  await assertLoadError((dir) => Deno.writeTextFile(join(dir, "cfg.json"), "{not json"), {
    file: "cfg.json",
    problem: /not valid JSON/,
  });
  await assertLoadError((dir) => editCfg(dir, (c) => (c.architecture = "crosscoder")), {
    file: "cfg.json",
    problem: /unknown architecture "crosscoder" \(known: standard, topk, jumprelu, gated\)/,
  });
  await assertLoadError(
    (dir) => editCfg(dir, (c) => ((c.gsae as BaseSAEConfig).architecture = "jumprelu")),
    {
      file: "cfg.json",
      problem: /gsae architecture "jumprelu" is saved as "jumprelu", but cfg.json says "topk"/,
    },
  );
  await assertLoadError((dir) => editCfg(dir, (c) => (c.d_sae = 0)), {
    file: "cfg.json",
    problem: /cfg\.json: d_sae: too small: expected number to be >0, got 0$/,
  });
  await assertLoadError((dir) => editCfg(dir, (c) => (c.hook_name = 7, c.prepend_bos = "no")), {
    file: "cfg.json",
    problem: /cfg\.json: hook_name: expected string, got number; prepend_bos: expected boolean/,
  });
  await assertLoadError((dir) => editCfg(dir, (c) => (c.gsae = [1])), {
    file: "cfg.json",
    problem: /cfg\.json: gsae: expected record, got array$/,
  });
  await assertLoadError((dir) => Deno.remove(join(dir, "sae_weights.safetensors")), {
    file: "sae_weights.safetensors",
    problem: /missing sae_weights\.safetensors/,
  });
  const rewrite = (tensors: Record<string, number[]>) => async (dir: string) => {
    const entries = Object.entries(tensors).map(([name, shape]) => {
      const size = shape.reduce((a, b) => a * b, 1);
      return [name, { shape, data: new Float32Array(size).fill(1) }];
    });
    await writeSafetensors(join(dir, "sae_weights.safetensors"), Object.fromEntries(entries));
  };
  await assertLoadError(rewrite({ W_enc: [4, 6], W_dec: [6, 4], b_dec: [4] }), {
    type: SafetensorsError,
    file: "sae_weights.safetensors",
    problem: /missing tensor b_enc/,
  });
  await assertLoadError(rewrite({ W_enc: [4, 5], W_dec: [6, 4], b_enc: [6], b_dec: [4] }), {
    file: "sae_weights.safetensors",
    problem: /tensor W_enc has shape \[4,5\], expected \[4,6\] for d_in=4, d_sae=6/,
  });
});

Deno.test("saved SAEs carry a checksum: a damaged or non-finite file is refused with a remedy", async () => {
  const flip = (offsetFromEnd: number, mask: number) => async (dir: string) => {
    const path = join(dir, "sae_weights.safetensors");
    const bytes = await Deno.readFile(path);
    bytes[bytes.length - offsetFromEnd] ^= mask;
    await Deno.writeFile(path, bytes);
  };
  await assertLoadError(flip(5, 0x01), {
    type: SafetensorsError,
    file: "sae_weights.safetensors",
    problem: /checksum mismatch.*delete .* and train it again \(deno task train-sae/,
  });
  // A decoder row overwritten with 1e6 but re-sealed (as a buggy writer would) is finite and
  // loads; the same row as NaN is refused, naming the tensor.
  const setDecoder = (value: number) => async (dir: string) => {
    const path = join(dir, "sae_weights.safetensors");
    const file = await readSafetensors(path);
    const tensors = Object.fromEntries(
      [...file.tensors].map(([n, t]) => [n, { shape: t.shape, data: t.data }]),
    );
    (tensors.W_dec.data as Float32Array).fill(value, 4, 8);
    await writeSafetensors(path, tensors);
  };
  await assertLoadError(setDecoder(NaN), {
    type: SafetensorsError,
    file: "sae_weights.safetensors",
    problem: /tensor "W_dec" holds NaN at index 4 \(flat index into shape \[6,4\]\)/,
  });
});

Deno.test("a JumpReLU threshold that is not positive cannot become log_threshold", async () => {
  await withTempDir(async (dir) => {
    const sae = new TinySAE({ architecture: "jumprelu", d_in: 2, d_sae: 2, seed: 0 }, {
      log_threshold: new Float32Array([0, 0]),
    });
    await saveSAE(sae, dir, META);
    const file = await readSafetensors(join(dir, "sae_weights.safetensors"));
    const tensors = Object.fromEntries(
      [...file.tensors].map(([n, t]) => [n, { shape: t.shape, data: t.data }]),
    );
    tensors.threshold.data = new Float32Array([0.5, 0]);
    await writeSafetensors(join(dir, "sae_weights.safetensors"), tensors);
    await assert.rejects(loadSAEFolder(dir), /threshold\[1\] = 0: log_threshold needs θ > 0/);
  });
});
