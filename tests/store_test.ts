import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { join } from "node:path";
import { initBackend } from "../lib/tensor/backend.ts";
import { REPO_ROOT } from "../lib/gpt2/embedded_models.ts";
import { GPT2 } from "../lib/gpt2/model.ts";
import type { GPT2Config } from "../lib/gpt2/config.ts";
import { windows } from "../lib/data/windows.ts";
import { Rng } from "../lib/tensor/random.ts";
import {
  buildStore,
  type BuildStoreOptions,
  measureStoreThroughput,
  openStore,
  storeDirFor,
  StoreError,
} from "../lib/store/mod.ts";
import { TINY_CONFIG } from "./fixtures/tiny_workspace.ts";

await initBackend();

const CONFIG: GPT2Config = TINY_CONFIG;
const model = GPT2.random(CONFIG, 7);
const HOOK = "blocks.0.hook_resid_post";
// 10 sequences of 16 (15 stored tokens each), 3 sequences per chunk → 4 chunks, the last of 1.
const BASE = { hook: HOOK, tokens: 150, modelId: "random-7", chunkTokens: 45, batchSequences: 2 };
const data = randomIds(16 * 12 + 5, 3);
const quiet = { log: () => {} };

function randomIds(n: number, seed: number): Int32Array {
  const rng = new Rng(seed);
  return Int32Array.from({ length: n }, () => rng.int(CONFIG.vocab_size));
}

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "gsae_store_test_" });
  try {
    await fn(join(dir, "store"));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

function build(dir: string, extra: Partial<BuildStoreOptions> = {}) {
  return buildStore(model, data, { dir, ...BASE, ...quiet, ...extra });
}

function assertClose(a: Float32Array, b: Float32Array, what: string, tol = 1e-5): void {
  assert.equal(a.length, b.length, `${what}: length`);
  let worst = 0, scale = 0;
  for (let i = 0; i < a.length; i++) {
    worst = Math.max(worst, Math.abs(a[i] - b[i]));
    scale = Math.max(scale, Math.abs(b[i]));
  }
  assert.ok(worst <= tol * Math.max(scale, 1e-12), `${what}: max diff ${worst}, scale ${scale}`);
}

Deno.test("store round trip matches gradAtHook on the same sequences", async () => {
  await withDir(async (dir) => {
    const manifest = await build(dir, { split: "train", createdBy: "test" });
    assert.equal(manifest.complete, true);
    assert.equal(manifest.chunks.length, 4);
    assert.deepEqual(manifest.chunks.map((c) => c.tokens), [45, 45, 45, 15]);
    assert.equal(manifest.total_tokens, 150);
    assert.equal(manifest.d, 16);
    assert.equal(manifest.seq_len, 16);
    assert.equal(manifest.source.split, "train");

    const store = await openStore(dir);
    const all = await store.loadAll();
    const offsets = Array.from({ length: 10 }, (_, i) => i * 16);
    const ids = windows(data, offsets, 16);
    const ref = model.gradAtHook(ids, HOOK);
    // Reference rows: every position but the last of each sequence.
    const drop = (t: tf.Tensor3D) => t.slice([0, 0, 0], [10, 15, 16]).dataSync() as Float32Array;
    assertClose(all.x, drop(ref.activation), "x");
    assertClose(all.grad, drop(ref.gradient), "grad", 1e-4);
    assertClose(all.loss, ref.losses.dataSync() as Float32Array, "loss");
    tf.dispose([ids, ref.activation, ref.gradient, ref.losses]);
    for (let r = 0; r < 150; r++) {
      const [s, p] = [Math.floor(r / 15), r % 15];
      assert.equal(all.ids[r], data[s * 16 + p]);
      assert.equal(all.target[r], data[s * 16 + p + 1]);
      assert.equal(all.position[r], p);
      assert.equal(all.sequence[r], s);
    }
    // Position 0 feeds every later loss, so its gradient is non-zero.
    assert.ok(all.grad.subarray(0, 16).some((v) => v !== 0));
    assert.ok(all.grad.every(Number.isFinite));

    const chunk2 = await store.readChunk(2);
    assert.equal(chunk2.n, 45);
    assert.deepEqual(chunk2.x, all.x.slice(90 * 16, 135 * 16));
    assert.deepEqual(chunk2.sequence, all.sequence.slice(90, 135));

    // A second build of a complete store reuses it.
    const again = await build(dir, { split: "train" });
    assert.deepEqual(again, manifest);
  });
});

Deno.test("an interrupted build resumes to the same files as an uninterrupted one", async () => {
  await withDir(async (whole) => {
    const full = await build(whole);
    await withDir(async (dir) => {
      const first = await build(dir, { stopAfterChunks: 1 });
      assert.equal(first.complete, false);
      assert.equal(first.chunks.length, 1);
      await assert.rejects(openStore(dir), /incomplete.*resume/);
      // A crash after a chunk was written but before the manifest listed it, plus a temp file.
      await Deno.writeTextFile(join(dir, "chunk-00001.safetensors"), "half-written");
      await Deno.writeTextFile(join(dir, "chunk-00002.safetensors.tmp-1-abcd"), "junk");
      assert.equal((await build(dir, { stopAfterChunks: 1 })).chunks.length, 2);
      // A listed chunk damaged later is rewritten on resume.
      const logs: string[] = [];
      await Deno.writeTextFile(join(dir, "chunk-00001.safetensors"), "x", { append: true });
      const done = await build(dir, { log: (line) => logs.push(line) });
      assert.ok(logs.some((l) => /chunk-00001.*rewriting/.test(l)), logs.join("\n"));
      assert.equal(done.complete, true);
      assert.deepEqual(done.chunks, full.chunks);
      for (const c of full.chunks) {
        assert.deepEqual(
          await Deno.readFile(join(dir, c.file)),
          await Deno.readFile(join(whole, c.file)),
        );
      }
      const names = [...Deno.readDirSync(dir)].map((e) => e.name).sort();
      assert.deepEqual(names, [
        "chunk-00000.safetensors",
        "chunk-00001.safetensors",
        "chunk-00002.safetensors",
        "chunk-00003.safetensors",
        "manifest.json",
      ]);
    });
  });
});

Deno.test("corrupt chunks are reported with the file name", async () => {
  await withDir(async (dir) => {
    await build(dir);
    const path = join(dir, "chunk-00001.safetensors");
    const bytes = await Deno.readFile(path);
    const good = bytes.slice();
    bytes[bytes.length - 100] ^= 0x01;
    await Deno.writeFile(path, bytes);
    const store = await openStore(dir); // sizes match: hashes are checked when reading
    await store.readChunk(0);
    await assert.rejects(store.readChunk(1), (e: Error) => {
      assert.ok(e instanceof StoreError);
      assert.match(e.message, /chunk-00001\.safetensors.*checksum mismatch.*--force/);
      return true;
    });
    await assert.rejects(store.loadAll(), /chunk-00001\.safetensors.*checksum mismatch/);

    await Deno.writeFile(path, good.subarray(0, good.length - 64));
    await assert.rejects(store.readChunk(1), /chunk-00001\.safetensors.*truncated.*--force/);
    await assert.rejects(openStore(dir), /chunk-00001\.safetensors.*truncated/);
    await Deno.remove(path);
    await assert.rejects(openStore(dir), /chunk-00001\.safetensors.*missing/);
    await assert.rejects(openStore(join(dir, "nowhere")), /no store here/);
  });
});

Deno.test("a store built with other settings is refused unless forced", async () => {
  await withDir(async (dir) => {
    await build(dir, { stopAfterChunks: 1 });
    await assert.rejects(build(dir, { hook: "blocks.1.hook_resid_post" }), (e: Error) => {
      assert.ok(e instanceof StoreError);
      assert.match(
        e.message,
        /other settings.*hook: stored "blocks\.0\.hook_resid_post", requested "blocks\.1\.hook_resid_post".*--force/,
      );
      return true;
    });
    await assert.rejects(build(dir, { modelId: "other" }), /model: stored/);
    await assert.rejects(
      buildStore(GPT2.random(CONFIG, 8), data, { dir, ...BASE, ...quiet }),
      /fingerprint/,
    );
    await assert.rejects(build(dir, { offset: 1 }), /source: stored/);
    const manifest = JSON.parse(await Deno.readTextFile(join(dir, "manifest.json")));
    manifest.chunks[0].bytes = "1024";
    await Deno.writeTextFile(join(dir, "manifest.json"), JSON.stringify(manifest));
    await assert.rejects(
      openStore(dir),
      /manifest\.json: chunks\[0\]\.bytes: expected number, got string; the store is corrupt/,
    );
    await Deno.writeTextFile(join(dir, "manifest.json"), "{ not json");
    await assert.rejects(build(dir), /manifest\.json: not valid JSON.*--force/);
    const rebuilt = await build(dir, { hook: "blocks.1.hook_resid_post", force: true });
    assert.equal(rebuilt.complete, true);
    assert.equal((await openStore(dir)).manifest.hook, "blocks.1.hook_resid_post");
  });
});

Deno.test("buildStore checks its inputs", async () => {
  await withDir(async (dir) => {
    await assert.rejects(
      build(dir, { tokens: 15 * 13 }),
      /13 windows of 16 = 208 data tokens.*has 197/,
    );
    await assert.rejects(build(dir, { hook: "blocks.9.hook_resid_post" }), /unknown hook/);
    await assert.rejects(build(dir, { seqLen: 17 }), /seqLen/);
    const bad = data.slice();
    bad[20] = 50;
    await assert.rejects(buildStore(model, bad, { dir, ...BASE, ...quiet }), /data\[20\] = 50/);
    // A shorter window and an odd budget: rounded up to whole sequences of 7 stored tokens.
    const m = await build(dir, { seqLen: 8, tokens: 20, offset: 3 });
    assert.equal(m.total_tokens, 21);
    const rows = await (await openStore(dir)).loadAll();
    assert.deepEqual([...rows.ids.slice(7, 10)], [...data.slice(3 + 8, 3 + 11)]);
  });
});

Deno.test("batches cover every token once per epoch, deterministically per seed", async () => {
  await withDir(async (dir) => {
    await build(dir);
    const store = await openStore(dir);
    const all = await store.loadAll();
    // x alone repeats (position 0 of two sequences starting with the same token); x + grad does not.
    const key = (x: Float32Array, g: Float32Array, r: number) =>
      [...x.slice(r * 16, r * 16 + 16), ...g.slice(r * 16, r * 16 + 16)].join(",");
    const rowOf = new Map(Array.from({ length: all.n }, (_, r) => [key(all.x, all.grad, r), r]));
    assert.equal(rowOf.size, 150);
    const run = async (seed: number) => {
      const order: number[] = [], sizes: number[] = [];
      for await (const b of store.batches({ batchSize: 7, seed, epochs: 2, bufferChunks: 2 })) {
        sizes.push(b.n);
        for (let i = 0; i < b.n; i++) {
          const r = rowOf.get(key(b.x, b.grad, i));
          assert.ok(r !== undefined, "a batch row that is not a store row");
          order.push(r);
        }
      }
      return { order, sizes };
    };
    const a = await run(1);
    const perEpoch = [...Array(21).fill(7), 3];
    assert.deepEqual(a.sizes, [...perEpoch, ...perEpoch]);
    for (const epoch of [a.order.slice(0, 150), a.order.slice(150)]) {
      assert.deepEqual([...epoch].sort((p, q) => p - q), Array.from({ length: 150 }, (_, i) => i));
    }
    assert.notDeepEqual(a.order.slice(0, 150), a.order.slice(150));
    assert.deepEqual(await run(1), a);
    assert.notDeepEqual((await run(2)).order, a.order);
    let dropped = 0;
    for await (const b of store.batches({ batchSize: 7, seed: 1, dropLast: true })) dropped += b.n;
    assert.equal(dropped, 147);
  });
});

Deno.test("storeDirFor follows GSAE_CACHE_DIR", () => {
  const old = Deno.env.get("GSAE_CACHE_DIR");
  try {
    Deno.env.delete("GSAE_CACHE_DIR");
    assert.equal(
      storeDirFor("gpt2", "blocks.7.hook_resid_post", "train", 1000),
      join(REPO_ROOT, ".cache", "stores", "gpt2", "blocks.7.hook_resid_post", "train-1000"),
    );
    Deno.env.set("GSAE_CACHE_DIR", "/tmp/cache");
    assert.equal(storeDirFor("org/model", "h", "val", 5), "/tmp/cache/stores/org_model/h/val-5");
  } finally {
    if (old === undefined) Deno.env.delete("GSAE_CACHE_DIR");
    else Deno.env.set("GSAE_CACHE_DIR", old);
  }
});

Deno.test("store throughput (d = 128, 4 layers, 4064 tokens)", async () => {
  const big = GPT2.random({
    ...CONFIG,
    vocab_size: 512,
    n_positions: 128,
    n_embd: 128,
    n_layer: 4,
    n_head: 4,
  }, 1);
  const ids = Int32Array.from(randomIds(128 * 40, 5), (v) => v * 10 % 512);
  await withDir(async (dir) => {
    const t = await measureStoreThroughput(big, ids, {
      dir,
      hook: "blocks.2.hook_resid_post",
      tokens: 127 * 32,
      modelId: "random-d128",
      chunkTokens: 1024,
      batchSequences: 16,
      batchSize: 512,
      ...quiet,
    });
    const rate = (v: number) => `${Math.round(v).toLocaleString("en-US")} tok/s`;
    console.log(
      `store throughput: ${t.tokens} tokens, d ${t.d}, ${(t.bytes / 2 ** 20).toFixed(1)} MiB | ` +
        `build ${rate(t.buildTokensPerSecond)} (compute ${rate(t.computeTokensPerSecond)}, ` +
        `write ${rate(t.writeTokensPerSecond)}) | readChunk ${rate(t.readTokensPerSecond)} | ` +
        `batches ${rate(t.batchesTokensPerSecond)}`,
    );
    assert.equal(t.tokens, 127 * 32);
    assert.ok(t.bytes > t.tokens * 128 * 8);
  });
  big.dispose();
});
