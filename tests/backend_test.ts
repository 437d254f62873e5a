import assert from "node:assert/strict";
import { initBackend } from "../lib/tensor/backend.ts";

// The first initBackend call of this module's process decides; GSAE_BACKEND would force one.
Deno.test({
  name: "initBackend: a caller with synchronous reads is never given webgpu automatically",
  ignore: (Deno.env.get("GSAE_BACKEND") ?? "") !== "",
  async fn() {
    const info = await initBackend({ syncReads: true });
    assert.notEqual(info.name, "webgpu");
    const webgpu = info.skipped.find((s) => s.startsWith("webgpu: "));
    assert.ok(webgpu, `webgpu is among the skipped: ${info.skipped.join("; ")}`);
    assert.match(webgpu, /reads tensors synchronously/);
  },
});
