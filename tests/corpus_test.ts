import assert from "node:assert/strict";
import { join } from "node:path";
import {
  CORPUS_NAME,
  loadCorpus,
  unigramEntropy,
  VALIDATION_FROM_YEAR,
} from "../lib/data/corpus.ts";
import { GPT2_EOT_ID } from "../lib/data/tokenizer.ts";

Deno.test("unigramEntropy is ln(n) for a uniform sequence and 0 for a constant one", () => {
  const n = 37;
  const ids = Array.from({ length: 5 * n }, (_, i) => i % n);
  assert.ok(Math.abs(unigramEntropy(ids, n) - Math.log(n)) < 1e-12);
  assert.ok(Math.abs(unigramEntropy(new Uint16Array(ids), 1000) - Math.log(n)) < 1e-12);
  assert.equal(unigramEntropy([4, 4, 4], 5), 0);
  assert.ok(
    Math.abs(unigramEntropy([0, 0, 0, 1], 2) - (-0.75 * Math.log(0.75) - 0.25 * Math.log(0.25))) <
      1e-12,
  );
  assert.throws(() => unigramEntropy([], 5), RangeError);
  assert.throws(() => unigramEntropy([5], 5), RangeError);
});

Deno.test("loadCorpus builds, caches, verifies and rebuilds damaged caches", async (t) => {
  const cacheDir = await Deno.makeTempDir({ prefix: "gsae_corpus_test_" });
  const dir = join(cacheDir, CORPUS_NAME);
  let logs: string[] = [];
  const log = (msg: string) => logs.push(msg);
  try {
    let t0 = performance.now();
    const first = await loadCorpus({ cacheDir, log });
    const buildMs = performance.now() - t0;
    console.log(`corpus build: ${(buildMs / 1000).toFixed(2)} s`);
    const { train, val, manifest } = first;

    await t.step("splits and manifest", () => {
      const total = train.length + val.length;
      assert.ok(total > 1_900_000, `total ${total}`);
      const valFraction = val.length / total;
      assert.ok(valFraction > 0.05 && valFraction < 0.08, `val fraction ${valFraction}`);
      assert.equal(manifest.splits.train.addresses + manifest.splits.val.addresses, 233);
      assert.ok(manifest.splits.train.years.every((y) => y < VALIDATION_FROM_YEAR));
      assert.ok(manifest.splits.val.years.every((y) => y >= VALIDATION_FROM_YEAR));
      assert.equal(manifest.splits.train.tokens, train.length);
      assert.equal(manifest.splits.val.bytes, 2 * val.length);
      assert.match(manifest.splits.val.sha256, /^[0-9a-f]{64}$/);
      // Every address is followed by exactly one separator.
      assert.equal(
        train.filter((id) => id === GPT2_EOT_ID).length,
        manifest.splits.train.addresses,
      );
      assert.equal(val[val.length - 1], GPT2_EOT_ID);
      console.log(
        `train ${train.length} tokens sha256 ${manifest.splits.train.sha256}\n` +
          `val ${val.length} tokens sha256 ${manifest.splits.val.sha256} ` +
          `(${(100 * val.length / (train.length + val.length)).toFixed(2)} %)`,
      );
    });

    await t.step("files on disk are little-endian uint16", async () => {
      const bytes = await Deno.readFile(join(dir, "val.u16"));
      assert.equal(bytes.length, 2 * val.length);
      assert.equal(bytes[0] | (bytes[1] << 8), val[0]);
      const onDisk = JSON.parse(await Deno.readTextFile(join(dir, "manifest.json")));
      assert.deepEqual(onDisk, manifest);
    });

    await t.step("second load reads the cache", async () => {
      logs = [];
      t0 = performance.now();
      const second = await loadCorpus({ cacheDir, log });
      const readMs = performance.now() - t0;
      console.log(`corpus cached load: ${readMs.toFixed(0)} ms`);
      assert.ok(logs.some((m) => m.includes("using cache")), logs.join("\n"));
      assert.ok(!logs.some((m) => m.includes("building")), logs.join("\n"));
      assert.ok(readMs < buildMs, `cached ${readMs} ms vs build ${buildMs} ms`);
      assert.deepEqual(second, first);
    });

    await t.step("GSAE_CACHE_DIR locates the cache when no cacheDir is given", async () => {
      const envRoot = await Deno.makeTempDir({ prefix: "gsae_cache_env_" });
      const before = Deno.env.get("GSAE_CACHE_DIR");
      try {
        // <GSAE_CACHE_DIR>/corpus links to the cache built above, so no rebuild is needed.
        await Deno.symlink(cacheDir, join(envRoot, "corpus"));
        Deno.env.set("GSAE_CACHE_DIR", envRoot);
        logs = [];
        assert.deepEqual(await loadCorpus({ log }), first);
        assert.ok(
          logs.some((m) => m.includes(`using cache ${join(envRoot, "corpus")}`)),
          logs.join("\n"),
        );
      } finally {
        if (before === undefined) Deno.env.delete("GSAE_CACHE_DIR");
        else Deno.env.set("GSAE_CACHE_DIR", before);
        await Deno.remove(envRoot, { recursive: true });
      }
    });

    await t.step("a truncated file is rebuilt with a warning", async () => {
      const path = join(dir, "train.u16");
      const file = await Deno.open(path, { write: true });
      await file.truncate(1000);
      file.close();
      logs = [];
      const again = await loadCorpus({ cacheDir, log });
      const warning = logs.find((m) => m.startsWith("warning:"));
      assert.ok(warning?.includes(path) && warning.includes("1000 bytes"), logs.join("\n"));
      assert.ok(logs.some((m) => m.includes("building")));
      assert.deepEqual(again, first);
      assert.equal((await Deno.stat(path)).size, 2 * train.length);
    });

    await t.step("a flipped byte is rebuilt with a warning", async () => {
      const path = join(dir, "val.u16");
      const bytes = await Deno.readFile(path);
      bytes[12345] ^= 0x01;
      await Deno.writeFile(path, bytes);
      logs = [];
      const again = await loadCorpus({ cacheDir, log });
      const warning = logs.find((m) => m.startsWith("warning:"));
      assert.ok(warning?.includes(path) && warning.includes("SHA-256"), logs.join("\n"));
      assert.deepEqual(again, first);
    });

    await t.step("an unparsable manifest is rebuilt with a warning", async () => {
      const path = join(dir, "manifest.json");
      await Deno.writeTextFile(path, '{"format": "gsae-corpus/1", ');
      logs = [];
      const again = await loadCorpus({ cacheDir, log });
      assert.ok(logs.some((m) => m.startsWith("warning:") && m.includes(path)), logs.join("\n"));
      assert.deepEqual(again, first);
      logs = [];
      await loadCorpus({ cacheDir, log });
      assert.ok(logs.some((m) => m.includes("using cache")));
    });

    await t.step("a manifest with a bad field is rebuilt with a warning naming it", async () => {
      const path = join(dir, "manifest.json");
      const manifest = JSON.parse(await Deno.readTextFile(path));
      manifest.splits.val.tokens = "many";
      await Deno.writeTextFile(path, JSON.stringify(manifest));
      logs = [];
      const again = await loadCorpus({ cacheDir, log });
      const warning = logs.find((m) => m.startsWith("warning:"));
      assert.match(
        warning ?? "",
        /manifest\.json: splits\.val\.tokens: expected number, got string/,
      );
      assert.deepEqual(again, first);
    });
  } finally {
    await Deno.remove(cacheDir, { recursive: true });
  }
});
