import assert from "node:assert/strict";
import {
  makeTempPath,
  readTextIfExists,
  writeDirAtomic,
  writeFileAtomic,
  writeJsonAtomic,
} from "../lib/io/atomic_write.ts";

/** Runs `body` with a fresh temporary directory that is removed afterwards. */
async function withTempDir(body: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "atomic_write_test_" });
  try {
    await body(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** Names of entries in `dir`, sorted. */
async function listDir(dir: string): Promise<string[]> {
  const names: string[] = [];
  for await (const entry of Deno.readDir(dir)) names.push(entry.name);
  return names.sort();
}

Deno.test("makeTempPath makes distinct sibling names", () => {
  const a = makeTempPath("out/x.json");
  const b = makeTempPath("out/x.json");
  assert.match(a, new RegExp(`^out/x\\.json\\.tmp-${Deno.pid}-[0-9a-f]{8}$`));
  assert.notEqual(a, b);
  assert.match(makeTempPath("d", { tag: "old" }), /^d\.old-/);
});

Deno.test("writeFileAtomic creates parents, writes, overwrites and leaves no temp files", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/a/b/file.bin`;
    await writeFileAtomic(path, new Uint8Array([1, 2, 3]));
    assert.deepEqual(await Deno.readFile(path), new Uint8Array([1, 2, 3]));
    await writeFileAtomic(path, "héllo");
    assert.equal(await Deno.readTextFile(path), "héllo");
    assert.deepEqual(await listDir(`${dir}/a/b`), ["file.bin"]);
  });
});

Deno.test("writeFileAtomic writes large data completely", async () => {
  await withTempDir(async (dir) => {
    const data = new Uint8Array(3_000_000).map((_, i) => i % 251);
    await writeFileAtomic(`${dir}/big`, data);
    assert.deepEqual(await Deno.readFile(`${dir}/big`), data);
  });
});

Deno.test("writeFileAtomic fails when the parent is a file and leaves no temp file", async () => {
  await withTempDir(async (dir) => {
    await Deno.writeTextFile(`${dir}/blocker`, "x");
    await assert.rejects(writeFileAtomic(`${dir}/blocker/file.txt`, "data"));
    assert.deepEqual(await listDir(dir), ["blocker"]);
  });
});

Deno.test("writeFileAtomic cleans up its temp file when the rename fails", async () => {
  await withTempDir(async (dir) => {
    // Renaming a file over a non-empty directory fails after the temp file is written.
    await Deno.mkdir(`${dir}/target/inside`, { recursive: true });
    await assert.rejects(writeFileAtomic(`${dir}/target`, "data"));
    assert.deepEqual(await listDir(dir), ["target"]);
    assert.deepEqual(await listDir(`${dir}/target`), ["inside"]);
  });
});

Deno.test("writeJsonAtomic writes pretty JSON with a trailing newline", async () => {
  await withTempDir(async (dir) => {
    await writeJsonAtomic(`${dir}/v.json`, { a: 1, b: [true] });
    assert.equal(
      await Deno.readTextFile(`${dir}/v.json`),
      '{\n  "a": 1,\n  "b": [\n    true\n  ]\n}\n',
    );
    await assert.rejects(writeJsonAtomic(`${dir}/u.json`, undefined), TypeError);
    assert.deepEqual(await listDir(dir), ["v.json"]);
  });
});

Deno.test("writeDirAtomic creates a directory with nested files", async () => {
  await withTempDir(async (dir) => {
    await writeDirAtomic(`${dir}/ckpt`, { "a.txt": "A", "sub/b.bin": new Uint8Array([9]) });
    assert.deepEqual(await listDir(dir), ["ckpt"]);
    assert.deepEqual(await listDir(`${dir}/ckpt`), ["a.txt", "sub"]);
    assert.equal(await Deno.readTextFile(`${dir}/ckpt/a.txt`), "A");
    assert.deepEqual(await Deno.readFile(`${dir}/ckpt/sub/b.bin`), new Uint8Array([9]));
  });
});

Deno.test("writeDirAtomic replaces an existing directory and leaves no siblings", async () => {
  await withTempDir(async (dir) => {
    await writeDirAtomic(`${dir}/ckpt/`, { "old.txt": "old", "keep/deep.txt": "x" });
    await writeDirAtomic(`${dir}/ckpt`, { "new.txt": "new" });
    assert.deepEqual(await listDir(dir), ["ckpt"]);
    assert.deepEqual(await listDir(`${dir}/ckpt`), ["new.txt"]);
    assert.equal(await Deno.readTextFile(`${dir}/ckpt/new.txt`), "new");
  });
});

Deno.test("writeDirAtomic rejects escaping names and leaves the old directory intact", async () => {
  await withTempDir(async (dir) => {
    await writeDirAtomic(`${dir}/ckpt`, { "a.txt": "A" });
    for (const name of ["../evil", "/abs", "", ".", "sub/"]) {
      await assert.rejects(writeDirAtomic(`${dir}/ckpt`, { [name]: "x" }), TypeError, name);
    }
    assert.deepEqual(await listDir(dir), ["ckpt"]);
    assert.deepEqual(await listDir(`${dir}/ckpt`), ["a.txt"]);
  });
});

Deno.test("writeDirAtomic removes its temp dir when a file write fails", async () => {
  await withTempDir(async (dir) => {
    await writeDirAtomic(`${dir}/ckpt`, { "a.txt": "A" });
    // "x" is a file, so "x/y" cannot be created inside the temp directory.
    await assert.rejects(writeDirAtomic(`${dir}/ckpt`, { x: "1", "x/y": "2" }));
    assert.deepEqual(await listDir(dir), ["ckpt"]);
    assert.equal(await Deno.readTextFile(`${dir}/ckpt/a.txt`), "A");
  });
});

Deno.test("readTextIfExists: text, null when absent, other errors thrown", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/a.txt`, "hello");
    assert.equal(await readTextIfExists(`${dir}/a.txt`), "hello");
    assert.equal(await readTextIfExists(`${dir}/missing.txt`), null);
    await assert.rejects(() => readTextIfExists(dir)); // a directory is not a file
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
