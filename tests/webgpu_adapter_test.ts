import assert from "node:assert/strict";
import { describeAdapter, isSoftwareAdapter } from "../lib/tensor/webgpu_adapter.ts";

Deno.test("isSoftwareAdapter: llvmpipe as Deno reports it, and by name or vendor alone", () => {
  // What Deno 2.9.6 reports on this project's GPU-less machine.
  const llvmpipe = {
    vendor: "65541",
    architecture: "",
    device: "0",
    description: "llvmpipe (LLVM 15.0.6, 256 bits)",
    isFallbackAdapter: true,
  };
  assert.ok(isSoftwareAdapter(llvmpipe));
  assert.ok(isSoftwareAdapter({ ...llvmpipe, isFallbackAdapter: undefined }));
  assert.ok(isSoftwareAdapter({ ...llvmpipe, isFallbackAdapter: false, description: "" }));
  assert.ok(isSoftwareAdapter({ vendor: "6880", description: "Google SwiftShader" }));
  assert.ok(isSoftwareAdapter({ vendor: "5140", description: "Microsoft Basic Render Driver" }));
});

Deno.test("isSoftwareAdapter: GPUs are not software", () => {
  assert.ok(!isSoftwareAdapter({ vendor: "4318", description: "NVIDIA H100 80GB HBM3" }));
  assert.ok(!isSoftwareAdapter({ vendor: "4098", description: "AMD Radeon RX 7900 XTX" }));
  assert.ok(!isSoftwareAdapter({ vendor: "apple", description: "Apple M2", architecture: "" }));
  assert.ok(!isSoftwareAdapter({}));
});

Deno.test("describeAdapter prints the vendor id in hex and the kind", () => {
  assert.equal(
    describeAdapter({
      description: "llvmpipe (LLVM 15.0.6, 256 bits)",
      vendor: "65541",
      architecture: "",
      software: true,
      maxStorageBufferBindingSize: 2 ** 27,
    }),
    "adapter llvmpipe (LLVM 15.0.6, 256 bits), vendor 0x10005, software",
  );
  assert.equal(
    describeAdapter({
      description: "NVIDIA H100",
      vendor: "4318",
      architecture: "hopper",
      software: false,
      maxStorageBufferBindingSize: 2 ** 31,
    }),
    "adapter NVIDIA H100, vendor 0x10de, hopper, GPU",
  );
});
