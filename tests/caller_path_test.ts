import assert from "node:assert/strict";
import { callerCwd, callerPath } from "../lib/io/caller_path.ts";

Deno.test("relative paths resolve against INIT_CWD (deno task's caller), else the cwd", () => {
  const saved = Deno.env.get("INIT_CWD");
  try {
    Deno.env.set("INIT_CWD", "/home/user/work");
    assert.equal(callerCwd(), "/home/user/work");
    assert.equal(callerPath("models/m1"), "/home/user/work/models/m1");
    assert.equal(callerPath("../x"), "/home/user/x");
    assert.equal(callerPath("/abs/./p"), "/abs/p");
    Deno.env.delete("INIT_CWD");
    assert.equal(callerPath("a"), `${Deno.cwd()}/a`);
  } finally {
    if (saved === undefined) Deno.env.delete("INIT_CWD");
    else Deno.env.set("INIT_CWD", saved);
  }
});
