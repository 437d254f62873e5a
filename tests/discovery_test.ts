// Model discovery (folder, hub cache) and fetch-model against a local HTTP server that serves a
// small checkpoint the way the Hugging Face hub does (/<repo>/resolve/<rev>/<file>).
import assert from "node:assert/strict";
import { initBackend } from "../lib/tensor/backend.ts";
import { loadGPT2 } from "../lib/gpt2/checkpoint.ts";
import { resolveModel } from "../lib/gpt2/discovery.ts";
import { fetchModel } from "../lib/gpt2/fetch.ts";

await initBackend();
const MODEL_DIR = new URL("./fixtures/gpt2_ref/model/", import.meta.url).pathname;
const quiet = () => {};

/** Serve MODEL_DIR's files for repo `tiny/ref`; `corrupt` truncates the weights. */
function serve(options: { corrupt?: boolean } = {}) {
  const requests: string[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, async (req) => {
    const path = new URL(req.url).pathname;
    requests.push(path);
    const m = /^\/tiny\/ref\/resolve\/main\/(config\.json|model\.safetensors)$/.exec(path);
    if (!m) return new Response("not found", { status: 404 });
    let body = await Deno.readFile(`${MODEL_DIR}${m[1]}`);
    if (options.corrupt && m[1] === "model.safetensors") body = body.slice(0, 1000);
    return new Response(body, { headers: { "x-repo-commit": "0123abc" } });
  });
  const { port } = server.addr as Deno.NetAddr;
  return { server, requests, endpoint: `http://127.0.0.1:${port}` };
}

async function withHubCache<T>(fn: (hub: string) => Promise<T>): Promise<T> {
  const hub = await Deno.makeTempDir();
  const previous = Deno.env.get("HF_HUB_CACHE");
  Deno.env.set("HF_HUB_CACHE", hub);
  try {
    return await fn(hub);
  } finally {
    if (previous === undefined) Deno.env.delete("HF_HUB_CACHE");
    else Deno.env.set("HF_HUB_CACHE", previous);
    await Deno.remove(hub, { recursive: true });
  }
}

Deno.test("fetch-model downloads into the hub cache and discovery finds it by name", async () => {
  await withHubCache(async (hub) => {
    const { server, endpoint } = serve();
    try {
      const dir = await fetchModel("tiny/ref", { endpoint, log: quiet });
      assert.equal(dir, `${hub}/models--tiny--ref/snapshots/0123abc`);
      assert.equal(await Deno.readTextFile(`${hub}/models--tiny--ref/refs/main`), "0123abc");
      const resolved = await resolveModel("tiny/ref");
      assert.deepEqual(resolved, { dir, source: "hf-cache", name: "tiny/ref" });
      const { model } = await loadGPT2(resolved.dir);
      assert.equal(model.config.n_layer, 3);
    } finally {
      await server.shutdown();
    }
  });
});

Deno.test("a failed or corrupt download leaves no file that looks complete", async () => {
  await withHubCache(async (hub) => {
    const { server, endpoint } = serve({ corrupt: true });
    try {
      await assert.rejects(
        () => fetchModel("tiny/ref", { endpoint, log: quiet }),
        /model\.safetensors/,
      );
      await assert.rejects(() => fetchModel("tiny/missing", { endpoint, log: quiet }), /HTTP 404/);
      const files: string[] = [];
      for await (const e of Deno.readDir(`${hub}/models--tiny--ref/snapshots/0123abc`)) {
        files.push(e.name);
      }
      assert.deepEqual(files, ["config.json"]);
      await assert.rejects(() => resolveModel("tiny/ref"), /not found/);
    } finally {
      await server.shutdown();
    }
  });
});

Deno.test("discovery resolves folders and explains where it looked", async () => {
  const folder = await resolveModel(MODEL_DIR);
  assert.equal(folder.source, "folder");
  await withHubCache(async (hub) => {
    await assert.rejects(
      () => resolveModel("gpt2-medium"),
      (err: Error) => {
        assert.match(err.message, /model "gpt2-medium" not found/);
        assert.ok(err.message.includes(`${hub}/models--gpt2-medium/snapshots`));
        assert.ok(err.message.includes(`${hub}/models--openai-community--gpt2-medium/snapshots`));
        assert.match(err.message, /deno task fetch-model gpt2-medium/);
        return true;
      },
    );
  });
});

Deno.test("a folder without model.safetensors is named, not sent to fetch-model", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.copyFile(`${MODEL_DIR}/config.json`, `${dir}/config.json`);
    await assert.rejects(
      () => resolveModel(dir),
      (err: Error) => {
        assert.equal(
          err.message,
          `model folder ${dir} has no ${dir}/model.safetensors; a GPT-2 checkpoint folder ` +
            `needs config.json and model.safetensors (Hugging Face layout)`,
        );
        return true;
      },
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
