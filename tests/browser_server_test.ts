/**
 * The browser's server on loopback with a tiny model: static files, data, 4xx with a message for
 * malformed requests, body and prompt limits, path traversal (raw HTTP, since fetch normalises
 * paths), a symlink out of the app folder, and a bounded load test: 1,000 prompt requests, 50 at a
 * time, each answered 200 or refused 503, memory bounded, the server still up.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { initBackend } from "../lib/tensor/backend.ts";
import { openBrowser } from "../lib/browser/inline.ts";
import { browserHandler, startBrowserServer, staticPath } from "../lib/browser/server.ts";
import { APP_DIR, siteDataFiles } from "../lib/browser/site.ts";
import { createSAE, disposeSAE } from "../lib/sae/mod.ts";
import { tinyWorkspace } from "./fixtures/tiny_workspace.ts";

await initBackend();
const ws = tinyWorkspace();

async function tinyBrowser(cacheDir: string) {
  const saes = [
    {
      name: "g",
      sae: createSAE({ architecture: "gsae", d_in: 16, d_sae: 64, k: 4, seed: 0, beta: 4 }),
      hook: ws.hook,
      description: "test g-SAE",
    },
  ];
  const browser = await openBrowser(ws, saes, { tokens: 100, cacheDir, log: () => {} });
  return { saes, data: siteDataFiles(browser.site) };
}

/** One raw HTTP/1.1 request (the path sent exactly as given); returns status line and body. */
async function rawGet(port: number, path: string): Promise<{ status: number; body: string }> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    await conn.write(
      new TextEncoder().encode(
        `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`,
      ),
    );
    const chunks: Uint8Array[] = [];
    const buf = new Uint8Array(65536);
    for (;;) {
      const n = await conn.read(buf);
      if (n === null) break;
      chunks.push(buf.slice(0, n));
    }
    const text = new TextDecoder().decode(
      chunks.reduce((a, b) => new Uint8Array([...a, ...b]), new Uint8Array()),
    );
    return { status: Number(text.split(" ")[1]), body: text.slice(text.indexOf("\r\n\r\n") + 4) };
  } finally {
    try {
      conn.close();
    } catch { /* closed by the server */ }
  }
}

Deno.test("staticPath: only files inside the root", () => {
  assert.equal(staticPath("/srv/app", "/app.js"), "/srv/app/app.js");
  assert.equal(staticPath("/srv/app", "/../x"), 403);
  assert.equal(staticPath("/srv/app", "/%2e%2e/x"), 403);
  assert.equal(staticPath("/srv/app", "/a/..%2f..%2fx"), 403);
  assert.equal(staticPath("/srv/app", "/%E0%A4%A"), 400);
  assert.equal(staticPath("/srv/app", "/a%5c..%5cx"), 400);
  assert.equal(staticPath("/srv/app", "/a%00.js"), 400);
});

Deno.test("server: pages, data, limits and 4xx with a message", async () => {
  const cacheDir = await Deno.makeTempDir({ prefix: "gsae_browser_server_" });
  const { saes, data } = await tinyBrowser(cacheDir);
  const { handler } = browserHandler({
    ws,
    saes,
    data,
    limits: { maxBodyBytes: 1000, maxPromptChars: 100 },
  });
  const call = async (path: string, init: RequestInit = {}) => {
    const res = await handler(new Request(`http://127.0.0.1${path}`, init));
    const type = res.headers.get("content-type") ?? "";
    return { status: res.status, type, body: await res.text() };
  };
  const post = (body: string, type = "application/json") =>
    call("/api/prompt", { method: "POST", body, headers: { "content-type": type } });
  try {
    const index = await call("/");
    assert.equal(index.status, 200);
    assert.ok(index.body.includes("app/app.js") && index.type.startsWith("text/html"));
    assert.equal((await call("/app/render.js")).status, 200);
    assert.ok((await call("/data/saes.js")).body.startsWith('GSAE.register("saes"'));
    assert.equal((await call("/data/g/latents_0.js")).status, 200);
    for (
      const [path, init, status, message] of [
        ["/nope", {}, 404, /no such page/],
        ["/app/missing.js", {}, 404, /no such file/],
        ["/app/README.md", {}, 404, /no such file/],
        ["/data/g/latents_9.js", {}, 404, /no such data file/],
        ["/api/prompt", {}, 405, /POST/],
        ["/", { method: "DELETE" }, 405, /DELETE/],
      ] as const
    ) {
      const r = await call(path, init);
      assert.equal(r.status, status, path);
      assert.match(JSON.parse(r.body).error, message);
    }
    const bad: [string, string, number, RegExp][] = [
      ["{", "application/json", 400, /malformed JSON/],
      ["[1]", "application/json", 400, /string field "text"/],
      ['{"text": 3}', "application/json", 400, /string field "text"/],
      ['{"text": "abc", "saes": ["zz"]}', "application/json", 400, /unknown SAE zz; known: g/],
      ["text=abc", "application/x-www-form-urlencoded", 415, /JSON/],
      [JSON.stringify({ text: "a".repeat(2000) }), "application/json", 413, /over 1000 bytes/],
      [JSON.stringify({ text: "a".repeat(101) }), "application/json", 413, /limit is 100/],
      [JSON.stringify({ text: "a".repeat(40) }), "application/json", 422, /context is 16/],
      [JSON.stringify({ text: "a" }), "application/json", 422, /at least two tokens/],
    ];
    for (const [body, type, status, message] of bad) {
      const r = await post(body, type);
      assert.equal(r.status, status, body.slice(0, 40));
      assert.match(JSON.parse(r.body).error, message);
    }
    const ok = await post(JSON.stringify({ text: "the union", saes: ["g"] }));
    assert.equal(ok.status, 200);
    const result = JSON.parse(ok.body);
    assert.equal(result.tokens.length, 9);
    assert.equal(result.saes[0].name, "g");
    // Busy: with room for 2 pending prompts, 10 at once get 2 answers and 8 refusals.
    const busy = browserHandler({ ws, saes, data, limits: { maxPending: 2 } });
    const many = await Promise.all(Array.from({ length: 10 }, () =>
      busy.handler(
        new Request("http://127.0.0.1/api/prompt", {
          method: "POST",
          body: JSON.stringify({ text: "the union" }),
          headers: { "content-type": "application/json" },
        }),
      )));
    const counts = many.map((r) => r.status).sort();
    assert.deepEqual(counts, [200, 200, 503, 503, 503, 503, 503, 503, 503, 503]);
    const refused = many.find((r) => r.status === 503)!;
    assert.equal(refused.headers.get("retry-after"), "1");
    assert.match((await refused.json()).error, /busy/);
    assert.deepEqual([busy.stats.prompts, busy.stats.refused, busy.stats.pending], [2, 8, 0]);
  } finally {
    for (const s of saes) disposeSAE(s.sae);
    await Deno.remove(cacheDir, { recursive: true });
  }
});

Deno.test("server: no path traversal out of the app folder (raw HTTP, symlink)", async () => {
  const cacheDir = await Deno.makeTempDir({ prefix: "gsae_browser_trav_" });
  const appDir = await Deno.makeTempDir({ prefix: "gsae_browser_app_" });
  for (const f of ["index.html", "app.js", "render.js", "style.css"]) {
    await Deno.copyFile(join(APP_DIR, f), join(appDir, f));
  }
  const secret = join(cacheDir, "secret.js");
  await Deno.writeTextFile(secret, "SECRET");
  await Deno.symlink(secret, join(appDir, "link.js"));
  const { saes, data } = await tinyBrowser(cacheDir);
  const server = startBrowserServer({ ws, saes, data, appDir }, { port: 0 });
  try {
    const port = Number(new URL(server.url).port);
    assert.equal((await rawGet(port, "/app/app.js")).status, 200);
    for (
      const path of [
        "/app/../../../../etc/passwd",
        "/app/..%2f..%2f..%2fdeno.json",
        "/app/%2e%2e/%2e%2e/deno.json",
        "/app/%2e%2e%2f%2e%2e%2fdeno.json",
        "/app/..%5c..%5cdeno.json",
        "/app//etc/passwd",
        "/app/link.js",
        "/data/../deno.json",
        "/../../etc/passwd",
      ]
    ) {
      const r = await rawGet(port, path);
      assert.ok(r.status >= 400 && r.status < 500, `${path}: ${r.status}`);
      assert.ok(!r.body.includes("SECRET") && !r.body.includes("root:"), `${path} leaked`);
    }
  } finally {
    await server.shutdown();
    for (const s of saes) disposeSAE(s.sae);
    await Deno.remove(cacheDir, { recursive: true });
    await Deno.remove(appDir, { recursive: true });
  }
});

Deno.test("server: 1,000 prompt requests, 50 at a time: each answered or refused cleanly", async () => {
  const cacheDir = await Deno.makeTempDir({ prefix: "gsae_browser_load_" });
  const { saes, data } = await tinyBrowser(cacheDir);
  const server = startBrowserServer({ ws, saes, data, limits: { maxPending: 8 } }, { port: 0 });
  const statuses = new Map<number, number>();
  const rss0 = Deno.memoryUsage().rss;
  let rssMax = rss0;
  try {
    let next = 0;
    const worker = async () => {
      while (next < 1000) {
        const i = next++;
        const res = await fetch(`${server.url}api/prompt`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ text: `the union ${i % 97}` }),
        });
        const body = await res.json();
        assert.ok(res.status === 200 ? Array.isArray(body.tokens) : typeof body.error === "string");
        statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
        rssMax = Math.max(rssMax, Deno.memoryUsage().rss);
      }
    };
    await Promise.all(Array.from({ length: 50 }, worker));
    const answered = [...statuses.values()].reduce((a, b) => a + b, 0);
    assert.equal(answered, 1000);
    assert.deepEqual([...statuses.keys()].filter((s) => s !== 200 && s !== 503), []);
    assert.ok((statuses.get(200) ?? 0) > 0, "some prompts were answered");
    assert.equal(server.stats.prompts, statuses.get(200));
    assert.equal(server.stats.refused, statuses.get(503) ?? 0);
    assert.ok(server.stats.maxPendingSeen <= 8);
    assert.equal(server.stats.pending, 0);
    const growth = (rssMax - rss0) / 2 ** 20;
    assert.ok(growth < 300, `memory grew ${growth.toFixed(0)} MiB`);
    const health = await fetch(`${server.url}api/health`);
    assert.equal(health.status, 200, "still up");
    await health.body?.cancel();
    console.log(
      `load: 200 × ${statuses.get(200)}, 503 × ${statuses.get(503) ?? 0}, ` +
        `RSS +${growth.toFixed(0)} MiB`,
    );
  } finally {
    await server.shutdown();
    for (const s of saes) disposeSAE(s.sae);
    await Deno.remove(cacheDir, { recursive: true });
  }
});
